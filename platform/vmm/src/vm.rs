//! The KVM objects of one sandbox: the VM, its single vCPU and its memory slot.

use std::sync::Arc;

use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, KVM_MEM_LOG_DIRTY_PAGES, kvm_fpu, kvm_regs, kvm_sregs,
    kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use crate::memory::GuestMemory;

/// A failed KVM operation.
#[derive(Debug, thiserror::Error)]
#[error("KVM {op}")]
pub struct KvmError {
    /// The ioctl or step that failed.
    pub op: &'static str,
    /// KVM's error.
    #[source]
    pub source: kvm_ioctls::Error,
}

/// Attaches the operation name to a KVM result.
pub(crate) trait KvmResultExt<T> {
    fn op(self, op: &'static str) -> Result<T, KvmError>;
}

impl<T> KvmResultExt<T> for Result<T, kvm_ioctls::Error> {
    fn op(self, op: &'static str) -> Result<T, KvmError> {
        self.map_err(|source| KvmError { op, source })
    }
}

/// The host's handle on `/dev/kvm`, shared by every sandbox.
pub struct Hypervisor {
    kvm: Kvm,
    cpuid: CpuId,
}

impl std::fmt::Debug for Hypervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hypervisor").finish_non_exhaustive()
    }
}

impl Hypervisor {
    /// Opens `/dev/kvm`. Fails (it never falls back to anything) where KVM is unavailable.
    pub fn new() -> Result<Arc<Self>, KvmError> {
        let kvm = Kvm::new().op("open /dev/kvm")?;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .op("KVM_GET_SUPPORTED_CPUID")?;
        Ok(Arc::new(Self { kvm, cpuid }))
    }
}

/// Why `KVM_RUN` stopped, copied out of the `kvm_run` page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The guest wrote to an address without memory (the doorbell, or elsewhere).
    MmioWrite { gpa: u64, value: u64 },
    /// The guest read from an address without memory.
    MmioRead { gpa: u64 },
    /// `hlt`: an exception stub ran.
    Hlt,
    /// Triple fault.
    Shutdown,
    /// A signal interrupted `KVM_RUN` (or `immediate_exit` was set).
    Interrupted,
    /// Anything else.
    Other(String),
}

/// One VM with one vCPU and all of guest RAM in slot 0.
pub(crate) struct Vm {
    // Field order matters for drop: the vCPU goes before the VM, the memory last.
    vcpu: VcpuFd,
    vm: VmFd,
    pub memory: GuestMemory,
    pub dirty_log: bool,
    /// The vCPU's TSC frequency, read once: every `KVM_GET_TSC_KHZ` loads and puts the vCPU.
    tsc_khz: u64,
}

impl Vm {
    /// Creates the VM, maps `memory` at guest-physical 0, and creates the vCPU with the host's
    /// supported CPUID.
    pub fn new(hv: &Hypervisor, memory: GuestMemory, dirty_log: bool) -> Result<Self, KvmError> {
        let vm = hv.kvm.create_vm().op("KVM_CREATE_VM")?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: if dirty_log {
                KVM_MEM_LOG_DIRTY_PAGES
            } else {
                0
            },
            guest_phys_addr: 0,
            memory_size: memory.size_bytes(),
            userspace_addr: memory.host_address(),
        };
        // SAFETY: the region is `memory`'s own mapping, which lives in this `Vm` and so
        // outlives the VM fd that uses it (field order drops the fds first).
        unsafe { vm.set_user_memory_region(region) }.op("KVM_SET_USER_MEMORY_REGION")?;
        let vcpu = vm.create_vcpu(0).op("KVM_CREATE_VCPU")?;
        vcpu.set_cpuid2(&hv.cpuid).op("KVM_SET_CPUID2")?;
        let tsc_khz = vcpu.get_tsc_khz().map_or(0, u64::from);
        Ok(Self {
            vcpu,
            vm,
            memory,
            dirty_log,
            tsc_khz,
        })
    }

    pub fn get_sregs(&self) -> Result<kvm_sregs, KvmError> {
        self.vcpu.get_sregs().op("KVM_GET_SREGS")
    }

    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), KvmError> {
        self.vcpu.set_sregs(sregs).op("KVM_SET_SREGS")
    }

    pub fn get_regs(&self) -> Result<kvm_regs, KvmError> {
        self.vcpu.get_regs().op("KVM_GET_REGS")
    }

    pub fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError> {
        self.vcpu.set_regs(regs).op("KVM_SET_REGS")
    }

    pub fn get_fpu(&self) -> Result<kvm_fpu, KvmError> {
        self.vcpu.get_fpu().op("KVM_GET_FPU")
    }

    pub fn set_fpu(&self, fpu: &kvm_fpu) -> Result<(), KvmError> {
        self.vcpu.set_fpu(fpu).op("KVM_SET_FPU")
    }

    /// The guest time-stamp counter's frequency in kHz (0 if KVM cannot tell).
    pub fn tsc_khz(&self) -> u64 {
        self.tsc_khz
    }

    /// The dirty-page bitmap of slot 0 since the last call (which it resets).
    pub fn take_dirty_log(&self) -> Result<Vec<u64>, KvmError> {
        self.vm
            .get_dirty_log(0, self.memory.size_bytes() as usize)
            .op("KVM_GET_DIRTY_LOG")
    }

    /// Address of `kvm_run.immediate_exit`, for the watchdog.
    pub fn immediate_exit(&mut self) -> *mut u8 {
        &raw mut self.vcpu.get_kvm_run().immediate_exit
    }

    /// Clears `immediate_exit` after a watched run.
    pub fn clear_immediate_exit(&mut self) {
        self.vcpu.set_kvm_immediate_exit(0);
    }

    /// Enters the guest until the next exit.
    pub fn run(&mut self) -> Result<Exit, KvmError> {
        match self.vcpu.run() {
            Ok(VcpuExit::MmioWrite(gpa, data)) => {
                let mut v = [0u8; 8];
                let n = data.len().min(8);
                v[..n].copy_from_slice(&data[..n]);
                Ok(Exit::MmioWrite {
                    gpa,
                    value: u64::from_le_bytes(v),
                })
            }
            Ok(VcpuExit::MmioRead(gpa, data)) => {
                data.fill(0);
                Ok(Exit::MmioRead { gpa })
            }
            Ok(VcpuExit::Hlt) => Ok(Exit::Hlt),
            Ok(VcpuExit::Shutdown) => Ok(Exit::Shutdown),
            Ok(other) => Ok(Exit::Other(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                Ok(Exit::Interrupted)
            }
            Err(source) => Err(KvmError {
                op: "KVM_RUN",
                source,
            }),
        }
    }
}
