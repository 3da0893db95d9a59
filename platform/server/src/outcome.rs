//! How one invocation ended: the one type ([`Outcome`]) that knows, for every ending, its
//! metric label, fault label, HTTP status, record fields and response body. The invoke handler
//! builds it once from what the scheduler returned and asks it everything else.

use axum::http::StatusCode;
use flint_abi::message::ErrorCode;
use flint_abi::wasm::{TrapKind, WasmResult};
use flint_runtime::InvokeError;
use flint_vmm::{CallError, FaultKind};

use crate::api::error::ApiError;
use crate::scheduler::{Failure, Invoked};
use crate::store::InvocationRecord;

/// Bytes of stderr returned in an error body.
const STDERR_TAIL_BYTES: usize = 2048;

/// Every way an invocation can end: the `outcome` label of `flint_invocations_total` and of
/// invocation records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Exit code 0.
    Ok,
    /// Exit code 0, but the output passed the function's limit.
    OutputTooLarge,
    /// The module exited with another code.
    ExitNonzero,
    /// The module trapped.
    Trap,
    /// The call ran past its timeout.
    Timeout,
    /// The sandbox faulted (or broke the protocol).
    Fault,
    /// No slot or no memory for the call.
    Overloaded,
    /// Anything else (loading failed, an unreadable result).
    Error,
}

impl OutcomeKind {
    /// Every kind.
    pub const ALL: [OutcomeKind; 8] = [
        OutcomeKind::Ok,
        OutcomeKind::OutputTooLarge,
        OutcomeKind::ExitNonzero,
        OutcomeKind::Trap,
        OutcomeKind::Timeout,
        OutcomeKind::Fault,
        OutcomeKind::Overloaded,
        OutcomeKind::Error,
    ];

    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::OutputTooLarge => "output_too_large",
            OutcomeKind::ExitNonzero => "exit_nonzero",
            OutcomeKind::Trap => "trap",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::Fault => "fault",
            OutcomeKind::Overloaded => "overloaded",
            OutcomeKind::Error => "error",
        }
    }
}

/// The `kind` label of `flint_guest_faults_total`: a CPU/VM fault, a trap, or a guest panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultLabel {
    /// A fault the host classified.
    Vm(FaultKind),
    /// A WebAssembly trap.
    Trap(TrapKind),
    /// The guest runtime panicked.
    GuestPanic,
}

impl FaultLabel {
    /// Every label: VM faults, then traps, then the panic.
    pub fn all() -> impl Iterator<Item = FaultLabel> {
        FaultKind::ALL
            .into_iter()
            .map(FaultLabel::Vm)
            .chain(TrapKind::all().map(FaultLabel::Trap))
            .chain([FaultLabel::GuestPanic])
    }

    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultLabel::Vm(k) => k.as_str(),
            FaultLabel::Trap(t) => t.as_str(),
            FaultLabel::GuestPanic => "guest_panic",
        }
    }

    /// The label of a failed call.
    fn of(error: &CallError) -> FaultLabel {
        match error {
            CallError::Fault(f) => FaultLabel::Vm(f.kind),
            CallError::Guest(e) if e.code == ErrorCode::GuestPanic => FaultLabel::GuestPanic,
            _ => FaultLabel::Vm(FaultKind::Exception),
        }
    }
}

/// How one invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The module ran: it exited (with any code) or trapped.
    Ran(Invoked),
    /// The sandbox failed the call: a fault, a timeout, a protocol violation.
    Faulted {
        /// The version that was called.
        version: i64,
        /// Why.
        error: CallError,
    },
    /// The call did not run (no slot, no memory, loading failed) or its result was unusable.
    Failed {
        /// The version that was called.
        version: i64,
        /// Why.
        failure: Failure,
    },
}

impl Outcome {
    /// The outcome of a call to `version`, from what the scheduler returned.
    pub fn new(version: i64, result: Result<Invoked, Failure>) -> Self {
        match result {
            Ok(invoked) => Outcome::Ran(invoked),
            Err(Failure::Invoke(InvokeError::Call(error))) => Outcome::Faulted { version, error },
            Err(failure) => Outcome::Failed { version, failure },
        }
    }

    /// The version that ran, or would have.
    pub fn version(&self) -> i64 {
        match self {
            Outcome::Ran(i) => i.version,
            Outcome::Faulted { version, .. } | Outcome::Failed { version, .. } => *version,
        }
    }

