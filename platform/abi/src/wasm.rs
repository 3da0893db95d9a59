//! Messages of WebAssembly functions: how the host asks the guest runtime to prepare a module
//! ([`WasmInit`]) and run it ([`WasmRun`]), and what a run produced ([`WasmResult`]). They travel
//! as `Bytes` values of the guest functions `wasm_init` and `wasm_run`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use flatbuffers::FlatBufferBuilder;

use crate::fb;
use crate::message::{DecodeError, Message, builder_for, finish, root};

/// Name of the guest function that instantiates the loaded module (argument: [`WasmInit`]).
pub const WASM_INIT: &str = "wasm_init";
/// Name of the guest function that runs the module (argument: [`WasmRun`]).
pub const WASM_RUN: &str = "wasm_run";

/// Limits for instantiating the module, and the directories it sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasmInit {
    /// Upper bound for linear memory.
    pub memory_limit_bytes: u64,
    /// Upper bound for the WebAssembly call stack.
    pub max_wasm_stack_bytes: u64,
    /// Offset of the bundled files ([`crate::files`] format) in the module region.
    pub files_offset: u64,
    /// Their length (0: no files).
    pub files_len: u64,
    /// The preopened directories, in descriptor order from 3.
    pub mounts: Vec<Mount>,
    /// The most one run may write to writable directories.
    pub scratch_max_bytes: u64,
}

/// A directory the module sees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mount {
    /// Directory of the bundle (`/` for all of it); `None` for a new empty directory.
    pub source: Option<String>,
    /// Absolute guest path.
    pub path: String,
    /// Whether runs may write (into a per-run overlay that the restore discards).
    pub writable: bool,
}

impl Mount {
    /// The whole bundle, read-only, at `/`.
    pub fn bundle_root() -> Self {
        Self {
            source: Some("/".into()),
            path: "/".into(),
            writable: false,
        }
    }

    /// An empty writable directory at `/tmp`.
    pub fn scratch() -> Self {
        Self {
            source: None,
            path: "/tmp".into(),
            writable: true,
        }
    }
}

/// One run of the module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasmRun {
    /// Export to call: `_start` for a WASI command.
    pub export: String,
    /// Bytes readable on stdin.
    pub stdin: Vec<u8>,
    /// `argv`, including `argv[0]`.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Bytes of stdout kept; the rest is cut and flagged.
    pub stdout_limit_bytes: u64,
    /// Bytes of stderr kept.
    pub stderr_limit_bytes: u64,
    /// Host wall-clock time at the call, ns since the Unix epoch.
    pub realtime_ns: u64,
    /// Host monotonic time at the call, ns.
    pub monotonic_ns: u64,
    /// Guest time-stamp counter frequency in kHz (0 if unknown).
    pub tsc_khz: u64,
    /// For a component: the HTTP request's head (its body is `stdin`); empty for a module.
    pub http_request: Vec<u8>,
}

/// How a run ended, if it trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// `unreachable` executed.
    Unreachable,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow (e.g. `i32.div_s` of MIN by -1).
    IntegerOverflow,
    /// Float to integer conversion of NaN or an out-of-range value.
    BadConversionToInteger,
    /// Linear memory access out of bounds.
    MemoryOutOfBounds,
    /// Table access out of bounds.
    TableOutOfBounds,
    /// `call_indirect` of a null entry.
    IndirectCallToNull,
    /// `call_indirect` signature mismatch.
    BadSignature,
    /// The WebAssembly call stack is exhausted.
    StackOverflow,
    /// The guest ran out of memory.
    OutOfMemory,
    /// A host (or WASI) function failed.
    HostError,
    /// Anything else.
    Other,
}

const TRAPS: [(TrapKind, fb::TrapKind); 12] = [
    (TrapKind::Unreachable, fb::TrapKind::Unreachable),
    (
        TrapKind::IntegerDivisionByZero,
        fb::TrapKind::IntegerDivisionByZero,
    ),
    (TrapKind::IntegerOverflow, fb::TrapKind::IntegerOverflow),
    (
        TrapKind::BadConversionToInteger,
        fb::TrapKind::BadConversionToInteger,
    ),
    (TrapKind::MemoryOutOfBounds, fb::TrapKind::MemoryOutOfBounds),
    (TrapKind::TableOutOfBounds, fb::TrapKind::TableOutOfBounds),
    (
        TrapKind::IndirectCallToNull,
        fb::TrapKind::IndirectCallToNull,
    ),
    (TrapKind::BadSignature, fb::TrapKind::BadSignature),
    (TrapKind::StackOverflow, fb::TrapKind::StackOverflow),
    (TrapKind::OutOfMemory, fb::TrapKind::OutOfMemory),
    (TrapKind::HostError, fb::TrapKind::HostError),
    (TrapKind::Other, fb::TrapKind::Other),
];

