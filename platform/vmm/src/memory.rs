//! Guest RAM: one host mapping, with inaccessible guard pages on both sides, that KVM maps at
//! guest-physical address 0.
//!
//! The backing is anonymous (zero pages cost nothing until written), with a snapshot's data
//! pages mapped privately over it ([`GuestMemory::map_file`]): reads share the snapshot's
//! page-cache pages, a write costs one private page, and [`GuestMemory::discard`] hands such a
//! page back to the kernel, after which the address reads the snapshot (or zero) again. The
//! kernel's page tables say which pages are private ([`GuestMemory::private_runs`]); that is
//! the trust-free record of what a call wrote. Transparent huge pages are off, so one written
//! byte costs one 4 KiB page, never 2 MiB.
//!
//! Why not `vm-memory`: a sandbox needs exactly one region, guard pages around it, file runs
//! mapped over an anonymous base, a record of every range the host wrote, and raw range copies
//! on the restore hot path. That is this small type; `vm-memory`'s region collections and
//! bitmaps would sit unused around it.
//!
//! Every access from the host goes through bounds-checked methods that take guest-physical
//! addresses; guest memory is never handed out as a Rust reference, because the guest can change
//! it whenever its vCPU runs.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use flint_abi::buffer::BufferMemory;
use flint_abi::layout::PAGE_SIZE;