    /// Its `outcome` label.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Ran(i) if i.response.result.trap.is_some() => OutcomeKind::Trap,
            Outcome::Ran(i) if i.response.result.exit_code != 0 => OutcomeKind::ExitNonzero,
            Outcome::Ran(i) if i.response.result.stdout_truncated => OutcomeKind::OutputTooLarge,
            Outcome::Ran(_) => OutcomeKind::Ok,
            Outcome::Faulted {
                error: CallError::Fault(f),
                ..
            } if f.kind == FaultKind::Timeout => OutcomeKind::Timeout,
            Outcome::Faulted { .. } => OutcomeKind::Fault,
            Outcome::Failed {
                failure: Failure::Overloaded { .. } | Failure::MemoryExhausted,
                ..
            } => OutcomeKind::Overloaded,
            Outcome::Failed { .. } => OutcomeKind::Error,
        }
    }

    /// The guest fault it counts as, if any.
    pub fn fault(&self) -> Option<FaultLabel> {
        match self {
            Outcome::Ran(i) => i.response.result.trap.map(FaultLabel::Trap),
            Outcome::Faulted { error, .. } => Some(FaultLabel::of(error)),
            Outcome::Failed { .. } => None,
        }
    }

    /// The module's exit code, if it exited.
    pub fn exit_code(&self) -> Option<i64> {
        match self {
            Outcome::Ran(i) if i.response.result.trap.is_none() => {
                Some(i64::from(i.response.result.exit_code))
            }
            _ => None,
        }
    }

    /// The record of this invocation of `function`, started at `started_at` (Unix ms), which
    /// answered with `status` under `request_id`.
    pub fn record(
        &self,
        function: &str,
        started_at: i64,
        duration_us: i64,
        status: StatusCode,
        request_id: &str,
    ) -> InvocationRecord {
        InvocationRecord {
            function_name: function.to_string(),
            version: self.version(),
            started_at,
            duration_us,
            status: i64::from(status.as_u16()),
            outcome: self.kind().as_str().into(),
            exit_code: self.exit_code(),
            request_id: Some(request_id.to_string()),
        }
    }

    /// What the caller gets: the run's result for an invocation that exited 0 (its output is
    /// the answer: see `api::invoke`), else the error answer.
    pub fn answer(&self) -> Result<&WasmResult, ApiError> {
        let error = match self {
            Outcome::Ran(i) => {
                let r = &i.response.result;
                if let Some(trap) = r.trap {
                    // The trap's own text (with code offsets) goes to the function's logs.
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "trap",
                        format!("the function trapped ({})", trap.as_str()),
                    )
                    .with("trap", trap.as_str())
                    .with("stderr", stderr_tail(r))
                } else if r.exit_code != 0 {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "exit_nonzero",
                        format!("the function exited with code {}", r.exit_code),
                    )
                    .with("exit_code", r.exit_code)
                    .with("stderr", stderr_tail(r))
                } else if r.stdout_truncated {
                    // Never a cut-off 200: the caller learns the answer was too large.
                    let limit = i.output_limit_bytes;
                    ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "output_too_large",
                        format!("the function's output passed its limit of {limit} bytes"),
                    )
                    .with("limit_bytes", limit)
                } else {
                    return Ok(r);
                }
            }
            Outcome::Faulted {
                error: CallError::Fault(f),
                ..
            } if f.kind == FaultKind::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the function ran past its timeout",
            ),
            Outcome::Faulted { error, .. } => {
                // Addresses and internals stay in the server's log, under the request id.
                let kind = FaultLabel::of(error).as_str();
                let message = format!("the function's sandbox faulted ({kind})");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "guest_fault", message)
                    .with("kind", kind)
            }
            Outcome::Failed { failure, .. } => ApiError::from(failure),
        };
        Err(error)
    }

    /// The `x-flint-exit-code` header: the exit code, or -1 where there is none.
    pub fn exit_header(&self) -> i64 {
        self.exit_code().unwrap_or(-1)
    }
}

fn stderr_tail(result: &WasmResult) -> String {
    let s = &result.stderr;
    let from = s.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&s[from..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique() {
        let faults: Vec<&str> = FaultLabel::all().map(FaultLabel::as_str).collect();
        let mut sorted = faults.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), faults.len());
        assert!(faults.contains(&"stack_guard") && faults.contains(&"guest_panic"));
        let kinds: Vec<&str> = OutcomeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(kinds[0], "ok");
        assert_eq!(kinds.len(), 8);
    }

    #[test]
    fn an_overloaded_call_is_429_and_labelled_overloaded() {
        let o = Outcome::new(3, Err(Failure::Overloaded { queue_full: true }));
        assert_eq!(o.kind(), OutcomeKind::Overloaded);
        assert_eq!(o.version(), 3);
        assert_eq!(o.exit_header(), -1);
        assert_eq!(o.fault(), None);
        assert_eq!(
            o.answer().err().map(|e| e.status),
            Some(StatusCode::TOO_MANY_REQUESTS)
        );
    }

    #[test]
    fn a_fault_answer_names_its_kind_and_nothing_else() {
        let mut fault = flint_vmm::Fault::new(FaultKind::NxViolation);
        fault.gva = Some(0xdead_beef);
        fault.rip = Some(0x1234_5678);
        fault.region = Some("heap");
        let o = Outcome::new(
            1,
            Err(Failure::Invoke(InvokeError::Call(CallError::Fault(fault)))),
        );
        let e = o.answer().expect_err("an error answer");
        let text = format!("{} {:?}", e.message, e.extra);
        assert_eq!(e.extra["kind"], "nx_violation");
        for secret in ["dead", "beef", "1234", "heap", "0x"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