impl TrapKind {
    /// Every kind.
    pub fn all() -> impl Iterator<Item = TrapKind> {
        TRAPS.iter().map(|&(kind, _)| kind)
    }

    /// Stable label, for metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapKind::Unreachable => "unreachable",
            TrapKind::IntegerDivisionByZero => "integer_division_by_zero",
            TrapKind::IntegerOverflow => "integer_overflow",
            TrapKind::BadConversionToInteger => "bad_conversion_to_integer",
            TrapKind::MemoryOutOfBounds => "memory_out_of_bounds",
            TrapKind::TableOutOfBounds => "table_out_of_bounds",
            TrapKind::IndirectCallToNull => "indirect_call_to_null",
            TrapKind::BadSignature => "bad_signature",
            TrapKind::StackOverflow => "stack_overflow",
            TrapKind::OutOfMemory => "out_of_memory",
            TrapKind::HostError => "host_error",
            TrapKind::Other => "other",
        }
    }
}

/// What one run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasmResult {
    /// `proc_exit` code (0 when the export returned normally).
    pub exit_code: i32,
    /// Set if the run trapped.
    pub trap: Option<TrapKind>,
    /// The trap's message (empty if none).
    pub trap_message: String,
    /// Captured stdout, at most the limit.
    pub stdout: Vec<u8>,
    /// Captured stderr, at most the limit.
    pub stderr: Vec<u8>,
    /// Whether stdout was cut at the limit.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the limit.
    pub stderr_truncated: bool,
}

impl Message for WasmInit {
    fn encode(&self) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        let mounts: Vec<_> = self
            .mounts
            .iter()
            .map(|m| {
                let source = m.source.as_deref().map(|s| fbb.create_string(s));
                let path = Some(fbb.create_string(&m.path));
                let args = fb::MountArgs {
                    source,
                    path,
                    writable: m.writable,
                };
                fb::Mount::create(&mut fbb, &args)
            })
            .collect();
        let mounts = Some(fbb.create_vector(&mounts));
        let args = fb::WasmInitArgs {
            memory_limit_bytes: self.memory_limit_bytes,
            max_wasm_stack_bytes: self.max_wasm_stack_bytes,
            files_offset: self.files_offset,
            files_len: self.files_len,
            mounts,
            scratch_max_bytes: self.scratch_max_bytes,
        };
        let root = fb::WasmInit::create(&mut fbb, &args);
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let m = root::<fb::WasmInit>(bytes)?;
        let mounts = m
            .mounts()
            .iter()
            .flatten()
            .map(|mount| Mount {
                source: mount.source().map(|s| s.to_string()),
                path: mount.path().unwrap_or_default().to_string(),
                writable: mount.writable(),
            })
            .collect();
        Ok(Self {
            memory_limit_bytes: m.memory_limit_bytes(),
            max_wasm_stack_bytes: m.max_wasm_stack_bytes(),
            files_offset: m.files_offset(),
            files_len: m.files_len(),
            mounts,
            scratch_max_bytes: m.scratch_max_bytes(),
        })
    }
}

fn strings<'a>(
    v: Option<flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<&'a str>>>,
) -> Vec<String> {
    v.iter().flatten().map(|s| s.to_string()).collect()
}

