//! Snapshots of an initialised guest: which page of guest RAM holds what, and the vCPU state to
//! resume from.
//!
//! A [`Snapshot`] is a list of [`PageRun`]s over two [`PageStore`]s: the guest runtime image's
//! read-only segments, built once per image and shared by every snapshot of every function
//! ([`ImagePages`]), and the snapshot's own store of every other non-zero page, packed with no
//! holes. Pages in no run are zero. A sandbox maps each run privately over anonymous memory
//! ([`Snapshot::map_private`]), so all sandboxes of all functions share the image's pages, all
//! sandboxes of one function share its own pages, and a zero page costs nothing until written.
//! Nothing ever reads a hole of a memfd.
//!
//! Small gaps of zero pages between own pages are stored as pages too, so that a sandbox needs
//! fewer mappings (each run is one VMA; mind `vm.max_map_count`).
//!
//! How a sandbox returns to its snapshot before each call is [`crate::restore`].

use std::sync::{Arc, OnceLock};

use flint_abi::layout::{
    Access, GVA_HOST_FUNCTIONS, GVA_IMAGE, GVA_PEB, Layout, PAGE_SIZE, STACK_COOKIE_SIZE_BYTES,
};
use kvm_bindings::kvm_fpu;

use crate::image::GuestImage;
use crate::memory::{GuestMemory, MemoryError};
use crate::pages::{PageStore, push_run};

/// Zero pages between two own pages that are stored rather than left as a gap (one mapping
/// fewer per sandbox for at most this many pages of shared memory).
const GAP_FILL_PAGES: u64 = 8;

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Creating, filling or sealing a memfd failed.
    #[error("Write snapshot memfd")]
    Memfd(#[source] std::io::Error),
    /// Reading or writing a snapshot file failed, or the file is not a usable snapshot.
    #[error("Snapshot file")]
    File(#[source] std::io::Error),
    /// Reading guest memory failed.
    #[error("Read guest memory")]
    Memory(#[from] MemoryError),
}

/// Which store a run's pages come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The guest runtime image's shared read-only pages.
    Image,
    /// The snapshot's own pages.
    Own,
}

/// Consecutive pages of guest RAM held at `offset` in one store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    /// First guest-physical address.
    pub gpa: u64,
    /// Length (whole pages).
    pub len: u64,
    /// The store.
    pub source: Source,
    /// Offset in the store.
    pub offset: u64,
}

/// The read-only and executable segments of a guest runtime image, in one store shared by
/// every snapshot of that image.
#[derive(Debug)]
pub struct ImagePages {
    store: PageStore,
    runs: Vec<PageRun>,
}

impl ImagePages {
    /// The shared pages of `image`, built on first use.
    pub fn of(image: &GuestImage) -> Result<Arc<Self>, SnapshotError> {
        if let Some(p) = image.shared_pages.get() {
            return Ok(p.clone());
        }
        let mut runs = Vec::new();
        let mut pages: Vec<Vec<u8>> = Vec::new();
        let mut offset = 0;
        for s in image
            .segments
            .iter()
            .filter(|s| s.access != Access::ReadWrite)
        {
            let mut bytes = s.data.clone();
            bytes.resize(s.size_bytes as usize, 0);
            runs.push(PageRun {
                gpa: s.gva,
                len: s.size_bytes,
                source: Source::Image,
                offset,
            });
            offset += s.size_bytes;
            pages.push(bytes);
        }
        let store = PageStore::from_pages(offset, pages.iter().map(|p| &p[..]))
            .map_err(SnapshotError::Memfd)?;
        let built = Arc::new(Self { store, runs });
        Ok(image.shared_pages.get_or_init(|| built).clone())
    }

    /// Bytes of shared memory.
    pub fn len(&self) -> u64 {
        self.store.len()
    }

