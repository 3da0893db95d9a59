//! Empty stand-in for `memfd`. wasmtime's `runtime` feature depends on `memfd` on Linux
//! targets, but uses it only in code that needs `std`; the real crate would pull `std` into
//! the freestanding guest ("duplicate lang item panic_impl"). See guest-runtime/Cargo.toml.
#![no_std]
