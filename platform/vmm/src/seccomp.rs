//! The seccomp allow-list of vCPU threads ([`crate::threads`]), as Firecracker does for its
//! vCPU threads: only the system calls these threads were measured to make, and for `ioctl`
//! only the KVM and pagemap requests they use. Anything else kills the whole process at once
//! (`SECCOMP_RET_KILL_PROCESS`), loudly: the kernel reports it as a SIGSYS death.
//!
//! How the list was found: `docs/SECURITY.md` ("seccomp"). A vCPU thread runs the guest
//! (`KVM_RUN`), serves its host calls (which for the key-value store query the database through
//! the async runtime: socket reads and writes, futexes), resets its memory after a call
//! (`PAGEMAP_SCAN`, `madvise`, `mmap`), boots and snapshots functions (memfds, seals), and logs.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Whether vCPU threads run under the filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeccompPolicy {
    /// The allow-list; anything else kills the process.
    #[default]
    Enforce,
    /// No filter (for measuring what the threads need, and for debugging; never in production).
    Off,
}

impl SeccompPolicy {
    /// The policy's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SeccompPolicy::Enforce => "enforce",
            SeccompPolicy::Off => "off",
        }
    }
}

impl std::fmt::Display for SeccompPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SeccompPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "enforce" => Ok(SeccompPolicy::Enforce),
            "off" => Ok(SeccompPolicy::Off),
            other => Err(format!("unknown seccomp policy {other:?} (enforce or off)")),
        }
    }
}

