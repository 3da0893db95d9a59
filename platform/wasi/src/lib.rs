//! WASI preview 1 (for command modules) and Flint's own `flint` imports, as wasmtime host
//! functions, in `#![no_std]` Rust.
//!
//! The same code runs in two places: inside the micro-VM's guest runtime, and on the host for
//! the in-process baseline of the benchmarks. What differs between them is behind two small
//! traits: [`Clock`] (where time comes from) and [`FlintHost`] (where logs and the key-value
//! store go).
//!
//! - [`imports`]: the table of every import Flint provides, with its signature. The host's
//!   validator checks modules against it; [`add_to_linker`] defines each entry.
//! - [`preview1`]: args, environ, clocks, random, stdin, stdout/stderr (bounded), `proc_exit`,
//!   fdstat, prestat, `poll_oneoff` on clocks and descriptors.
//! - [`fs`]: the filesystem: the function's bundled files and per-run scratch directories,
//!   in memory, with the whole preview 1 path and descriptor surface.
//!   Sockets and the rest of the table return an errno instead of trapping.
//! - [`flint`]: `flint.log`, `flint.kv_get`, `flint.kv_set`, `flint.kv_delete`.
//!
//! Every pointer and length a module passes is checked against its linear memory; a bad one is
//! `EFAULT` (or a trap for the `flint` functions), never an out-of-bounds access.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod component;
pub mod ctx;
pub mod errno;
pub mod flint;
pub mod fs;
pub mod imports;
mod memory;
pub mod preview1;

pub use ctx::{Clock, ClockId, Exit, FlintHost, WasiCtx, WasiView};
pub use flint_abi::host_fn::KvError;

/// Applies the wasmtime settings that must be identical where modules are compiled (the host's
/// `flint-compiler`) and where they run (the guest runtime): wasmtime refuses an artefact
/// compiled with other settings. No signals (bounds and stack checks in generated code), no
/// virtual-memory reservations or guard regions, no growth reservation (linear memory is heap
/// that every restore copies), no copy-on-write memory images.
pub fn shared_engine_settings(config: &mut wasmtime::Config) -> &mut wasmtime::Config {
    config
        .signals_based_traps(false)
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(0)
        .memory_init_cow(false)
}

/// Defines every import in [`imports::all`] in `linker`.
pub fn add_to_linker<T: WasiView + 'static>(
    linker: &mut wasmtime::Linker<T>,
) -> wasmtime::Result<()> {
    preview1::add_to_linker(linker)?;
    fs::calls::add_to_linker(linker)?;
    flint::add_to_linker(linker)?;
    imports::add_stubs(linker)
}
