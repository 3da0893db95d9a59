//! Flint's own imports, module `flint`: their guest-side implementation over a [`FlintHost`].
//! Each is declared (name, signature, host call, meaning) once, in [`flint_abi::host_fn`];
//! `docs/ARCHITECTURE.md` shows the table derived from those declarations.
//!
//! A pointer outside linear memory traps.
//!
//! [`FlintHost`]: crate::FlintHost

use alloc::string::String;

use wasmtime::{Caller, Linker};

use crate::ctx::WasiView;
use crate::memory::{self, Fault};
use flint_abi::host_fn::{
    FLINT_MODULE as FLINT, HTTP_REQUEST, KV_ABSENT, KV_DELETE, KV_GET, KV_SET, KvError, LOG,
    MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES,
};

/// Longest log line kept; the rest is cut.
pub const MAX_LOG_BYTES: u32 = 4096;

fn trap(name: &str) -> wasmtime::Error {
    wasmtime::Error::msg(alloc::format!(
        "flint.{name}: pointer or length outside linear memory"
    ))
}

fn read<T>(
    caller: &mut Caller<'_, T>,
    name: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<alloc::vec::Vec<u8>> {
    let m = memory::memory(caller).ok_or_else(|| trap(name))?;
    memory::read(&m, &mut *caller, ptr, len as u32).map_err(|Fault| trap(name))
}

fn kv_get<T: WasiView>(
    c: &mut Caller<'_, T>,
    kp: i32,
    kl: i32,
    vp: i32,
    vl: i32,
) -> wasmtime::Result<i32> {
    if kl as u32 > MAX_KV_KEY_BYTES {
        return Ok(KvError::TooLarge.code());
    }
    let key = read(c, KV_GET.import.name, kp, kl)?;
    let value = match c.data_mut().wasi().host.kv_get(&key) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(KV_ABSENT),
        Err(e) => return Ok(e.code()),
    };
    write_capped(c, KV_GET.import.name, vp, vl, &value)
}

/// Writes what of `bytes` fits `cap` at `ptr`; returns the full length.
fn write_capped<T>(
    c: &mut Caller<'_, T>,
    name: &str,
    ptr: i32,
    cap: i32,
    bytes: &[u8],
) -> wasmtime::Result<i32> {
    let keep = bytes.len().min(cap.max(0) as usize);
    let m = memory::memory(c).ok_or_else(|| trap(name))?;
    memory::write(&m, &mut *c, ptr, &bytes[..keep]).map_err(|Fault| trap(name))?;
    Ok(i32::try_from(bytes.len()).unwrap_or(i32::MAX))
}

fn kv_set<T: WasiView>(
    c: &mut Caller<'_, T>,
    kp: i32,
    kl: i32,
    vp: i32,
    vl: i32,
) -> wasmtime::Result<i32> {
    if kl as u32 > MAX_KV_KEY_BYTES || vl as u32 > MAX_KV_VALUE_BYTES {
        return Ok(KvError::TooLarge.code());
    }
    let key = read(c, KV_SET.import.name, kp, kl)?;
    let value = read(c, KV_SET.import.name, vp, vl)?;
    Ok(match c.data_mut().wasi().host.kv_set(&key, &value) {
        Ok(()) => 0,
        Err(e) => e.code(),
    })
}

fn kv_delete<T: WasiView>(c: &mut Caller<'_, T>, kp: i32, kl: i32) -> wasmtime::Result<i32> {
    if kl as u32 > MAX_KV_KEY_BYTES {
        return Ok(KvError::TooLarge.code());
    }
    let key = read(c, KV_DELETE.import.name, kp, kl)?;
    Ok(match c.data_mut().wasi().host.kv_delete(&key) {
        Ok(existed) => i32::from(existed),
        Err(e) => e.code(),
    })
}

fn http_request<T: WasiView>(
    c: &mut Caller<'_, T>,
    rp: i32,
    rl: i32,
    bp: i32,
    bl: i32,
) -> wasmtime::Result<i32> {
    let name = HTTP_REQUEST.import.name;
    let request = read(c, name, rp, rl)?;
    let response = match c.data_mut().wasi().host.http_request(&request) {
        Ok(r) => r,
        Err(e) => return Ok(e.code()),
    };
    write_capped(c, name, bp, bl, &response)
}

/// Defines the `flint` imports.
pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    l.func_wrap(
        FLINT,
        LOG.import.name,
        |mut c: Caller<'_, T>, level: i32, p: i32, n: i32| -> wasmtime::Result<()> {
            let bytes = read(
                &mut c,
                LOG.import.name,
                p,
                (n as u32).min(MAX_LOG_BYTES) as i32,
            )?;
            let message = String::from_utf8_lossy(&bytes);
            c.data_mut()
                .wasi()
                .host
                .log(level.clamp(0, 4) as u32, &message);
            Ok(())
        },
    )?;
    l.func_wrap(
        FLINT,
        KV_GET.import.name,
        |mut c: Caller<'_, T>, kp: i32, kl: i32, vp: i32, vl: i32| kv_get(&mut c, kp, kl, vp, vl),
    )?;
    l.func_wrap(
        FLINT,
        KV_SET.import.name,
        |mut c: Caller<'_, T>, kp: i32, kl: i32, vp: i32, vl: i32| kv_set(&mut c, kp, kl, vp, vl),
    )?;
    l.func_wrap(
        FLINT,
        KV_DELETE.import.name,
        |mut c: Caller<'_, T>, kp: i32, kl: i32| kv_delete(&mut c, kp, kl),
    )?;
    l.func_wrap(
        FLINT,
        HTTP_REQUEST.import.name,
        |mut c: Caller<'_, T>, rp: i32, rl: i32, bp: i32, bl: i32| {
            http_request(&mut c, rp, rl, bp, bl)
        },
    )?;
    Ok(())
}
