//! The nodes of the in-memory filesystem, and path lookup confined to a directory.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::errno::*;

/// A node's index in the tree.
pub type Ino = usize;

/// A file's contents: read in place from the bundle image, or in pages once written.
#[derive(Clone, Debug)]
pub enum Data {
    /// Bytes of the bundle image (never written: a write copies them first).
    Image(&'static [u8]),
    /// Bytes this run (or the initialisation) wrote.
    Pages(super::pages::Pages),
}

impl Data {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Data::Image(b) => b.len() as u64,
            Data::Pages(p) => p.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `len` bytes from `pos`.
    pub fn read(&self, pos: u64, len: usize) -> Vec<u8> {
        match self {
            Data::Image(b) => {
                let start = usize::try_from(pos).unwrap_or(usize::MAX).min(b.len());
                b[start..start + len.min(b.len() - start)].to_vec()
            }
            Data::Pages(p) => p.read(pos, len),
        }
    }
}

/// What a node is.
#[derive(Clone, Debug)]
pub enum Body {
    /// A directory: names to nodes.
    Dir(BTreeMap<String, Ino>),
    /// A regular file.
    File(Data),
    /// A symbolic link and its target.
    Symlink(String),
}

/// One file, directory or link.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it is.
    pub body: Body,
    /// Whether it belongs to a writable mount.
    pub writable: bool,
    /// The directory holding it (a mount's root: itself). Meaningful for directories.
    pub parent: Ino,
    /// Names that refer to it.
    pub nlink: u64,
    /// Access, modification and change times, ns since the Unix epoch.
    pub times: [u64; 3],
}

impl Node {
    /// The WASI file type.
    pub fn filetype(&self) -> u8 {
        match self.body {
            Body::Dir(_) => FILETYPE_DIRECTORY,
            Body::File(_) => FILETYPE_REGULAR_FILE,
            Body::Symlink(_) => FILETYPE_SYMBOLIC_LINK,
        }
    }

    /// Size in bytes (a link's: its target's length).
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::Dir(_) => 4096,
            Body::File(d) => d.len(),
            Body::Symlink(t) => t.len() as u64,
        }
    }
}

/// What a lookup found: the directory that holds (or would hold) the last component, its
/// name, and the node if it exists.
#[derive(Clone, Debug)]
pub struct Found {
    /// The directory of the last component.
    pub parent: Ino,
    /// The last component (`.` when the path names the start directory or one above it).
    pub name: String,
    /// The node, if the name exists.
    pub node: Option<Ino>,
}

/// Most symlinks one lookup follows.
const MAX_LINKS: usize = 40;
/// Longest path accepted.
pub const MAX_PATH: usize = 4096;

/// Every node, by index.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    nodes: Vec<Option<Node>>,
    free: Vec<Ino>,
}

impl Tree {
    /// The node `ino` (which must exist: indices come from the tree itself).
    pub fn get(&self, ino: Ino) -> &Node {
        self.nodes[ino].as_ref().expect("live node")
    }

    /// The node `ino`, to change.
    pub fn get_mut(&mut self, ino: Ino) -> &mut Node {
        self.nodes[ino].as_mut().expect("live node")
    }

    /// Adds a node; its index.
    pub fn add(&mut self, node: Node) -> Ino {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        }
    }

    /// Removes a node whose last name is gone.
    pub fn remove(&mut self, ino: Ino) -> Option<Node> {
        let node = self.nodes.get_mut(ino)?.take();
        if node.is_some() {
            self.free.push(ino);
        }
        node
    }

    /// The entries of directory `ino` (empty for anything else).
    pub fn children(&self, ino: Ino) -> Option<&BTreeMap<String, Ino>> {
        match &self.get(ino).body {
            Body::Dir(c) => Some(c),
            _ => None,
        }
    }

    /// The entries of directory `ino`, to change.
    pub fn children_mut(&mut self, ino: Ino) -> Option<&mut BTreeMap<String, Ino>> {
        match &mut self.get_mut(ino).body {
            Body::Dir(c) => Some(c),
            _ => None,
        }
    }

    /// Whether `ino` is `dir` or lies below it.
    pub fn is_within(&self, mut ino: Ino, dir: Ino) -> bool {
        loop {
            if ino == dir {
                return true;
            }
            let parent = self.get(ino).parent;
            if parent == ino {
                return false;
            }
            ino = parent;
        }
    }

    /// Looks `path` up from directory `start`, never leaving it: `..` above `start`, an
    /// absolute path or an absolute link target is `EPERM`, as wasmtime's WASI answers. The last
    /// component is followed if it is a symlink and `follow` is set (or the path ends in `/`).
    pub fn lookup(&self, start: Ino, path: &str, follow: bool) -> Result<Found, Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() > MAX_PATH {
            return Err(ENAMETOOLONG);
        }
        if path.starts_with('/') {
            return Err(EPERM);
        }
        let trailing_slash = path.ends_with('/');
        let mut queue: VecDeque<String> = components(path);
        let mut stack: Vec<Ino> = alloc::vec![start];
        let mut links = 0;
        while let Some(c) = queue.pop_front() {
            let top = *stack.last().expect("start stays on the stack");
            let last = queue.is_empty();
            match c.as_str() {
                "." => continue,
                ".." => {
                    if stack.len() == 1 {
                        return Err(EPERM);
                    }
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let children = self.children(top).ok_or(ENOTDIR)?;
            let Some(&child) = children.get(&c) else {
                if last {
                    return Ok(Found {
                        parent: top,
                        name: c,
                        node: None,
                    });
                }
                return Err(ENOENT);
            };
            match &self.get(child).body {
                Body::Symlink(target) if !last || follow || trailing_slash => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ELOOP);
                    }
                    if target.starts_with('/') {
                        return Err(EPERM);
                    }
                    for part in components(target).into_iter().rev() {
                        queue.push_front(part);
                    }
                }
                Body::Dir(_) if !last => stack.push(child),
                _ if !last => return Err(ENOTDIR),
                body => {
                    if trailing_slash && !matches!(body, Body::Dir(_)) {
                        return Err(ENOTDIR);
                    }
                    return Ok(Found {
                        parent: top,
                        name: c,
                        node: Some(child),
                    });
                }
            }
        }
        // The path ended on `.`, `..` or a followed link to a directory: the top of the stack.
        let top = *stack.last().expect("start stays on the stack");
        let parent = stack.len().checked_sub(2).map_or(top, |i| stack[i]);
        Ok(Found {
            parent,
            name: ".".to_string(),
            node: Some(top),
        })
    }
}

fn components(path: &str) -> VecDeque<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(|c| c.to_string())
        .collect()
}
