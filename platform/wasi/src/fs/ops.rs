//! The filesystem's operations on plain values; [`super::calls`] moves them in and out of
//! linear memory. The order of checks follows wasmtime's WASI: a change through a read-only
//! directory is `EPERM` before anything about the path is looked at.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::pages::Pages;
use super::tree::{Body, Data, Found, Ino, Node};
use super::{Fs, Handle, NODE_COST, OpenFile};
use crate::errno::*;

/// What `filestat` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: u64,
    /// WASI file type.
    pub filetype: u8,
    /// Names that refer to it.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Access, modification and change times.
    pub times: [u64; 3],
}

/// Flags and rights of `path_open`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenFlags {
    /// `lookupflags`.
    pub lookup: u32,
    /// `oflags`.
    pub oflags: u16,
    /// `fs_rights_base`.
    pub rights: u64,
    /// `fdflags`.
    pub fdflags: u16,
}

/// An entry of `fd_readdir`.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// Its name.
    pub name: String,
    /// Its inode number.
    pub ino: u64,
    /// Its WASI file type.
    pub filetype: u8,
}

fn capacity(node: &Node) -> u64 {
    match &node.body {
        Body::File(Data::Pages(p)) => p.capacity(),
        _ => 0,
    }
}

impl Fs {
    fn writable_dir(&self, fd: u32) -> Result<Ino, Errno> {
        let dir = self.dir_fd(fd)?;
        if !self.tree.get(dir).writable {
            return Err(EPERM);
        }
        Ok(dir)
    }

    fn stat_of(&self, ino: Ino) -> Stat {
        let n = self.tree.get(ino);
        Stat {
            ino: ino as u64 + 1,
            filetype: n.filetype(),
            nlink: n.nlink,
            size: n.size(),
            times: n.times,
        }
    }

    fn add_node(&mut self, parent: Ino, name: &str, body: Body, now: u64) -> Result<Ino, Errno> {
        self.charge(NODE_COST)?;
        let ino = self.tree.add(Node {
            body,
            writable: true,
            parent,
            nlink: 1,
            times: [now; 3],
        });
        if let Some(c) = self.tree.children_mut(parent) {
            c.insert(name.to_string(), ino);
        }
        self.touch(parent, now);
        Ok(ino)
    }

    fn touch(&mut self, ino: Ino, now: u64) {
        let t = &mut self.tree.get_mut(ino).times;
        t[1] = now;
        t[2] = now;
    }

    /// Drops one name of `ino`; frees it once no name and no descriptor refers to it.
    fn unlink_node(&mut self, parent: Ino, name: &str, ino: Ino, now: u64) {
        if let Some(c) = self.tree.children_mut(parent) {
            c.remove(name);
        }
        self.touch(parent, now);
        let node = self.tree.get_mut(ino);
        node.nlink = node.nlink.saturating_sub(1);
        self.release(ino);
    }

    fn release(&mut self, ino: Ino) {
        let open = self.fds.values().any(|h| h.ino() == ino);
        if self.tree.get(ino).nlink == 0 && !open {
            let cost = capacity(self.tree.get(ino)) + NODE_COST;
            self.tree.remove(ino);
            self.refund(cost);
        }
    }

