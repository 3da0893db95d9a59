//! A function's limits, and the micro-VM they call for.

use std::time::Duration;

use flint_abi::wasm::Mount;
use flint_vmm::{MemoryConfig, RestoreStrategy, SandboxConfig};

/// The directories a function sees: its bundled files and how they are mounted.
#[derive(Clone, PartialEq, Eq)]
pub struct Files {
    /// The bundle ([`flint_abi::files`] image; empty for none).
    pub image: std::sync::Arc<Vec<u8>>,
    /// The preopened directories, in descriptor order from 3.
    pub mounts: Vec<Mount>,
    /// The most one call may write to its writable directories.
    pub scratch_max_bytes: u64,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("image_bytes", &self.image.len())
            .field("mounts", &self.mounts)
            .field("scratch_max_bytes", &self.scratch_max_bytes)
            .finish()
    }
}

impl Default for Files {
    /// No bundle; `/` (empty, read-only) and a writable `/tmp`; 16 MiB of scratch.
    fn default() -> Self {
        Self {
            image: Default::default(),
            mounts: Self::default_mounts(),
            scratch_max_bytes: 16 << 20,
        }
    }
}

impl Files {
    /// The whole bundle read-only at `/`, and an empty writable `/tmp`.
    pub fn default_mounts() -> Vec<Mount> {
        vec![Mount::bundle_root(), Mount::scratch()]
    }
}

/// Room in the I/O buffers for everything but stdin/stdout/stderr (encoding, args, env).
const BUFFER_SLACK_BYTES: u64 = 64 << 10;
/// Heap for the guest runtime and wasmtime's own data, beyond linear memory.
const RUNTIME_HEAP_BYTES: u64 = 32 << 20;
/// The guest's stack; WebAssembly gets `max_wasm_stack_bytes` of it.
const GUEST_STACK_BYTES: u64 = 1 << 20;

/// How one function runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionConfig {
    /// Largest linear memory (`memory.grow` past it fails, as the spec says).
    pub memory_limit_bytes: u64,
    /// Wall-clock limit of one invocation.
    pub timeout: Duration,
    /// Largest stdin (request body).
    pub max_stdin_bytes: u64,
    /// Stdout kept per invocation; the rest is cut and flagged.
    pub stdout_limit_bytes: u64,
    /// Stderr kept per invocation.
    pub stderr_limit_bytes: u64,
    /// The export each invocation runs.
    pub entry: String,
    /// WebAssembly call-stack limit.
    pub max_wasm_stack_bytes: u64,
    /// How sandboxes return to the snapshot.
    pub restore: RestoreStrategy,
    /// Bundled files and mounts.
    pub files: Files,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        Self {
            memory_limit_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            max_stdin_bytes: 1 << 20,
            stdout_limit_bytes: 1 << 20,
            stderr_limit_bytes: 64 << 10,
            entry: "_start".into(),
            max_wasm_stack_bytes: 512 << 10,
            restore: RestoreStrategy::default(),
            files: Files::default(),
        }
    }
}

const fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(4096) * 4096
}

impl FunctionConfig {
    /// Identifies a function's snapshot: the function (whose initialisation may read its own
    /// data, so two functions never share one) and everything in this configuration that shapes
    /// it (memory layout and engine limits; not the entry point or the timeout, which act per
    /// call).
    pub fn snapshot_key(&self, function: &str, module_bytes: usize) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        function.hash(&mut h);
        let m = self.sandbox_config(module_bytes).memory;
        (
            m.input_size_bytes,
            m.output_size_bytes,
            m.module_size_bytes,
            m.heap_size_bytes,
            m.linear_memory_size_bytes,
            m.stack_size_bytes,
        )
            .hash(&mut h);
        (self.memory_limit_bytes, self.max_wasm_stack_bytes).hash(&mut h);
        // The files are part of the snapshot (initialisation may read them).
        (
            &self.files.image,
            &self.files.mounts,
            self.files.scratch_max_bytes,
        )
            .hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// Whether the micro-VM for this function and a compiled module of `module_bytes` fits
    /// the guest's address space (the linear-memory limit is most of it).
    pub fn check_layout(&self, module_bytes: usize) -> Result<(), flint_abi::layout::LayoutError> {
        flint_abi::layout::Layout::new(self.sandbox_config(module_bytes).memory).map(drop)
    }

    /// The most a call of this function could write: every guest-writable region (the rest
    /// of guest memory is the shared image and the read-only module).
    pub fn max_written_bytes(&self) -> u64 {
        let m = self.sandbox_config(0).memory;
        m.input_size_bytes
            + m.output_size_bytes
            + m.heap_size_bytes
            + m.linear_memory_size_bytes
            + m.stack_size_bytes
    }

    /// The guest runtime's heap: room for its own state; for an output limit above the
    /// default, three times the extra (the output is gathered in a growing buffer, then
    /// encoded into the result); and the scratch limit (written files live there, in 4 KiB
    /// pages that growing never copies) with 1/32 more for the page lists.
    fn heap_bytes(&self) -> u64 {
        let extra = self
            .stdout_limit_bytes
            .saturating_sub(Self::default().stdout_limit_bytes);
        let scratch = self.files.scratch_max_bytes;
        let scratch = scratch.saturating_add(scratch / 32);
        pages(RUNTIME_HEAP_BYTES + extra.saturating_mul(3) + scratch)
    }

    /// Where the bundled files start in the module region: after the module, page-aligned.
    pub fn files_offset(module_bytes: usize) -> u64 {
        pages(module_bytes as u64)
    }

    /// The micro-VM for this function and a compiled module of `module_bytes`.
    pub fn sandbox_config(&self, module_bytes: usize) -> SandboxConfig {
        let memory = MemoryConfig {
            input_size_bytes: pages(self.max_stdin_bytes + BUFFER_SLACK_BYTES),
            output_size_bytes: pages(
                self.stdout_limit_bytes + self.stderr_limit_bytes + BUFFER_SLACK_BYTES,
            ),
            module_size_bytes: pages(module_bytes as u64) + pages(self.files.image.len() as u64),
            heap_size_bytes: self.heap_bytes(),
            // Linear memory grows in place in its own region, up to the limit.
            linear_memory_size_bytes: pages(self.memory_limit_bytes),
            stack_size_bytes: GUEST_STACK_BYTES,
        };
        SandboxConfig {
            memory,
            restore: self.restore,
            call_timeout: self.timeout,
            ..SandboxConfig::default()
        }
    }
}
