//! The entry point of every call.

use flint_abi::buffer;
use flint_abi::doorbell::{DONE_ERROR, DONE_OK, Doorbell};
use flint_abi::message::{CallKind, ErrorCode, FunctionCall, GuestError, ReturnValue, Value};

use crate::host::Use;
use crate::{arch, builtins, heap, host};

/// A guest function: typed arguments in, a typed value or an error out.
pub type GuestFn = fn(&[Value]) -> Result<Value, GuestError>;

fn error(code: ErrorCode, message: alloc::string::String) -> GuestError {
    GuestError { code, message }
}

fn run(call: Result<FunctionCall, buffer::BufferError>) -> Result<Value, GuestError> {
    let call = call.map_err(|e| error(ErrorCode::MalformedCall, alloc::format!("{e}")))?;
    if call.kind != CallKind::Guest {
        return Err(error(
            ErrorCode::MalformedCall,
            "expected a guest call".into(),
        ));
    }
    let function = builtins::find(&call.name).ok_or_else(|| {
        error(
            ErrorCode::UnknownFunction,
            alloc::format!("no guest function named {}", call.name),
        )
    })?;
    function(&call.args)
}

/// Where the host starts the vCPU for every call (the symbol the host looks up).
#[unsafe(no_mangle)]
pub extern "C" fn flint_dispatch() -> ! {
    let call = host::with_input(Use::Stack, buffer::pop::<FunctionCall, _>);
    let result = run(call);
    let done = host::with_output(Use::Stack, |out| {
        buffer::reset(out);
        let pushed = match &result {
            Ok(v) => buffer::push(out, &ReturnValue(v.clone())).map(|()| DONE_OK),
            Err(e) => buffer::push(out, e).map(|()| DONE_ERROR),
        };
        pushed.unwrap_or_else(|e| {
            buffer::reset(out);
            let too_big = error(ErrorCode::BadArguments, alloc::format!("result: {e}"));
            let _ = buffer::push(out, &too_big);
            DONE_ERROR
        })
    });
    drop(result);
    host::write_status(heap::HEAP.high_water());
    arch::ring(Doorbell::CallDone, done);
    arch::stop()
}
