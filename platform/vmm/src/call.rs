//! One call into the guest: write the request, run the vCPU, serve its doorbells (host calls,
//! logs) until it is done, faults or times out, and read the answer. Every byte read from the
//! guest is checked before use.

use std::time::{Duration, Instant};

use flint_abi::buffer::{self, BufferError};
use flint_abi::doorbell::{DONE_ERROR, DONE_OK, Doorbell};
use flint_abi::layout::GVA_PEB;
use flint_abi::message::{
    CallKind, ErrorCode, FunctionCall, GuestError, GuestLogData, LogLevel, ReturnValue, Value,
};
use flint_abi::peb::Peb;

use crate::cpu::{self, ExceptionFrame, frame_offset};
use crate::fault::{self, Fault, FaultKind};
use crate::host_functions::HostCallError;
use crate::memory::MemoryError;
use crate::restore::RestoreError;
use crate::sandbox::{BuildError, Parts};
use crate::vm::{Exit, KvmError};
use crate::watchdog;

/// The guest broke the call protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A message could not be popped from the output buffer.
    #[error("Read {what} from the output buffer")]
    Output {
        /// What the host expected.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: BufferError,
    },
    /// The guest sent a call of the wrong kind on the host-call doorbell.
    #[error("Host-call doorbell carried a guest call")]
    NotAHostCall,
    /// The `CallDone` doorbell carried an unknown value.
    #[error("Unknown call-done code {0}")]
    DoneCode(u64),
    /// The boot run produced a result where none belongs.
    #[error("Guest initialisation reported an error: {0:?}")]
    InitFailed(GuestError),
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest faulted or timed out; the sandbox is fully restored before its next call.
    #[error("Guest fault: {0}")]
    Fault(Fault),
    /// The guest returned an error (including a panic).
    #[error("Guest error {:?}: {}", .0.code, .0.message)]
    Guest(GuestError),
    /// A host call from the guest was refused or failed.
    #[error("Host call")]
    HostCall(#[source] HostCallError),
    /// The guest broke the protocol (malformed output, bad doorbell use).
    #[error("Guest protocol violation")]
    Protocol(#[source] ProtocolError),
    /// The call (or a host-call result) does not fit the input buffer.
    #[error("Write to the input buffer")]
    Input(#[source] BufferError),
    /// The vCPU stopped for a reason the host does not handle.
    #[error("Unexpected vCPU exit: {0}")]
    UnexpectedExit(String),
    /// A KVM call failed.
    #[error("Run the vCPU")]
    Kvm(#[from] KvmError),
    /// Guest memory access failed (a host bug: every address is checked).
    #[error("Access guest memory")]
    Memory(#[from] MemoryError),
    /// Restoring the sandbox before the call failed.
    #[error("Restore before the call")]
    Restore(#[source] RestoreError),
    /// Preparing the call failed.
    #[error("Prepare the call")]
    Build(#[source] BuildError),
}

impl CallError {
    /// Whether the guest may have left state that only a full restore undoes: anything but a
    /// clean return or an error the guest runtime reported itself.
    pub fn needs_full_restore(&self) -> bool {
        !matches!(self, CallError::Guest(e) if e.code != ErrorCode::GuestPanic)
    }
}

/// Whether a run is the boot or a call (the boot returns no value).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunMode {
    Boot,
    Call,
}

/// Writes the call into guest memory and runs it.
pub(crate) fn call(
    parts: &mut Parts,
    name: &str,
    args: &[Value],
    seed: [u8; 32],
) -> Result<Value, CallError> {
    parts.logs.clear();
    parts.dropped_logs = 0;
    let layout = parts.layout;
    let memory = &mut parts.vm.memory;
    memory.write(GVA_PEB + Peb::CALL_SEED_OFFSET, &seed)?;
    let call = FunctionCall {
        name: name.to_string(),
        args: args.to_vec(),
        kind: CallKind::Guest,
    };
    let mut input = memory.buffer(layout.gva_input, layout.config.input_size_bytes)?;
    buffer::reset(&mut input);
    buffer::push(&mut input, &call).map_err(CallError::Input)?;
    let entry = parts.image.dispatch_gva;
    let timeout = parts.config.call_timeout;
    run(parts, entry, timeout, RunMode::Call)
}

/// Checks that the stack cookie is intact.
pub(crate) fn check_cookie(parts: &Parts, cookie: &[u8; 16]) -> Result<(), CallError> {
    let mut now = [0u8; 16];
    let at = parts.layout.gva_stack_limit;
    parts.vm.memory.read(at, &mut now)?;
    if &now == cookie {
        return Ok(());
    }
    Err(CallError::Fault(Fault {
        gva: Some(at),
        region: Some("stack"),
        ..Fault::new(FaultKind::StackCookie)
    }))
}

/// Runs the vCPU from `entry` until the guest is done, faults or runs out of time.
pub(crate) fn run(
    parts: &mut Parts,
    entry: u64,
    timeout: Duration,
    mode: RunMode,
) -> Result<Value, CallError> {
    parts.vm.set_regs(&cpu::regs(entry, &parts.layout))?;
    let started = Instant::now();
    let immediate_exit = parts.vm.immediate_exit();
    // SAFETY: `immediate_exit` points into this vCPU's kvm_run, which lives in `parts.vm` and
    // outlives `armed` (dropped at the end of this function, on this thread).
    let armed = unsafe { watchdog::arm(started + timeout, immediate_exit) };
    let result = loop {
        let exit = match parts.vm.run() {
            Ok(exit) => exit,
            Err(e) => break Err(e.into()),
        };
        match exit {
            Exit::MmioWrite { gpa, value } => match doorbell(parts, gpa, value, mode) {
                Ok(Some(value)) => break Ok(value),
                Ok(None) => {}
                Err(e) => break Err(e),
            },
            Exit::Interrupted if armed.fired() => {
                break Err(CallError::Fault(Fault {
                    elapsed: Some(started.elapsed()),
                    ..Fault::new(FaultKind::Timeout)
                }));
            }
            Exit::Interrupted => {}
            Exit::Hlt => break exception(parts),
            Exit::Shutdown => break triple_fault(parts),
            Exit::MmioRead { gpa } => break Err(bad_doorbell(gpa)),
            Exit::Other(what) => break Err(CallError::UnexpectedExit(what)),
        }
    };
    drop(armed);
    parts.vm.clear_immediate_exit();
    result
}

fn bad_doorbell(gpa: u64) -> CallError {
    CallError::Fault(Fault {
        gva: Some(gpa),
        ..Fault::new(FaultKind::BadDoorbell)
    })
}

fn pop<M: flint_abi::message::Message>(
    parts: &mut Parts,
    what: &'static str,
) -> Result<M, CallError> {
    let layout = parts.layout;
    let mut out = parts
        .vm
        .memory
        .buffer(layout.gva_output, layout.config.output_size_bytes)?;
    buffer::pop(&mut out)
        .map_err(|source| CallError::Protocol(ProtocolError::Output { what, source }))
}

/// Serves one doorbell. `Some(value)` ends the run.
fn doorbell(
    parts: &mut Parts,
    gpa: u64,
    value: u64,
    mode: RunMode,
) -> Result<Option<Value>, CallError> {
    match Doorbell::from_gpa(gpa) {
        Some(Doorbell::CallDone) => done(parts, value, mode).map(Some),
        Some(Doorbell::HostCall) => host_call(parts).map(|()| None),
        Some(Doorbell::Log) => {
            let record: GuestLogData = pop(parts, "a log record")?;
            log(parts, record);
            Ok(None)
        }
        Some(Doorbell::Abort) => {
            let error: GuestError = pop(parts, "the guest's abort reason")?;
            Err(CallError::Guest(error))
        }
        None => Err(bad_doorbell(gpa)),
    }
}

fn done(parts: &mut Parts, code: u64, mode: RunMode) -> Result<Value, CallError> {
    match (mode, code) {
        (RunMode::Boot, DONE_OK) => Ok(Value::Void),
        (RunMode::Boot, DONE_ERROR) => {
            let error: GuestError = pop(parts, "the guest error")?;
            Err(CallError::Protocol(ProtocolError::InitFailed(error)))
        }
        (RunMode::Call, DONE_OK) => Ok(pop::<ReturnValue>(parts, "the return value")?.0),
        (RunMode::Call, DONE_ERROR) => Err(CallError::Guest(pop(parts, "the guest error")?)),
        (_, other) => Err(CallError::Protocol(ProtocolError::DoneCode(other))),
    }
}

fn host_call(parts: &mut Parts) -> Result<(), CallError> {
    let call: FunctionCall = pop(parts, "a host call")?;
    if call.kind != CallKind::Host {
        return Err(CallError::Protocol(ProtocolError::NotAHostCall));
    }
    let value = parts
        .host
        .call(&call.name, &call.args)
        .map_err(CallError::HostCall)?;
    let layout = parts.layout;
    let mut input = parts
        .vm
        .memory
        .buffer(layout.gva_input, layout.config.input_size_bytes)?;
    buffer::push(&mut input, &ReturnValue(value)).map_err(CallError::Input)
}

fn log(parts: &mut Parts, record: GuestLogData) {
    if parts.logs.len() >= parts.config.max_log_records_per_call {
        parts.dropped_logs += 1;
        return;
    }
    let (message, source, line) = (&record.message, &record.source, record.line);
    match record.level {
        LogLevel::Trace => tracing::trace!(target: "flint::guest", %source, line, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "flint::guest", %source, line, "{message}"),
        LogLevel::Info => tracing::info!(target: "flint::guest", %source, line, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "flint::guest", %source, line, "{message}"),
        LogLevel::Error => tracing::error!(target: "flint::guest", %source, line, "{message}"),
    }
    parts.logs.push(record);
}

/// An exception stub ran (`hlt` at CPL0): read its frame and classify it.
fn exception(parts: &mut Parts) -> Result<Value, CallError> {
    let memory = &parts.vm.memory;
    let frame = ExceptionFrame {
        vector: memory.read_u64(frame_offset::VECTOR)?,
        error_code: memory.read_u64(frame_offset::ERROR_CODE)?,
        rip: memory.read_u64(frame_offset::RIP)?,
        cs: memory.read_u64(frame_offset::CS)?,
        rsp: memory.read_u64(frame_offset::RSP)?,
    };
    let cr2 = parts.vm.get_sregs()?.cr2;
    Err(CallError::Fault(fault::classify(
        &frame,
        cr2,
        &parts.layout,
        &parts.image,
    )))
}

fn triple_fault(parts: &mut Parts) -> Result<Value, CallError> {
    let rip = parts.vm.get_regs()?.rip;
    let cr2 = parts.vm.get_sregs()?.cr2;
    Err(CallError::Fault(Fault {
        rip: Some(rip),
        gva: Some(cr2),
        region: parts.layout.region_of(cr2).map(|r| r.name),
        ..Fault::new(FaultKind::TripleFault)
    }))
}
