//! The guest functions this runtime provides.
//!
//! The well-behaved ones (`echo`, `add`, `call_host`, `log`, `noop`, `dirty`, `scribble`,
//! `seed`) exercise the call path, host calls and restore. The hostile ones do, on purpose, what
//! a compromised guest might: each must end in a typed error on the host, never harm it.

use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;

use flint_abi::buffer;
use flint_abi::doorbell::Doorbell;
use flint_abi::layout::GVA_HOST_FUNCTIONS;
use flint_abi::message::{CallKind, ErrorCode, FunctionCall, GuestError, LogLevel, Value};

use crate::dispatch::GuestFn;
use crate::host::Use;
use crate::{arch, host};

const FUNCTIONS: &[(&str, GuestFn)] = &[
    ("noop", noop),
    ("echo", echo),
    ("add", add),
    ("call_host", call_host),
    ("log", log),
    ("dirty", dirty),
    ("scribble", scribble),
    ("seed", seed),
    ("write_host_table", write_host_table),
    ("exec_heap", exec_heap),
    ("recurse", recurse),
    ("smash_cookie", smash_cookie),
    ("spin", spin),
    ("bad_output", bad_output),
    ("call_host_unchecked", call_host_unchecked),
    ("panic", panic),
    ("plant", plant),
    ("peek", peek),
    (flint_abi::wasm::WASM_INIT, crate::wasm::init),
    (flint_abi::wasm::WASM_RUN, crate::wasm::run),
];

/// The function named `name`.
pub fn find(name: &str) -> Option<GuestFn> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}

fn bad_args(what: &str) -> GuestError {
    GuestError {
        code: ErrorCode::BadArguments,
        message: alloc::format!("expected {what}"),
    }
}

fn arg_u32(args: &[Value], i: usize) -> Result<u32, GuestError> {
    match args.get(i) {
        Some(Value::U32(x)) => Ok(*x),
        _ => Err(bad_args("a u32 argument")),
    }
}

fn arg_str(args: &[Value], i: usize) -> Result<&str, GuestError> {
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

/// Hostile: writes to the read-only host-function table.
fn write_host_table(_: &[Value]) -> Result<Value, GuestError> {
    // SAFETY: none; this is the fault under test. The page is mapped read-only, so the write
    // raises #PF and never happens.
    unsafe { (GVA_HOST_FUNCTIONS as *mut u64).write_volatile(0x4141_4141) };
    Ok(Value::Void)
}

/// Hostile: jumps into the heap.
fn exec_heap(_: &[Value]) -> Result<Value, GuestError> {
    let code = black_box(vec![0xC3u8; 16]); // `ret`
    // SAFETY: none; this is the fault under test. The heap is NX, so the call raises #PF on
    // the instruction fetch.
    let f: extern "C" fn() = unsafe { core::mem::transmute(code.as_ptr()) };
    f();
    Ok(Value::Void)
}

/// Hostile: `recurse(depth: u32)` with 1 KiB frames; a large depth overflows the stack.
fn recurse(args: &[Value]) -> Result<Value, GuestError> {
    Ok(Value::U64(recurse_frames(arg_u32(args, 0)?)))
}

#[inline(never)]
fn recurse_frames(depth: u32) -> u64 {
    let mut frame = [0u8; 1024];
    black_box(&mut frame);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    recurse_frames(depth - 1).wrapping_add(u64::from(frame[7]))
}

/// Hostile: overwrites the stack cookie at the stack limit without touching the guard page.
fn smash_cookie(_: &[Value]) -> Result<Value, GuestError> {
    let limit = host::peb().gva_stack_limit as *mut u8;
    for i in 0..16 {
        // SAFETY: the cookie's 16 bytes are ordinary read-write stack memory at the stack limit
        // (the PEB gives it); nothing of ours lives there.
        unsafe { limit.add(i).write_volatile(0x41) };
    }
    Ok(Value::Void)
}

/// Hostile: never returns.
fn spin(_: &[Value]) -> Result<Value, GuestError> {
    let mut x = 1u64;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Hostile: `bad_output(mode: u32)` writes a malformed result into the output buffer and
/// reports the call done. 0: garbage bytes in a well-formed entry; 1: a truncated entry;
/// 2: a length prefix of almost 4 GiB; 3: a top offset past the buffer's end.
fn bad_output(args: &[Value]) -> Result<Value, GuestError> {
    let mode = arg_u32(args, 0)?;
    host::with_output(Use::Raw, |out| {
        buffer::reset(out);
        let _ = buffer::push_bytes(out, &[12, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
        let top = buffer::top(out).unwrap_or(8);
        match mode {
            0 => {}
            1 => out[..8].copy_from_slice(&((top - 8) as u64).to_le_bytes()),
            2 => out[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes()),
            _ => {
                let past_end = out.len() as u64 + 4096;
                out[..8].copy_from_slice(&past_end.to_le_bytes());
            }
        }
    });
    arch::ring(Doorbell::CallDone, flint_abi::doorbell::DONE_OK);
    arch::stop()
}

/// Hostile: `call_host_unchecked(name, args...)` sends a host call without checking it against
/// the host-function table.
fn call_host_unchecked(args: &[Value]) -> Result<Value, GuestError> {
    let call = FunctionCall {
        name: arg_str(args, 0)?.into(),
        args: args[1..].to_vec(),
        kind: CallKind::Host,
    };
    host::call_unchecked(&call)
}

/// Where `plant` hides its secret: the last word of the heap, of linear memory, of each I/O
/// buffer, and a stack word one page above the cookie; all far beyond anything a call reports.
fn hiding_places() -> Vec<u64> {
    let p = host::peb();
    let mut at = alloc::vec![
        p.gva_heap + p.heap_size_bytes - 8,
        p.gva_input + p.input_size_bytes - 8,
        p.gva_output + p.output_size_bytes - 8,
        p.gva_stack_limit + 4096,
    ];
    if p.linear_memory_size_bytes > 0 {
        at.push(p.gva_linear_memory + p.linear_memory_size_bytes - 8);
    }
    at
}

/// Hostile: `plant(secret: u64)` writes `secret` into every hiding place, then reports the
/// call done with a status block that claims nothing was used (as a subverted runtime would).
fn plant(args: &[Value]) -> Result<Value, GuestError> {
    let secret = match args.first() {
        Some(Value::U64(s)) => *s,
        _ => return Err(bad_args("a u64 secret")),
    };
    for at in hiding_places() {
        // SAFETY: none needed beyond the PEB: each address is an 8-aligned word inside a
        // read-write region of this guest; this is the lie under test.
        unsafe { (at as *mut u64).write_volatile(secret) };
    }
    host::with_output(Use::Stack, |out| {
        buffer::reset(out);
        let _ = buffer::push(out, &flint_abi::message::ReturnValue(Value::Void));
    });
    host::write_false_status();
    arch::ring(Doorbell::CallDone, flint_abi::doorbell::DONE_OK);
    arch::stop()
}

/// `peek() -> bytes`: the words in every hiding place of `plant`.
fn peek(_: &[Value]) -> Result<Value, GuestError> {
    let mut out = Vec::new();
    for at in hiding_places() {
        // SAFETY: each address is an 8-aligned word inside a read-write region of this guest.
        let word = unsafe { (at as *const u64).read_volatile() };
        out.extend_from_slice(&word.to_le_bytes());
    }
    Ok(Value::Bytes(out))
}

/// `panic(message)`.
fn panic(args: &[Value]) -> Result<Value, GuestError> {
    panic!("{}", arg_str(args, 0)?)
}
