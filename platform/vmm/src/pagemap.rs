//! Which pages of a guest-memory mapping hold private data, from the kernel's own page tables
//! (`PAGEMAP_SCAN` on `/proc/self/pagemap`, Linux 6.7 and later).
//!
//! Guest RAM is an anonymous private mapping with the snapshot's data pages mapped privately
//! over it (see [`crate::memory`]). A page that neither the guest nor the host has written is
//! either not present, the shared zero page, or the snapshot's page-cache page. A write, by
//! the guest through KVM or by the host, gives the page a private anonymous copy, and the
//! kernel keeps it private (or swaps it out as a swap entry) until the host discards it. So
//! "present or swapped, and neither file-backed nor the zero page" is exactly the set of pages
//! that may differ from the snapshot. Nothing the guest writes into its memory can hide a page
//! from this set: it is read from the host kernel's page tables, not from guest memory.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// `PAGEMAP_SCAN`: `_IOWR('f', 16, struct pm_scan_arg)`.
pub(crate) const PAGEMAP_SCAN: libc::c_ulong = 0xC060_6610;
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
const PAGE_IS_PFNZERO: u64 = 1 << 5;

/// `struct pm_scan_arg` (include/uapi/linux/fs.h).
#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// Why the scan failed.
#[derive(Debug, thiserror::Error)]
pub enum PagemapError {
    /// `/proc/self/pagemap` could not be opened.
    #[error("Open /proc/self/pagemap")]
    Open(#[source] std::io::Error),
    /// The ioctl failed (a kernel older than 6.7 has no `PAGEMAP_SCAN`).
    #[error("PAGEMAP_SCAN")]
    Scan(#[source] std::io::Error),
}

/// Opens `/proc/self/pagemap` now, before vCPU threads (which may not open files) need it.
pub(crate) fn prepare() -> Result<(), PagemapError> {
    pagemap().map(|_| ())
}

fn pagemap() -> Result<&'static File, PagemapError> {
    static PAGEMAP: OnceLock<Result<File, String>> = OnceLock::new();
    PAGEMAP
        .get_or_init(|| File::open("/proc/self/pagemap").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| PagemapError::Open(std::io::Error::other(e.clone())))
}

/// Regions per ioctl; a longer answer is fetched in further calls.
const REGIONS_PER_CALL: usize = 64;

/// The private (written) runs of `hva..hva+len` (page-aligned), as `(offset from hva, len)`,
/// merged and in address order.
pub fn private_runs(hva: u64, len: u64) -> Result<Vec<(u64, u64)>, PagemapError> {
    let fd = pagemap()?.as_raw_fd();
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut regions = [PageRegion::default(); REGIONS_PER_CALL];
    let mut start = hva;
    let end = hva + len;
    while start < end {
        let mut arg = PmScanArg {
            size: std::mem::size_of::<PmScanArg>() as u64,
            start,
            end,
            vec: regions.as_mut_ptr() as u64,
            vec_len: REGIONS_PER_CALL as u64,
            // Match: not file-backed, not the zero page, and present or swapped.
            category_inverted: PAGE_IS_FILE | PAGE_IS_PFNZERO,
            category_mask: PAGE_IS_FILE | PAGE_IS_PFNZERO,
            category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            ..PmScanArg::default()
        };
        // SAFETY: `arg` is a valid `pm_scan_arg` whose `vec` points at `regions`, writable for
        // `vec_len` entries, both alive for the call; the kernel only reads the page tables of
        // `start..end`, which lie in a mapping the caller owns.
        let n = unsafe { libc::ioctl(fd, PAGEMAP_SCAN, &raw mut arg) };
        if n < 0 {
            return Err(PagemapError::Scan(std::io::Error::last_os_error()));
        }
        for r in &regions[..n as usize] {
            crate::pages::push_run(&mut out, r.start - hva, r.end - r.start);
        }
        if arg.walk_end <= start {
            break;
        }
        start = arg.walk_end;
    }
    Ok(out)
}
