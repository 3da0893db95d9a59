//! The WebAssembly engine, behind two guest functions: `wasm_init` (instantiate the module the
//! host loaded, run its `_initialize`; before the snapshot) and `wasm_run` (run `_start` or a
//! named export with fresh stdin, args and environment; every call).
//!
//! # Why wasmtime, compiled ahead of time
//!
//! The engine is wasmtime 48's runtime, built `no_std` inside this binary, running modules that
//! the host compiled ahead of time with Cranelift (`platform/compiler`). Measured on these
//! machines (PVM-nested KVM, see `docs/BENCHMARKS.md`), native code from Cranelift runs compute 9x faster
//! than the wasmi interpreter and 20x faster than wasmtime's portable Pulley bytecode, and a
//! precompiled module loads in place with no copy (`Module::deserialize_raw`). The compiled
//! module lives in the module region, which the guest can execute but never write: the host
//! copies it there before boot, so wasmtime's publish step (`ModuleCode`) only checks that the
//! code it is asked to publish lies inside that region.
//!
//! The engine runs without signals: wasmtime checks linear-memory bounds and the stack limit
//! in the generated code, so out-of-bounds accesses, stack overflow and division by zero come
//! back as traps, not CPU faults. Host and guest configure the engine identically
//! (`flint_wasi::shared_engine_settings`, which both call); wasmtime refuses an artefact built
//! with other settings.
//!
//! Only this module knows about wasmtime; the rest of the runtime sees `wasm_init`/`wasm_run`.

mod clock;
mod component;
mod engine;
mod flint_host;
mod linear_memory;

pub use linear_memory::high_water as linear_memory_high_water;

pub use engine::{init, run};
