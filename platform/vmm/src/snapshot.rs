//! Snapshots of an initialised guest, and the strategies that bring a sandbox back to one.
//!
//! A [`Snapshot`] holds guest RAM in a sealed memfd (pages that are all zero stay holes, so it
//! costs only what the guest used) plus the vCPU state to resume from. New sandboxes map the
//! memfd privately, so every sandbox of a function shares the snapshot's pages until it writes.
//!
//! Before each call, a sandbox is restored: every page the previous call could have written is
//! copied back from the snapshot. Which pages those are is the [`RestoreStrategy`]:
//!
//! | strategy | copies | trusts |
//! |---|---|---|
//! | `FullCopy` | every guest-writable page | nothing |
//! | `DirtyLog` | pages KVM logged as written, plus host-written ranges | nothing (KVM) |
//! | `RuntimeRanges` | data/bss, the heap up to the runtime's high-water mark, the I/O buffers up to theirs, the stack from its lowest non-zero word | the guest runtime's allocator and buffer bookkeeping |
//!
//! `RuntimeRanges` takes no page faults, which makes it the fastest on PVM (where each KVM page
//! fault costs 12-20 us); `DirtyLog` is the right choice on hardware KVM. After a fault, every
//! strategy falls back to `FullCopy`, since a faulting guest may have left any state behind.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::Arc;

use flint_abi::layout::{Access, Layout, PAGE_SIZE, STACK_COOKIE_SIZE_BYTES};
use kvm_bindings::{kvm_fpu, kvm_sregs};

use crate::image::GuestImage;
use crate::memory::GuestMemory;
use crate::paging::PagePermission;

/// How a sandbox is brought back to its snapshot before each call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestoreStrategy {
    /// Copy every page the guest can write.
    FullCopy,
    /// Copy what KVM's dirty log and the host's own write log name.
    DirtyLog,
    /// Copy the ranges the guest runtime reports, and the used part of the stack.
    #[default]
    RuntimeRanges,
}

impl RestoreStrategy {
    /// Stable name, for configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreStrategy::FullCopy => "full-copy",
            RestoreStrategy::DirtyLog => "dirty-log",
            RestoreStrategy::RuntimeRanges => "runtime-ranges",
        }
    }
}