    /// `path_open`: the new descriptor.
    pub fn open(&mut self, dirfd: u32, path: &str, f: OpenFlags, now: u64) -> Result<u32, Errno> {
        let dir = self.dir_fd(dirfd)?;
        let (creat, directory) = (
            f.oflags & OFLAGS_CREAT != 0,
            f.oflags & OFLAGS_DIRECTORY != 0,
        );
        let (excl, trunc) = (f.oflags & OFLAGS_EXCL != 0, f.oflags & OFLAGS_TRUNC != 0);
        if creat && directory {
            return Err(EINVAL);
        }
        let read = f.rights & (RIGHT_FD_READ | RIGHT_FD_READDIR) != 0;
        let write =
            f.rights & (RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE) != 0;
        if (write || creat || trunc) && !self.tree.get(dir).writable {
            return Err(EPERM);
        }
        let found = self
            .tree
            .lookup(dir, path, f.lookup & LOOKUP_SYMLINK_FOLLOW != 0)?;
        let ino = match found.node {
            Some(_) if creat && excl => return Err(EEXIST),
            Some(ino) => ino,
            None if creat => self.add_node(
                found.parent,
                &found.name,
                Body::File(Data::Pages(Pages::default())),
                now,
            )?,
            None => return Err(ENOENT),
        };
        let handle = match &self.tree.get(ino).body {
            Body::Symlink(_) => return Err(ELOOP),
            Body::Dir(_) if write || trunc => return Err(EISDIR),
            Body::Dir(_) => Handle::Dir { ino, preopen: None },
            Body::File(_) if directory => return Err(ENOTDIR),
            Body::File(_) => {
                if trunc {
                    self.resize(ino, 0, now)?;
                }
                Handle::File(OpenFile {
                    ino,
                    pos: 0,
                    read,
                    write,
                    append: f.fdflags & FDFLAGS_APPEND != 0,
                })
            }
        };
        let fd = self.next_fd();
        self.fds.insert(fd, handle);
        Ok(fd)
    }

    /// `fd_close`.
    pub fn close(&mut self, fd: u32) -> Result<(), Errno> {
        let handle = self.fds.remove(&fd).ok_or(EBADF)?;
        self.release(handle.ino());
        Ok(())
    }

