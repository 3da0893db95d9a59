//! Call deadlines. One process-wide thread watches every running call; at a call's deadline it
//! sets the vCPU's `immediate_exit` flag and sends the vCPU's thread a signal, so `KVM_RUN`
//! returns `EINTR` (or does not enter the guest at all, if the signal came just before it).
//!
//! Arming costs a mutex and a map insert; the thread is only woken early when a new deadline
//! is sooner than the one it is sleeping towards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long the thread sleeps when nothing is armed (new deadlines further out than this
/// need no wake-up).
const IDLE_TICK: Duration = Duration::from_millis(50);

/// The signal that kicks a vCPU thread out of `KVM_RUN`.
fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int) {}

fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed `sigaction` is a valid starting value; the handler does nothing
        // (async-signal-safe), and no SA_RESTART, so KVM_RUN returns EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            let rc = libc::sigaction(kick_signal(), &action, std::ptr::null_mut());
            assert_eq!(rc, 0, "install the vCPU kick signal handler");
        }
    });
}

/// What to kick when a deadline passes.
struct Target {
    thread: libc::pthread_t,
    /// `kvm_run.immediate_exit` of the vCPU.
    immediate_exit: *const AtomicU8,
    fired: Arc<AtomicBool>,
}

// SAFETY: `immediate_exit` points into the vCPU's `kvm_run` mapping, which outlives the entry:
// `Armed` removes the entry (under the lock) before the vCPU can be dropped. Only atomic
// stores go through it.
unsafe impl Send for Target {}

#[derive(Default)]
struct State {
    entries: BTreeMap<(Instant, u64), Target>,
    next_id: u64,
    /// When the thread plans to wake next.
    wake_at: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

/// Starts the watchdog thread and installs the kick handler now (vCPU threads call this before
/// their seccomp filter forbids spawning threads and changing signal handlers).
pub(crate) fn start() {
    let _ = shared();
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        install_handler();
        std::thread::Builder::new()
            .name("flint-watchdog".into())
            .spawn(run)
            .expect("spawn the watchdog thread");
        Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        }
    })
}

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    crate::sync::lock(&s.state)
}

fn run() {
    let s = shared();
    let mut state = lock(s);
    loop {
        let now = Instant::now();
        while let Some(entry) = state.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let target = entry.remove();
            target.fired.store(true, Ordering::SeqCst);
            // SAFETY: the entry was armed, so the vCPU (and its kvm_run) is alive; see `Target`.
            unsafe { (*target.immediate_exit).store(1, Ordering::SeqCst) };
            // SAFETY: the thread is alive: it holds an `Armed` for this entry, whose drop must
            // take this lock first.
            unsafe { libc::pthread_kill(target.thread, kick_signal()) };
        }
        let wake = state
            .entries
            .keys()
            .next()
            .map(|k| k.0)
            .unwrap_or(now + IDLE_TICK)
            .min(now + IDLE_TICK);
        state.wake_at = Some(wake);
        let timeout = wake.saturating_duration_since(Instant::now());
        state = crate::sync::unpoisoned(s.cond.wait_timeout(state, timeout)).0;
    }
}

/// A deadline being watched; dropping it stops the watch.
pub struct Armed {
    key: (Instant, u64),
    fired: Arc<AtomicBool>,
}

impl Armed {
    /// Whether the deadline passed and the vCPU was kicked.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        lock(shared()).entries.remove(&self.key);
    }
}

/// Watches `deadline` for the calling thread, whose vCPU has `immediate_exit` at that address.
///
/// # Safety
/// `immediate_exit` points at the `immediate_exit` byte of a live `kvm_run` mapping that stays
/// mapped until the returned guard is dropped, and the guard is dropped on the calling thread.
pub unsafe fn arm(deadline: Instant, immediate_exit: *mut u8) -> Armed {
    let s = shared();
    let fired = Arc::new(AtomicBool::new(false));
    let mut state = lock(s);
    state.next_id += 1;
    let key = (deadline, state.next_id);
    state.entries.insert(
        key,
        Target {
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
            immediate_exit: immediate_exit.cast::<AtomicU8>().cast_const(),
            fired: fired.clone(),
        },
    );
    if state.wake_at.is_none_or(|w| deadline < w) {
        s.cond.notify_one();
    }
    Armed { key, fired }
}
