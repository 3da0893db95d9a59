//! Booting a compiled module to a snapshot, and invoking it.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use flint_abi::message::{DecodeError, GuestLogData, Message, Value};
use flint_abi::wasm::{WASM_INIT, WASM_RUN, WasmInit, WasmResult, WasmRun};
use flint_compiler::{Artifact, Compiler};
use flint_vmm::{
    BootError, BuildError, CallError, GuestImage, HostFunctions, Hypervisor, ReadySandbox,
    Snapshot, UninitSandbox,
};

use crate::config::FunctionConfig;

/// Why the runtime could not start, or a function could not be booted.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `/dev/kvm` could not be opened.
    #[error("Open KVM")]
    Kvm(#[from] flint_vmm::vm::KvmError),
    /// The embedded guest runtime is unusable (a build problem).
    #[error("Load the guest runtime image")]
    Image(#[from] flint_vmm::image::ImageError),
    /// The compiler could not be set up.
    #[error("Set up the compiler")]
    Compiler(#[from] flint_compiler::CompileError),
    /// The artefact was built by a different compiler.
    #[error("Artefact fingerprint {found} does not match this runtime's {expected}")]
    StaleArtifact {
        /// This runtime's fingerprint.
        expected: String,
        /// The artefact's.
        found: String,
    },
    /// The sandbox could not be built.
    #[error("Build the sandbox")]
    Build(#[from] BuildError),
    /// The guest could not boot or initialise the module.
    #[error("Boot the function")]
    Boot(#[from] BootError),
}

/// Why an invocation failed (a module that traps or exits non-zero is not a failure: see
/// [`Response`]).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The request does not fit the function's limits.
    #[error("Stdin of {size_bytes} bytes exceeds the limit of {limit_bytes}")]
    StdinTooLarge {
        /// Its size.
        size_bytes: usize,
        /// The limit.
        limit_bytes: u64,
    },
    /// The micro-VM call failed: a fault, a timeout, a protocol violation.
    #[error("Run the function")]
    Call(#[from] CallError),
    /// The guest answered with something other than a `WasmResult`.
    #[error("Decode the function's result")]
    Result(#[source] DecodeError),
    /// The guest answered with a value of the wrong type.
    #[error("The guest returned {0:?} instead of a result")]
    ResultType(flint_abi::message::ValueType),
}

/// One invocation's input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Bytes on stdin.
    pub stdin: Vec<u8>,
    /// `argv` (the first is the program name).
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// For a component, the HTTP request's head (`flint_wasi::component::encode_head`); its
    /// body is `stdin`. Empty for a module.
    pub http_request: Vec<u8>,
}

/// One invocation's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Exit code, stdout, stderr, trap.
    pub result: WasmResult,
    /// Log records the module sent (`flint.log`).
    pub logs: Vec<GuestLogData>,
    /// Log records dropped past the per-call limit.
    pub dropped_logs: u64,
}

/// What runs functions: the hypervisor, the guest runtime image and the compiler.
pub struct Runtime {
    hv: Arc<Hypervisor>,
    image: Arc<GuestImage>,
    compiler: Compiler,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("compiler", &self.compiler)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Opens KVM, loads the guest image, sets up the compiler.
    pub fn new() -> Result<Self, RuntimeError> {
        Ok(Self {
            hv: Hypervisor::new()?,
            image: Arc::new(GuestImage::builtin()?),
            compiler: Compiler::new()?,
        })
    }

    /// The compiler for this runtime's guest.
    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Boots a new sandbox for `artifact`: loads it (and the bundled files after it),
    /// instantiates the module, runs its initialisation, and snapshots the result. The sandbox is ready for [`invoke`], and its
    /// snapshot can [`Runtime::spawn`] more.
    pub fn boot(
        &self,
        artifact: &Artifact,
        config: &FunctionConfig,
        host: HostFunctions,
    ) -> Result<ReadySandbox, RuntimeError> {
        if !self.compiler.accepts(artifact) {
            return Err(RuntimeError::StaleArtifact {
                expected: self.compiler.fingerprint().to_string(),
                found: artifact.fingerprint.clone(),
            });
        }
        let sandbox_config = config.sandbox_config(artifact.bytes.len());
        let mut sandbox = UninitSandbox::new(&self.hv, self.image.clone(), sandbox_config, host)?;
        let files = &config.files;
        let files_offset = FunctionConfig::files_offset(artifact.bytes.len());
        if files.image.is_empty() {
            sandbox.load_module(&artifact.bytes)?;
        } else {
            sandbox.load_module_parts(&[(0, &artifact.bytes), (files_offset, &files.image)])?;
        }
        let init = WasmInit {
            memory_limit_bytes: config.memory_limit_bytes,
            max_wasm_stack_bytes: config.max_wasm_stack_bytes,
            files_offset,
            files_len: files.image.len() as u64,
            mounts: files.mounts.clone(),
            scratch_max_bytes: files.scratch_max_bytes,
        };
        let args = [Value::Bytes(init.encode())];
        Ok(sandbox.boot_with(Some((WASM_INIT, &args)))?)
    }

    /// The guest runtime image every sandbox runs (what a snapshot read back is checked
    /// against).
    pub fn image(&self) -> &Arc<GuestImage> {
        &self.image
    }

    /// Another sandbox of a booted function, mapped copy-on-write from its snapshot.
    pub fn spawn(
        &self,
        snapshot: Arc<Snapshot>,
        config: &FunctionConfig,
        module_bytes: usize,
        host: HostFunctions,
    ) -> Result<ReadySandbox, RuntimeError> {
        let sandbox_config = config.sandbox_config(module_bytes);
        Ok(ReadySandbox::from_snapshot(
            &self.hv,
            snapshot,
            sandbox_config,
            host,
        )?)
    }
}

fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    // Start at one second so that no run ever sees a monotonic time of zero.
    1_000_000_000 + base.elapsed().as_nanos() as u64
}

fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Runs one invocation in `sandbox` (restoring it to its snapshot first if needed).
pub fn invoke(
    sandbox: &mut ReadySandbox,
    config: &FunctionConfig,
    request: &Request,
) -> Result<Response, InvokeError> {
    if request.stdin.len() as u64 > config.max_stdin_bytes {
        return Err(InvokeError::StdinTooLarge {
            size_bytes: request.stdin.len(),
            limit_bytes: config.max_stdin_bytes,
        });
    }
    let run = WasmRun {
        export: config.entry.clone(),
        stdin: request.stdin.clone(),
        args: request.args.clone(),
        env: request.env.clone(),
        stdout_limit_bytes: config.stdout_limit_bytes,
        stderr_limit_bytes: config.stderr_limit_bytes,
        realtime_ns: realtime_ns(),
        monotonic_ns: monotonic_ns(),
        tsc_khz: sandbox.tsc_khz(),
        http_request: request.http_request.clone(),
    };
    // Host functions (outbound HTTP) answer within the call's deadline.
    let _deadline = crate::host::DeadlineGuard::set(Instant::now() + config.timeout);
    let value = sandbox.call(WASM_RUN, &[Value::Bytes(run.encode())])?;
    let Value::Bytes(bytes) = value else {
        return Err(InvokeError::ResultType(value.value_type()));
    };
    let result = WasmResult::decode(&bytes).map_err(InvokeError::Result)?;
    let (logs, dropped_logs) = sandbox.logs();
    Ok(Response {
        result,
        logs: logs.to_vec(),
        dropped_logs,
    })
}
