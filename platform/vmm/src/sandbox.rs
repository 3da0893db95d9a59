//! The sandbox lifecycle, in the types: an [`UninitSandbox`] has memory and a vCPU but has not
//! run; [`UninitSandbox::boot`] runs the guest's initialisation, snapshots it and returns a
//! [`ReadySandbox`], the only kind that can be called. More ready sandboxes of the same guest
//! come from [`ReadySandbox::from_snapshot`], without booting again.

use std::sync::Arc;
use std::time::Duration;

use flint_abi::layout::{
    GVA_GDT, GVA_HOST_FUNCTIONS, GVA_IDT, GVA_PEB, GVA_TSS, HOST_FUNCTIONS_SIZE_BYTES, Layout,
    LayoutError, MemoryConfig,
};
use flint_abi::message::{GuestLogData, Message, Value};
use flint_abi::peb::{ABI_VERSION, PEB_MAGIC, Peb};
use kvm_bindings::kvm_sregs;

use crate::call::{CallError, RunMode};
use crate::cpu;
use crate::host_functions::HostFunctions;
use crate::image::GuestImage;
use crate::memory::{GuestMemory, MemoryError};
use crate::paging;
use crate::restore::RestoreStrategy;
use crate::restore::{self, RestoreError, RestoreStats};
use crate::snapshot::{CaptureState, CpuState, Snapshot, SnapshotError};
use crate::vm::{Hypervisor, KvmError, Vm};

/// How a sandbox is built and run.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Sizes of the guest memory regions.
    pub memory: MemoryConfig,
    /// How to return to the snapshot before each call.
    pub restore: RestoreStrategy,
    /// Wall-clock limit of one call.
    pub call_timeout: Duration,
    /// Wall-clock limit of the boot run (guest initialisation).
    pub boot_timeout: Duration,
    /// Log records kept per call; later ones are counted and dropped.
    pub max_log_records_per_call: usize,
    /// A restore that would copy back more pages than this discards them instead, so a call
    /// that wrote a lot leaves the sandbox no larger than its snapshot (see [`crate::restore`]).
    pub discard_above_pages: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            memory: MemoryConfig::default(),
            restore: RestoreStrategy::default(),
            call_timeout: Duration::from_secs(10),
            boot_timeout: Duration::from_secs(30),
            max_log_records_per_call: 1000,
            discard_above_pages: 512,
        }
    }
}