    /// Whether the image has no read-only segment.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

/// A guest, frozen after initialisation.
pub struct Snapshot {
    own: PageStore,
    image_pages: Arc<ImagePages>,
    runs: Vec<PageRun>,
    /// The memory map it was taken with.
    pub layout: Layout,
    /// The guest runtime image it runs.
    pub image: Arc<GuestImage>,
    /// The vCPU state every call starts from.
    pub cpu: CpuState,
    /// Lowest non-zero stack word above the cookie (the stack top if none): below it the
    /// snapshot's stack is all zeros.
    pub stack_low_water_gva: u64,
    /// See [`Snapshot::sealed`] and [`Snapshot::scanned`]: computed once, read on every
    /// sandbox's mapping and every restore.
    sealed: Ranges,
    scanned: Ranges,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("mem_size_bytes", &self.layout.mem_size_bytes)
            .field("own_bytes", &self.own.len())
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

/// The vCPU state a snapshot keeps (memory aside). The special registers are not part of it:
/// every sandbox builds them from code (`cpu::sregs`), whatever a snapshot file says.
#[derive(Clone, Copy)]
pub struct CpuState {
    /// FPU/SSE state every call starts from.
    pub fpu: kvm_fpu,
    /// The stack cookie the guest must leave alone.
    pub cookie: [u8; 16],
}

/// What a snapshot is taken of.
pub struct CaptureState<'a> {
    /// Guest RAM, anonymous (as booted): every page it holds was written.
    pub memory: &'a GuestMemory,
    /// Its layout.
    pub layout: Layout,
    /// Its image.
    pub image: Arc<GuestImage>,
    /// The vCPU.
    pub cpu: CpuState,
}

/// Own pages of `memory`: every page written at boot that is neither zero nor covered by
/// `image_runs`, grouped into runs with small gaps filled.
fn own_runs(
    memory: &GuestMemory,
    size: u64,
    image_runs: &[PageRun],
) -> Result<Vec<(u64, u64)>, MemoryError> {
    let covered = |gpa: u64| {
        image_runs
            .iter()
            .any(|r| gpa >= r.gpa && gpa < r.gpa + r.len)
    };
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (gpa, len) in memory.private_runs(0, size)? {
        for page in (gpa..gpa + len).step_by(PAGE_SIZE as usize) {
            if covered(page) || memory.page_is_zero(page)? {
                continue;
            }
            if let Some((start, l)) = runs.last_mut() {
                let end = *start + *l;
                let gap = page - end;
                if gap > 0 && gap <= GAP_FILL_PAGES * PAGE_SIZE && !(end..page).any(covered) {
                    *l = page + PAGE_SIZE - *start;
                    continue;
                }
            }
            push_run(&mut runs, page, PAGE_SIZE);
        }
    }
    Ok(runs)
}

impl Snapshot {
    /// Copies the non-zero pages of guest RAM into a new sealed store; the image's read-only
    /// segments, where unchanged, are shared instead.
    pub fn capture(state: CaptureState<'_>) -> Result<Self, SnapshotError> {
        let size = state.layout.mem_size_bytes;
        let image_pages = ImagePages::of(&state.image)?;
        let mut runs = Vec::new();
        for r in &image_pages.runs {
            let mut now = vec![0u8; r.len as usize];
            state.memory.read(r.gpa, &mut now)?;
            let theirs = &image_pages.store.bytes()[r.offset as usize..][..r.len as usize];
            if now == theirs {
                runs.push(*r);
            }
        }
        let own = own_runs(state.memory, size, &runs)?;
        let own_len = crate::pages::runs_len(&own);
        let mut offset = 0;
        for &(gpa, len) in &own {
            runs.push(PageRun {
                gpa,
                len,
                source: Source::Own,
                offset,
            });
            offset += len;
        }
        let memory = state.memory;
        let store = PageStore::build(own_len, |f| {
            use std::os::unix::fs::FileExt;
            let mut at = 0;
            for &(gpa, len) in &own {
                let mut buf = vec![0u8; len as usize];
                memory.read(gpa, &mut buf).map_err(std::io::Error::other)?;
                f.write_all_at(&buf, at)?;
                at += len;
            }
            Ok(())
        })
        .map_err(SnapshotError::Memfd)?;
        runs.sort_by_key(|r| r.gpa);
        let layout = &state.layout;
        let scan_from = layout.gva_stack_limit + STACK_COOKIE_SIZE_BYTES;
        let stack_low_water_gva = memory
            .first_nonzero_word_in(&own, scan_from, layout.gva_stack_top)?
            .unwrap_or(layout.gva_stack_top);
        let (sealed, scanned) = sealed_and_scanned(&state.layout, &state.image);
        Ok(Self {
            own: store,
            image_pages,
            runs,
            layout: state.layout,
            image: state.image,
            cpu: state.cpu,
            stack_low_water_gva,
            sealed,
            scanned,
        })
    }

