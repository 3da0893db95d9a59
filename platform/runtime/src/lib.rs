//! Runs WebAssembly functions in Flint's micro-VMs.
//!
//! A function's life here: its module is compiled ahead of time (`flint-compiler`), copied into
//! the module region of a new sandbox, the guest runtime instantiates it and runs its
//! initialisation (`wasm_init`), and the sandbox is snapshotted ([`Runtime::boot`]). Every
//! invocation then restores that snapshot and runs the module's entry point with the request's
//! stdin, arguments and environment ([`invoke`]). More sandboxes of the same function map the
//! snapshot copy-on-write ([`Runtime::spawn`]).
//!
//! - [`bundle`]: a deploy's tar archive of files, checked and turned into the guest's image.
//! - [`config`]: a function's limits and how they size the micro-VM.
//! - [`host`]: the host functions behind Flint's `flint.kv_*` imports, over a [`host::KvStore`].
//! - [`function`]: [`Runtime`], [`invoke`], and their errors.
//!
//! Not here: HTTP, storage of modules, pools and queues (all in `flint-server`).
#![forbid(unsafe_code)]

pub mod bundle;
pub mod config;
pub mod function;
pub mod host;

pub use config::{Files, FunctionConfig};
pub use function::{InvokeError, Request, Response, Runtime, RuntimeError, invoke};
pub use host::{KvStore, MemoryKvStore};