/// Why a sandbox could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The memory configuration cannot be laid out.
    #[error("Lay out guest memory")]
    Layout(#[from] LayoutError),
    /// Guest memory could not be mapped or written.
    #[error("Set up guest memory")]
    Memory(#[from] MemoryError),
    /// A KVM call failed.
    #[error("Create the VM")]
    Kvm(#[from] KvmError),
    /// The host-function table does not fit its region.
    #[error(
        "Host-function table needs {size_bytes} bytes, the region holds {HOST_FUNCTIONS_SIZE_BYTES}"
    )]
    HostFunctionTableTooLarge {
        /// Encoded size.
        size_bytes: usize,
    },
    /// The module blob does not fit its region.
    #[error("Module of {size_bytes} bytes does not fit the module region of {capacity_bytes}")]
    ModuleTooLarge {
        /// Blob size.
        size_bytes: usize,
        /// Region size.
        capacity_bytes: u64,
    },
    /// The host functions differ from those the snapshot was booted with.
    #[error("Host functions differ from those the snapshot was taken with")]
    HostFunctionsMismatch,
    /// The host's random number generator failed.
    #[error("Read random bytes")]
    Random(#[source] getrandom::Error),
}

/// Why a boot failed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The guest's initialisation did not finish cleanly.
    #[error("Guest initialisation failed")]
    Init(#[source] CallError),
    /// Reading the vCPU state for the snapshot failed.
    #[error("Read vCPU state for the snapshot")]
    Kvm(#[from] KvmError),
    /// Taking the snapshot failed.
    #[error("Take the snapshot")]
    Snapshot(#[from] SnapshotError),
}

/// What every sandbox has, booted or not.
pub(crate) struct Parts {
    pub vm: Vm,
    /// The special registers, built from code for this vCPU: set at creation and after a fault.
    pub sregs: kvm_sregs,
    pub layout: Layout,
    pub image: Arc<GuestImage>,
    pub config: SandboxConfig,
    pub host: HostFunctions,
    pub logs: Vec<GuestLogData>,
    pub dropped_logs: u64,
}

/// A sandbox that has memory and a vCPU but has not run.
pub struct UninitSandbox {
    parts: Parts,
    cookie: [u8; 16],
}

fn random<const N: usize>() -> Result<[u8; N], BuildError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(BuildError::Random)?;
    Ok(b)
}

/// A fresh seed for one call's randomness, from a per-thread ChaCha20 stream keyed once from
/// the OS (a `getrandom` system call per call was about 1% of the server's CPU under load).
fn call_seed() -> Result<[u8; 32], BuildError> {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    thread_local! {
        static STREAM: std::cell::RefCell<Option<ChaCha20Rng>> =
            const { std::cell::RefCell::new(None) };
    }
    STREAM.with_borrow_mut(|stream| {
        let rng = match stream {
            Some(rng) => rng,
            None => stream.insert(ChaCha20Rng::from_seed(random::<32>()?)),
        };
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Ok(seed)
    })
}

impl UninitSandbox {
    /// Lays out guest memory for `image`, writes the tables, the image, the PEB and the
    /// host-function table, and creates the VM.
    pub fn new(
        hv: &Hypervisor,
        image: Arc<GuestImage>,
        config: SandboxConfig,
        host: HostFunctions,
    ) -> Result<Self, BuildError> {
        let layout = Layout::new(config.memory)?;
        let perms = paging::page_permissions(&layout, &image);
        let mut memory = GuestMemory::anonymous(layout.mem_size_bytes)?;
        memory.write(GVA_GDT, &cpu::gdt())?;
        memory.write(GVA_IDT, &cpu::idt())?;
        memory.write(GVA_TSS, &cpu::tss())?;
        memory.write(layout.gpa_page_tables, &paging::build(&layout, &perms))?;
        for s in &image.segments {
            memory.write(s.gva, &s.data)?;
        }
        let table = host.details().encode();
        if table.len() as u64 > HOST_FUNCTIONS_SIZE_BYTES {
            return Err(BuildError::HostFunctionTableTooLarge {
                size_bytes: table.len(),
            });
        }
        memory.write(GVA_HOST_FUNCTIONS, &table)?;
        let cookie = random::<16>()?;
        memory.write(layout.gva_stack_limit, &cookie)?;
        memory.write(GVA_PEB, &peb(&layout, 0).to_bytes())?;
        memory.take_host_writes();

        let vm = Vm::new(hv, memory, config.restore.needs_dirty_log())?;
        let sregs = cpu::sregs(vm.get_sregs()?, &layout);
        vm.set_sregs(&sregs)?;
        Ok(Self {
            parts: Parts {
                vm,
                sregs,
                layout,
                image,
                config,
                host,
                logs: Vec::new(),
                dropped_logs: 0,
            },
            cookie,
        })
    }

    /// Copies a module blob into the module region (read + execute for the guest, which can
    /// never write it).
    pub fn load_module(&mut self, blob: &[u8]) -> Result<(), BuildError> {
        self.load_module_parts(&[(0, blob)])
    }

    /// Copies `(offset, bytes)` parts into the module region (the rest of it stays zero); the
    /// module's length is where the last part ends.
    pub fn load_module_parts(&mut self, parts: &[(u64, &[u8])]) -> Result<(), BuildError> {
        let layout = &self.parts.layout;
        let end = parts
            .iter()
            .map(|&(at, b)| at.saturating_add(b.len() as u64))
            .max()
            .unwrap_or(0);
        if end > layout.config.module_size_bytes {
            return Err(BuildError::ModuleTooLarge {
                size_bytes: usize::try_from(end).unwrap_or(usize::MAX),
                capacity_bytes: layout.config.module_size_bytes,
            });
        }
        let memory = &mut self.parts.vm.memory;
        for &(at, bytes) in parts {
            memory.write(layout.gva_module + at, bytes)?;
        }
        memory.write(GVA_PEB, &peb(layout, end).to_bytes())?;
        memory.take_host_writes();
        Ok(())
    }

    /// Runs the guest's initialisation to completion and snapshots the result.
    pub fn boot(self) -> Result<ReadySandbox, BootError> {
        self.boot_with(None)
    }

    /// Runs the guest's initialisation, then the call `init` (if any: a guest function that
    /// prepares state every later call should start from), and snapshots the result.
    pub fn boot_with(mut self, init: Option<(&str, &[Value])>) -> Result<ReadySandbox, BootError> {
        let entry = self.parts.image.entry_gva;
        let timeout = self.parts.config.boot_timeout;
        crate::call::run(&mut self.parts, entry, timeout, RunMode::Boot)
            .and_then(|_| crate::call::check_cookie(&self.parts, &self.cookie))
            .map_err(BootError::Init)?;
        if let Some((name, args)) = init {
            let seed = random::<32>().map_err(|e| BootError::Init(CallError::Build(e)))?;
            crate::call::call(&mut self.parts, name, args, seed)
                .and_then(|_| crate::call::check_cookie(&self.parts, &self.cookie))
                .map_err(BootError::Init)?;
        }
        let vm = &mut self.parts.vm;
        let snapshot = Snapshot::capture(CaptureState {
            memory: &vm.memory,
            layout: self.parts.layout,
            image: self.parts.image.clone(),
            cpu: CpuState {
                fpu: vm.get_fpu()?,
                cookie: self.cookie,
            },
        })?;
        // From here on this sandbox, like every other, shares the snapshot's pages.
        snapshot
            .remap(&mut vm.memory)
            .map_err(SnapshotError::Memory)?;
        vm.memory.take_host_writes();
        if vm.dirty_log {
            vm.take_dirty_log()?;
        }
        Ok(ReadySandbox {
            parts: self.parts,
            snapshot: Arc::new(snapshot),
            needs_restore: false,
            faulted: false,
        })
    }
}

fn peb(layout: &Layout, module_len_bytes: u64) -> Peb {
    let c = &layout.config;
    Peb {
        magic: PEB_MAGIC,
        abi_version: ABI_VERSION,
        gva_input: layout.gva_input,
        input_size_bytes: c.input_size_bytes,
        gva_output: layout.gva_output,
        output_size_bytes: c.output_size_bytes,
        gva_module: layout.gva_module,
        module_len_bytes,
        gva_heap: layout.gva_heap,
        heap_size_bytes: c.heap_size_bytes,
        gva_linear_memory: layout.gva_linear_memory,
        linear_memory_size_bytes: c.linear_memory_size_bytes,
        gva_stack_limit: layout.gva_stack_limit,
        gva_stack_top: layout.gva_stack_top,
        call_seed: [0; 4],
    }
}

/// A booted sandbox, ready to be called.
pub struct ReadySandbox {
    pub(crate) parts: Parts,
    snapshot: Arc<Snapshot>,
    needs_restore: bool,
    faulted: bool,
}

impl std::fmt::Debug for ReadySandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadySandbox")
            .field("snapshot", &self.snapshot)
            .field("needs_restore", &self.needs_restore)
            .finish_non_exhaustive()
    }
}

