//! The WASI filesystem functions over a module's linear memory: arguments are read and checked
//! here (a bad pointer is `EFAULT`), the work is [`super::ops`].

use alloc::string::String;
use alloc::vec::Vec;

use wasmtime::{Caller, Linker, Memory};

use super::Fs;
use super::ops::{OpenFlags, Stat};
use crate::ctx::{ClockId, WasiView};
use crate::errno::*;
use crate::imports::WASI;
use crate::memory::{self, Fault, exported as mem, or_efault as errno};

type Ret = wasmtime::Result<i32>;

/// Unwraps an operation's result, or answers with its errno.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(errno) => return Ok(errno),
        }
    };
}

fn fs<'a, T: WasiView>(c: &'a mut Caller<'_, T>) -> &'a mut Fs {
    &mut c.data_mut().wasi().fs
}

fn now<T: WasiView>(c: &mut Caller<'_, T>) -> u64 {
    c.data_mut().wasi().clock.now_ns(ClockId::Realtime)
}

/// A path argument: `EILSEQ` if not UTF-8 (as wasmtime answers).
fn path<T>(
    m: &Memory,
    c: &mut Caller<'_, T>,
    ptr: i32,
    len: i32,
) -> Result<Result<String, Errno>, Fault> {
    let len = u32::try_from(len).map_err(|_| Fault)?;
    if len as usize > super::tree::MAX_PATH {
        return Ok(Err(ENAMETOOLONG));
    }
    let bytes = memory::read(m, &mut *c, ptr, len)?;
    Ok(String::from_utf8(bytes).map_err(|_| EILSEQ))
}

fn fd_of(fd: i32) -> u32 {
    fd as u32
}

/// `fd_read`/`fd_pread` on descriptors from 3.
pub(crate) fn read<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    iovs: i32,
    n: i32,
    at: Option<u64>,
    out: i32,
) -> Result<i32, Fault> {
    let m = mem(c)?;
    let list = memory::iovecs(&m, &mut *c, iovs, n)?;
    let want: usize = list.iter().map(|&(_, l)| l as usize).sum();
    let data = tri!(fs(c).read(fd_of(fd), want, at));
    let mut done = 0;
    for (ptr, len) in list {
        let take = (len as usize).min(data.len() - done);
        memory::write(&m, &mut *c, ptr, &data[done..done + take])?;
        done += take;
    }
    memory::write_u32(&m, &mut *c, out, done as u32)?;
    Ok(SUCCESS)
}

/// `fd_write`/`fd_pwrite` on descriptors from 3.
pub(crate) fn write<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    iovs: i32,
    n: i32,
    at: Option<u64>,
    out: i32,
) -> Result<i32, Fault> {
    let m = mem(c)?;
    let mut data = Vec::new();
    for (ptr, len) in memory::iovecs(&m, &mut *c, iovs, n)? {
        data.extend_from_slice(&memory::read(&m, &mut *c, ptr, len)?);
    }
    let t = now(c);
    let written = tri!(fs(c).write(fd_of(fd), &data, at, t));
    memory::write_u32(&m, &mut *c, out, written as u32)?;
    Ok(SUCCESS)
}

/// `fd_seek` on descriptors from 3.
pub(crate) fn seek<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    off: i64,
    whence: i32,
    out: i32,
) -> Result<i32, Fault> {
    let whence = u8::try_from(whence).unwrap_or(u8::MAX);
    let pos = tri!(fs(c).seek(fd_of(fd), off, whence));
    let m = mem(c)?;
    memory::write_u64(&m, &mut *c, out, pos)?;
    Ok(SUCCESS)
}

/// Writes a WASI `filestat` at `ptr`.
pub(crate) fn put_stat<T>(
    m: &Memory,
    c: &mut Caller<'_, T>,
    ptr: i32,
    s: Stat,
) -> Result<i32, Fault> {
    let mut b = [0u8; 64];
    b[8..16].copy_from_slice(&s.ino.to_le_bytes());
    b[16] = s.filetype;
    b[24..32].copy_from_slice(&s.nlink.to_le_bytes());
    b[32..40].copy_from_slice(&s.size.to_le_bytes());
    for (i, t) in s.times.iter().enumerate() {
        b[40 + i * 8..48 + i * 8].copy_from_slice(&t.to_le_bytes());
    }
    memory::write(m, &mut *c, ptr, &b)?;
    Ok(SUCCESS)
}