    /// `fd_renumber`: `from` takes the place of `to`, which must be open.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        if !self.fds.contains_key(&from) || !self.fds.contains_key(&to) {
            return Err(EBADF);
        }
        if from == to {
            return Ok(());
        }
        let handle = self.fds.remove(&from).ok_or(EBADF)?;
        self.close(to)?;
        self.fds.insert(to, handle);
        Ok(())
    }

    /// `fd_read`/`fd_pread`: up to `len` bytes at `at` (the position, advanced, for `None`).
    pub fn read(&mut self, fd: u32, len: usize, at: Option<u64>) -> Result<Vec<u8>, Errno> {
        let f = self.file_fd(fd)?;
        if !f.read {
            return Err(EBADF);
        }
        let (ino, pos) = (f.ino, at.unwrap_or(f.pos));
        let Body::File(data) = &self.tree.get(ino).body else {
            return Err(EBADF);
        };
        let out = data.read(pos, len);
        if at.is_none() {
            self.file_fd(fd)?.pos = pos + out.len() as u64;
        }
        Ok(out)
    }

    /// `fd_write`/`fd_pwrite`: writes `data` at `at` (the position, or the end when appending,
    /// for `None`); the bytes written.
    pub fn write(
        &mut self,
        fd: u32,
        data: &[u8],
        at: Option<u64>,
        now: u64,
    ) -> Result<usize, Errno> {
        let f = self.file_fd(fd)?.clone();
        if !f.write {
            return Err(EBADF);
        }
        let size = self.tree.get(f.ino).size();
        let pos = match at {
            Some(p) => p,
            None if f.append => size,
            None => f.pos,
        };
        let end = pos.checked_add(data.len() as u64).ok_or(EFBIG)?;
        if end > size {
            self.resize(f.ino, end, now)?;
        }
        self.pages(f.ino)?.write(pos, data);
        self.touch(f.ino, now);
        if at.is_none() {
            self.file_fd(fd)?.pos = end;
        }
        Ok(data.len())
    }

    /// The contents of file `ino` as pages (a bundle file is copied first).
    fn pages(&mut self, ino: Ino) -> Result<&mut Pages, Errno> {
        if let Body::File(Data::Image(b)) = self.tree.get(ino).body {
            self.charge(Pages::capacity_for(b.len() as u64))?;
            self.tree.get_mut(ino).body = Body::File(Data::Pages(Pages::from_slice(b)));
        }
        match &mut self.tree.get_mut(ino).body {
            Body::File(Data::Pages(p)) => Ok(p),
            _ => Err(EBADF),
        }
    }

    /// Sets the size of file `ino`, charging or refunding its pages.
    fn resize(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno> {
        if let Body::File(data @ Data::Image(_)) = &mut self.tree.get_mut(ino).body
            && size == 0
        {
            // Emptying a bundle file needs no copy of it.
            *data = Data::Pages(Pages::default());
        }
        let old = self.pages(ino)?.capacity();
        let new = Pages::capacity_for(size);
        if new > old {
            self.charge(new - old)?;
        } else {
            self.refund(old - new);
        }
        self.pages(ino)?.resize(size);
        self.touch(ino, now);
        Ok(())
    }

    /// `fd_seek`: the new position.
    pub fn seek(&mut self, fd: u32, offset: i64, whence: u8) -> Result<u64, Errno> {
        let f = self.file_fd(fd)?.clone();
        let base = match whence {
            0 => 0,
            1 => f.pos as i64,
            2 => self.tree.get(f.ino).size() as i64,
            _ => return Err(EINVAL),
        };
        let pos = base.checked_add(offset).filter(|p| *p >= 0).ok_or(EINVAL)?;
        self.file_fd(fd)?.pos = pos as u64;
        Ok(pos as u64)
    }

    /// `fd_filestat_set_size`.
    pub fn set_size(&mut self, fd: u32, size: u64, now: u64) -> Result<(), Errno> {
        let f = self.file_fd(fd)?.clone();
        if !f.write {
            return Err(EPERM);
        }
        self.resize(f.ino, size, now)
    }

    /// `fd_filestat_get`.
    pub fn fd_stat(&self, fd: u32) -> Result<Stat, Errno> {
        Ok(self.stat_of(self.node_fd(fd)?))
    }

    /// `path_filestat_get`.
    pub fn path_stat(&self, dirfd: u32, path: &str, follow: bool) -> Result<Stat, Errno> {
        let dir = self.dir_fd(dirfd)?;
        let found = self.tree.lookup(dir, path, follow)?;
        Ok(self.stat_of(found.node.ok_or(ENOENT)?))
    }

    /// Sets times of `ino` (`fd_filestat_set_times`, `path_filestat_set_times`).
    pub fn set_times(
        &mut self,
        ino: Ino,
        atim: u64,
        mtim: u64,
        flags: u16,
        now: u64,
    ) -> Result<(), Errno> {
        if (flags & FSTFLAGS_ATIM != 0 && flags & FSTFLAGS_ATIM_NOW != 0)
            || (flags & FSTFLAGS_MTIM != 0 && flags & FSTFLAGS_MTIM_NOW != 0)
        {
            return Err(EINVAL);
        }
        let node = self.tree.get_mut(ino);
        if !node.writable {
            return Err(EPERM);
        }
        let pick = |set: u16, set_now: u16, v: u64, old: u64| {
            if flags & set != 0 {
                v
            } else if flags & set_now != 0 {
                now
            } else {
                old
            }
        };
        node.times[0] = pick(FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW, atim, node.times[0]);
        node.times[1] = pick(FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW, mtim, node.times[1]);
        node.times[2] = now;
        Ok(())
    }

    /// The node of `path` from `dirfd` for `path_filestat_set_times`.
    pub fn path_node(&self, dirfd: u32, path: &str, follow: bool) -> Result<Ino, Errno> {
        let dir = self.writable_dir(dirfd)?;
        self.tree.lookup(dir, path, follow)?.node.ok_or(ENOENT)
    }

    /// `fd_readdir`'s entries: `.`, `..`, then the directory's names in order.
    pub fn readdir(&self, fd: u32) -> Result<Vec<DirEntry>, Errno> {
        let dir = match self.fds.get(&fd) {
            Some(Handle::Dir { ino, .. }) => *ino,
            _ => return Err(EBADF),
        };
        let node = self.tree.get(dir);
        let mut out = alloc::vec![
            DirEntry {
                name: ".".into(),
                ino: dir as u64 + 1,
                filetype: FILETYPE_DIRECTORY,
            },
            DirEntry {
                name: "..".into(),
                ino: node.parent as u64 + 1,
                filetype: FILETYPE_DIRECTORY,
            },
        ];
        for (name, &ino) in self.tree.children(dir).into_iter().flatten() {
            out.push(DirEntry {
                name: name.clone(),
                ino: ino as u64 + 1,
                filetype: self.tree.get(ino).filetype(),
            });
        }
        Ok(out)
    }

    /// `path_create_directory`.
    pub fn mkdir(&mut self, dirfd: u32, path: &str, now: u64) -> Result<(), Errno> {
        let dir = self.writable_dir(dirfd)?;
        let found = self.tree.lookup(dir, path, false)?;
        if found.node.is_some() {
            return Err(EEXIST);
        }
        self.add_node(found.parent, &found.name, Body::Dir(BTreeMap::new()), now)?;
        Ok(())
    }

    fn existing(&self, dir: Ino, path: &str) -> Result<(Found, Ino), Errno> {
        let found = self.tree.lookup(dir, path, false)?;
        let ino = found.node.ok_or(ENOENT)?;
        Ok((found, ino))
    }

    /// `path_remove_directory`.
    pub fn rmdir(&mut self, dirfd: u32, path: &str, now: u64) -> Result<(), Errno> {
        let dir = self.writable_dir(dirfd)?;
        let (found, ino) = self.existing(dir, path)?;
        if found.name == "." {
            return Err(EINVAL);
        }
        match self.tree.children(ino) {
            None => Err(ENOTDIR),
            Some(c) if !c.is_empty() => Err(ENOTEMPTY),
            Some(_) => {
                self.unlink_node(found.parent, &found.name, ino, now);
                Ok(())
            }
        }
    }

    /// `path_unlink_file`.
    pub fn unlink(&mut self, dirfd: u32, path: &str, now: u64) -> Result<(), Errno> {
        let dir = self.writable_dir(dirfd)?;
        let (found, ino) = self.existing(dir, path)?;
        if matches!(self.tree.get(ino).body, Body::Dir(_)) {
            return Err(EISDIR);
        }
        self.unlink_node(found.parent, &found.name, ino, now);
        Ok(())
    }

    /// `path_rename`.
    pub fn rename(
        &mut self,
        fd: u32,
        old: &str,
        new_fd: u32,
        new: &str,
        now: u64,
    ) -> Result<(), Errno> {
        let (from_dir, to_dir) = (self.writable_dir(fd)?, self.writable_dir(new_fd)?);
        let (src, ino) = self.existing(from_dir, old)?;
        let dst = self.tree.lookup(to_dir, new, false)?;
        // Renaming `.` (the host would say EBUSY or EINVAL; EINVAL here).
        if src.name == "." || dst.name == "." {
            return Err(EINVAL);
        }
        let is_dir = matches!(self.tree.get(ino).body, Body::Dir(_));
        if is_dir && self.tree.is_within(dst.parent, ino) {
            return Err(EINVAL);
        }
        if let Some(target) = dst.node {
            if target == ino {
                return Ok(());
            }
            match (is_dir, self.tree.children(target)) {
                (true, None) => return Err(ENOTDIR),
                (true, Some(c)) if !c.is_empty() => return Err(ENOTEMPTY),
                (false, Some(_)) => return Err(EISDIR),
                _ => {}
            }
            self.unlink_node(dst.parent, &dst.name, target, now);
        }
        if let Some(c) = self.tree.children_mut(src.parent) {
            c.remove(&src.name);
        }
        if let Some(c) = self.tree.children_mut(dst.parent) {
            c.insert(dst.name.clone(), ino);
        }
        if is_dir {
            self.tree.get_mut(ino).parent = dst.parent;
        }
        self.touch(src.parent, now);
        self.touch(dst.parent, now);
        Ok(())
    }

    /// `path_link`.
    pub fn link(
        &mut self,
        fd: u32,
        old: &str,
        follow: bool,
        new_fd: u32,
        new: &str,
        now: u64,
    ) -> Result<(), Errno> {
        let (from_dir, to_dir) = (self.writable_dir(fd)?, self.writable_dir(new_fd)?);
        let ino = self
            .tree
            .lookup(from_dir, old, follow)?
            .node
            .ok_or(ENOENT)?;
        if matches!(self.tree.get(ino).body, Body::Dir(_)) {
            return Err(EPERM);
        }
        let dst = self.tree.lookup(to_dir, new, false)?;
        if dst.node.is_some() {
            return Err(EEXIST);
        }
        self.charge(NODE_COST)?;
        if let Some(c) = self.tree.children_mut(dst.parent) {
            c.insert(dst.name, ino);
        }
        self.tree.get_mut(ino).nlink += 1;
        self.touch(dst.parent, now);
        Ok(())
    }

    /// `path_symlink`: a link at `path` to `target`, which must be relative.
    pub fn symlink(&mut self, target: &str, dirfd: u32, path: &str, now: u64) -> Result<(), Errno> {
        let dir = self.writable_dir(dirfd)?;
        if target.starts_with('/') {
            return Err(EPERM);
        }
        let found = self.tree.lookup(dir, path, false)?;
        if found.node.is_some() {
            return Err(EEXIST);
        }
        self.charge(target.len() as u64)?;
        self.add_node(found.parent, &found.name, Body::Symlink(target.into()), now)?;
        Ok(())
    }

    /// `path_readlink`.
    pub fn readlink(&self, dirfd: u32, path: &str) -> Result<String, Errno> {
        let dir = self.dir_fd(dirfd)?;
        let (_, ino) = self.existing(dir, path)?;
        match &self.tree.get(ino).body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flint_abi::files::{Entry, Kind, encode};
    use flint_abi::wasm::Mount;

    /// A writable mount over a bundle holding a 64 KiB file, with `scratch` bytes of scratch.
    fn fs(scratch: u64) -> Fs {
        let big = alloc::vec![7u8; 65536];
        let image = encode(&[Entry {
            kind: Kind::File,
            path: "big.bin",
            data: &big,
        }]);
        let image: &'static [u8] = alloc::boxed::Box::leak(image.into_boxed_slice());
        let mount = Mount {
            writable: true,
            ..Mount::bundle_root()
        };
        Fs::new(image, &[mount], scratch, 0).expect("filesystem")
    }

    fn flags(oflags: u16, rights: u64) -> OpenFlags {
        OpenFlags {
            oflags,
            rights,
            ..OpenFlags::default()
        }
    }

    #[test]
    fn truncating_a_bundle_file_needs_no_room_for_its_copy() {
        let mut fs = fs(8192);
        let fd = fs
            .open(3, "big.bin", flags(OFLAGS_TRUNC, RIGHT_FD_WRITE), 0)
            .expect("truncating open");
        assert_eq!(fs.write(fd, b"small", None, 0), Ok(5));
        assert_eq!(fs.fd_stat(fd).map(|s| s.size), Ok(5));
        // Writing into the big file in place needs its copy, which does not fit.
        let mut fs = self::fs(8192);
        let fd = fs
            .open(3, "big.bin", flags(0, RIGHT_FD_WRITE), 0)
            .expect("open");
        assert_eq!(fs.write(fd, b"x", Some(10), 0), Err(ENOSPC));
        let mut roomy = self::fs(1 << 20);
        let fd = roomy
            .open(3, "big.bin", flags(0, RIGHT_FD_READ | RIGHT_FD_WRITE), 0)
            .expect("open");
        assert_eq!(roomy.write(fd, b"x", Some(10), 0), Ok(1));
        let back = roomy.read(fd, 12, Some(0)).expect("read");
        assert_eq!(back, [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, b'x', 7]);
        assert_eq!(roomy.scratch_used, 65536);
    }
}
