//! Everything the guest reads from or sends to the host: the PEB, the input and output
//! buffers, host-function calls and log records.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use flint_abi::buffer::{self, BufferError};
use flint_abi::doorbell::Doorbell;
use flint_abi::layout::{GVA_HOST_FUNCTIONS, GVA_PEB, GVA_STATUS, HOST_FUNCTIONS_SIZE_BYTES};
use flint_abi::message::{
    CallKind, ErrorCode, FunctionCall, GuestError, GuestLogData, HostFunctionDetails, LogLevel,
    Message, ReturnValue, Value,
};
use flint_abi::peb::{ABI_VERSION, PEB_MAGIC, Peb, STATUS_MAGIC, StatusBlock};

use crate::arch;

/// A value set once during initialisation and read afterwards.
struct InitCell<T>(UnsafeCell<Option<T>>);

// SAFETY: the guest has one vCPU and takes no interrupts; the cell is written once in `init`
// before anything reads it.
unsafe impl<T> Sync for InitCell<T> {}

static HOST_FUNCTIONS: InitCell<HostFunctionDetails> = InitCell(UnsafeCell::new(None));

/// Reads the PEB the host wrote.
pub fn peb() -> Peb {
    // SAFETY: the host maps the PEB page read-only at GVA_PEB before boot and fills it with a
    // `Peb` (all `u64` words, so any bit pattern is a valid value).
    unsafe { core::ptr::read_volatile(GVA_PEB as *const Peb) }
}

/// Checks that the host and this guest speak the same ABI.
pub fn check_peb() -> Result<Peb, &'static str> {
    let peb = peb();
    if peb.magic != PEB_MAGIC || peb.abi_version != ABI_VERSION {
        return Err("PEB magic or ABI version mismatch");
    }
    Ok(peb)
}

/// Reads the host-function table (this allocates: the heap must be set up).
pub fn load_host_functions() -> Result<(), &'static str> {
    // SAFETY: the host-function table is a read-only page range the host maps at this address.
    let table = unsafe {
        core::slice::from_raw_parts(
            GVA_HOST_FUNCTIONS as *const u8,
            HOST_FUNCTIONS_SIZE_BYTES as usize,
        )
    };
    let len = u32::from_le_bytes([table[0], table[1], table[2], table[3]]) as usize;
    let details = table
        .get(..len + 4)
        .and_then(|b| HostFunctionDetails::decode(b).ok())
        .ok_or("host-function table is malformed")?;
    // SAFETY: single vCPU, and this runs once during initialisation before any reader.
    unsafe { *HOST_FUNCTIONS.0.get() = Some(details) };
    Ok(())
}

fn host_functions() -> Option<&'static HostFunctionDetails> {
    // SAFETY: written once in `init`, never again; shared references only from here on.
    unsafe { (*HOST_FUNCTIONS.0.get()).as_ref() }
}

/// One past the highest input/output byte written since the snapshot. Both live in `.bss`,
/// which every restore resets, so they always start from the snapshot's values.
static INPUT_HIGH_WATER: AtomicU64 = AtomicU64::new(0);
static OUTPUT_HIGH_WATER: AtomicU64 = AtomicU64::new(0);

/// How a closure uses a buffer, for the high-water marks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Only through `flint_abi::buffer` push/pop/reset: the marks follow `top`.
    Stack,
    /// Anything: the whole buffer counts as written.
    Raw,
}

fn with_buffer<R>(
    gva: u64,
    size_bytes: u64,
    high_water: &AtomicU64,
    how: Use,
    f: impl FnOnce(&mut [u8]) -> R,
) -> R {
    // SAFETY: the PEB gives this buffer as guest RAM, read-write; the host does not touch it
    // while the guest runs, and the slice lives only for `f`.
    let buf = unsafe { core::slice::from_raw_parts_mut(gva as *mut u8, size_bytes as usize) };
    let r = f(&mut *buf);
    let end = match how {
        Use::Stack => buffer::top(buf).map_or(size_bytes, |t| t as u64),
        Use::Raw => size_bytes,
    };
    high_water.fetch_max(gva + end, Ordering::Relaxed);
    r
}