/// `fd_filestat_get` on descriptors from 3.
pub(crate) fn filestat<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    ptr: i32,
) -> Result<i32, Fault> {
    let s = tri!(fs(c).fd_stat(fd_of(fd)));
    let m = mem(c)?;
    put_stat(&m, c, ptr, s)
}

/// `fd_fdstat_get` on descriptors from 3: file type, flags and the rights the descriptor has.
pub(crate) fn fdstat<T: WasiView>(c: &mut Caller<'_, T>, fd: i32, ptr: i32) -> Result<i32, Fault> {
    let handle = tri!(fs(c).fds.get(&fd_of(fd)).cloned().ok_or(EBADF));
    const COMMON: u64 = RIGHT_FD_DATASYNC
        | RIGHT_FD_SYNC
        | RIGHT_FD_ADVISE
        | RIGHT_FD_FILESTAT_GET
        | RIGHT_FD_SEEK
        | RIGHT_FD_TELL
        | RIGHT_FD_FDSTAT_SET_FLAGS
        | RIGHT_POLL_FD_READWRITE;
    let (filetype, flags, base, inheriting) = match handle {
        super::Handle::File(f) => {
            let mut rights = COMMON;
            if f.read {
                rights |= RIGHT_FD_READ;
            }
            if f.write {
                rights |= RIGHT_FD_WRITE
                    | RIGHT_FD_ALLOCATE
                    | RIGHT_FD_FILESTAT_SET_SIZE
                    | RIGHT_FD_FILESTAT_SET_TIMES;
            }
            let flags = if f.append { FDFLAGS_APPEND } else { 0 };
            (FILETYPE_REGULAR_FILE, flags, rights, 0)
        }
        super::Handle::Dir { .. } => (FILETYPE_DIRECTORY, 0, RIGHTS_ALL, RIGHTS_ALL),
    };
    let m = mem(c)?;
    put_fdstat(&m, c, ptr, (filetype, flags), (base, inheriting))
}

/// Writes a WASI `fdstat` at `ptr`: file type and flags, base and inheriting rights.
pub(crate) fn put_fdstat<T>(
    m: &Memory,
    c: &mut Caller<'_, T>,
    ptr: i32,
    (filetype, flags): (u8, u16),
    (base, inheriting): (u64, u64),
) -> Result<i32, Fault> {
    let mut b = [0u8; 24];
    b[0] = filetype;
    b[2..4].copy_from_slice(&flags.to_le_bytes());
    b[8..16].copy_from_slice(&base.to_le_bytes());
    b[16..24].copy_from_slice(&inheriting.to_le_bytes());
    memory::write(m, &mut *c, ptr, &b)?;
    Ok(SUCCESS)
}

/// `fd_prestat_get`.
pub(crate) fn prestat<T: WasiView>(c: &mut Caller<'_, T>, fd: i32, ptr: i32) -> Result<i32, Fault> {
    let name = tri!(preopen_name(fs(c), fd));
    let mut b = [0u8; 8];
    b[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
    let m = mem(c)?;
    memory::write(&m, &mut *c, ptr, &b)?;
    Ok(SUCCESS)
}

fn preopen_name(fs: &Fs, fd: i32) -> Result<String, Errno> {
    match fs.fds.get(&fd_of(fd)) {
        Some(super::Handle::Dir {
            preopen: Some(p), ..
        }) => Ok(p.clone()),
        _ => Err(EBADF),
    }
}

/// `fd_prestat_dir_name`.
pub(crate) fn prestat_name<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    ptr: i32,
    len: i32,
) -> Result<i32, Fault> {
    let name = tri!(preopen_name(fs(c), fd));
    if (len as u32 as usize) < name.len() {
        return Ok(ENAMETOOLONG);
    }
    let m = mem(c)?;
    memory::write(&m, &mut *c, ptr, name.as_bytes())?;
    Ok(SUCCESS)
}

