//! The WASI preview 1 functions Flint implements, besides the filesystem's own
//! ([`crate::fs::calls`]); those shared with stdio hand descriptors from 3 to it.

use alloc::vec::Vec;

use rand_chacha::rand_core::RngCore;
use wasmtime::{Caller, Linker};

use crate::ctx::{ClockId, Exit, WasiView};
use crate::errno::*;
use crate::fs::calls::{put_fdstat, put_stat};
use crate::fs::ops::Stat;
use crate::imports::WASI;
use crate::memory::{self, Fault, exported as mem, or_efault as errno};

/// The functions this module defines; the rest of the table are errno stubs.
pub const IMPLEMENTED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "random_get",
    "fd_read",
    "fd_write",
    "fd_close",
    "fd_seek",
    "fd_fdstat_get",
    "fd_filestat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "proc_exit",
    "sched_yield",
    "poll_oneoff",
];

type Ret = wasmtime::Result<i32>;

fn clock_id(id: i32) -> Option<ClockId> {
    match id {
        0 => Some(ClockId::Realtime),
        // Process and thread CPU time: the run is one thread, so monotonic time bounds both.
        1..=3 => Some(ClockId::Monotonic),
        _ => None,
    }
}

/// Writes `items` as NUL-terminated strings at `buf` and their addresses at `ptrs`.
fn put_strings<T: WasiView>(
    caller: &mut Caller<'_, T>,
    items: fn(&mut T) -> &Vec<alloc::string::String>,
    ptrs: i32,
    buf: i32,
) -> Result<i32, Fault> {
    let m = mem(caller)?;
    let list = items(caller.data_mut()).clone();
    let mut at = buf as u32;
    for (i, s) in list.iter().enumerate() {
        let slot = (ptrs as u32).checked_add(i as u32 * 4).ok_or(Fault)?;
        memory::write_u32(&m, &mut *caller, slot as i32, at)?;
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        memory::write(&m, &mut *caller, at as i32, &bytes)?;
        at = at.checked_add(bytes.len() as u32).ok_or(Fault)?;
    }
    Ok(SUCCESS)
}

fn put_sizes<T: WasiView>(
    caller: &mut Caller<'_, T>,
    items: fn(&mut T) -> &Vec<alloc::string::String>,
    count_ptr: i32,
    size_ptr: i32,
) -> Result<i32, Fault> {
    let m = mem(caller)?;
    let list = items(caller.data_mut());
    let count = list.len() as u32;
    let size: usize = list.iter().map(|s| s.len() + 1).sum();
    memory::write_u32(&m, &mut *caller, count_ptr, count)?;
    memory::write_u32(&m, &mut *caller, size_ptr, size as u32)?;
    Ok(SUCCESS)
}

fn args<T: WasiView>(t: &mut T) -> &Vec<alloc::string::String> {
    &t.wasi().args
}

fn env<T: WasiView>(t: &mut T) -> &Vec<alloc::string::String> {
    &t.wasi().env
}

fn fd_read<T: WasiView>(
    caller: &mut Caller<'_, T>,
    fd: i32,
    iovs: i32,
    n: i32,
    nread: i32,
) -> Result<i32, Fault> {
    if fd >= 3 {
        return crate::fs::calls::read(caller, fd, iovs, n, None, nread);
    }
    if fd != 0 {
        return Ok(EBADF);
    }
    let m = mem(caller)?;
    let mut total = 0u32;
    for (ptr, len) in memory::iovecs(&m, &mut *caller, iovs, n)? {
        let ctx = caller.data_mut().wasi();
        let rest = &ctx.stdin[ctx.stdin_pos..];
        let take = rest.len().min(len as usize);
        let chunk = rest[..take].to_vec();
        memory::write(&m, &mut *caller, ptr, &chunk)?;
        caller.data_mut().wasi().stdin_pos += take;
        total += take as u32;
        if take < len as usize {
            break;
        }
    }
    memory::write_u32(&m, &mut *caller, nread, total)?;
    Ok(SUCCESS)
}

fn fd_write<T: WasiView>(
    caller: &mut Caller<'_, T>,
    fd: i32,
    iovs: i32,
    n: i32,
    nwritten: i32,
) -> Result<i32, Fault> {
    if fd >= 3 {
        return crate::fs::calls::write(caller, fd, iovs, n, None, nwritten);
    }
    if fd != 1 && fd != 2 {
        return Ok(EBADF);
    }
    let m = mem(caller)?;
    let mut total = 0u32;
    for (ptr, len) in memory::iovecs(&m, &mut *caller, iovs, n)? {
        let data = m.data(&*caller);
        let start = ptr as u32 as usize;
        let end = start.checked_add(len as usize).ok_or(Fault)?;
        let bytes = data.get(start..end).ok_or(Fault)?.to_vec();
        let ctx = caller.data_mut().wasi();
        let sink = if fd == 1 {
            &mut ctx.stdout
        } else {
            &mut ctx.stderr
        };
        sink.write(&bytes);
        total = total.saturating_add(len);
    }
    memory::write_u32(&m, &mut *caller, nwritten, total)?;
    Ok(SUCCESS)
}

