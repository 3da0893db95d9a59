//! The deliberately hostile guest functions: each does, on purpose, what a compromised guest
//! might, and must end in a typed error on the host, never harm it. Built only with the
//! `hostile` feature, for the host's tests (`flint_vmm::GuestImage::hostile`); the guest Flint
//! ships does not contain them.

use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;

use flint_abi::buffer;
use flint_abi::doorbell::Doorbell;
use flint_abi::layout::GVA_HOST_FUNCTIONS;
use flint_abi::message::{CallKind, FunctionCall, GuestError, Value};

use crate::builtins::{arg_str, arg_u32, bad_args};
use crate::host::Use;
use crate::{arch, host};

/// Hostile: writes to the read-only host-function table.
pub(crate) fn write_host_table(_: &[Value]) -> Result<Value, GuestError> {
    // SAFETY: none; this is the fault under test. The page is mapped read-only, so the write
    // raises #PF and never happens.
    unsafe { (GVA_HOST_FUNCTIONS as *mut u64).write_volatile(0x4141_4141) };
    Ok(Value::Void)
}

/// Hostile: jumps into the heap.
pub(crate) fn exec_heap(_: &[Value]) -> Result<Value, GuestError> {
    let code = black_box(vec![0xC3u8; 16]); // `ret`
    // SAFETY: none; this is the fault under test. The heap is NX, so the call raises #PF on
    // the instruction fetch.
    let f: extern "C" fn() = unsafe { core::mem::transmute(code.as_ptr()) };
    f();
    Ok(Value::Void)
}

/// Hostile: `recurse(depth: u32)` with 1 KiB frames; a large depth overflows the stack.
pub(crate) fn recurse(args: &[Value]) -> Result<Value, GuestError> {
    Ok(Value::U64(recurse_frames(arg_u32(args, 0)?)))
}

#[inline(never)]
pub(crate) fn recurse_frames(depth: u32) -> u64 {
    let mut frame = [0u8; 1024];
    black_box(&mut frame);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    recurse_frames(depth - 1).wrapping_add(u64::from(frame[7]))
}

/// Hostile: overwrites the stack cookie at the stack limit without touching the guard page.
pub(crate) fn smash_cookie(_: &[Value]) -> Result<Value, GuestError> {
    let limit = host::peb().gva_stack_limit as *mut u8;
    for i in 0..16 {
        // SAFETY: the cookie's 16 bytes are ordinary read-write stack memory at the stack limit
        // (the PEB gives it); nothing of ours lives there.
        unsafe { limit.add(i).write_volatile(0x41) };
    }
    Ok(Value::Void)
}

/// Hostile: never returns.
pub(crate) fn spin(_: &[Value]) -> Result<Value, GuestError> {
    let mut x = 1u64;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Hostile: `bad_output(mode: u32)` writes a malformed result into the output buffer and
/// reports the call done. 0: garbage bytes in a well-formed entry; 1: a truncated entry;
/// 2: a length prefix of almost 4 GiB; 3: a top offset past the buffer's end.
pub(crate) fn bad_output(args: &[Value]) -> Result<Value, GuestError> {
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
pub(crate) fn call_host_unchecked(args: &[Value]) -> Result<Value, GuestError> {
    let call = FunctionCall {
        name: arg_str(args, 0)?.into(),
        args: args[1..].to_vec(),
        kind: CallKind::Host,
    };
    host::call_unchecked(&call)
}

/// Hostile: `plant(secret: u64)` writes `secret` into every hiding place, then reports the
/// call done with a status block that claims nothing was used (as a subverted runtime would).
pub(crate) fn plant(args: &[Value]) -> Result<Value, GuestError> {
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
pub(crate) fn peek(_: &[Value]) -> Result<Value, GuestError> {
    let mut out = Vec::new();
    for at in hiding_places() {
        // SAFETY: each address is an 8-aligned word inside a read-write region of this guest.
        let word = unsafe { (at as *const u64).read_volatile() };
        out.extend_from_slice(&word.to_le_bytes());
    }
    Ok(Value::Bytes(out))
}

/// `panic(message)`.
pub(crate) fn panic(args: &[Value]) -> Result<Value, GuestError> {
    panic!("{}", arg_str(args, 0)?)
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