impl Message for WasmRun {
    fn encode(&self) -> Vec<u8> {
        let strings = self.args.iter().chain(&self.env);
        let payload = self.export.len()
            + self.stdin.len()
            + self.http_request.len()
            + strings.map(|a| a.len() + 8).sum::<usize>();
        let mut fbb = builder_for(payload);
        let export = Some(fbb.create_string(&self.export));
        let stdin = Some(fbb.create_vector(&self.stdin));
        let args: Vec<_> = self.args.iter().map(|a| fbb.create_string(a)).collect();
        let args = Some(fbb.create_vector(&args));
        let env: Vec<_> = self.env.iter().map(|e| fbb.create_string(e)).collect();
        let env = Some(fbb.create_vector(&env));
        let http_request = Some(fbb.create_vector(&self.http_request));
        let root = fb::WasmRun::create(
            &mut fbb,
            &fb::WasmRunArgs {
                export,
                stdin,
                args,
                env,
                stdout_limit_bytes: self.stdout_limit_bytes,
                stderr_limit_bytes: self.stderr_limit_bytes,
                realtime_ns: self.realtime_ns,
                monotonic_ns: self.monotonic_ns,
                tsc_khz: self.tsc_khz,
                http_request,
            },
        );
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let m = root::<fb::WasmRun>(bytes)?;
        Ok(Self {
            export: m.export().unwrap_or("_start").to_string(),
            stdin: m.stdin().map(|b| b.bytes().to_vec()).unwrap_or_default(),
            args: strings(m.args()),
            env: strings(m.env()),
            stdout_limit_bytes: m.stdout_limit_bytes(),
            stderr_limit_bytes: m.stderr_limit_bytes(),
            realtime_ns: m.realtime_ns(),
            monotonic_ns: m.monotonic_ns(),
            tsc_khz: m.tsc_khz(),
            http_request: m
                .http_request()
                .map(|b| b.bytes().to_vec())
                .unwrap_or_default(),
        })
    }
}

impl Message for WasmResult {
    fn encode(&self) -> Vec<u8> {
        let payload = self.trap_message.len() + self.stdout.len() + self.stderr.len();
        let mut fbb = builder_for(payload);
        let trap_message = Some(fbb.create_string(&self.trap_message));
        let stdout = Some(fbb.create_vector(&self.stdout));
        let stderr = Some(fbb.create_vector(&self.stderr));
        let trap = match self.trap {
            None => fb::TrapKind::None,
            Some(kind) => TRAPS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(fb::TrapKind::Other, |&(_, f)| f),
        };
        let root = fb::WasmResult::create(
            &mut fbb,
            &fb::WasmResultArgs {
                exit_code: self.exit_code,
                trap,
                trap_message,
                stdout,
                stderr,
                stdout_truncated: self.stdout_truncated,
                stderr_truncated: self.stderr_truncated,
            },
        );
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let m = root::<fb::WasmResult>(bytes)?;
        let trap = match m.trap() {
            fb::TrapKind::None => None,
            t => Some(TRAPS.iter().find(|(_, f)| *f == t).map(|&(k, _)| k).ok_or(
                DecodeError::UnknownEnum {
                    field: "TrapKind",
                    value: t.0.into(),
                },
            )?),
        };
        Ok(Self {
            exit_code: m.exit_code(),
            trap,
            trap_message: m.trap_message().unwrap_or_default().to_string(),
            stdout: m.stdout().map(|b| b.bytes().to_vec()).unwrap_or_default(),
            stderr: m.stderr().map(|b| b.bytes().to_vec()).unwrap_or_default(),
            stdout_truncated: m.stdout_truncated(),
            stderr_truncated: m.stderr_truncated(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn run_and_result_round_trip() {
        let run = WasmRun {
            export: "_start".into(),
            stdin: vec![1, 2, 3],
            args: vec!["hello".into(), "x".into()],
            env: vec!["A=1".into()],
            stdout_limit_bytes: 10,
            stderr_limit_bytes: 20,
            realtime_ns: 5,
            monotonic_ns: 6,
            tsc_khz: 7,
            http_request: b"GET http://h/\r\n\r\n".to_vec(),
        };
        assert_eq!(WasmRun::decode(&run.encode()).unwrap(), run);
        let result = WasmResult {
            exit_code: 3,
            trap: Some(TrapKind::StackOverflow),
            trap_message: "deep".into(),
            stdout: vec![9; 4],
            stderr: vec![],
            stdout_truncated: true,
            stderr_truncated: false,
        };
        assert_eq!(WasmResult::decode(&result.encode()).unwrap(), result);
        let init = WasmInit {
            memory_limit_bytes: 1 << 20,
            max_wasm_stack_bytes: 1 << 16,
            files_offset: 8192,
            files_len: 100,
            mounts: vec![Mount::bundle_root(), Mount::scratch()],
            scratch_max_bytes: 1 << 20,
        };
        assert_eq!(WasmInit::decode(&init.encode()).unwrap(), init);
    }

    #[test]
    fn every_trap_kind_round_trips() {
        for (kind, _) in TRAPS {
            let r = WasmResult {
                trap: Some(kind),
                ..WasmResult::default()
            };
            assert_eq!(WasmResult::decode(&r.encode()).unwrap().trap, Some(kind));
        }
    }
}
