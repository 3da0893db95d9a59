//! Bringing a sandbox back to its snapshot before each call: the [`RestoreStrategy`]s, what each
//! resets, and the vCPU state every restore resets.
//!
//! | strategy | finds the pages to reset from | trusts |
//! |---|---|---|
//! | `pagemap` (default) | the host kernel's page tables: every private page of the sandbox's mapping (`PAGEMAP_SCAN`) outside the ranges sealed read-only in the host | nothing |
//! | `dirty-log` | KVM's dirty log, plus the host's own write log | nothing (KVM) |
//! | `full-reset` | nothing: every page is discarded | nothing |
//! | `runtime-ranges` | data/bss, the heap, linear memory and the I/O buffers up to the marks the guest runtime reports (never below the snapshot's own data), the stack from its lowest non-zero word | the guest runtime's bookkeeping |
//!
//! A page is reset by copying the snapshot's bytes back into it (it stays mapped in the guest,
//! so the next call takes no page fault), or, when more than
//! [`crate::SandboxConfig::discard_above_pages`] pages are to be reset, by handing every one of
//! them back to the kernel (`MADV_DONTNEED`): the sandbox shrinks back to the snapshot, and the
//! next call faults in what it touches. So a call that grew memory to its limit leaves an idle
//! sandbox no larger than an ordinary call does.
//!
//! `runtime-ranges` takes no page-table walk and is the fastest on PVM, but a guest whose
//! runtime is subverted can report low marks and keep data for the next call of the same
//! sandbox: it is an explicit opt-in. After a fault, or when the guest reports that linear
//! memory grew, it resets by `pagemap` instead. `full-reset` is the reference: nothing survives,
//! and every call pays page faults for all it touches.

use std::time::{Duration, Instant};

use flint_abi::layout::{Access, GVA_STATUS, PAGE_SIZE, STACK_COOKIE_SIZE_BYTES};
use flint_abi::peb::{STATUS_MAGIC, STATUS_WORDS, StatusBlock};
use kvm_bindings::kvm_sregs;

use crate::memory::{GuestMemory, MemoryError};
use crate::pages::{push_run, runs_len};
use crate::snapshot::Snapshot;
use crate::vm::{KvmError, Vm};

/// How a sandbox is brought back to its snapshot before each call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestoreStrategy {
    /// Reset every private page the kernel reports. Trusts nothing.
    #[default]
    Pagemap,
    /// Reset what KVM's dirty log and the host's own write log name. Trusts nothing.
    DirtyLog,
    /// Discard every page. Trusts nothing; every call refaults what it touches.
    FullReset,
    /// Reset the ranges the guest runtime reports. Fast, and trusts the guest runtime.
    RuntimeRanges,
}

impl RestoreStrategy {
    /// Every strategy, in the order of the docs.
    pub const ALL: [RestoreStrategy; 4] = [
        RestoreStrategy::Pagemap,
        RestoreStrategy::DirtyLog,
        RestoreStrategy::FullReset,
        RestoreStrategy::RuntimeRanges,
    ];

    /// Stable name, for configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreStrategy::Pagemap => "pagemap",
            RestoreStrategy::DirtyLog => "dirty-log",
            RestoreStrategy::FullReset => "full-reset",
            RestoreStrategy::RuntimeRanges => "runtime-ranges",
        }
    }

    /// Whether a guest whose runtime is subverted could keep data from one call for the next.
    pub fn trusts_guest(self) -> bool {
        self == RestoreStrategy::RuntimeRanges
    }

    /// Whether the VM's memory slot must log dirty pages.
    pub fn needs_dirty_log(self) -> bool {
        self == RestoreStrategy::DirtyLog
    }
}

impl std::fmt::Display for RestoreStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RestoreStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown restore strategy {s:?} ({})", names.join(", "))
            })
    }
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Resetting memory failed.
    #[error("Reset guest memory")]
    Memory(#[from] MemoryError),
    /// Resetting the vCPU or reading the dirty log failed.
    #[error("Reset vCPU state")]
    Kvm(#[from] KvmError),
}

/// What one restore did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreStats {
    /// The strategy that ran (`pagemap` where `runtime-ranges` would not do).
    pub strategy: RestoreStrategy,
    /// Bytes reset.
    pub bytes_reset: u64,
    /// Whether they were discarded (handed back to the kernel) rather than copied.
    pub discarded: bool,
    /// Wall time.
    pub duration: Duration,
}

const fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

