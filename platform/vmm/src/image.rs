//! The guest runtime image: its loadable segments, entry point and the two symbols the host
//! needs, checked once when the image is parsed.

use flint_abi::layout::{Access, GVA_EXCEPTION_STUBS, GVA_IMAGE, GVA_IMAGE_END, PAGE_SIZE};
use object::elf::{PF_W, PF_X, PT_LOAD};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};

/// Why an ELF file is not a usable guest image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not a 64-bit little-endian ELF executable.
    #[error("Parse guest ELF")]
    Parse(#[from] object::Error),
    /// A loadable segment lies outside the image window.
    #[error("Segment {gva:#x}+{size_bytes:#x} lies outside the image window")]
    OutsideWindow {
        /// Segment address.
        gva: u64,
        /// Segment size in memory.
        size_bytes: u64,
    },
    /// A segment is both writable and executable.
    #[error("Segment at {gva:#x} is writable and executable")]
    WritableAndExecutable {
        /// Segment address.
        gva: u64,
    },
    /// Two segments share a page, or a segment is not page-aligned.
    #[error("Segment at {gva:#x} is not page-aligned or overlaps another")]
    Overlap {
        /// Segment address.
        gva: u64,
    },
    /// A segment's file range lies outside the file.
    #[error("Segment at {gva:#x} points outside the file")]
    SegmentData {
        /// Segment address.
        gva: u64,
    },
    /// A symbol the host needs is missing.
    #[error("Guest image has no symbol {0}")]
    MissingSymbol(&'static str),
    /// The exception stubs are not where the IDT will point.
    #[error("Exception stubs at {found:#x}, expected {GVA_EXCEPTION_STUBS:#x}")]
    StubsMisplaced {
        /// Where they are.
        found: u64,
    },
}

/// One loadable segment.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Page-aligned guest address.
    pub gva: u64,
    /// Bytes from the file (the rest, up to `size_bytes`, is zero).
    pub data: Vec<u8>,
    /// Size in memory, rounded up to whole pages.
    pub size_bytes: u64,
    /// Page permissions.
    pub access: Access,
}

/// A parsed, checked guest runtime image.
#[derive(Clone, Debug)]
pub struct GuestImage {
    /// Where the boot run starts.
    pub entry_gva: u64,
    /// Where every call starts (`flint_dispatch`).
    pub dispatch_gva: u64,
    /// Loadable segments, in address order.
    pub segments: Vec<Segment>,
    /// The read-only segments' pages, shared by every snapshot of this image (built on first
    /// use).
    pub(crate) shared_pages: crate::snapshot::SharedPages,
}

impl GuestImage {
    /// The guest runtime this crate was built with.
    pub fn builtin() -> Result<Self, ImageError> {
        Self::parse(crate::GUEST_ELF)
    }

    /// The guest runtime with its deliberately hostile functions (`plant`, `smash_cookie`,
    /// `exec_heap`, ...), for tests.
    #[cfg(feature = "hostile-guest")]
    pub fn hostile() -> Result<Self, ImageError> {
        Self::parse(crate::HOSTILE_GUEST_ELF)
    }