    /// Builds a snapshot read back from a file (`capture`'s fields with runs and a low-water
    /// mark from outside), checking every run against the layout and the stores.
    pub(crate) fn assemble(
        (layout, image, cpu): (Layout, Arc<GuestImage>, CpuState),
        own: PageStore,
        runs: Vec<PageRun>,
        stack_low_water_gva: u64,
    ) -> Result<Self, &'static str> {
        let image_pages = ImagePages::of(&image).map_err(|_| "image pages")?;
        check_runs(&runs, &layout, &image_pages, own.len())?;
        if stack_low_water_gva > layout.gva_stack_top
            || stack_low_water_gva < layout.gva_stack_limit
        {
            return Err("stack low-water mark outside the stack");
        }
        let (sealed, scanned) = sealed_and_scanned(&layout, &image);
        Ok(Self {
            own,
            image_pages,
            runs,
            layout,
            image,
            cpu,
            stack_low_water_gva,
            sealed,
            scanned,
        })
    }

    /// Every run of data, in address order.
    pub fn runs(&self) -> &[PageRun] {
        &self.runs
    }

    /// Bytes of memory this snapshot holds itself (the image's shared pages not counted).
    pub fn own_bytes(&self) -> u64 {
        self.own.len()
    }

    /// The snapshot's own pages, packed in run order.
    pub(crate) fn own_store(&self) -> &PageStore {
        &self.own
    }

    fn store(&self, source: Source) -> &PageStore {
        match source {
            Source::Image => &self.image_pages.store,
            Source::Own => &self.own,
        }
    }

    /// The pieces of `gpa..gpa+len`: `(gpa, len, Some(bytes))` where the snapshot holds data,
    /// `(gpa, len, None)` where it is zero.
    pub fn pieces(&self, gpa: u64, len: u64) -> Vec<(u64, u64, Option<&[u8]>)> {
        let end = gpa + len;
        let mut out = Vec::new();
        let mut at = gpa;
        let first = self.runs.partition_point(|r| r.gpa + r.len <= gpa);
        for r in &self.runs[first..] {
            if r.gpa >= end {
                break;
            }
            if r.gpa > at {
                out.push((at, r.gpa - at, None));
                at = r.gpa;
            }
            let to = (r.gpa + r.len).min(end);
            let from = (r.offset + at - r.gpa) as usize;
            let bytes = &self.store(r.source).bytes()[from..from + (to - at) as usize];
            out.push((at, to - at, Some(bytes)));
            at = to;
        }
        if at < end {
            out.push((at, end - at, None));
        }
        out
    }

    /// Copies snapshot memory at `gpa` into `out` (zeros where the snapshot has none).
    pub fn read(&self, gpa: u64, out: &mut [u8]) {
        let mut pos = 0;
        for (_, len, bytes) in self.pieces(gpa, out.len() as u64) {
            let dst = &mut out[pos..pos + len as usize];
            match bytes {
                Some(b) => dst.copy_from_slice(b),
                None => dst.fill(0),
            }
            pos += len as usize;
        }
    }

    /// Brings `gpa..gpa+len` of `memory` back to the snapshot by copying (only the pages that
    /// differ, with `only_if_different`). Returns how many pages it wrote.
    pub(crate) fn copy_back(
        &self,
        memory: &mut GuestMemory,
        gpa: u64,
        len: u64,
        only_if_different: bool,
    ) -> Result<u64, MemoryError> {
        let mut written = 0;
        for (at, l, bytes) in self.pieces(gpa, len) {
            written += match bytes {
                Some(b) => memory.copy_in(at, b, only_if_different)?,
                None => memory.clear(at, l)?,
            };
        }
        Ok(written)
    }

    /// One past the last data byte the snapshot holds in `start..end` (`start` if none): a
    /// lower bound for any restore range that starts at `start`.
    pub fn data_end(&self, start: u64, end: u64) -> u64 {
        self.runs
            .iter()
            .filter(|r| r.gpa < end && r.gpa + r.len > start)
            .map(|r| (r.gpa + r.len).min(end))
            .max()
            .unwrap_or(start)
    }

    /// A new guest RAM for a sandbox of this snapshot: anonymous memory with every run mapped
    /// privately over it, so it costs only the pages the sandbox writes.
    pub fn map_private(&self) -> Result<GuestMemory, MemoryError> {
        let mut memory = GuestMemory::anonymous(self.layout.mem_size_bytes)?;
        self.map_runs(&mut memory)?;
        Ok(memory)
    }

