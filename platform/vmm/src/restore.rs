//! Bringing a sandbox back to its snapshot: which ranges each [`RestoreStrategy`] copies, and
//! the vCPU state that every restore resets.

use std::time::{Duration, Instant};

use flint_abi::layout::{GVA_STATUS, Layout, PAGE_SIZE, STACK_COOKIE_SIZE_BYTES};
use flint_abi::peb::{STATUS_MAGIC, STATUS_WORDS, StatusBlock};

use crate::memory::{GuestMemory, MemoryError};
use crate::snapshot::{RestoreStrategy, Snapshot};
use crate::vm::{KvmError, Vm};

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Copying memory failed (a host bug: every range is clamped).
    #[error("Copy snapshot memory")]
    Memory(#[from] MemoryError),
    /// Resetting the vCPU or reading the dirty log failed.
    #[error("Reset vCPU state")]
    Kvm(#[from] KvmError),
}

/// What one restore did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreStats {
    /// The strategy that ran (`FullCopy` after a fault, whatever was configured).
    pub strategy: RestoreStrategy,
    /// Bytes copied from the snapshot.
    pub bytes_copied: u64,
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

/// Restores `vm` to `snapshot` with `strategy`, or with `FullCopy` after a fault.
pub(crate) fn restore(
    vm: &mut Vm,
    snapshot: &Snapshot,
    strategy: RestoreStrategy,
    after_fault: bool,
) -> Result<RestoreStats, RestoreError> {
    let started = Instant::now();
    let mut ranges = vm.memory.take_host_writes();
    let used = match (after_fault, strategy) {
        (true, _) | (false, RestoreStrategy::FullCopy) => {
            ranges.extend_from_slice(&snapshot.writable_runs);
            RestoreStrategy::FullCopy
        }
        (false, RestoreStrategy::DirtyLog) => {
            dirty_pages(vm, &mut ranges)?;
            RestoreStrategy::DirtyLog
        }
        (false, RestoreStrategy::RuntimeRanges) => match runtime_ranges(&vm.memory, snapshot)? {
            Some(r) => {
                ranges.extend(r);
                RestoreStrategy::RuntimeRanges
            }
            None => {
                ranges.extend_from_slice(&snapshot.writable_runs);
                RestoreStrategy::FullCopy
            }
        },
    };
    if vm.dirty_log && used != RestoreStrategy::DirtyLog {
        // Start the next call's log from a clean slate.
        vm.take_dirty_log()?;
    }
    let mut bytes_copied = 0;
    for (gpa, len) in ranges {
        vm.memory.copy_range_from(snapshot.bytes(), gpa, len)?;
        bytes_copied += len;
    }
    vm.set_fpu(&snapshot.fpu)?;
    if after_fault {
        vm.set_sregs(&snapshot.sregs)?;
    }
    Ok(RestoreStats {
        strategy: used,
        bytes_copied,
        duration: started.elapsed(),
    })
}

/// Appends every page KVM logged as written.
fn dirty_pages(vm: &Vm, ranges: &mut Vec<(u64, u64)>) -> Result<(), KvmError> {
    for (word_index, word) in vm.take_dirty_log()?.into_iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let bit = u64::from(bits.trailing_zeros());
            bits &= bits - 1;
            let gpa = (word_index as u64 * 64 + bit) * PAGE_SIZE;
            match ranges.last_mut() {
                Some((start, len)) if *start + *len == gpa => *len += PAGE_SIZE,
                _ => ranges.push((gpa, PAGE_SIZE)),
            }
        }
    }
    Ok(())
}

/// The ranges the guest runtime reports, each clamped to its region, plus data/bss, the status
/// block and the used part of the stack. `None` if the status block is not valid.
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
    let l: &Layout = &snapshot.layout;
    let c = &l.config;
    let mut ranges = snapshot.image_data_runs.clone();
    ranges.push((GVA_STATUS, PAGE_SIZE));
    ranges.push(prefix(
        l.gva_heap,
        c.heap_size_bytes,
        status.heap_high_water_gva,
    ));
    ranges.push(prefix(
        l.gva_input,
        c.input_size_bytes,
        status.input_high_water_gva,
    ));
    ranges.push(prefix(
        l.gva_output,
        c.output_size_bytes,
        status.output_high_water_gva,
    ));
    ranges.push(stack_range(memory, snapshot)?);
    Ok(Some(ranges))
}

/// From the lowest page whose content may differ from the snapshot to the top of the stack.
///
/// Below the snapshot's own lowest non-zero stack word the snapshot is all zeros, so a page
/// there can only differ if it now holds a non-zero word; pages the host never backed still
/// hold the snapshot's bytes. Scanning for the first non-zero word finds the lowest page to
/// copy, whatever the guest reports.
fn stack_range(memory: &GuestMemory, snapshot: &Snapshot) -> Result<(u64, u64), MemoryError> {
    let l = &snapshot.layout;
    let snapshot_low = snapshot.stack_low_water_gva;
    let scan_from = l.gva_stack_limit + STACK_COOKIE_SIZE_BYTES;
    let now_low = memory
        .first_nonzero_resident_word(scan_from, snapshot_low)?
        .unwrap_or(snapshot_low);
    let low = page_down(now_low.min(snapshot_low));
    Ok((low, l.gva_stack_top - low))
}

/// Pages the guest can write whose content differs from the snapshot.
pub(crate) fn differing_pages(memory: &GuestMemory, snapshot: &Snapshot) -> Vec<u64> {
    let mut out = Vec::new();
    for &(gpa, len) in &snapshot.writable_runs {
        for page in (gpa..gpa + len).step_by(PAGE_SIZE as usize) {
            if !memory
                .range_equals(snapshot.bytes(), page, PAGE_SIZE)
                .unwrap_or(false)
            {
                out.push(page);
            }
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
}
