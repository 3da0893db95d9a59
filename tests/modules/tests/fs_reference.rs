//! Prints fs.c's output under wasmtime-wasi (for a look by hand: `--nocapture`).
use flint_test_modules::bundle::{scratch_dir, write_fs_tree};
use flint_test_modules::reference::{Preopen, run};

#[test]
fn print_reference() {
    let root = scratch_dir("ref-root");
    write_fs_tree(&root);
    let tmp = scratch_dir("ref-tmp");
    let wasm = flint_test_modules::c_module("fs");
    let (out, code) = run(&wasm, &["fs", "suite"], &[
        Preopen { host: &root, guest: "/", writable: false },
        Preopen { host: &tmp, guest: "/tmp", writable: true },
    ]);
    println!("{}\nexit {code}", String::from_utf8_lossy(&out));
}
