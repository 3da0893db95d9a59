//! Flint's guest runtime: the only code inside a Flint micro-VM.
//!
//! A freestanding `#![no_std]` binary, linked at a fixed address (`link.ld`) with separate
//! read+execute, read-only and read-write segments. There is no kernel: the host builds the
//! page tables, GDT, IDT and TSS, and starts the guest at CPL3 in 64-bit mode. The guest runtime
//! owns only what runs on its side of the wall:
//!
//! - [`arch`]: the CPL0 exception stubs the IDT points at, and the MMIO doorbell;
//! - [`heap`]: the allocator over the heap region, with the high-water mark the host's restore
//!   uses;
//! - [`host`]: the PEB, the input/output buffers, host-function calls and log records;
//! - [`dispatch`]: `flint_dispatch`, the entry point of every call: pop a `FunctionCall` from the
//!   input buffer, run the named guest function, push a `ReturnValue` or a `GuestError`;
//! - [`builtins`]: the guest functions this runtime provides, including the deliberately hostile
//!   ones that the host's fault tests call.
//!
//! - [`wasm`]: the WebAssembly engine behind the guest functions `wasm_init` and `wasm_run`.
//!
//! Start reading at [`_start`] and [`dispatch::flint_dispatch`].
//!
//! # The engine: wasmtime 48, runtime only, modules compiled ahead of time on the host
//!
//! User modules run on wasmtime's runtime built `no_std` into this binary. The host compiles each
//! module once with Cranelift (`platform/compiler`) for exactly this runtime's engine settings;
//! the host copies the artefact into the module region (read + execute for the guest, never
//! writable) and wasmtime loads it in place (`Module::deserialize_raw`), with no copy and no
//! compiler inside the VM. Why this engine, measured on these machines
//! (`docs/BENCHMARKS.md`):
//!
//! - speed: Cranelift's native code is 9x faster than the wasmi interpreter on fib(30) and 6x on a
//!   memory-bound checksum, and 20-60x faster than wasmtime's portable Pulley bytecode; inside the
//!   micro-VM it stays within 1.2x of wasmtime in-process on the host;
//! - size and start-up: a 0.9 MB guest, a module loads in tens of microseconds, and all of that
//!   happens once per function, before the snapshot;
//! - safety: wasmtime's sandbox is the first wall; without signals it checks linear-memory bounds
//!   and the stack limit in generated code, so a misbehaving module traps cleanly, and the page
//!   tables (NX heap, read-only code) are the second wall.
//!
//! The cost is explicit bounds checks (no guard-page trick): about 2x on memory-heavy code in the
//! probe; Flint's checksum benchmark shows 1.1x against the same settings in-process.
//!
//! It is not a general OS: one vCPU, no interrupts, no threads, no files.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod builtins;
mod dispatch;
mod heap;
mod host;
#[cfg(feature = "hostile")]
mod hostile;
mod mem;
mod panic;
mod wasm;

use flint_abi::doorbell::Doorbell;

/// Keeps `flint_dispatch` (which only the host calls) through LTO and `--gc-sections`.
#[used]
static DISPATCH_ENTRY: extern "C" fn() -> ! = dispatch::flint_dispatch;

/// Entry point of the boot run: checks the PEB, sets up the heap, reports back and stops.
/// The host takes its snapshot right after; every call then starts at `flint_dispatch`.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let peb = match host::check_peb() {
        Ok(peb) => peb,
        // Without a valid PEB there is no output buffer to report through.
        Err(_) => arch::stop(),
    };
    // SAFETY: the heap region is guest RAM, read-write, given by the PEB, used by nothing else,
    // and this is the first and only initialisation.
    unsafe { heap::HEAP.init(peb.gva_heap, peb.heap_size_bytes) };
    if let Err(message) = host::load_host_functions() {
        panic::abort_with(flint_abi::message::ErrorCode::MalformedCall, message);
    }
    host::with_output(host::Use::Stack, flint_abi::buffer::reset);
    host::write_status(heap::HEAP.high_water());
    arch::ring(Doorbell::CallDone, 0);
    arch::stop()
}

/// wasmtime's platform hooks (minimal, no-signals build): a few thread-local pointers, by
/// slot. The guest has one vCPU and one thread, so plain statics are that thread's storage.
static WASMTIME_TLS: [core::sync::atomic::AtomicPtr<u8>; 4] =
    [const { core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()) }; 4];

/// Returns the pointer wasmtime last stored in `slot`.
#[unsafe(no_mangle)]
extern "C" fn wasmtime_tls_get(slot: usize) -> *mut u8 {
    match WASMTIME_TLS.get(slot) {
        Some(p) => p.load(core::sync::atomic::Ordering::Relaxed),
        None => panic::abort_with(
            flint_abi::message::ErrorCode::Unknown,
            "wasmtime TLS slot out of range",
        ),
    }
}

/// Stores wasmtime's pointer for `slot`.
#[unsafe(no_mangle)]
extern "C" fn wasmtime_tls_set(slot: usize, ptr: *mut u8) {
    match WASMTIME_TLS.get(slot) {
        Some(p) => p.store(ptr, core::sync::atomic::Ordering::Relaxed),
        None => panic::abort_with(
            flint_abi::message::ErrorCode::Unknown,
            "wasmtime TLS slot out of range",
        ),
    }
}