/// Runs `f` on the input buffer.
pub fn with_input<R>(how: Use, f: impl FnOnce(&mut [u8]) -> R) -> R {
    let peb = peb();
    with_buffer(
        peb.gva_input,
        peb.input_size_bytes,
        &INPUT_HIGH_WATER,
        how,
        f,
    )
}

/// Runs `f` on the output buffer.
pub fn with_output<R>(how: Use, f: impl FnOnce(&mut [u8]) -> R) -> R {
    let peb = peb();
    with_buffer(
        peb.gva_output,
        peb.output_size_bytes,
        &OUTPUT_HIGH_WATER,
        how,
        f,
    )
}

fn host_call_error(message: String) -> GuestError {
    GuestError {
        code: ErrorCode::HostCallFailed,
        message,
    }
}

/// Calls the host function `name`. The arguments are checked against the host-function table
/// first; the host checks them again, since it trusts nothing the guest sends.
pub fn call(name: &str, args: Vec<Value>) -> Result<Value, GuestError> {
    let def = host_functions()
        .and_then(|t| t.find(name))
        .ok_or_else(|| host_call_error(alloc::format!("no host function named {name}")))?;
    let types_match = def.params.len() == args.len()
        && def
            .params
            .iter()
            .zip(&args)
            .all(|(t, a)| *t == a.value_type());
    if !types_match {
        return Err(host_call_error(alloc::format!(
            "arguments do not match host function {name}"
        )));
    }
    let call = FunctionCall {
        name: name.to_string(),
        args,
        kind: CallKind::Host,
    };
    call_unchecked(&call)
}

/// Sends a host call without checking it against the table (the hostile test guests use this
/// to show that the host checks on its own).
pub fn call_unchecked(call: &FunctionCall) -> Result<Value, GuestError> {
    with_output(Use::Stack, |out| buffer::push(out, call)).map_err(buffer_error)?;
    arch::ring(Doorbell::HostCall, 0);
    let ret: ReturnValue = with_input(Use::Stack, buffer::pop).map_err(buffer_error)?;
    Ok(ret.0)
}

fn buffer_error(e: BufferError) -> GuestError {
    host_call_error(alloc::format!("host call buffer: {e}"))
}

/// Sends one log record to the host.
pub fn log(level: LogLevel, message: &str, source: &str, line: u32) {
    let record = GuestLogData {
        level,
        message: message.to_string(),
        source: source.to_string(),
        line,
    };
    if with_output(Use::Stack, |out| buffer::push(out, &record)).is_ok() {
        arch::ring(Doorbell::Log, 0);
    }
}

#[cfg(feature = "hostile")]
/// Writes a status block that reports every region as unused (the `plant` test's lie).
pub fn write_false_status() {
    let p = peb();
    let status = StatusBlock {
        magic: STATUS_MAGIC,
        heap_high_water_gva: p.gva_heap,
        stack_low_water_gva: p.gva_stack_top,
        input_high_water_gva: p.gva_input,
        output_high_water_gva: p.gva_output,
        linear_memory_high_water_gva: p.gva_linear_memory,
    };
    // SAFETY: as in `write_status`.
    unsafe { core::ptr::write_volatile(GVA_STATUS as *mut StatusBlock, status) };
}

/// Writes the status block the host reads after each call.
pub fn write_status(heap_high_water_gva: u64) {
    let status = StatusBlock {
        magic: STATUS_MAGIC,
        heap_high_water_gva,
        stack_low_water_gva: arch::stack_pointer(),
        input_high_water_gva: INPUT_HIGH_WATER.load(Ordering::Relaxed),
        output_high_water_gva: OUTPUT_HIGH_WATER.load(Ordering::Relaxed),
        linear_memory_high_water_gva: crate::wasm::linear_memory_high_water(),
    };
    // SAFETY: the status block page is mapped read-write for the guest at GVA_STATUS and only
    // the guest writes it.
    unsafe { core::ptr::write_volatile(GVA_STATUS as *mut StatusBlock, status) };
}
