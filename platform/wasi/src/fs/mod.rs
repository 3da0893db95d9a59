//! An in-memory WASI preview 1 filesystem: the function's bundled files, read in place from the
//! bundle image, and writable directories (`/tmp`, writable mounts) whose changes live in the
//! run's memory. In the micro-VM the per-call restore returns all of it to the snapshot, so
//! nothing one call writes is seen by the next, and no host disk is touched.
//!
//! Answers follow wasmtime's own WASI (`wasmtime-wasi` over real directories) case by case,
//! errnos included: `tests/modules/fs.c` runs under both and must print the same.
//!
//! - [`tree`]: nodes and confined path lookup.
//! - [`ops`]: the operations, as methods of [`Fs`] on plain values.
//! - [`calls`]: the WASI functions over a module's linear memory.

pub mod calls;
pub mod ops;
pub mod pages;
pub mod tree;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use flint_abi::files::{self, FilesError, Kind};
use flint_abi::wasm::Mount;

use crate::errno::*;
use tree::{Body, Data, Ino, Node, Tree};

/// An open file.
#[derive(Clone, Debug)]
pub struct OpenFile {
    /// The file.
    pub ino: Ino,
    /// Where the next read or write starts.
    pub pos: u64,
    /// Opened for reading.
    pub read: bool,
    /// Opened for writing.
    pub write: bool,
    /// Writes go to the end.
    pub append: bool,
}

/// What a descriptor (3 and up) refers to.
#[derive(Clone, Debug)]
pub enum Handle {
    /// A file.
    File(OpenFile),
    /// A directory; a preopen knows its guest path.
    Dir {
        /// The directory.
        ino: Ino,
        /// The guest path, for a preopen.
        preopen: Option<String>,
    },
}

impl Handle {
    /// The file or directory it refers to.
    pub fn ino(&self) -> Ino {
        match self {
            Handle::File(f) => f.ino,
            Handle::Dir { ino, .. } => *ino,
        }
    }
}

/// Why the filesystem could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The bundle image is malformed.
    #[error("bundle: {0}")]
    Image(#[from] FilesError),
    /// A mount's source is not a directory of the bundle.
    #[error("mount {path}: {source_dir:?} is not a directory of the bundle")]
    NoSource {
        /// The mount's guest path.
        path: String,
        /// Its source.
        source_dir: String,
    },
}

/// The filesystem one module sees.
#[derive(Clone, Debug, Default)]
pub struct Fs {
    /// Every node of every mount.
    pub tree: Tree,
    /// Open descriptors from 3.
    pub fds: BTreeMap<u32, Handle>,
    /// Bytes held by written files and new nodes.
    pub scratch_used: u64,
    /// The most they may hold.
    pub scratch_max: u64,
}

/// What a new node costs against the scratch limit, besides its contents.
pub const NODE_COST: u64 = 256;

impl Fs {
    /// The filesystem over `image` (a [`flint_abi::files`] image, empty for none) with `mounts`
    /// preopened as descriptors 3, 4, ... and at most `scratch_max` bytes written per run.
    pub fn new(
        image: &'static [u8],
        mounts: &[Mount],
        scratch_max: u64,
        now: u64,
    ) -> Result<Fs, FsError> {
        let entries = if image.is_empty() {
            Vec::new()
        } else {
            files::decode(image)?
        };
        let mut fs = Fs {
            scratch_max,
            ..Fs::default()
        };
        for (i, m) in mounts.iter().enumerate() {
            let root = fs.new_dir(None, m.writable, now);
            if let Some(source) = &m.source {
                fs.fill(root, &entries, source, m, now)?;
            }
            let handle = Handle::Dir {
                ino: root,
                preopen: Some(m.path.clone()),
            };
            fs.fds.insert(3 + i as u32, handle);
        }
        Ok(fs)
    }

    fn new_dir(&mut self, parent: Option<Ino>, writable: bool, now: u64) -> Ino {
        let ino = self.tree.add(Node {
            body: Body::Dir(BTreeMap::new()),
            writable,
            parent: 0,
            nlink: 1,
            times: [now; 3],
        });
        self.tree.get_mut(ino).parent = parent.unwrap_or(ino);
        ino
    }

    /// Copies the bundle's entries under `source` into the directory `root`.
    fn fill(
        &mut self,
        root: Ino,
        entries: &[files::Entry<'static>],
        source: &str,
        m: &Mount,
        now: u64,
    ) -> Result<(), FsError> {
        let prefix = source.trim_matches('/');
        let no_source = || FsError::NoSource {
            path: m.path.clone(),
            source_dir: source.to_string(),
        };
        if !prefix.is_empty()
            && !entries
                .iter()
                .any(|e| e.path == prefix && e.kind == Kind::Dir)
        {
            return Err(no_source());
        }
        let mut dirs: BTreeMap<&str, Ino> = BTreeMap::new();
        dirs.insert("", root);
        for e in entries {
            let rel = if prefix.is_empty() {
                e.path
            } else {
                match e
                    .path
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('/'))
                {
                    Some(r) => r,
                    None => continue,
                }
            };
            let (parent_path, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            let Some(&parent) = dirs.get(parent_path) else {
                return Err(FsError::Image(FilesError::Orphan(e.path.into())));
            };
            let ino = match e.kind {
                Kind::Dir => {
                    let ino = self.new_dir(Some(parent), m.writable, now);
                    dirs.insert(rel, ino);
                    ino
                }
                Kind::File | Kind::Symlink => self.tree.add(Node {
                    body: match e.kind {
                        Kind::File => Body::File(Data::Image(e.data)),
                        _ => Body::Symlink(String::from_utf8_lossy(e.data).into_owned()),
                    },
                    writable: m.writable,
                    parent,
                    nlink: 1,
                    times: [now; 3],
                }),
            };
            if let Some(c) = self.tree.children_mut(parent) {
                c.insert(name.to_string(), ino);
            }
        }
        Ok(())
    }

    /// Charges `bytes` against the scratch limit: `ENOSPC` if they do not fit.
    pub fn charge(&mut self, bytes: u64) -> Result<(), Errno> {
        let total = self.scratch_used.checked_add(bytes).ok_or(ENOSPC)?;
        if total > self.scratch_max {
            return Err(ENOSPC);
        }
        self.scratch_used = total;
        Ok(())
    }

    /// Returns `bytes` to the scratch limit.
    pub fn refund(&mut self, bytes: u64) {
        self.scratch_used = self.scratch_used.saturating_sub(bytes);
    }

    /// The directory behind descriptor `fd`: `EBADF` if none, `ENOTDIR` for a file.
    pub fn dir_fd(&self, fd: u32) -> Result<Ino, Errno> {
        match self.fds.get(&fd) {
            Some(Handle::Dir { ino, .. }) => Ok(*ino),
            Some(Handle::File(_)) => Err(ENOTDIR),
            None => Err(EBADF),
        }
    }

    /// The open file behind descriptor `fd`: `EBADF` if none or a directory.
    pub fn file_fd(&mut self, fd: u32) -> Result<&mut OpenFile, Errno> {
        match self.fds.get_mut(&fd) {
            Some(Handle::File(f)) => Ok(f),
            _ => Err(EBADF),
        }
    }

    /// The node behind descriptor `fd`, file or directory.
    pub fn node_fd(&self, fd: u32) -> Result<Ino, Errno> {
        self.fds.get(&fd).map(Handle::ino).ok_or(EBADF)
    }

    /// The lowest free descriptor number.
    pub fn next_fd(&self) -> u32 {
        let mut fd = 3;
        while self.fds.contains_key(&fd) {
            fd += 1;
        }
        fd
    }
}
