//! Checked access to a module's linear memory from inside a host function.

use alloc::vec::Vec;
use wasmtime::{AsContextMut, Caller, Extern, Memory};

/// `EFAULT`: a pointer or length outside linear memory.
#[derive(Clone, Copy, Debug)]
pub struct Fault;

/// The module's exported `memory`.
pub fn memory<T>(caller: &mut Caller<'_, T>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

/// The module's exported `memory`, or a [`Fault`] without one.
pub fn exported<T>(caller: &mut Caller<'_, T>) -> Result<Memory, Fault> {
    memory(caller).ok_or(Fault)
}

/// A WASI function's answer: its errno, or `EFAULT` for a pointer outside linear memory.
pub fn or_efault(r: Result<i32, Fault>) -> wasmtime::Result<i32> {
    Ok(r.unwrap_or(crate::errno::EFAULT))
}

fn range(ptr: i32, len: u32, size: usize) -> Result<core::ops::Range<usize>, Fault> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as usize).ok_or(Fault)?;
    if end > size {
        return Err(Fault);
    }
    Ok(start..end)
}

/// Copies `len` bytes at `ptr` out of linear memory.
pub fn read(mem: &Memory, cx: impl AsContextMut, ptr: i32, len: u32) -> Result<Vec<u8>, Fault> {
    let data = mem.data(&cx);
    let r = range(ptr, len, data.len())?;
    Ok(data[r].to_vec())
}

/// Copies `bytes` into linear memory at `ptr`.
pub fn write(mem: &Memory, mut cx: impl AsContextMut, ptr: i32, bytes: &[u8]) -> Result<(), Fault> {
    let data = mem.data_mut(&mut cx);
    let r = range(ptr, bytes.len() as u32, data.len())?;
    data[r].copy_from_slice(bytes);
    Ok(())
}

/// Writes a little-endian `u32` at `ptr`.
pub fn write_u32(mem: &Memory, cx: impl AsContextMut, ptr: i32, v: u32) -> Result<(), Fault> {
    write(mem, cx, ptr, &v.to_le_bytes())
}

/// Writes a little-endian `u64` at `ptr`.
pub fn write_u64(mem: &Memory, cx: impl AsContextMut, ptr: i32, v: u64) -> Result<(), Fault> {
    write(mem, cx, ptr, &v.to_le_bytes())
}

/// The `(ptr, len)` pairs of an iovec array.
pub fn iovecs(
    mem: &Memory,
    mut cx: impl AsContextMut,
    ptr: i32,
    count: i32,
) -> Result<Vec<(i32, u32)>, Fault> {
    let count = u32::try_from(count).map_err(|_| Fault)?;
    let raw = read(mem, &mut cx, ptr, count.checked_mul(8).ok_or(Fault)?)?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| {
            let p = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i32;
            let l = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            (p, l)
        })
        .collect())
}
