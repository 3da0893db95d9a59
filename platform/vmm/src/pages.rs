//! Page runs, and the sealed memfds that hold a snapshot's pages.
//!
//! A [`PageStore`] is a memfd filled with whole pages, packed with no holes, sealed against any
//! change, with one read-only view of all of it. Because it has no holes, reading the view never
//! makes the kernel allocate a page (on shmem a read of a hole does), and mapping a run of it
//! privately into a sandbox shares its page-cache pages between every sandbox that uses it.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;

use flint_abi::layout::PAGE_SIZE;

/// Appends `gpa..gpa+len` to `runs` (kept in address order by the caller), merging it with the
/// last run when they touch.
pub fn push_run(runs: &mut Vec<(u64, u64)>, gpa: u64, len: u64) {
    match runs.last_mut() {
        Some((start, l)) if *start + *l == gpa => *l += len,
        _ => runs.push((gpa, len)),
    }
}

/// Total length of `runs`.
pub fn runs_len(runs: &[(u64, u64)]) -> u64 {
    runs.iter().map(|&(_, l)| l).sum()
}

/// A read-only, shared mapping of a whole sealed memfd.
struct SealedView {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and its memfd is sealed against writes, so the bytes never
// change; sharing `&[u8]` views across threads is sound.
unsafe impl Send for SealedView {}
// SAFETY: as above.
unsafe impl Sync for SealedView {}

impl Drop for SealedView {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `PageStore::seal`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Whole pages in a sealed memfd, with no holes.
pub struct PageStore {
    memfd: File,
    view: Option<SealedView>,
}

impl std::fmt::Debug for PageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageStore")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl PageStore {
    /// A store of `len` bytes (whole pages) filled by `fill`, which must write every byte
    /// (`write_all_at` on the file it is given): a byte it leaves out would be a hole.
    pub fn build(
        len: u64,
        fill: impl FnOnce(&File) -> std::io::Result<()>,
    ) -> std::io::Result<Self> {
        assert!(len.is_multiple_of(PAGE_SIZE), "page store of partial pages");
        // SAFETY: memfd_create with a valid C string; the result is checked below.
        let raw = unsafe {
            libc::memfd_create(
                c"flint-pages".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let memfd = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        memfd.set_len(len)?;
        fill(&memfd)?;
        Self::seal(memfd, len)
    }

    /// A store of `pages`, written one after another.
    pub fn from_pages<'a>(
        len: u64,
        pages: impl IntoIterator<Item = &'a [u8]>,
    ) -> std::io::Result<Self> {
        Self::build(len, |f| {
            let mut at = 0;
            for p in pages {
                f.write_all_at(p, at)?;
                at += p.len() as u64;
            }
            if at != len {
                return Err(std::io::Error::other("page store filled short"));
            }
            Ok(())
        })
    }

    fn seal(memfd: File, len: u64) -> std::io::Result<Self> {
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own fd; no shared writable mapping exists, so sealing succeeds.
        if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if len == 0 {
            return Ok(Self { memfd, view: None });
        }
        // Populated, so that the store's pages show in this process's resident memory (they
        // exist anyway: the store has no holes).
        // SAFETY: a new read-only shared mapping of the sealed memfd; nothing aliases it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                memfd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(std::io::Error::last_os_error)?;
        Ok(Self {
            memfd,
            view: Some(SealedView {
                ptr,
                len: len as usize,
            }),
        })
    }

    /// Every byte of the store.
    pub fn bytes(&self) -> &[u8] {
        match &self.view {
            // SAFETY: `ptr..ptr+len` is a live read-only mapping of a write-sealed memfd,
            // unmapped only when the view drops with `self`.
            Some(v) => unsafe { std::slice::from_raw_parts(v.ptr.as_ptr(), v.len) },
            None => &[],
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Whether the store holds no page.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memfd, for private mappings of its runs.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_when_they_touch() {
        let mut runs = Vec::new();
        push_run(&mut runs, 0, 0x1000);
        push_run(&mut runs, 0x1000, 0x2000);
        push_run(&mut runs, 0x5000, 0x1000);
        assert_eq!(runs, vec![(0, 0x3000), (0x5000, 0x1000)]);
        assert_eq!(runs_len(&runs), 0x4000);
    }

    #[test]
    fn a_store_holds_its_pages_and_refuses_writes() {
        let a = vec![1u8; PAGE_SIZE as usize];
        let b = vec![2u8; PAGE_SIZE as usize];
        let s = PageStore::from_pages(2 * PAGE_SIZE, [&a[..], &b[..]]).unwrap();
        assert_eq!(s.bytes()[0], 1);
        assert_eq!(s.bytes()[PAGE_SIZE as usize], 2);
        assert!(s.memfd.write_all_at(&[9], 0).is_err(), "sealed");
        assert!(PageStore::from_pages(2 * PAGE_SIZE, [&a[..]]).is_err());
        assert!(PageStore::from_pages(0, []).unwrap().is_empty());
    }
}