const fn page_up(x: u64) -> u64 {
    page_down(x + PAGE_SIZE - 1)
}

/// `[start, hint)` clamped to `[start, start + size)` and rounded up to whole pages.
fn prefix(start: u64, size: u64, hint: u64) -> (u64, u64) {
    let end = page_up(hint.clamp(start, start + size));
    (start, end - start)
}

/// Byte ranges widened to the pages they touch.
fn whole_pages(ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges
        .into_iter()
        .map(|(gpa, len)| (page_down(gpa), page_up(gpa + len) - page_down(gpa)))
        .collect()
}

/// Restores `vm` to `snapshot` with `strategy`.
pub(crate) fn restore(
    vm: &mut Vm,
    sregs: &kvm_sregs,
    snapshot: &Snapshot,
    strategy: RestoreStrategy,
    after_fault: bool,
    discard_above_pages: u64,
) -> Result<RestoreStats, RestoreError> {
    let started = Instant::now();
    let size = snapshot.layout.mem_size_bytes;
    let host_writes = whole_pages(vm.memory.take_host_writes());
    let trusted = match strategy {
        RestoreStrategy::RuntimeRanges if !after_fault => runtime_ranges(&vm.memory, snapshot)?,
        _ => None,
    };
    let (used, mut ranges, only_if_different) = match (strategy, trusted) {
        (RestoreStrategy::FullReset, _) => (strategy, vec![(0, size)], false),
        (RestoreStrategy::DirtyLog, _) => (strategy, dirty_pages(vm)?, false),
        (RestoreStrategy::RuntimeRanges, Some(r)) => (strategy, r, true),
        _ => (
            RestoreStrategy::Pagemap,
            private_runs(&vm.memory, snapshot)?,
            false,
        ),
    };
    if used != RestoreStrategy::Pagemap {
        ranges.extend(host_writes);
    }
    if vm.dirty_log && used != RestoreStrategy::DirtyLog {
        // Start the next call's log from a clean slate.
        vm.take_dirty_log()?;
    }
    let bytes_reset = runs_len(&ranges);
    let mut discarded = used == RestoreStrategy::FullReset
        || (!only_if_different && bytes_reset > discard_above_pages * PAGE_SIZE);
    if !discarded {
        let mut written = 0;
        for &(gpa, len) in &ranges {
            written += snapshot.copy_back(&mut vm.memory, gpa, len, only_if_different)?;
        }
        // Trusted ranges are wide and mostly untouched, so only the pages that really changed
        // say whether the sandbox grew; if it did, shrink it back.
        discarded = written > discard_above_pages;
    }
    if discarded {
        for &(gpa, len) in &ranges {
            vm.memory.discard(gpa, len)?;
        }
    }
    vm.set_fpu(&snapshot.cpu.fpu)?;
    if after_fault {
        vm.set_sregs(sregs)?;
    }
    Ok(RestoreStats {
        strategy: used,
        bytes_reset,
        discarded,
        duration: started.elapsed(),
    })
}

/// The private runs of guest RAM, from the kernel's page tables, outside the sealed ranges
/// (which cannot hold any: see [`Snapshot::sealed`]). Scanning only these halves the scan:
/// the read-only image alone is hundreds of present page-cache pages the kernel must look at.
fn private_runs(memory: &GuestMemory, snapshot: &Snapshot) -> Result<Vec<(u64, u64)>, MemoryError> {
    let mut runs = Vec::new();
    for &(gpa, len) in snapshot.scanned() {
        for (g, l) in memory.private_runs(gpa, len)? {
            push_run(&mut runs, g, l);
        }
    }
    Ok(runs)
}

/// Every page KVM logged as written.
fn dirty_pages(vm: &Vm) -> Result<Vec<(u64, u64)>, KvmError> {
    let mut ranges = Vec::new();
    for (word_index, word) in vm.take_dirty_log()?.into_iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let bit = u64::from(bits.trailing_zeros());
            bits &= bits - 1;
            push_run(
                &mut ranges,
                (word_index as u64 * 64 + bit) * PAGE_SIZE,
                PAGE_SIZE,
            );
        }
    }
    Ok(ranges)
}

