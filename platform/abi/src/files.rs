//! A function's bundled files as the guest reads them: one flat, read-only image that the host
//! builds from the uploaded tar archive and places in the module region after the compiled
//! module. The guest indexes it once, at initialisation, and reads file contents in place.
//!
//! Layout (little-endian): the magic [`MAGIC`], a `u32` entry count, then each entry as a kind
//! byte ([`Kind`]), a `u32` path length, a `u64` data length, the path and the data. Paths are
//! relative, `/`-separated, without empty, `.` or `..` components, and every entry's parent
//! directory comes before it. Data is a file's contents or a symlink's target.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

/// First bytes of an image.
pub const MAGIC: &[u8; 8] = b"FLNTFS01";

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory (no data).
    Dir,
    /// A regular file (data: its contents).
    File,
    /// A symbolic link (data: its target).
    Symlink,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Dir => 0,
            Kind::File => 1,
            Kind::Symlink => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Kind::Dir),
            1 => Some(Kind::File),
            2 => Some(Kind::Symlink),
            _ => None,
        }
    }
}

/// One entry of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What it is.
    pub kind: Kind,
    /// Relative path.
    pub path: &'a str,
    /// Contents or link target.
    pub data: &'a [u8],
}

/// Why an image or a path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilesError {
    /// The image is cut short or does not start with [`MAGIC`].
    #[error("malformed file image")]
    Malformed,
    /// A path is not a clean relative path.
    #[error("path {0:?} is not a clean relative path")]
    BadPath(String),
    /// An entry's parent is missing or not a directory.
    #[error("{0:?} has no parent directory before it")]
    Orphan(String),
    /// Two entries share a path.
    #[error("{0:?} appears twice")]
    Duplicate(String),
}

/// Whether `path` is relative, `/`-separated, and free of empty, `.` and `..` components.
pub fn is_clean(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The parent directory of a clean path (`""` for the top).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// Builds an image from `entries`, which must already be clean, unique and parent-first (see
/// [`check`]).
pub fn encode(entries: &[Entry<'_>]) -> Vec<u8> {
    let size: usize = entries
        .iter()
        .map(|e| 13 + e.path.len() + e.data.len())
        .sum();
    let mut out = Vec::with_capacity(12 + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.push(e.kind.byte());
        out.extend_from_slice(&(e.path.len() as u32).to_le_bytes());
        out.extend_from_slice(&(e.data.len() as u64).to_le_bytes());
        out.extend_from_slice(e.path.as_bytes());
        out.extend_from_slice(e.data);
    }
    out
}

/// Checks that `entries` may be encoded: clean, unique paths, each parent listed before it.
pub fn check(entries: &[Entry<'_>]) -> Result<(), FilesError> {
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for e in entries {
        if !is_clean(e.path) {
            return Err(FilesError::BadPath(e.path.into()));
        }
        if !seen.insert(e.path) {
            return Err(FilesError::Duplicate(e.path.into()));
        }
        let p = parent(e.path);
        if !p.is_empty() && !dirs.contains(p) {
            return Err(FilesError::Orphan(e.path.into()));
        }
        if e.kind == Kind::Dir {
            dirs.insert(e.path);
        }
    }
    Ok(())
}

/// The entries of an image, in order.
pub fn decode(image: &[u8]) -> Result<Vec<Entry<'_>>, FilesError> {
    let rest = image.strip_prefix(MAGIC).ok_or(FilesError::Malformed)?;
    let (count, mut rest) = split_u32(rest)?;
    // Each entry takes at least 13 bytes: a count that cannot fit is a lie, not an allocation.
    if count as usize > rest.len() / 13 {
        return Err(FilesError::Malformed);
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (&kind, r) = rest.split_first().ok_or(FilesError::Malformed)?;
        let kind = Kind::from_byte(kind).ok_or(FilesError::Malformed)?;
        let (path_len, r) = split_u32(r)?;
        let (data_len, r) = r.split_at_checked(8).ok_or(FilesError::Malformed)?;
        let data_len = u64::from_le_bytes(data_len.try_into().map_err(|_| FilesError::Malformed)?);
        let (path, r) = r
            .split_at_checked(path_len as usize)
            .ok_or(FilesError::Malformed)?;
        let data_len = usize::try_from(data_len).map_err(|_| FilesError::Malformed)?;
        let (data, r) = r.split_at_checked(data_len).ok_or(FilesError::Malformed)?;
        let path = core::str::from_utf8(path).map_err(|_| FilesError::Malformed)?;
        entries.push(Entry { kind, path, data });
        rest = r;
    }
    if !rest.is_empty() {
        return Err(FilesError::Malformed);
    }
    check(&entries)?;
    Ok(entries)
}

fn split_u32(b: &[u8]) -> Result<(u32, &[u8]), FilesError> {
    let (n, rest) = b.split_at_checked(4).ok_or(FilesError::Malformed)?;
    let n = u32::from_le_bytes(n.try_into().map_err(|_| FilesError::Malformed)?);
    Ok((n, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Vec<Entry<'static>> {
        vec![
            Entry {
                kind: Kind::Dir,
                path: "a",
                data: b"",
            },
            Entry {
                kind: Kind::File,
                path: "a/b.txt",
                data: b"hello",
            },
            Entry {
                kind: Kind::Symlink,
                path: "a/c",
                data: b"b.txt",
            },
        ]
    }

    #[test]
    fn images_round_trip() {
        let image = encode(&sample());
        assert_eq!(decode(&image).unwrap(), sample());
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn every_truncation_and_trailing_junk_is_refused() {
        let image = encode(&sample());
        for cut in 0..image.len() {
            assert_eq!(decode(&image[..cut]), Err(FilesError::Malformed), "{cut}");
        }
        let mut junk = image.clone();
        junk.push(0);
        assert_eq!(decode(&junk), Err(FilesError::Malformed));
        let mut lying = image;
        lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&lying), Err(FilesError::Malformed));
    }

    #[test]
    fn unclean_orphaned_and_duplicate_paths_are_refused() {
        for bad in ["", "/a", "a//b", "a/./b", "../a", "a/..", "a\0b"] {
            assert!(!is_clean(bad), "{bad:?}");
        }
        let mut orphan = sample();
        orphan.remove(0);
        assert_eq!(check(&orphan), Err(FilesError::Orphan("a/b.txt".into())));
        let mut twice = sample();
        twice.push(twice[1]);
        assert_eq!(check(&twice), Err(FilesError::Duplicate("a/b.txt".into())));
        let mut under_file = sample();
        under_file.push(Entry {
            kind: Kind::File,
            path: "a/b.txt/x",
            data: b"",
        });
        assert!(check(&under_file).is_err());
    }
}