impl ReadySandbox {
    /// A new sandbox resumed from `snapshot`: its memory is a private copy-on-write view of the
    /// snapshot, so it costs only the pages it writes. `host` must have the signatures the
    /// snapshot was booted with.
    pub fn from_snapshot(
        hv: &Hypervisor,
        snapshot: Arc<Snapshot>,
        config: SandboxConfig,
        host: HostFunctions,
    ) -> Result<Self, BuildError> {
        let table = host.details().encode();
        let mut theirs = vec![0u8; table.len()];
        snapshot.read(GVA_HOST_FUNCTIONS, &mut theirs);
        if theirs != table {
            return Err(BuildError::HostFunctionsMismatch);
        }
        let memory = snapshot.map_private()?;
        let vm = Vm::new(hv, memory, config.restore.needs_dirty_log())?;
        let sregs = cpu::sregs(vm.get_sregs()?, &snapshot.layout);
        vm.set_sregs(&sregs)?;
        vm.set_fpu(&snapshot.cpu.fpu)?;
        if vm.dirty_log {
            vm.take_dirty_log()?;
        }
        Ok(Self {
            parts: Parts {
                vm,
                sregs,
                layout: snapshot.layout,
                image: snapshot.image.clone(),
                config,
                host,
                logs: Vec::new(),
                dropped_logs: 0,
            },
            snapshot,
            needs_restore: false,
            faulted: false,
        })
    }

