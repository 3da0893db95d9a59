//! Module validation, as a deploy runs it on every upload.

use flint_compiler::{Compiler, ModuleLimits};

fn main() {
    let compiler = Compiler::new().expect("the compiler");
    let limits = ModuleLimits::default();
    afl::fuzz!(|data: &[u8]| {
        let _ = compiler.validate(data, &limits);
    });
}