/// Why guest memory could not be set up or accessed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// `mmap` of the reservation failed.
    #[error("Reserve {size_bytes} bytes of address space")]
    Reserve {
        /// Bytes asked for.
        size_bytes: u64,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `mmap` of the backing into the reservation failed.
    #[error("Map guest memory")]
    Map(#[source] std::io::Error),
    /// `madvise` failed.
    #[error("Discard guest pages")]
    Discard(#[source] std::io::Error),
    /// The kernel could not say which pages are private.
    #[error("Scan guest pages")]
    Scan(#[from] crate::pagemap::PagemapError),
    /// A host access fell outside guest RAM.
    #[error("Guest range {gpa:#x}+{len:#x} is outside guest memory of {size_bytes:#x} bytes")]
    OutOfBounds {
        /// Start address.
        gpa: u64,
        /// Length.
        len: u64,
        /// Size of guest RAM.
        size_bytes: u64,
    },
}

/// Guest RAM of one sandbox.
#[derive(Debug)]
pub struct GuestMemory {
    /// Start of the whole reservation, guard pages included.
    reservation: NonNull<u8>,
    /// Size of the reservation.
    reservation_size: usize,
    /// Start of guest RAM (one page into the reservation).
    base: NonNull<u8>,
    /// Size of guest RAM.
    size_bytes: u64,
    /// Every range the host wrote since the last [`GuestMemory::take_host_writes`].
    host_writes: Vec<(u64, u64)>,
}

// SAFETY: `GuestMemory` owns its mapping exclusively; the raw pointers are never shared with
// another `GuestMemory`, and all access goes through `&self`/`&mut self` methods.
unsafe impl Send for GuestMemory {}

impl GuestMemory {
    /// Maps `size_bytes` (a multiple of the page size) of zeroed anonymous memory.
    pub fn anonymous(size_bytes: u64) -> Result<Self, MemoryError> {
        let page = PAGE_SIZE as usize;
        let reservation_size = size_bytes as usize + 2 * page;
        // SAFETY: a fresh PROT_NONE anonymous mapping at an address the kernel picks; it
        // aliases nothing.
        let reservation = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reservation_size,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if reservation == libc::MAP_FAILED {
            return Err(MemoryError::Reserve {
                size_bytes,
                source: std::io::Error::last_os_error(),
            });
        }
        let reservation = NonNull::new(reservation.cast::<u8>()).ok_or(MemoryError::Map(
            std::io::Error::other("mmap returned null"),
        ))?;
        // SAFETY: `page` is inside the reservation just made.
        let inner = unsafe { reservation.as_ptr().add(page) };
        let mut memory = Self {
            reservation,
            reservation_size,
            // SAFETY: `inner` is one page into a non-null mapping, so it is non-null.
            base: unsafe { NonNull::new_unchecked(inner) },
            size_bytes,
            host_writes: Vec::new(),
        };
        memory.clear_backing()?;
        Ok(memory)
    }

    /// Replaces all of guest RAM with fresh zeroed anonymous memory (dropping every private
    /// page and file run).
    pub fn clear_backing(&mut self) -> Result<(), MemoryError> {
        let inner = self.base.as_ptr();
        let size_bytes = self.size_bytes as usize;
        // SAFETY: MAP_FIXED replaces pages inside our own reservation (from one page in, for
        // `size_bytes`), leaving a PROT_NONE guard page on each side; nothing else uses them,
        // and no Rust reference into guest memory exists.
        let mapped = unsafe {
            libc::mmap(
                inner.cast(),
                size_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(MemoryError::Map(std::io::Error::last_os_error()));
        }
        // SAFETY: advice on our own mapping; it changes no contents.
        unsafe { libc::madvise(inner.cast(), size_bytes, libc::MADV_NOHUGEPAGE) };
        Ok(())
    }

    /// Maps `len` bytes of `fd` from `offset` privately at `gpa`, over what was there: reads see
    /// the file, writes are copied on write and never reach it.
    pub fn map_file(
        &mut self,
        gpa: u64,
        len: u64,
        fd: BorrowedFd<'_>,
        offset: u64,
    ) -> Result<(), MemoryError> {
        let off = self.check(gpa, len)?;
        if !(gpa | len | offset).is_multiple_of(PAGE_SIZE) {
            return Err(MemoryError::Map(std::io::Error::other(
                "unaligned file run",
            )));
        }
        // SAFETY: MAP_FIXED replaces pages inside guest RAM (bounds checked above), which this
        // `GuestMemory` owns; no Rust reference into guest memory exists.
        let mapped = unsafe {
            libc::mmap(
                self.base.as_ptr().add(off).cast(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(MemoryError::Map(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Makes `gpa..gpa+len` (page-aligned) read-only in the host's mapping: no write there,
    /// by the host, by KVM on the guest's behalf or by the guest at any privilege, can make a
    /// private page (KVM maps the pages read-only; a write is an error exit). Undone only by
    /// [`GuestMemory::clear_backing`].
    pub fn seal(&mut self, gpa: u64, len: u64) -> Result<(), MemoryError> {
        let off = self.check(gpa, len)?;
        // SAFETY: the range is inside our mapping (checked); dropping write permission cannot
        // invalidate a Rust reference (none into guest memory exists).
        let rc = unsafe {
            libc::mprotect(
                self.base.as_ptr().add(off).cast(),
                len as usize,
                libc::PROT_READ,
            )
        };
        if rc != 0 {
            return Err(MemoryError::Map(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Size of guest RAM.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Host address of guest-physical 0, for `KVM_SET_USER_MEMORY_REGION`.
    pub fn host_address(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    fn check(&self, gpa: u64, len: u64) -> Result<usize, MemoryError> {
        match gpa.checked_add(len) {
            Some(end) if end <= self.size_bytes => Ok(gpa as usize),
            _ => Err(MemoryError::OutOfBounds {
                gpa,
                len,
                size_bytes: self.size_bytes,
            }),
        }
    }

    /// Copies guest memory at `gpa` into `out`.
    pub fn read(&self, gpa: u64, out: &mut [u8]) -> Result<(), MemoryError> {
        let off = self.check(gpa, out.len() as u64)?;
        // SAFETY: `check` keeps `off..off+len` inside the mapping; `out` is a distinct host
        // buffer. The guest is not running while the host calls this (one thread drives a
        // sandbox), so the bytes are stable.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(off), out.as_mut_ptr(), out.len())
        };
        Ok(())
    }

    /// Reads a little-endian `u64` at `gpa`.
    pub fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes `data` at `gpa` and records the range as host-written.
    pub fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let off = self.check(gpa, data.len() as u64)?;
        // SAFETY: `check` keeps the range inside the mapping; `data` is a host buffer that
        // cannot overlap guest memory handed out by no one.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(off), data.len())
        };
        self.note_host_write(gpa, data.len() as u64);
        Ok(())
    }

    fn note_host_write(&mut self, gpa: u64, len: u64) {
        crate::pages::push_run(&mut self.host_writes, gpa, len);
    }

    /// The ranges the host wrote since the last call, and forgets them.
    pub fn take_host_writes(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.host_writes)
    }

    /// Copies `src` to `gpa`, or, with `only_if_different`, each page of it whose bytes differ
    /// (so an untouched page keeps sharing its backing). Not recorded as a host write: it is how
    /// writes are undone. Returns how many pages (or parts of pages) were written.
    pub fn copy_in(
        &mut self,
        gpa: u64,
        src: &[u8],
        only_if_different: bool,
    ) -> Result<u64, MemoryError> {
        let off = self.check(gpa, src.len() as u64)?;
        // SAFETY: in bounds (checked); `src` is a host buffer (a snapshot's sealed view), not
        // this mapping; the guest is stopped and no other reference into guest memory exists.
        let ours =
            unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(off), src.len()) };
        let page = PAGE_SIZE as usize;
        if !only_if_different {
            ours.copy_from_slice(src);
            return Ok(src.len().div_ceil(page) as u64);
        }
        let mut written = 0;
        for (dst, from) in ours.chunks_mut(page).zip(src.chunks(page)) {
            if dst != from {
                dst.copy_from_slice(from);
                written += 1;
            }
        }
        Ok(written)
    }

    /// The lowest address in `gpa..gpa+len` whose 8-byte word is not zero, if any. `gpa` must
    /// be 8-aligned.
    pub fn first_nonzero_word(&self, gpa: u64, len: u64) -> Result<Option<u64>, MemoryError> {
        let off = self.check(gpa, len)?;
        assert!(gpa.is_multiple_of(8), "unaligned scan start {gpa:#x}");
        // SAFETY: in bounds (checked); read-only view while the guest is stopped; `base` is
        // page-aligned and `gpa` 8-aligned, so the `u64` reads are aligned.
        let words = unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(off).cast::<u64>(), len as usize / 8)
        };
        // OR-reduce 64-byte blocks first (vectorises), then find the word inside the block.
        let block = words
            .chunks(8)
            .position(|c| c.iter().fold(0, |a, &w| a | w) != 0);
        Ok(block.and_then(|b| {
            let i = b * 8 + words[b * 8..].iter().position(|&w| w != 0)?;
            Some(gpa + i as u64 * 8)
        }))
    }

    /// The runs of `gpa..gpa+len` (page-aligned) that hold private pages: everything written
    /// since the mapping was made or last discarded, by the guest or the host. The rest reads
    /// as the mapping's backing (zero, or the snapshot file). From the kernel's page tables.
    pub fn private_runs(&self, gpa: u64, len: u64) -> Result<Vec<(u64, u64)>, MemoryError> {
        let off = self.check(gpa, len)?;
        let hva = self.base.as_ptr() as u64 + off as u64;
        let runs = crate::pagemap::private_runs(hva, len)?;
        Ok(runs.into_iter().map(|(o, l)| (gpa + o, l)).collect())
    }

    /// The lowest non-zero 8-byte word in `from..to` (8-aligned) that lies in one of `runs`
    /// (address order): where only those pages can hold data.
    pub fn first_nonzero_word_in(
        &self,
        runs: &[(u64, u64)],
        from: u64,
        to: u64,
    ) -> Result<Option<u64>, MemoryError> {
        for &(gpa, len) in runs {
            let (start, end) = (gpa.max(from), (gpa + len).min(to));
            if start < end
                && let Some(found) = self.first_nonzero_word(start, end - start)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Hands the pages of `gpa..gpa+len` (page-aligned) back to the kernel: each then reads as
    /// its backing again (zero, or the snapshot file) and costs nothing until written.
    pub fn discard(&mut self, gpa: u64, len: u64) -> Result<(), MemoryError> {
        let off = self.check(gpa, len)?;
        // SAFETY: the range is inside our mapping (checked); no Rust reference into guest
        // memory exists, and the guest is not running (one thread drives a sandbox).
        let rc = unsafe {
            libc::madvise(
                self.base.as_ptr().add(off).cast(),
                len as usize,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            return Err(MemoryError::Discard(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Zeroes `gpa..gpa+len`, writing only pages that hold a non-zero byte (so a page that
    /// already reads as zero gets no private copy). Not recorded as a host write. Returns how
    /// many pages (or parts of pages) were written.
    pub fn clear(&mut self, gpa: u64, len: u64) -> Result<u64, MemoryError> {
        let off = self.check(gpa, len)?;
        // SAFETY: in bounds (checked above); the guest is stopped and no Rust reference into
        // guest memory exists but this one, which lives for this call.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(off), len as usize) };
        let first = PAGE_SIZE as usize - (gpa % PAGE_SIZE) as usize;
        let (head, rest) = bytes.split_at_mut(first.min(bytes.len()));
        let mut written = 0;
        for chunk in std::iter::once(head).chain(rest.chunks_mut(PAGE_SIZE as usize)) {
            if chunk.iter().any(|&b| b != 0) {
                chunk.fill(0);
                written += 1;
            }
        }
        Ok(written)
    }

    /// Whether the page at `gpa` is all zero (`gpa` page-aligned and in bounds).
    pub fn page_is_zero(&self, gpa: u64) -> Result<bool, MemoryError> {
        Ok(self.first_nonzero_word(gpa, PAGE_SIZE)?.is_none())
    }

    /// A view of one buffer region, for the generic push/pop in `flint_abi::buffer`.
    pub fn buffer(&mut self, gpa: u64, size_bytes: u64) -> Result<GuestBuffer<'_>, MemoryError> {
        self.check(gpa, size_bytes)?;
        Ok(GuestBuffer {
            memory: self,
            gpa,
            size_bytes,
        })
    }
}

/// Hands the host heap's free memory back to the kernel (glibc's `malloc_trim`). Deploys
/// allocate and free several MiB (validation, Cranelift, snapshot capture) on whichever worker
/// thread ran them; without this, the allocator keeps that memory in its arenas and a node
/// looks a megabyte larger per deploy than the functions it holds.
pub fn trim_host_heap() {
    // SAFETY: `malloc_trim` only releases free memory of the allocator's own arenas; it touches
    // no live allocation and is thread-safe.
    unsafe { libc::malloc_trim(0) };
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the reservation `map` created (which contains the backing
        // mapping); nothing refers to it after drop.
        unsafe { libc::munmap(self.reservation.as_ptr().cast(), self.reservation_size) };
    }
}

/// One input or output buffer inside guest memory.
pub struct GuestBuffer<'a> {
    memory: &'a mut GuestMemory,
    gpa: u64,
    size_bytes: u64,
}

impl BufferMemory for GuestBuffer<'_> {
    fn size_bytes(&self) -> usize {
        self.size_bytes as usize
    }

    fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset as u64 + out.len() as u64 <= self.size_bytes);
        self.memory
            .read(self.gpa + offset as u64, out)
            .expect("buffer was bounds-checked at creation");
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        assert!(offset as u64 + data.len() as u64 <= self.size_bytes);
        self.memory
            .write(self.gpa + offset as u64, data)
            .expect("buffer was bounds-checked at creation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_are_bounds_checked() {
        let mut m = GuestMemory::anonymous(4 * PAGE_SIZE).unwrap();
        m.write(100, &[1, 2, 3]).unwrap();
        let mut out = [0u8; 3];
        m.read(100, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
        assert!(m.write(4 * PAGE_SIZE - 1, &[1, 2]).is_err());
        assert!(m.read(u64::MAX - 1, &mut out).is_err());
        assert_eq!(m.take_host_writes(), vec![(100, 3)]);
        assert!(m.take_host_writes().is_empty());
    }

    #[test]
    fn adjacent_host_writes_merge() {
        let mut m = GuestMemory::anonymous(PAGE_SIZE).unwrap();
        m.write(0, &[1; 8]).unwrap();
        m.write(8, &[1; 8]).unwrap();
        m.write(100, &[1]).unwrap();
        assert_eq!(m.take_host_writes(), vec![(0, 16), (100, 1)]);
    }

    #[test]
    fn the_kernel_names_written_pages_and_discard_returns_them() {
        let mut m = GuestMemory::anonymous(8 * PAGE_SIZE).unwrap();
        let mut out = [0u8; 8];
        m.read(3 * PAGE_SIZE, &mut out).unwrap(); // a read maps the zero page: not private
        assert_eq!(m.private_runs(0, 8 * PAGE_SIZE).unwrap(), vec![]);
        m.write(2 * PAGE_SIZE + 5, &[7]).unwrap();
        m.write(5 * PAGE_SIZE, &[7; 4097]).unwrap();
        assert_eq!(
            m.private_runs(0, 8 * PAGE_SIZE).unwrap(),
            vec![(2 * PAGE_SIZE, PAGE_SIZE), (5 * PAGE_SIZE, 2 * PAGE_SIZE)]
        );
        let runs = m.private_runs(0, 8 * PAGE_SIZE).unwrap();
        assert_eq!(
            m.first_nonzero_word_in(&runs, 3 * PAGE_SIZE, 8 * PAGE_SIZE)
                .unwrap(),
            Some(5 * PAGE_SIZE)
        );
        m.discard(0, 8 * PAGE_SIZE).unwrap();
        assert_eq!(m.private_runs(0, 8 * PAGE_SIZE).unwrap(), vec![]);
        m.read(2 * PAGE_SIZE + 5, &mut out[..1]).unwrap();
        assert_eq!(out[0], 0);
        // Clearing a page that reads as zero gives it no private copy.
        assert_eq!(m.clear(0, 8 * PAGE_SIZE).unwrap(), 0);
        assert_eq!(m.private_runs(0, 8 * PAGE_SIZE).unwrap(), vec![]);
    }

    #[test]
    fn finds_the_first_nonzero_word() {
        let mut m = GuestMemory::anonymous(2 * PAGE_SIZE).unwrap();
        assert_eq!(m.first_nonzero_word(0, 2 * PAGE_SIZE).unwrap(), None);
        m.write(PAGE_SIZE + 17, &[9]).unwrap();
        assert_eq!(
            m.first_nonzero_word(0, 2 * PAGE_SIZE).unwrap(),
            Some(PAGE_SIZE + 16)
        );
    }
}
