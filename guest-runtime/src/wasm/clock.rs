//! The run's clock: the host's time at the start of the call, advanced by the time-stamp
//! counter.

use core::arch::x86_64::_rdtsc;

use flint_wasi::{Clock, ClockId};

/// Time as seen by one run.
pub struct TscClock {
    realtime_ns: u64,
    monotonic_ns: u64,
    tsc_start: u64,
    tsc_khz: u64,
}

fn tsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter; CR4.TSD is clear, so CPL3 may use it.
    unsafe { _rdtsc() }
}

impl TscClock {
    /// A clock that reads the host's times now and counts from here.
    pub fn new(realtime_ns: u64, monotonic_ns: u64, tsc_khz: u64) -> Self {
        Self {
            realtime_ns,
            monotonic_ns,
            tsc_start: tsc(),
            tsc_khz,
        }
    }

    fn elapsed_ns(&self) -> u64 {
        if self.tsc_khz == 0 {
            return 0;
        }
        let ticks = u128::from(tsc().saturating_sub(self.tsc_start));
        (ticks * 1_000_000 / u128::from(self.tsc_khz)) as u64
    }
}

impl Clock for TscClock {
    fn now_ns(&mut self, id: ClockId) -> u64 {
        let base = match id {
            ClockId::Realtime => self.realtime_ns,
            ClockId::Monotonic => self.monotonic_ns,
        };
        base.saturating_add(self.elapsed_ns())
    }

    fn resolution_ns(&self, _: ClockId) -> u64 {
        1
    }
}