fn fdstat<T: WasiView>(caller: &mut Caller<'_, T>, fd: i32, ptr: i32) -> Result<i32, Fault> {
    let rights = match fd {
        0 => RIGHT_FD_READ | RIGHT_POLL_FD_READWRITE,
        1 | 2 => RIGHT_FD_WRITE | RIGHT_POLL_FD_READWRITE,
        _ => return crate::fs::calls::fdstat(caller, fd, ptr),
    };
    let m = mem(caller)?;
    put_fdstat(&m, caller, ptr, (FILETYPE_CHARACTER_DEVICE, 0), (rights, 0))
}

fn filestat<T: WasiView>(caller: &mut Caller<'_, T>, fd: i32, ptr: i32) -> Result<i32, Fault> {
    if !(0..=2).contains(&fd) {
        return crate::fs::calls::filestat(caller, fd, ptr);
    }
    let m = mem(caller)?;
    let stat = Stat {
        filetype: FILETYPE_CHARACTER_DEVICE,
        ..Stat::default()
    };
    put_stat(&m, caller, ptr, stat)
}

fn random_get<T: WasiView>(caller: &mut Caller<'_, T>, buf: i32, len: i32) -> Result<i32, Fault> {
    let m = mem(caller)?;
    let len = len as u32 as usize;
    // Checked before allocating: the length is the guest's, the buffer must fit its memory.
    if (buf as u32 as usize)
        .checked_add(len)
        .is_none_or(|e| e > m.data_size(&*caller))
    {
        return Err(Fault);
    }
    let mut bytes = alloc::vec![0u8; len];
    caller.data_mut().wasi().rng.fill_bytes(&mut bytes);
    memory::write(&m, &mut *caller, buf, &bytes)?;
    Ok(SUCCESS)
}

fn clock_time_get<T: WasiView>(
    caller: &mut Caller<'_, T>,
    id: i32,
    ptr: i32,
) -> Result<i32, Fault> {
    let Some(id) = clock_id(id) else {
        return Ok(EINVAL);
    };
    let m = mem(caller)?;
    let now = caller.data_mut().wasi().clock.now_ns(id);
    memory::write_u64(&m, &mut *caller, ptr, now)?;
    Ok(SUCCESS)
}

fn clock_res_get<T: WasiView>(caller: &mut Caller<'_, T>, id: i32, ptr: i32) -> Result<i32, Fault> {
    let Some(id) = clock_id(id) else {
        return Ok(EINVAL);
    };
    let m = mem(caller)?;
    let res = caller.data_mut().wasi().clock.resolution_ns(id);
    memory::write_u64(&m, &mut *caller, ptr, res)?;
    Ok(SUCCESS)
}

/// `poll_oneoff`: descriptor subscriptions on stdio are always ready; clock subscriptions wait
/// (on the run's clock) until the earliest deadline when nothing else is ready.
fn poll_oneoff<T: WasiView>(
    caller: &mut Caller<'_, T>,
    subs: i32,
    events: i32,
    n: i32,
    nevents: i32,
) -> Result<i32, Fault> {
    if n <= 0 {
        return Ok(EINVAL);
    }
    let m = mem(caller)?;
    let raw = memory::read(
        &m,
        &mut *caller,
        subs,
        (n as u32).checked_mul(48).ok_or(Fault)?,
    )?;
    let word = |c: &[u8], at: usize| u64::from_le_bytes(c[at..at + 8].try_into().unwrap_or([0; 8]));
    let mut ready: Vec<[u8; 32]> = Vec::new();
    let mut clocks: Vec<(u64, u64, ClockId)> = Vec::new();
    for sub in raw.chunks_exact(48) {
        let userdata = word(sub, 0);
        let tag = sub[8];
        let mut event = [0u8; 32];
        event[..8].copy_from_slice(&userdata.to_le_bytes());
        event[10] = tag;
        match tag {
            0 => {
                let id = u32::from_le_bytes(sub[16..20].try_into().unwrap_or([0; 4]));
                let Some(id) = clock_id(id as i32) else {
                    event[8..10].copy_from_slice(&(EINVAL as u16).to_le_bytes());
                    ready.push(event);
                    continue;
                };
                let timeout = word(sub, 24);
                let absolute = sub[40] & 1 != 0;
                let now = caller.data_mut().wasi().clock.now_ns(id);
                let deadline = if absolute {
                    timeout
                } else {
                    now.saturating_add(timeout)
                };
                clocks.push((deadline, userdata, id));
            }
            1 | 2 => {
                let fd = u32::from_le_bytes(sub[16..20].try_into().unwrap_or([0; 4]));
                let file = fd >= 3 && caller.data_mut().wasi().fs.file_fd(fd).is_ok();
                let ok = file || (tag == 1 && fd == 0) || (tag == 2 && (fd == 1 || fd == 2));
                if !ok {
                    event[8..10].copy_from_slice(&(EBADF as u16).to_le_bytes());
                }
                ready.push(event);
            }
            _ => return Ok(EINVAL),
        }
    }
    let earliest = clocks.iter().min_by_key(|c| c.0);
    if let (true, Some(&(deadline, userdata, id))) = (ready.is_empty(), earliest) {
        while caller.data_mut().wasi().clock.now_ns(id) < deadline {
            core::hint::spin_loop();
        }
        let mut event = [0u8; 32];
        event[..8].copy_from_slice(&userdata.to_le_bytes());
        ready.push(event);
    }
    let flat: Vec<u8> = ready.iter().flatten().copied().collect();
    memory::write(&m, &mut *caller, events, &flat)?;
    memory::write_u32(&m, &mut *caller, nevents, ready.len() as u32)?;
    Ok(SUCCESS)
}