    /// Parses and checks an ELF image.
    pub fn parse(elf: &[u8]) -> Result<Self, ImageError> {
        // The ELF reader needs 8-byte alignment; copy the bytes if they lack it.
        let copy: Vec<u64>;
        let elf = if elf.as_ptr().align_offset(8) == 0 {
            elf
        } else {
            let mut words = vec![0u64; elf.len().div_ceil(8)];
            for (w, chunk) in words.iter_mut().zip(elf.chunks(8)) {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                *w = u64::from_ne_bytes(b);
            }
            copy = words;
            // SAFETY: `copy` holds at least `elf.len()` initialised bytes, lives until the end
            // of this function, and `u8` has no alignment or validity requirements.
            unsafe { std::slice::from_raw_parts(copy.as_ptr().cast::<u8>(), elf.len()) }
        };
        let file = ElfFile64::<Endianness>::parse(elf)?;
        let endian = file.endian();
        let mut segments = Vec::new();
        for ph in file.elf_program_headers() {
            if ph.p_type(endian) != PT_LOAD {
                continue;
            }
            segments.push(segment(ph, endian, elf)?);
        }
        segments.sort_by_key(|s| s.gva);
        for pair in segments.windows(2) {
            if pair[0].gva + pair[0].size_bytes > pair[1].gva {
                return Err(ImageError::Overlap { gva: pair[1].gva });
            }
        }
        let symbol = |name: &'static str| {
            file.symbols()
                .find(|s| s.name() == Ok(name))
                .map(|s| s.address())
                .ok_or(ImageError::MissingSymbol(name))
        };
        let stubs = symbol("flint_exception_stubs")?;
        if stubs != GVA_EXCEPTION_STUBS {
            return Err(ImageError::StubsMisplaced { found: stubs });
        }
        Ok(Self {
            entry_gva: file.elf_header().e_entry(endian),
            dispatch_gva: symbol("flint_dispatch")?,
            segments,
            shared_pages: Default::default(),
        })
    }

    /// Identifies this image's contents (entry points and segments), for matching snapshot
    /// files to the guest runtime that wrote them.
    pub fn id(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.entry_gva.hash(&mut h);
        self.dispatch_gva.hash(&mut h);
        for s in &self.segments {
            (s.gva, s.size_bytes, &s.data, s.access as u8).hash(&mut h);
        }
        h.finish()
    }

    /// The segment holding `gva`.
    pub fn segment_of(&self, gva: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| gva >= s.gva && gva < s.gva + s.size_bytes)
    }
}

fn segment(
    ph: &<object::elf::FileHeader64<Endianness> as FileHeader>::ProgramHeader,
    endian: Endianness,
    elf: &[u8],
) -> Result<Segment, ImageError> {
    let gva = ph.p_vaddr(endian);
    let mem_size = ph.p_memsz(endian);
    let flags = ph.p_flags(endian);
    let outside = ImageError::OutsideWindow {
        gva,
        size_bytes: mem_size,
    };
    let end = gva.checked_add(mem_size).ok_or(outside)?;
    if gva < GVA_IMAGE || end > GVA_IMAGE_END {
        return Err(ImageError::OutsideWindow {
            gva,
            size_bytes: mem_size,
        });
    }
    if !gva.is_multiple_of(PAGE_SIZE) {
        return Err(ImageError::Overlap { gva });
    }
    let access = match (flags & PF_W != 0, flags & PF_X != 0) {
        (true, true) => return Err(ImageError::WritableAndExecutable { gva }),
        (true, false) => Access::ReadWrite,
        (false, true) => Access::ReadExecute,
        (false, false) => Access::Read,
    };
    let data = ph
        .data(endian, elf)
        .map_err(|()| ImageError::SegmentData { gva })?;
    if data.len() as u64 > mem_size {
        return Err(ImageError::Overlap { gva });
    }
    Ok(Segment {
        gva,
        data: data.to_vec(),
        size_bytes: mem_size.div_ceil(PAGE_SIZE) * PAGE_SIZE,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_guest_has_rx_r_and_rw_segments() {
        let image = GuestImage::builtin().unwrap();
        let kinds: Vec<Access> = image.segments.iter().map(|s| s.access).collect();
        assert_eq!(
            kinds,
            vec![Access::ReadExecute, Access::Read, Access::ReadWrite]
        );
        assert!(image.segment_of(image.entry_gva).unwrap().access == Access::ReadExecute);
        assert!(image.segment_of(image.dispatch_gva).unwrap().access == Access::ReadExecute);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(GuestImage::parse(b"not an elf").is_err());
        let mut elf = crate::GUEST_ELF.to_vec();
        elf.truncate(200);
        assert!(GuestImage::parse(&elf).is_err());
    }
}