/// `fd_close` on descriptors from 3.
pub(crate) fn close<T: WasiView>(c: &mut Caller<'_, T>, fd: i32) -> i32 {
    fs(c).close(fd_of(fd)).err().unwrap_or(SUCCESS)
}

fn readdir<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    buf: i32,
    len: i32,
    cookie: i64,
    out: i32,
) -> Result<i32, Fault> {
    let entries = tri!(fs(c).readdir(fd_of(fd)));
    let cap = u32::try_from(len).map_err(|_| Fault)? as usize;
    let mut bytes = Vec::new();
    for (i, e) in entries.iter().enumerate().skip(cookie as u64 as usize) {
        if bytes.len() >= cap {
            break;
        }
        let mut d = [0u8; 24];
        d[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        d[8..16].copy_from_slice(&e.ino.to_le_bytes());
        d[16..20].copy_from_slice(&(e.name.len() as u32).to_le_bytes());
        d[20] = e.filetype;
        bytes.extend_from_slice(&d);
        bytes.extend_from_slice(e.name.as_bytes());
    }
    bytes.truncate(cap);
    let m = mem(c)?;
    memory::write(&m, &mut *c, buf, &bytes)?;
    memory::write_u32(&m, &mut *c, out, bytes.len() as u32)?;
    Ok(SUCCESS)
}

fn path_open<T: WasiView>(
    c: &mut Caller<'_, T>,
    a: [i32; 5],
    base: i64,
    fdflags: i32,
    out: i32,
) -> Result<i32, Fault> {
    let [fd, lookup, ptr, len, oflags] = a;
    let m = mem(c)?;
    let p = tri!(path(&m, c, ptr, len)?);
    let flags = OpenFlags {
        lookup: lookup as u32,
        oflags: oflags as u16,
        rights: base as u64,
        fdflags: fdflags as u16,
    };
    let t = now(c);
    let new = tri!(fs(c).open(fd_of(fd), &p, flags, t));
    memory::write_u32(&m, &mut *c, out, new)?;
    Ok(SUCCESS)
}

fn path_stat<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    flags: i32,
    ptr: i32,
    len: i32,
    out: i32,
) -> Result<i32, Fault> {
    let m = mem(c)?;
    let p = tri!(path(&m, c, ptr, len)?);
    let follow = flags as u32 & LOOKUP_SYMLINK_FOLLOW != 0;
    let s = tri!(fs(c).path_stat(fd_of(fd), &p, follow));
    put_stat(&m, c, out, s)
}

fn path_set_times<T: WasiView>(
    c: &mut Caller<'_, T>,
    a: [i32; 4],
    atim: i64,
    mtim: i64,
    fst: i32,
) -> Result<i32, Fault> {
    let [fd, flags, ptr, len] = a;
    let m = mem(c)?;
    let p = tri!(path(&m, c, ptr, len)?);
    let follow = flags as u32 & LOOKUP_SYMLINK_FOLLOW != 0;
    let t = now(c);
    let fs = fs(c);
    let ino = tri!(fs.path_node(fd_of(fd), &p, follow));
    answer(
        fs.set_times(ino, atim as u64, mtim as u64, fst as u16, t),
        SUCCESS,
    )
}

/// An operation on one path: mkdir, rmdir, unlink.
type OnePath = fn(&mut Fs, u32, &str, u64) -> Result<(), Errno>;

/// Runs a [`OnePath`] operation on the path at `ptr`.
fn one_path<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    ptr: i32,
    len: i32,
    op: OnePath,
) -> Result<i32, Fault> {
    let m = mem(c)?;
    let p = tri!(path(&m, c, ptr, len)?);
    let t = now(c);
    answer(op(fs(c), fd_of(fd), &p, t), SUCCESS)
}

