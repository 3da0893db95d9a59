//! Flint's micro-VM: one KVM virtual machine per sandbox, with no guest kernel.
//!
//! The host builds everything a 64-bit guest needs (page tables, GDT, IDT, TSS), loads the
//! freestanding guest runtime (`guest-runtime/`, built by this crate's build script and embedded
//! as [`GUEST_ELF`]), and runs it at CPL3. The guest asks for the host through an MMIO doorbell;
//! CPU exceptions land in CPL0 stubs that stop the vCPU with `hlt`, and the host classifies them
//! ([`fault`]).
//!
//! Where to start reading:
//! - [`sandbox`]: the lifecycle in types: [`UninitSandbox`] → [`UninitSandbox::boot`] →
//!   [`ReadySandbox`], which can [`ReadySandbox::call`] and [`ReadySandbox::restore`].
//! - [`call`]: one call: request in, doorbells served, result or typed error out.
//! - [`snapshot`] and [`restore`]: the per-sandbox snapshot and the restore strategies.
//! - [`paging`], [`cpu`], [`memory`]: how guest memory and the vCPU are set up.
//!
//! What this crate is not: it knows nothing of WebAssembly, HTTP or storage. The trust boundary
//! is guest memory: everything read from it (buffers, the status block, exception frames) is
//! checked before use, and a misbehaving guest yields a [`CallError`], never a host panic.

pub mod call;
pub mod cpu;
pub mod fault;
pub mod host_functions;
pub mod image;
pub mod memory;
pub mod pagemap;
pub mod pages;
pub mod paging;
pub mod restore;
pub mod sandbox;
pub mod seccomp;
pub mod snapshot;
mod snapshot_file;
pub mod sync;
pub mod threads;
pub mod vm;
mod watchdog;

pub use call::CallError;
pub use fault::{Fault, FaultKind};
pub use host_functions::{HostCallError, HostFunctionError, HostFunctions};
pub use image::GuestImage;
pub use restore::{RestoreStats, RestoreStrategy};
pub use sandbox::{BootError, BuildError, ReadySandbox, SandboxConfig, UninitSandbox};
pub use seccomp::SeccompPolicy;
pub use snapshot::Snapshot;
pub use threads::VcpuThreads;
pub use vm::Hypervisor;

pub use flint_abi::layout::MemoryConfig;
pub use flint_abi::message::{ErrorCode, GuestError, GuestLogData, LogLevel, Value, ValueType};

/// The guest runtime ELF this crate was built with.
pub const GUEST_ELF: &[u8] = include_bytes!(env!("FLINT_GUEST_ELF"));

/// The same guest with its deliberately hostile functions, for tests (feature
/// `hostile-guest`).
#[cfg(feature = "hostile-guest")]
pub const HOSTILE_GUEST_ELF: &[u8] = include_bytes!(env!("FLINT_HOSTILE_GUEST_ELF"));