    /// Replaces all of `memory` (of this snapshot's size) with the snapshot, as
    /// [`Snapshot::map_private`] would map it.
    pub fn remap(&self, memory: &mut GuestMemory) -> Result<(), MemoryError> {
        memory.clear_backing()?;
        self.map_runs(memory)
    }

    fn map_runs(&self, memory: &mut GuestMemory) -> Result<(), MemoryError> {
        for r in &self.runs {
            memory.map_file(r.gpa, r.len, self.store(r.source).fd(), r.offset)?;
        }
        for &(gpa, len) in &self.sealed {
            memory.seal(gpa, len)?;
        }
        Ok(())
    }

    /// What no one writes once a sandbox is booted, in address order: the null page, the GDT,
    /// IDT and TSS; the host-function table and the unmapped rest of the low 2 MiB; the
    /// image's read-only and executable segments; the module. The guest's page tables map
    /// none of it writable, and every sandbox maps it read-only in the host too
    /// ([`GuestMemory::seal`]), so not even a guest that took over its ring 0 can leave a
    /// private page there: the trust-free restore need not look (see [`Snapshot::scanned`]).
    pub fn sealed(&self) -> &[(u64, u64)] {
        &self.sealed
    }

    /// Guest RAM outside [`Snapshot::sealed`]: where a call can leave private pages.
    pub fn scanned(&self) -> &[(u64, u64)] {
        &self.scanned
    }
}

/// Guest-physical ranges, `(gpa, len)`, in address order.
type Ranges = Vec<(u64, u64)>;

/// [`Snapshot::sealed`] and [`Snapshot::scanned`] of a sandbox with `layout` running `image`.
fn sealed_and_scanned(layout: &Layout, image: &GuestImage) -> (Ranges, Ranges) {
    let mut fixed = vec![
        (0, GVA_PEB),
        (GVA_HOST_FUNCTIONS, GVA_IMAGE - GVA_HOST_FUNCTIONS),
        (layout.gva_module, layout.gva_heap - layout.gva_module),
    ];
    let read_only = image
        .segments
        .iter()
        .filter(|s| matches!(s.access, Access::Read | Access::ReadExecute));
    fixed.extend(read_only.map(|s| (s.gva, s.size_bytes)));
    fixed.retain(|&(_, len)| len > 0);
    fixed.sort_unstable();
    let mut sealed = Vec::with_capacity(fixed.len());
    for (gpa, len) in fixed {
        push_run(&mut sealed, gpa, len);
    }
    let mut scanned = Vec::new();
    let mut at = 0;
    for &(gpa, len) in &sealed {
        if gpa > at {
            scanned.push((at, gpa - at));
        }
        at = at.max(gpa + len);
    }
    if at < layout.mem_size_bytes {
        scanned.push((at, layout.mem_size_bytes - at));
    }
    (sealed, scanned)
}

/// Checks runs read from outside: in address order, disjoint, page-aligned, inside guest RAM,
/// image runs exactly the image's own, own runs packed in order inside the own store.
fn check_runs(
    runs: &[PageRun],
    layout: &Layout,
    image_pages: &ImagePages,
    own_len: u64,
) -> Result<(), &'static str> {
    let mut next_gpa = 0;
    let mut next_own = 0;
    for r in runs {
        if r.len == 0 || !(r.gpa | r.len | r.offset).is_multiple_of(PAGE_SIZE) {
            return Err("snapshot run is empty or unaligned");
        }
        let end = r.gpa.checked_add(r.len).ok_or("snapshot run overflows")?;
        if r.gpa < next_gpa || end > layout.mem_size_bytes {
            return Err("snapshot runs overlap or leave guest memory");
        }
        next_gpa = end;
        match r.source {
            Source::Image if !image_pages.runs.contains(r) => {
                return Err("snapshot image run is not one of the image's");
            }
            Source::Image => {}
            Source::Own => {
                if r.offset != next_own {
                    return Err("snapshot own runs are not packed in order");
                }
                next_own += r.len;
            }
        }
    }
    if next_own != own_len {
        return Err("snapshot own runs do not cover the stored pages");
    }
    Ok(())
}

/// The lazily built shared pages of an image (a field of [`GuestImage`]).
pub type SharedPages = OnceLock<Arc<ImagePages>>;
