//! A function's bundled files: the tar archive a deploy brings, checked and turned into the
//! image the guest reads ([`flint_abi::files`]).

use std::collections::BTreeMap;
use std::io::Read;

use flint_abi::files::{self, Entry, Kind};

/// Limits on a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleLimits {
    /// Most bytes of file contents.
    pub max_bytes: u64,
    /// Most entries (files, directories, links).
    pub max_entries: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            max_entries: 10_000,
        }
    }
}

/// Why an archive was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a readable tar archive.
    #[error("not a readable tar archive: {0}")]
    NotTar(String),
    /// An entry of a kind a bundle cannot hold.
    #[error("{path}: {kind} entries are not supported (only files, directories and symlinks)")]
    Unsupported {
        /// The entry.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A path that leaves the bundle or is not UTF-8.
    #[error("{0:?}: paths must be relative, UTF-8 and free of `..`")]
    BadPath(String),
    /// A name used as both a file and a directory.
    #[error("{0:?} is both a file and a directory")]
    Conflict(String),
    /// More file contents than the limit.
    #[error("the files hold more than {limit_bytes} bytes")]
    TooLarge {
        /// The limit.
        limit_bytes: u64,
    },
    /// More entries than the limit.
    #[error("the archive has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
}

/// A clean relative path for a tar entry's name (`None` for the archive's root itself).
fn clean(raw: &[u8]) -> Result<Option<String>, BundleError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| BundleError::BadPath(String::from_utf8_lossy(raw).into_owned()))?;
    let parts: Vec<&str> = text
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") || text.contains('\0') {
        return Err(BundleError::BadPath(text.into()));
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// One entry as read from the archive.
enum Item {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// Reads `tar` into an image, within `limits`. Directories an entry needs but the archive does
/// not list are added; a later entry of the same path replaces an earlier one.
pub fn image_from_tar(tar: &[u8], limits: BundleLimits) -> Result<Vec<u8>, BundleError> {
    let not_tar = |e: std::io::Error| BundleError::NotTar(e.to_string());
    let mut archive = tar::Archive::new(tar);
    let mut items: BTreeMap<String, Item> = BTreeMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        let Some(path) = clean(&entry.path_bytes())? else {
            continue;
        };
        let item = match entry.header().entry_type() {
            tar::EntryType::Directory => Item::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(not_tar)?;
                total = total.saturating_add(size);
                if total > limits.max_bytes {
                    return Err(BundleError::TooLarge {
                        limit_bytes: limits.max_bytes,
                    });
                }
                // The header's size is the archive's word: reserve little, read what is there.
                let mut data = Vec::with_capacity(size.min(1 << 20) as usize);
                entry.read_to_end(&mut data).map_err(not_tar)?;
                Item::File(data)
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target =
                    std::str::from_utf8(&target).map_err(|_| BundleError::BadPath(path.clone()))?;
                Item::Symlink(target.to_string())
            }
            other => {
                return Err(BundleError::Unsupported {
                    path,
                    kind: kind_name(other),
                });
            }
        };
        add_parents(&mut items, &path)?;
        items.insert(path, item);
        if items.len() > limits.max_entries {
            return Err(BundleError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
    }
    let entries: Vec<Entry<'_>> = items
        .iter()
        .map(|(path, item)| match item {
            Item::Dir => Entry {
                kind: Kind::Dir,
                path,
                data: &[],
            },
            Item::File(d) => Entry {
                kind: Kind::File,
                path,
                data: d,
            },
            Item::Symlink(t) => Entry {
                kind: Kind::Symlink,
                path,
                data: t.as_bytes(),
            },
        })
        .collect();
    files::check(&entries).map_err(|e| match e {
        files::FilesError::Orphan(p) => BundleError::Conflict(files::parent(&p).into()),
        other => BundleError::BadPath(other.to_string()),
    })?;
    Ok(files::encode(&entries))
}

/// Adds the directories above `path`; a file or link in the way is a conflict.
fn add_parents(items: &mut BTreeMap<String, Item>, path: &str) -> Result<(), BundleError> {
    let mut at = 0;
    while let Some(i) = path[at..].find('/') {
        let dir = &path[..at + i];
        match items.get(dir) {
            None => {
                items.insert(dir.to_string(), Item::Dir);
            }
            Some(Item::Dir) => {}
            Some(_) => return Err(BundleError::Conflict(dir.to_string())),
        }
        at += i + 1;
    }
    Ok(())
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special",
    }
}

/// The directories of an image (for checking mounts against it), as clean paths.
pub fn directories(image: &[u8]) -> Vec<String> {
    files::decode(image)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e.kind == Kind::Dir)
                .map(|e| e.path.to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(if *kind == tar::EntryType::Symlink {
                0
            } else {
                data.len() as u64
            });
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink || *kind == tar::EntryType::Link {
                h.set_link_name(std::str::from_utf8(data).unwrap()).unwrap();
                b.append_data(&mut h, path, &[][..]).unwrap();
            } else {
                b.append_data(&mut h, path, *data).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn archives_become_parent_first_images() {
        use tar::EntryType::*;
        let tar = tar_with(&[
            ("./a/b/c.txt", Regular, b"hi"),
            ("l", Symlink, b"a/b/c.txt"),
        ]);
        let image = image_from_tar(&tar, BundleLimits::default()).unwrap();
        let entries = files::decode(&image).unwrap();
        let paths: Vec<_> = entries.iter().map(|e| (e.path, e.kind)).collect();
        assert_eq!(
            paths,
            [
                ("a", Kind::Dir),
                ("a/b", Kind::Dir),
                ("a/b/c.txt", Kind::File),
                ("l", Kind::Symlink)
            ]
        );
        assert_eq!(entries[2].data, b"hi");
        assert_eq!(directories(&image), ["a", "a/b"]);
    }

    #[test]
    fn hostile_archives_are_refused_with_a_reason() {
        use tar::EntryType::*;
        let limits = BundleLimits {
            max_bytes: 4,
            max_entries: 3,
        };
        // The tar crate refuses to write `..` itself: put the name into the header by hand.
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..8].copy_from_slice(b"../e.txt");
        h.set_size(1);
        h.set_entry_type(Regular);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &b"x"[..]).unwrap();
        let escaping = b.into_inner().unwrap();
        let cases: Vec<(Vec<u8>, BundleError)> = vec![
            (escaping, BundleError::BadPath("../e.txt".into())),
            (
                tar_with(&[("big", Regular, b"12345")]),
                BundleError::TooLarge { limit_bytes: 4 },
            ),
            (
                tar_with(&[
                    ("a", Regular, b""),
                    ("b", Regular, b""),
                    ("c", Regular, b""),
                    ("d", Regular, b""),
                ]),
                BundleError::TooManyEntries { limit: 3 },
            ),
            (
                tar_with(&[("h", Link, b"a")]),
                BundleError::Unsupported {
                    path: "h".into(),
                    kind: "hard link",
                },
            ),
            (
                tar_with(&[("f", Regular, b"x"), ("f/g", Regular, b"y")]),
                BundleError::Conflict("f".into()),
            ),
        ];
        for (tar, want) in cases {
            assert_eq!(image_from_tar(&tar, limits), Err(want));
        }
        assert!(matches!(
            image_from_tar(&[0x41; 1024], limits),
            Err(BundleError::NotTar(_))
        ));
    }
}