/// Defines the implemented WASI functions.
pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    l.func_wrap(
        WASI,
        "args_get",
        |mut c: Caller<'_, T>, p: i32, b: i32| -> Ret { errno(put_strings(&mut c, args, p, b)) },
    )?;
    l.func_wrap(
        WASI,
        "args_sizes_get",
        |mut c: Caller<'_, T>, n: i32, s: i32| -> Ret { errno(put_sizes(&mut c, args, n, s)) },
    )?;
    l.func_wrap(
        WASI,
        "environ_get",
        |mut c: Caller<'_, T>, p: i32, b: i32| -> Ret { errno(put_strings(&mut c, env, p, b)) },
    )?;
    l.func_wrap(
        WASI,
        "environ_sizes_get",
        |mut c: Caller<'_, T>, n: i32, s: i32| -> Ret { errno(put_sizes(&mut c, env, n, s)) },
    )?;
    l.func_wrap(
        WASI,
        "clock_res_get",
        |mut c: Caller<'_, T>, id: i32, p: i32| -> Ret { errno(clock_res_get(&mut c, id, p)) },
    )?;
    l.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: Caller<'_, T>, id: i32, _precision: i64, p: i32| -> Ret {
            errno(clock_time_get(&mut c, id, p))
        },
    )?;
    l.func_wrap(
        WASI,
        "random_get",
        |mut c: Caller<'_, T>, b: i32, n: i32| -> Ret { errno(random_get(&mut c, b, n)) },
    )?;
    l.func_wrap(
        WASI,
        "fd_read",
        |mut c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, out: i32| -> Ret {
            errno(fd_read(&mut c, fd, iovs, n, out))
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_write",
        |mut c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, out: i32| -> Ret {
            errno(fd_write(&mut c, fd, iovs, n, out))
        },
    )?;
    l.func_wrap(WASI, "fd_close", |mut c: Caller<'_, T>, fd: i32| -> Ret {
        Ok(if (0..=2).contains(&fd) {
            SUCCESS
        } else {
            crate::fs::calls::close(&mut c, fd)
        })
    })?;
    l.func_wrap(
        WASI,
        "fd_seek",
        |mut c: Caller<'_, T>, fd: i32, off: i64, whence: i32, out: i32| -> Ret {
            if (0..=2).contains(&fd) {
                return Ok(ESPIPE);
            }
            errno(crate::fs::calls::seek(&mut c, fd, off, whence, out))
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_fdstat_get",
        |mut c: Caller<'_, T>, fd: i32, p: i32| -> Ret { errno(fdstat(&mut c, fd, p)) },
    )?;
    l.func_wrap(
        WASI,
        "fd_filestat_get",
        |mut c: Caller<'_, T>, fd: i32, p: i32| -> Ret { errno(filestat(&mut c, fd, p)) },
    )?;
    l.func_wrap(
        WASI,
        "fd_prestat_get",
        |mut c: Caller<'_, T>, fd: i32, p: i32| -> Ret {
            errno(crate::fs::calls::prestat(&mut c, fd, p))
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |mut c: Caller<'_, T>, fd: i32, p: i32, n: i32| -> Ret {
            errno(crate::fs::calls::prestat_name(&mut c, fd, p, n))
        },
    )?;
    l.func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(code)))
    })?;
    l.func_wrap(WASI, "sched_yield", || -> Ret { Ok(SUCCESS) })?;
    l.func_wrap(
        WASI,
        "poll_oneoff",
        |mut c: Caller<'_, T>, s: i32, e: i32, n: i32, out: i32| -> Ret {
            errno(poll_oneoff(&mut c, s, e, n, out))
        },
    )?;
    Ok(())
}