/// Why the filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The rules do not compile to BPF (a bug in this list).
    #[error("Build the seccomp filter")]
    Build(#[source] seccompiler::BackendError),
    /// The kernel refused the filter.
    #[error("Install the seccomp filter")]
    Install(#[source] seccompiler::Error),
}

/// System calls a vCPU thread may make with any arguments: those measured (see the module
/// docs), and the few the same code paths reach on a rarer branch (noted).
pub const SYSCALLS: &[(&str, i64)] = &[
    // Waiting and waking: job queue, the async runtime's wakers, host-call answers.
    ("futex", libc::SYS_futex),
    ("sched_yield", libc::SYS_sched_yield), // rarer: spinning locks
    // Memory: guest RAM, snapshot stores, the allocator.
    ("mmap", libc::SYS_mmap),
    ("munmap", libc::SYS_munmap),
    ("mprotect", libc::SYS_mprotect),
    ("madvise", libc::SYS_madvise),
    ("mremap", libc::SYS_mremap), // rarer: a large Vec growing
    ("brk", libc::SYS_brk),       // rarer: the allocator's main arena
    // Snapshot stores: sealed memfds.
    ("memfd_create", libc::SYS_memfd_create),
    ("ftruncate", libc::SYS_ftruncate),
    ("fcntl", libc::SYS_fcntl),
    ("pwrite64", libc::SYS_pwrite64),
    ("close", libc::SYS_close),
    // Per-call seeds, logs (stderr) and the async runtime's eventfd.
    ("getrandom", libc::SYS_getrandom),
    ("write", libc::SYS_write),
    // The watchdog's kick (a signal that interrupts KVM_RUN), and thread bookkeeping.
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("sigaltstack", libc::SYS_sigaltstack),
    ("gettid", libc::SYS_gettid),
    ("clock_gettime", libc::SYS_clock_gettime), // rarer: outside the vDSO
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
];

/// `_IOC(dir, 'KVMIO', nr, size)`.
const fn kvm(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (0xAE << 8) | nr
}
const NONE: u64 = 0;
const WRITE: u64 = 1;
const READ: u64 = 2;

use kvm_bindings::{
    kvm_cpuid2, kvm_dirty_log, kvm_fpu, kvm_regs, kvm_sregs, kvm_userspace_memory_region,
};
use std::mem::size_of;

/// `ioctl` requests a vCPU thread may make: KVM's, on the VM and vCPU it creates, and the
/// pagemap scan of restores.
pub const IOCTLS: &[(&str, u64)] = &[
    ("KVM_CREATE_VM", kvm(NONE, 0x01, 0)),
    ("KVM_GET_VCPU_MMAP_SIZE", kvm(NONE, 0x04, 0)),
    ("KVM_CREATE_VCPU", kvm(NONE, 0x41, 0)),
    (
        "KVM_GET_DIRTY_LOG",
        kvm(WRITE, 0x42, size_of::<kvm_dirty_log>()),
    ), // dirty-log restores
    (
        "KVM_SET_USER_MEMORY_REGION",
        kvm(WRITE, 0x46, size_of::<kvm_userspace_memory_region>()),
    ),
    ("KVM_RUN", kvm(NONE, 0x80, 0)),
    ("KVM_GET_REGS", kvm(READ, 0x81, size_of::<kvm_regs>())), // fault classification
    ("KVM_SET_REGS", kvm(WRITE, 0x82, size_of::<kvm_regs>())),
    ("KVM_GET_SREGS", kvm(READ, 0x83, size_of::<kvm_sregs>())),
    ("KVM_SET_SREGS", kvm(WRITE, 0x84, size_of::<kvm_sregs>())),
    ("KVM_GET_FPU", kvm(READ, 0x8c, size_of::<kvm_fpu>())),
    ("KVM_SET_FPU", kvm(WRITE, 0x8d, size_of::<kvm_fpu>())),
    ("KVM_SET_CPUID2", kvm(WRITE, 0x90, size_of::<kvm_cpuid2>())),
    ("KVM_GET_TSC_KHZ", kvm(NONE, 0xa3, 0)),
    ("PAGEMAP_SCAN", crate::pagemap::PAGEMAP_SCAN),
];

/// The filter, compiled.
pub fn filter() -> Result<BpfProgram, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        SYSCALLS.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    let ioctl = IOCTLS
        .iter()
        .map(|&(_, request)| {
            let cond =
                SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request)?;
            SeccompRule::new(vec![cond])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(SeccompError::Build)?;
    rules.insert(libc::SYS_ioctl, ioctl);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(SeccompError::Build)?;
    BpfProgram::try_from(filter).map_err(SeccompError::Build)
}

/// Puts the calling thread under `policy` (for good: a filter cannot be removed).
pub fn install(policy: SeccompPolicy) -> Result<(), SeccompError> {
    // SAFETY: gettid has no preconditions and touches no memory.
    let tid = unsafe { libc::gettid() };
    tracing::debug!(tid, policy = policy.as_str(), "vCPU thread");
    match policy {
        SeccompPolicy::Off => Ok(()),
        SeccompPolicy::Enforce => {
            seccompiler::apply_filter(&filter()?).map_err(SeccompError::Install)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request numbers are the ones strace decodes by name (values from the kernel's uapi
    /// headers).
    #[test]
    fn ioctl_numbers_match_the_kernel() {
        let n = |name: &str| IOCTLS.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(n("KVM_CREATE_VM"), 0xAE01);
        assert_eq!(n("KVM_RUN"), 0xAE80);
        assert_eq!(n("KVM_SET_USER_MEMORY_REGION"), 0x4020_AE46);
        assert_eq!(n("KVM_GET_SREGS"), 0x8138_AE83);
        assert_eq!(n("KVM_SET_FPU"), 0x41A0_AE8D);
        assert_eq!(n("KVM_SET_CPUID2"), 0x4008_AE90);
        assert_eq!(n("PAGEMAP_SCAN"), 0xC060_6610);
        assert!(filter().is_ok());
    }

    /// Installed on a thread of its own, the filter shows in that thread's status (mode 2,
    /// filtering) and not in the caller's; the thread goes on working under it.
    #[test]
    fn the_filter_installs_on_its_thread_only() {
        use std::sync::mpsc::sync_channel;
        let seccomp_field = |tid: i32| {
            let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
            let field = status.lines().find_map(|l| l.strip_prefix("Seccomp:"));
            field.map(|v| v.trim().to_string()).unwrap()
        };
        let (ready_tx, ready_rx) = sync_channel(1);
        let (done_tx, done_rx) = sync_channel::<()>(1);
        let worker = std::thread::spawn(move || {
            install(SeccompPolicy::Enforce).unwrap();
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed).unwrap();
            ready_tx.send(tid).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = ready_rx.recv().unwrap();
        assert_eq!(seccomp_field(tid), "2");
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        assert_eq!(
            seccomp_field(me),
            "0",
            "the calling thread stays unfiltered"
        );
        done_tx.send(()).unwrap();
        worker.join().unwrap();
    }

    /// A forbidden call (here: opening a file) on a filtered thread kills the whole process
    /// with SIGSYS. Run in a child process: this test re-runs itself with `FLINT_SECCOMP_CHILD`.
    #[test]
    fn a_forbidden_call_kills_the_process_loudly() {
        if std::env::var_os("FLINT_SECCOMP_CHILD").is_some() {
            std::thread::spawn(|| {
                install(SeccompPolicy::Enforce).unwrap();
                let _ = std::fs::File::open("/etc/hostname");
                unreachable!("the open above must kill the process");
            })
            .join()
            .unwrap();
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "seccomp::tests::a_forbidden_call_kills_the_process_loudly",
            ])
            .env("FLINT_SECCOMP_CHILD", "1")
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{:?}", out.status);
    }
}