fn two_paths<T: WasiView>(
    c: &mut Caller<'_, T>,
    a: (i32, i32),
    b: (i32, i32),
) -> Result<Result<(String, String), Errno>, Fault> {
    let m = mem(c)?;
    let first = match path(&m, c, a.0, a.1)? {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    Ok(path(&m, c, b.0, b.1)?.map(|second| (first, second)))
}

fn readlink<T: WasiView>(
    c: &mut Caller<'_, T>,
    fd: i32,
    ptr: i32,
    len: i32,
    buf: i32,
    cap: i32,
    out: i32,
) -> Result<i32, Fault> {
    let m = mem(c)?;
    let p = tri!(path(&m, c, ptr, len)?);
    let target = tri!(fs(c).readlink(fd_of(fd), &p));
    let n = target.len().min(cap as u32 as usize);
    memory::write(&m, &mut *c, buf, &target.as_bytes()[..n])?;
    memory::write_u32(&m, &mut *c, out, n as u32)?;
    Ok(SUCCESS)
}

/// `ok` for a done operation, its errno otherwise.
fn answer<V, E>(r: Result<V, Errno>, ok: Errno) -> Result<i32, E> {
    Ok(r.map_or_else(|e| e, |_| ok))
}

/// The functions on files and paths that only descriptors from 3 have; stdio's answers.
fn stdio_or(fd: i32, stdio: Errno, f: impl FnOnce() -> Result<i32, Fault>) -> Ret {
    if (0..=2).contains(&fd) {
        return Ok(stdio);
    }
    errno(f())
}

/// Defines the filesystem's own functions (those shared with stdio are in `preview1`).
pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    l.func_wrap(
        WASI,
        "fd_pread",
        |mut c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, at: i64, out: i32| {
            stdio_or(fd, ESPIPE, || {
                read(&mut c, fd, iovs, n, Some(at as u64), out)
            })
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_pwrite",
        |mut c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, at: i64, out: i32| {
            stdio_or(fd, ESPIPE, || {
                write(&mut c, fd, iovs, n, Some(at as u64), out)
            })
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_tell",
        |mut c: Caller<'_, T>, fd: i32, out: i32| {
            stdio_or(fd, ESPIPE, || seek(&mut c, fd, 0, 1, out))
        },
    )?;
    for name in ["fd_sync", "fd_datasync"] {
        l.func_wrap(WASI, name, |mut c: Caller<'_, T>, fd: i32| -> Ret {
            answer(fs(&mut c).node_fd(fd_of(fd)), SUCCESS)
        })?;
    }
    l.func_wrap(
        WASI,
        "fd_advise",
        |mut c: Caller<'_, T>, fd: i32, _o: i64, _l: i64, advice: i32| -> Ret {
            let ok = fs(&mut c).file_fd(fd_of(fd)).map(drop);
            Ok(match ok {
                Err(e) => e,
                Ok(()) if !(0..=5).contains(&advice) => EINVAL,
                Ok(()) => SUCCESS,
            })
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_allocate",
        |mut c: Caller<'_, T>, fd: i32, _o: i64, _l: i64| -> Ret {
            // wasmtime's WASI does not allocate either.
            answer(fs(&mut c).file_fd(fd_of(fd)), ENOTSUP)
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_filestat_set_size",
        |mut c: Caller<'_, T>, fd: i32, size: i64| -> Ret {
            let t = now(&mut c);
            answer(fs(&mut c).set_size(fd_of(fd), size as u64, t), SUCCESS)
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_filestat_set_times",
        |mut c: Caller<'_, T>, fd: i32, a: i64, m: i64, fst: i32| -> Ret {
            let t = now(&mut c);
            let fs = fs(&mut c);
            let ino = tri!(fs.node_fd(fd_of(fd)));
            answer(
                fs.set_times(ino, a as u64, m as u64, fst as u16, t),
                SUCCESS,
            )
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_readdir",
        |mut c: Caller<'_, T>, fd: i32, buf: i32, len: i32, cookie: i64, out: i32| {
            errno(readdir(&mut c, fd, buf, len, cookie, out))
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_renumber",
        |mut c: Caller<'_, T>, from: i32, to: i32| -> Ret {
            answer(fs(&mut c).renumber(fd_of(from), fd_of(to)), SUCCESS)
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_fdstat_set_flags",
        |mut c: Caller<'_, T>, fd: i32, flags: i32| -> Ret {
            let f = tri!(fs(&mut c).file_fd(fd_of(fd)));
            if flags as u16 & !FDFLAGS_APPEND != 0 {
                return Ok(ENOTSUP);
            }
            f.append = flags as u16 & FDFLAGS_APPEND != 0;
            Ok(SUCCESS)
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_fdstat_set_rights",
        |mut c: Caller<'_, T>, fd: i32, _b: i64, _i: i64| -> Ret {
            answer(fs(&mut c).node_fd(fd_of(fd)), ENOTSUP)
        },
    )?;
    l.func_wrap(
        WASI,
        "path_open",
        |mut c: Caller<'_, T>,
         fd: i32,
         lookup: i32,
         p: i32,
         n: i32,
         of: i32,
         base: i64,
         _inh: i64,
         ff: i32,
         out: i32| { errno(path_open(&mut c, [fd, lookup, p, n, of], base, ff, out)) },
    )?;
    l.func_wrap(
        WASI,
        "path_filestat_get",
        |mut c: Caller<'_, T>, fd: i32, fl: i32, p: i32, n: i32, out: i32| {
            errno(path_stat(&mut c, fd, fl, p, n, out))
        },
    )?;
    l.func_wrap(
        WASI,
        "path_filestat_set_times",
        |mut c: Caller<'_, T>, fd: i32, fl: i32, p: i32, n: i32, a: i64, m: i64, fst: i32| {
            errno(path_set_times(&mut c, [fd, fl, p, n], a, m, fst))
        },
    )?;
    let one_path_ops: [(&str, OnePath); 3] = [
        ("path_create_directory", Fs::mkdir),
        ("path_remove_directory", Fs::rmdir),
        ("path_unlink_file", Fs::unlink),
    ];
    for (name, op) in one_path_ops {
        l.func_wrap(
            WASI,
            name,
            move |mut c: Caller<'_, T>, fd: i32, p: i32, n: i32| {
                errno(one_path(&mut c, fd, p, n, op))
            },
        )?;
    }
    l.func_wrap(
        WASI,
        "path_rename",
        |mut c: Caller<'_, T>, fd: i32, op: i32, on: i32, nfd: i32, np: i32, nn: i32| {
            errno((|| {
                let (old, new) = tri!(two_paths(&mut c, (op, on), (np, nn))?);
                let t = now(&mut c);
                answer(
                    fs(&mut c).rename(fd_of(fd), &old, fd_of(nfd), &new, t),
                    SUCCESS,
                )
            })())
        },
    )?;
    l.func_wrap(
        WASI,
        "path_link",
        |mut c: Caller<'_, T>, fd: i32, fl: i32, op: i32, on: i32, nfd: i32, np: i32, nn: i32| {
            errno((|| {
                let (old, new) = tri!(two_paths(&mut c, (op, on), (np, nn))?);
                let follow = fl as u32 & LOOKUP_SYMLINK_FOLLOW != 0;
                let t = now(&mut c);
                let r = fs(&mut c).link(fd_of(fd), &old, follow, fd_of(nfd), &new, t);
                answer(r, SUCCESS)
            })())
        },
    )?;
    l.func_wrap(
        WASI,
        "path_symlink",
        |mut c: Caller<'_, T>, op: i32, on: i32, fd: i32, np: i32, nn: i32| {
            errno((|| {
                let (target, new) = tri!(two_paths(&mut c, (op, on), (np, nn))?);
                let t = now(&mut c);
                answer(fs(&mut c).symlink(&target, fd_of(fd), &new, t), SUCCESS)
            })())
        },
    )?;
    l.func_wrap(
        WASI,
        "path_readlink",
        |mut c: Caller<'_, T>, fd: i32, p: i32, n: i32, buf: i32, cap: i32, out: i32| {
            errno(readlink(&mut c, fd, p, n, buf, cap, out))
        },
    )?;
    Ok(())
}

/// The functions this module defines.
pub const NAMES: &[&str] = &[
    "fd_pread",
    "fd_pwrite",
    "fd_tell",
    "fd_sync",
    "fd_datasync",
    "fd_advise",
    "fd_allocate",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_readdir",
    "fd_renumber",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "path_open",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_create_directory",
    "path_remove_directory",
    "path_unlink_file",
    "path_rename",
    "path_link",
    "path_symlink",
    "path_readlink",
];
