//! The guest functions this runtime provides.
//!
//! The well-behaved ones (`echo`, `add`, `call_host`, `log`, `noop`, `dirty`, `scribble`,
//! `seed`) exercise the call path, host calls and restore. The hostile ones (feature `hostile`,
//! built only for the host's tests, never shipped) do, on purpose, what a compromised guest
//! might: each must end in a typed error on the host, never harm it.

use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;

use flint_abi::message::{ErrorCode, GuestError, LogLevel, Value};

use crate::dispatch::GuestFn;
use crate::host::{self, Use};

const FUNCTIONS: &[(&str, GuestFn)] = &[
    ("noop", noop),
    ("echo", echo),
    ("add", add),
    ("call_host", call_host),
    ("log", log),
    ("dirty", dirty),
    ("scribble", scribble),
    ("seed", seed),
    (flint_abi::wasm::WASM_INIT, crate::wasm::init),
    (flint_abi::wasm::WASM_RUN, crate::wasm::run),
];

/// The hostile functions, in test builds of the guest only.
#[cfg(feature = "hostile")]
const HOSTILE: &[(&str, GuestFn)] = &[
    ("write_host_table", crate::hostile::write_host_table),
    ("exec_heap", crate::hostile::exec_heap),
    ("recurse", crate::hostile::recurse),
    ("smash_cookie", crate::hostile::smash_cookie),
    ("spin", crate::hostile::spin),
    ("bad_output", crate::hostile::bad_output),
    ("call_host_unchecked", crate::hostile::call_host_unchecked),
    ("panic", crate::hostile::panic),
    ("plant", crate::hostile::plant),
    ("peek", crate::hostile::peek),
];
#[cfg(not(feature = "hostile"))]
const HOSTILE: &[(&str, GuestFn)] = &[];

/// The function named `name`.
pub fn find(name: &str) -> Option<GuestFn> {
    FUNCTIONS
        .iter()
        .chain(HOSTILE)
        .find(|(n, _)| *n == name)
        .map(|&(_, f)| f)
}

pub(crate) fn bad_args(what: &str) -> GuestError {
    GuestError {
        code: ErrorCode::BadArguments,
        message: alloc::format!("expected {what}"),
    }
}

pub(crate) fn arg_u32(args: &[Value], i: usize) -> Result<u32, GuestError> {
    match args.get(i) {
        Some(Value::U32(x)) => Ok(*x),
        _ => Err(bad_args("a u32 argument")),
    }
}

pub(crate) fn arg_str(args: &[Value], i: usize) -> Result<&str, GuestError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(bad_args("a string argument")),
    }
}

fn noop(_: &[Value]) -> Result<Value, GuestError> {
    Ok(Value::Void)
}

/// Returns its first argument.
fn echo(args: &[Value]) -> Result<Value, GuestError> {
    Ok(args.first().cloned().unwrap_or(Value::Void))
}

/// `add(i32, i32) -> i32`, wrapping.
fn add(args: &[Value]) -> Result<Value, GuestError> {
    match args {
        [Value::I32(a), Value::I32(b)] => Ok(Value::I32(a.wrapping_add(*b))),
        _ => Err(bad_args("two i32 arguments")),
    }
}

/// `call_host(name, args...)`: calls host function `name` with the remaining arguments.
fn call_host(args: &[Value]) -> Result<Value, GuestError> {
    let name = arg_str(args, 0)?;
    host::call(name, args[1..].to_vec())
}

/// `log(level: u32, message)`.
fn log(args: &[Value]) -> Result<Value, GuestError> {
    let level = match arg_u32(args, 0)? {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        _ => LogLevel::Error,
    };
    host::log(level, arg_str(args, 1)?, file!(), line!());
    Ok(Value::Void)
}

/// `dirty(pages: u32)`: allocates `pages` heap pages and writes one byte in each.
fn dirty(args: &[Value]) -> Result<Value, GuestError> {
    let pages = arg_u32(args, 0)? as usize;
    let mut v: Vec<u8> = Vec::with_capacity(pages * 4096);
    let base = v.as_mut_ptr();
    for p in 0..pages {
        // SAFETY: `p * 4096` is below the capacity of `v`, so the byte is inside its allocation;
        // the length stays 0, so no uninitialised byte is ever read.
        unsafe { base.add(p * 4096).write_volatile(p as u8 | 1) };
    }
    black_box(&mut v);
    Ok(Value::U32(pages as u32))
}

/// `scribble(pages: u32)`: writes over heap pages, the stack, the input and output buffers and
/// the status block, then returns normally. The restore tests call it.
fn scribble(args: &[Value]) -> Result<Value, GuestError> {
    let pages = arg_u32(args, 0)? as usize;
    let heap = vec![0xA5u8; pages * 4096];
    let mut sum = black_box(&heap).iter().map(|&b| u64::from(b)).sum::<u64>();
    sum = sum.wrapping_add(deep_stack(16));
    host::with_input(Use::Raw, |inp| inp[8..].fill(0x3C));
    host::with_output(Use::Raw, |out| out[8..].fill(0xEE));
    Ok(Value::U64(sum))
}

#[inline(never)]
fn deep_stack(depth: u32) -> u64 {
    let mut frame = [0x5Au8; 2048];
    black_box(&mut frame);
    if depth == 0 {
        return u64::from(frame[7]);
    }
    deep_stack(depth - 1).wrapping_add(u64::from(frame[depth as usize]))
}

/// Returns the per-call seed from the PEB.
fn seed(_: &[Value]) -> Result<Value, GuestError> {
    let words = host::peb().call_seed;
    Ok(Value::Bytes(
        words.iter().flat_map(|w| w.to_le_bytes()).collect(),
    ))
}