    /// The snapshot this sandbox returns to.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// This sandbox's configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.parts.config
    }

    /// The guest time-stamp counter's frequency in kHz (0 if unknown).
    pub fn tsc_khz(&self) -> u64 {
        self.parts.vm.tsc_khz()
    }

    /// Calls guest function `name`. The sandbox is first restored if an earlier call left it
    /// dirty, so every call starts from the snapshot.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, CallError> {
        if self.needs_restore {
            self.restore().map_err(CallError::Restore)?;
        }
        self.needs_restore = true;
        let seed = call_seed().map_err(CallError::Build)?;
        let result = crate::call::call(&mut self.parts, name, args, seed).and_then(|v| {
            crate::call::check_cookie(&self.parts, &self.snapshot.cpu.cookie).map(|()| v)
        });
        if matches!(&result, Err(e) if e.needs_full_restore()) {
            self.faulted = true;
        }
        result
    }

    /// Brings the sandbox back to its snapshot now (a call does this itself when needed; a
    /// scheduler can do it off the request path).
    pub fn restore(&mut self) -> Result<RestoreStats, RestoreError> {
        let stats = restore::restore(
            &mut self.parts.vm,
            &self.parts.sregs,
            &self.snapshot,
            self.parts.config.restore,
            self.faulted,
            self.parts.config.discard_above_pages,
        )?;
        self.needs_restore = false;
        self.faulted = false;
        Ok(stats)
    }

    /// Log records the last call sent, and how many were dropped past the limit.
    pub fn logs(&self) -> (&[GuestLogData], u64) {
        (&self.parts.logs, self.parts.dropped_logs)
    }

    /// Bytes of private memory this sandbox holds now (pages written and not yet discarded),
    /// from the kernel's page tables.
    pub fn private_bytes(&self) -> Result<u64, MemoryError> {
        let size = self.parts.layout.mem_size_bytes;
        let runs = self.parts.vm.memory.private_runs(0, size)?;
        Ok(crate::pages::runs_len(&runs))
    }

    /// Pages (by guest address) that the guest can write and that differ from the snapshot.
    /// Empty right after a restore; a diagnostic for tests and audits, not for the hot path.
    pub fn diff_from_snapshot(&self) -> Vec<u64> {
        restore::differing_pages(&self.parts.vm.memory, &self.snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::call_seed;

    #[test]
    fn every_call_gets_a_fresh_seed_on_every_thread() {
        let here = [call_seed().unwrap(), call_seed().unwrap()];
        let there = std::thread::spawn(|| call_seed().unwrap()).join().unwrap();
        assert_ne!(here[0], here[1]);
        assert_ne!(here[0], there);
        assert_ne!(here[1], there);
        assert_ne!(here[0], [0; 32]);
    }
}
