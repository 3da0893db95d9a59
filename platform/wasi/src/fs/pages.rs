//! A written file's contents, in 4 KiB pages: growing a file never copies what it holds (so
//! the heap never needs room for an old and a new copy at once), and what a file costs against
//! the scratch limit is its pages, the memory a call really dirties.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// Bytes per page.
pub const PAGE: usize = 4096;

/// A file's bytes in pages; the last page may be partly used.
#[derive(Clone, Debug, Default)]
pub struct Pages {
    pages: Vec<Box<[u8]>>,
    len: u64,
}

impl Pages {
    /// Pages holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut p = Self::default();
        p.resize(bytes.len() as u64);
        p.write(0, bytes);
        p
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the pages held.
    pub fn capacity(&self) -> u64 {
        (self.pages.len() * PAGE) as u64
    }

    /// The pages a file of `len` bytes needs, in bytes.
    pub fn capacity_for(len: u64) -> u64 {
        len.div_ceil(PAGE as u64) * PAGE as u64
    }

    /// Up to `len` bytes from `pos` (fewer at the end).
    pub fn read(&self, pos: u64, len: usize) -> Vec<u8> {
        let end = self.len.min(pos.saturating_add(len as u64));
        let mut out = Vec::with_capacity(end.saturating_sub(pos) as usize);
        let mut at = pos;
        while at < end {
            let (page, off) = ((at / PAGE as u64) as usize, (at % PAGE as u64) as usize);
            let take = (PAGE - off).min((end - at) as usize);
            out.extend_from_slice(&self.pages[page][off..off + take]);
            at += take as u64;
        }
        out
    }

    /// Writes `data` at `pos`, which with `data` must lie within [`Pages::len`].
    pub fn write(&mut self, pos: u64, data: &[u8]) {
        let mut at = pos;
        let mut rest = data;
        while !rest.is_empty() {
            let (page, off) = ((at / PAGE as u64) as usize, (at % PAGE as u64) as usize);
            let take = (PAGE - off).min(rest.len());
            self.pages[page][off..off + take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
            at += take as u64;
        }
    }

    /// Grows (with zeros) or shrinks to `len` bytes.
    pub fn resize(&mut self, len: u64) {
        let pages = Self::capacity_for(len) as usize / PAGE;
        if len < self.len {
            // What lies past the new end reads as zeros if the file grows again.
            let tail = (len % PAGE as u64) as usize;
            if tail != 0 {
                self.pages[pages - 1][tail..].fill(0);
            }
            self.pages.truncate(pages);
        }
        while self.pages.len() < pages {
            self.pages.push(vec![0u8; PAGE].into_boxed_slice());
        }
        self.len = len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_read_write_grow_and_shrink_like_a_byte_vector() {
        let mut p = Pages::from_slice(&[7u8; 5000]);
        assert_eq!((p.len(), p.capacity()), (5000, 8192));
        p.resize(9000);
        p.write(4090, &[1; 20]);
        let mut model = alloc::vec![7u8; 5000];
        model.resize(9000, 0);
        model[4090..4110].fill(1);
        assert_eq!(p.read(0, 10_000), model);
        assert_eq!(p.read(4095, 2), &model[4095..4097]);
        p.resize(4100);
        p.resize(9000);
        model.truncate(4100);
        model.resize(9000, 0);
        assert_eq!(p.read(0, 9000), model);
        assert_eq!(p.read(9000, 10), Vec::<u8>::new());
        p.resize(0);
        assert_eq!((p.len(), p.capacity()), (0, 0));
    }
}
