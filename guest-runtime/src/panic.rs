//! The panic handler: the panic message goes to the host as a `GuestError`, then the guest
//! stops with the `Abort` doorbell.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use flint_abi::buffer;
use flint_abi::doorbell::Doorbell;
use flint_abi::message::{ErrorCode, GuestError};

use crate::{arch, host};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// A fixed-size message buffer, so reporting a panic does not depend on the heap.
struct Message {
    bytes: [u8; 512],
    len: usize,
}

impl Write for Message {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Reports `message` to the host as a `GuestError` with `code`, and stops.
pub fn abort_with(code: ErrorCode, message: &str) -> ! {
    let error = GuestError {
        code,
        message: alloc::string::String::from(message),
    };
    host::with_output(host::Use::Stack, |out| {
        buffer::reset(out);
        let _ = buffer::push(out, &error);
    });
    arch::ring(Doorbell::Abort, 0);
    arch::stop()
}

#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while reporting a panic: stop without a message.
        arch::ring(Doorbell::Abort, 0);
        arch::stop();
    }
    let mut m = Message {
        bytes: [0; 512],
        len: 0,
    };
    let _ = write!(m, "{}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(m, " at {}:{}", loc.file(), loc.line());
    }
    let text = core::str::from_utf8(&m.bytes[..m.len]).unwrap_or("guest panic");
    abort_with(ErrorCode::GuestPanic, text)
}

/// Debug builds link against a libcore built with `panic=unwind`, which names this symbol; with
/// `panic = "abort"` it is never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// The precompiled liballoc (built with `panic=unwind`) has landing pads that name this symbol.
/// With `panic = "abort"` no unwinding ever starts, so it is unreachable; if it were reached, the
/// guest stops.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    arch::ring(Doorbell::Abort, 0);
    arch::stop()
}