/// The ranges the guest runtime reports, each clamped to its region and never below the
/// snapshot's own data there, plus data/bss, the status block and the used part of the stack.
/// `None` if the status block is not valid or linear memory grew past the snapshot (a reset
/// that big is better judged by the kernel).
fn runtime_ranges(
    memory: &GuestMemory,
    snapshot: &Snapshot,
) -> Result<Option<Vec<(u64, u64)>>, MemoryError> {
    let mut raw = [0u8; STATUS_WORDS * 8];
    memory.read(GVA_STATUS, &mut raw)?;
    let status = StatusBlock::from_bytes(&raw);
    if status.magic != STATUS_MAGIC {
        return Ok(None);
    }
    let l = &snapshot.layout;
    let c = &l.config;
    let linear_end = l.gva_linear_memory + c.linear_memory_size_bytes;
    if status.linear_memory_high_water_gva > snapshot.data_end(l.gva_linear_memory, linear_end) {
        return Ok(None);
    }
    let mut ranges: Vec<(u64, u64)> = snapshot
        .image
        .segments
        .iter()
        .filter(|s| s.access == Access::ReadWrite)
        .map(|s| (s.gva, s.size_bytes))
        .collect();
    ranges.push((GVA_STATUS, PAGE_SIZE));
    for (start, size, hint) in [
        (l.gva_heap, c.heap_size_bytes, status.heap_high_water_gva),
        (l.gva_input, c.input_size_bytes, status.input_high_water_gva),
        (
            l.gva_output,
            c.output_size_bytes,
            status.output_high_water_gva,
        ),
        (
            l.gva_linear_memory,
            c.linear_memory_size_bytes,
            status.linear_memory_high_water_gva,
        ),
    ] {
        let floor = snapshot.data_end(start, start + size);
        ranges.push(prefix(start, size, hint.max(floor)));
    }
    ranges.push(stack_range(memory, snapshot)?);
    Ok(Some(ranges))
}

/// From the lowest page whose content may differ from the snapshot to the top of the stack.
///
/// Below the snapshot's own lowest non-zero stack word the snapshot is all zeros, so a page
/// there can only differ if it is private and now holds a non-zero word. Scanning the private
/// pages for the first non-zero word finds the lowest page to copy, whatever the guest reports.
fn stack_range(memory: &GuestMemory, snapshot: &Snapshot) -> Result<(u64, u64), MemoryError> {
    let l = &snapshot.layout;
    let snapshot_low = snapshot.stack_low_water_gva;
    let scan_from = l.gva_stack_limit + STACK_COOKIE_SIZE_BYTES;
    let first_page = page_down(scan_from);
    let private = memory.private_runs(first_page, page_up(snapshot_low) - first_page)?;
    let now_low = memory
        .first_nonzero_word_in(&private, scan_from, snapshot_low)?
        .unwrap_or(snapshot_low);
    let low = page_down(now_low);
    Ok((low, l.gva_stack_top - low))
}

/// Pages the guest can write whose content differs from the snapshot.
pub(crate) fn differing_pages(memory: &GuestMemory, snapshot: &Snapshot) -> Vec<u64> {
    let perms = crate::paging::page_permissions(&snapshot.layout, &snapshot.image);
    let mut ours = vec![0u8; PAGE_SIZE as usize];
    let mut theirs = vec![0u8; PAGE_SIZE as usize];
    let mut out = Vec::new();
    for (index, perm) in perms.iter().enumerate() {
        if perm.access != Access::ReadWrite {
            continue;
        }
        let page = index as u64 * PAGE_SIZE;
        snapshot.read(page, &mut theirs);
        if memory.read(page, &mut ours).is_err() || ours != theirs {
            out.push(page);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_clamped_and_page_rounded() {
        assert_eq!(prefix(0x1000, 0x4000, 0x1001), (0x1000, 0x1000));
        assert_eq!(prefix(0x1000, 0x4000, 0), (0x1000, 0));
        assert_eq!(prefix(0x1000, 0x4000, u64::MAX), (0x1000, 0x4000));
        assert_eq!(prefix(0x1000, 0x4000, 0x3000), (0x1000, 0x2000));
    }

    #[test]
    fn byte_ranges_widen_to_pages() {
        assert_eq!(whole_pages(vec![(0x1010, 8)]), vec![(0x1000, 0x1000)]);
        assert_eq!(whole_pages(vec![(0xff8, 16)]), vec![(0, 0x2000)]);
    }

    #[test]
    fn names_round_trip() {
        for s in RestoreStrategy::ALL {
            assert_eq!(s.as_str().parse::<RestoreStrategy>(), Ok(s));
        }
        assert!("full-copy".parse::<RestoreStrategy>().is_err());
        assert_eq!(
            RestoreStrategy::ALL
                .iter()
                .filter(|s| s.trusts_guest())
                .count(),
            1
        );
    }
}
