//! Module validation, as a deploy runs it on every upload.

use flint_compiler::{Compiler, ModuleLimits};

fn main() {
    // The engine is only read: a panic in one input cannot leave it half-changed.
    let compiler = std::panic::AssertUnwindSafe(Compiler::new().expect("the compiler"));
    let limits = ModuleLimits::default();
    afl::fuzz!(|data: &[u8]| {
        let _ = compiler.validate(data, &limits);
    });
}