impl std::str::FromStr for RestoreStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            RestoreStrategy::FullCopy,
            RestoreStrategy::DirtyLog,
            RestoreStrategy::RuntimeRanges,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            format!("unknown restore strategy {s:?} (full-copy, dirty-log, runtime-ranges)")
        })
    }
}

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Creating, filling or sealing the memfd failed.
    #[error("Write snapshot memfd")]
    Memfd(#[source] std::io::Error),
    /// Reading or writing a snapshot file failed, or the file is not a usable snapshot.
    #[error("Snapshot file")]
    File(#[source] std::io::Error),
}

/// A read-only, shared mapping of a sealed snapshot memfd.
struct SealedView {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and its memfd is sealed against writes, so the bytes never
// change; sharing `&[u8]` views across threads is sound.
unsafe impl Send for SealedView {}
// SAFETY: as above.
unsafe impl Sync for SealedView {}

impl SealedView {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is a live read-only mapping of a write-sealed memfd (see
        // `Snapshot::capture`), unmapped only on drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SealedView {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `capture`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A guest, frozen after initialisation.
pub struct Snapshot {
    memfd: File,
    view: SealedView,
    /// The memory map it was taken with.
    pub layout: Layout,
    /// The guest runtime image it runs.
    pub image: Arc<GuestImage>,
    /// Special registers to restore after a fault.
    pub sregs: kvm_sregs,
    /// FPU/SSE state every call starts from.
    pub fpu: kvm_fpu,
    /// The stack cookie the guest must leave alone.
    pub cookie: [u8; 16],
    /// Runs of pages the guest (or the CPU on its behalf) can write: (gpa, length).
    pub writable_runs: Vec<(u64, u64)>,
    /// Writable runs of the image (data and bss).
    pub image_data_runs: Vec<(u64, u64)>,
    /// Bytes of guest RAM that are not all zero.
    pub resident_bytes: u64,
    /// Lowest non-zero stack word above the cookie (the stack top if none): below it the
    /// snapshot's stack is all zeros.
    pub stack_low_water_gva: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("mem_size_bytes", &self.layout.mem_size_bytes)
            .field("resident_bytes", &self.resident_bytes)
            .finish_non_exhaustive()
    }
}

/// Runs of consecutive pages whose permission satisfies `pred`.
pub fn runs(perms: &[PagePermission], pred: impl Fn(&PagePermission) -> bool) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (i, p) in perms.iter().enumerate() {
        if !pred(p) {
            continue;
        }
        let gpa = i as u64 * PAGE_SIZE;
        match out.last_mut() {
            Some((start, len)) if *start + *len == gpa => *len += PAGE_SIZE,
            _ => out.push((gpa, PAGE_SIZE)),
        }
    }
    out
}

fn last_os_error() -> SnapshotError {
    SnapshotError::Memfd(std::io::Error::last_os_error())
}

/// Everything but the memory.
struct SnapshotMeta {
    layout: Layout,
    image: Arc<GuestImage>,
    sregs: kvm_sregs,
    fpu: kvm_fpu,
    cookie: [u8; 16],
    resident_bytes: u64,
    stack_low_water_gva: u64,
}

/// What a snapshot is taken of.
pub struct CaptureState<'a> {
    /// Guest RAM.
    pub memory: &'a GuestMemory,
    /// Its layout.
    pub layout: Layout,
    /// Its image.
    pub image: Arc<GuestImage>,
    /// vCPU special registers.
    pub sregs: kvm_sregs,
    /// vCPU FPU state.
    pub fpu: kvm_fpu,
    /// The stack cookie.
    pub cookie: [u8; 16],
}

/// A new, empty memfd of `size` bytes, to be filled page by page and then sealed.
fn new_memfd(size: u64) -> Result<File, SnapshotError> {
    // SAFETY: memfd_create with a valid C string; the result is checked below.
    let raw = unsafe {
        libc::memfd_create(
            c"flint-snapshot".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if raw < 0 {
        return Err(last_os_error());
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let memfd = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    memfd.set_len(size).map_err(SnapshotError::Memfd)?;
    Ok(memfd)
}

/// Writes one page into the memfd at `offset` (leaving all-zero pages as holes is the caller's
/// choice).
fn put_page(memfd: &File, page: &[u8], offset: u64) -> Result<(), SnapshotError> {
    memfd
        .write_all_at(page, offset)
        .map_err(SnapshotError::Memfd)
}

/// Seals the memfd against any change and maps it read-only.
fn seal_and_view(memfd: &File, size: u64) -> Result<SealedView, SnapshotError> {
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on our own fd; no shared writable mapping exists, so sealing succeeds.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(last_os_error());
    }
    // SAFETY: a new read-only shared mapping of the sealed memfd; nothing aliases it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
            memfd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(last_os_error());
    }
    Ok(SealedView {
        ptr: NonNull::new(ptr.cast()).ok_or_else(last_os_error)?,
        len: size as usize,
    })
}

/// A snapshot read back from a file, before its memfd exists (see `snapshot_file`).
pub(crate) struct SnapshotParts {
    pub file: std::fs::File,
    pub data_offset: u64,
    pub layout: Layout,
    pub image: Arc<GuestImage>,
    pub sregs: kvm_sregs,
    pub fpu: kvm_fpu,
    pub cookie: [u8; 16],
    pub resident_bytes: u64,
    pub stack_low_water_gva: u64,
}

impl Snapshot {
    /// Copies guest RAM into a new sealed memfd.
    pub fn capture(state: CaptureState<'_>) -> Result<Self, SnapshotError> {
        let size = state.layout.mem_size_bytes;
        let memfd = new_memfd(size)?;
        let mut page = vec![0u8; PAGE_SIZE as usize];
        let mut resident_bytes = 0;
        let in_bounds = "every page of guest RAM is in bounds";
        // Untouched pages are zero: only resident ones can hold data.
        let resident = state.memory.resident_pages(0, size).expect(in_bounds);
        for (index, _) in resident.iter().enumerate().filter(|(_, r)| **r) {
            let gpa = index as u64 * PAGE_SIZE;
            if state.memory.page_is_zero(gpa).expect(in_bounds) {
                continue;
            }
            state.memory.read(gpa, &mut page).expect(in_bounds);
            resident_bytes += PAGE_SIZE;
            put_page(&memfd, &page, gpa)?;
        }
        let layout = &state.layout;
        let scan_from = layout.gva_stack_limit + STACK_COOKIE_SIZE_BYTES;
        let stack_low_water_gva = state
            .memory
            .first_nonzero_resident_word(scan_from, layout.gva_stack_top)
            .expect("the stack is in bounds")
            .unwrap_or(layout.gva_stack_top);
        Self::finish(
            memfd,
            SnapshotMeta {
                layout: state.layout,
                image: state.image,
                sregs: state.sregs,
                fpu: state.fpu,
                cookie: state.cookie,
                resident_bytes,
                stack_low_water_gva,
            },
        )
    }

    /// Builds a snapshot from one read back from a file.
    pub(crate) fn assemble(parts: SnapshotParts) -> Result<Self, SnapshotError> {
        let size = parts.layout.mem_size_bytes;
        let memfd = new_memfd(size)?;
        let mut page = vec![0u8; PAGE_SIZE as usize];
        for gpa in (0..size).step_by(PAGE_SIZE as usize) {
            parts
                .file
                .read_exact_at(&mut page, parts.data_offset + gpa)
                .map_err(SnapshotError::File)?;
            if page.iter().any(|&b| b != 0) {
                put_page(&memfd, &page, gpa)?;
            }
        }
        Self::finish(
            memfd,
            SnapshotMeta {
                layout: parts.layout,
                image: parts.image,
                sregs: parts.sregs,
                fpu: parts.fpu,
                cookie: parts.cookie,
                resident_bytes: parts.resident_bytes,
                stack_low_water_gva: parts.stack_low_water_gva,
            },
        )
    }

    fn finish(memfd: File, meta: SnapshotMeta) -> Result<Self, SnapshotError> {
        let view = seal_and_view(&memfd, meta.layout.mem_size_bytes)?;
        let perms = crate::paging::page_permissions(&meta.layout, &meta.image);
        let image_data_runs = meta
            .image
            .segments
            .iter()
            .filter(|s| s.access == Access::ReadWrite)
            .map(|s| (s.gva, s.size_bytes))
            .collect();
        Ok(Self {
            memfd,
            view,
            layout: meta.layout,
            image: meta.image,
            sregs: meta.sregs,
            fpu: meta.fpu,
            cookie: meta.cookie,
            writable_runs: runs(&perms, |p| p.access == Access::ReadWrite),
            image_data_runs,
            resident_bytes: meta.resident_bytes,
            stack_low_water_gva: meta.stack_low_water_gva,
        })
    }

    /// Guest RAM as it was at the snapshot.
    pub fn bytes(&self) -> &[u8] {
        self.view.bytes()
    }

    /// Maps a new, private copy-on-write view of the snapshot as guest RAM.
    pub fn map_private(&self) -> Result<GuestMemory, crate::memory::MemoryError> {
        GuestMemory::private_file(self.memfd.as_fd(), self.layout.mem_size_bytes)
    }
}
