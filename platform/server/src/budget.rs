//! The node's memory budget: what snapshots, idle sandboxes and busy sandboxes hold, kept under
//! one limit.
//!
//! Every byte is accounted where it is made and given back where it is freed: a function's
//! snapshot when its pool is built and dropped, an idle sandbox by the private memory it kept
//! after its restore, a busy sandbox by the most its call could write (its guest memory). A
//! call or deploy that would go over the limit first makes the scheduler evict, least recently
//! used first, idle sandboxes and then whole functions (whose snapshots come back from the disk
//! cache on their next call); if it still cannot fit, it is refused with a 503, never left to
//! the kernel's OOM killer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::metrics::Metrics;

/// What a byte of the budget is held by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Functions' snapshots (their own pages; the guest image is shared and not counted).
    Snapshots = 0,
    /// Sandboxes waiting for a call.
    IdleSandboxes = 1,
    /// Sandboxes running a call (reserved at its worst case).
    BusySandboxes = 2,
}

impl MemoryKind {
    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        crate::metrics::MEMORY_KINDS[self as usize]
    }
}

/// Fixed cost of a sandbox beyond the guest pages it holds: the vCPU's shared run page, host
/// page tables, the VM's file descriptors (measured; see `docs/BENCHMARKS.md`).
pub const SANDBOX_OVERHEAD_BYTES: u64 = 16 << 10;

/// The budget and what is held against it.
pub struct MemoryBudget {
    limit_bytes: u64,
    /// Everything held, for the atomic check in [`MemoryBudget::try_hold`].
    total: AtomicU64,
    held: [AtomicI64; 3],
    /// Woken whenever a busy sandbox's hold is given back.
    busy_released: tokio::sync::Notify,
    /// The `flint_memory_bytes` series of each kind, looked up once (every call holds and
    /// gives back memory twice).
    gauges: [prometheus::IntGauge; 3],
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("limit_bytes", &self.limit_bytes)
            .field("used_bytes", &self.used_bytes())
            .finish()
    }
}

impl MemoryBudget {
    /// A budget of `limit_bytes`.
    pub fn new(limit_bytes: u64, metrics: Arc<Metrics>) -> Arc<Self> {
        metrics.memory_budget.set(limit_bytes as i64);
        Arc::new(Self {
            limit_bytes,
            total: AtomicU64::new(0),
            held: Default::default(),
            busy_released: tokio::sync::Notify::new(),
            gauges: crate::metrics::MEMORY_KINDS.map(|k| metrics.memory.with_label_values(&[k])),
        })
    }

    /// The limit.
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// Everything held now.
    pub fn used_bytes(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Bytes held for `kind`.
    pub fn held_bytes(&self, kind: MemoryKind) -> u64 {
        self.held[kind as usize].load(Ordering::Relaxed).max(0) as u64
    }

    /// Resolves when a busy sandbox next gives its hold back (take it before checking, so a
    /// release in between is not missed).
    pub fn released(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.busy_released.notified());
        notified.as_mut().enable();
        notified
    }

    /// Whether `bytes` more would fit.
    pub fn fits(&self, bytes: u64) -> bool {
        self.used_bytes().saturating_add(bytes) <= self.limit_bytes
    }

    fn add(&self, kind: MemoryKind, bytes: i64) {
        if bytes >= 0 {
            self.total.fetch_add(bytes as u64, Ordering::Relaxed);
        } else {
            self.total
                .fetch_sub(bytes.unsigned_abs(), Ordering::Relaxed);
        }
        self.record(kind, bytes);
    }

    fn record(&self, kind: MemoryKind, bytes: i64) {
        let now = self.held[kind as usize].fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.gauges[kind as usize].set(now);
    }

    /// Holds `bytes` of `kind` if they fit under the limit (checked and taken atomically).
    pub fn try_hold(self: &Arc<Self>, kind: MemoryKind, bytes: u64) -> Option<Hold> {
        let mut now = self.total.load(Ordering::Relaxed);
        loop {
            let next = now.checked_add(bytes).filter(|n| *n <= self.limit_bytes)?;
            match self
                .total
                .compare_exchange_weak(now, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        self.record(kind, bytes as i64);
        Some(Hold {
            budget: self.clone(),
            kind,
            bytes,
        })
    }

    /// Holds `bytes` of `kind` until the returned hold is dropped (even past the limit: for
    /// memory that already exists).
    pub fn hold(self: &Arc<Self>, kind: MemoryKind, bytes: u64) -> Hold {
        self.add(kind, bytes as i64);
        Hold {
            budget: self.clone(),
            kind,
            bytes,
        }
    }
}

/// Bytes held against the budget, given back on drop.
#[derive(Debug)]
pub struct Hold {
    budget: Arc<MemoryBudget>,
    kind: MemoryKind,
    bytes: u64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.budget.add(self.kind, -(self.bytes as i64));
        if self.kind == MemoryKind::BusySandboxes {
            self.budget.busy_released.notify_waiters();
        }
    }
}

/// The default budget: 80% of the smaller of the machine's memory and the cgroup's limit,
/// leaving room for the process itself, the page cache of the store and the kernel.
pub fn default_budget_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4 << 30, |kib| kib * 1024);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    total.min(cgroup.unwrap_or(u64::MAX)) / 5 * 4
}

/// Parses a size: a number of bytes, or with a `KiB`, `MiB`, `GiB` suffix (also `K`, `M`, `G`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 8GiB, 512MiB)"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        other => return Err(format!("unknown size unit {other:?} (KiB, MiB, GiB)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_size("99999999999999999999TiB").is_err());
    }

    #[test]
    fn holds_are_given_back_on_drop() {
        let metrics = Arc::new(Metrics::new());
        let budget = MemoryBudget::new(100, metrics.clone());
        let a = budget.hold(MemoryKind::Snapshots, 60);
        assert!(budget.fits(40));
        assert!(!budget.fits(41));
        let b = budget.try_hold(MemoryKind::BusySandboxes, 30).unwrap();
        assert!(budget.try_hold(MemoryKind::BusySandboxes, 11).is_none());
        assert_eq!(budget.used_bytes(), 90);
        assert!(
            metrics
                .render()
                .contains(r#"flint_memory_bytes{kind="busy_sandboxes"} 30"#)
        );
        drop((a, b));
        assert_eq!(budget.used_bytes(), 0);
        assert!(default_budget_bytes() > 0);
    }
}
