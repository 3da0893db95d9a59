//! The WebAssembly modules Flint's tests and benchmarks run: the C programs beside this crate,
//! compiled on first use with Debian's clang for `wasm32-wasi` (real WASI preview 1 command
//! modules), and cached by the hash of their source.
//!
//! A missing clang or wasi-libc is a panic with the command to fix it, never a skipped test.
//! [`in_process`] is the benchmarks' no-isolation baseline; [`memory`] measures what a process
//! costs; [`reference`](mod@reference) runs a module under wasmtime's own WASI, the filesystem tests' reference;
//! [`bundle`] makes the file tree those tests deploy; [`examples`] builds the examples in
//! other languages with their own toolchains.

pub use examples::assemblyscript_module;

pub mod bundle;
pub mod examples;
pub mod in_process;
pub mod memory;
pub mod reference;

use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};

/// Directory of the C sources.
pub fn source_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The compiled module for `tests/modules/<name>.c`.
pub fn c_module(name: &str) -> Vec<u8> {
    let src = source_dir().join(format!("{name}.c"));
    let code = std::fs::read(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    let out = cached(name, &[&code]);
    if !out.exists() {
        // Unique per process and call: tests in one process compile the same module at
        // once, and each must rename its own file into place.
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = out.with_extension(format!("{}-{call}.tmp", std::process::id()));
        let status = Command::new("clang")
            .args(["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-Wl,--strip-all"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp)
            .status()
            .unwrap_or_else(|e| {
                panic!("run clang ({e}); install it: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32")
            });
        assert!(status.success(), "clang failed for {}", src.display());
        std::fs::rename(&tmp, &out).expect("move the compiled module into place");
    }
    std::fs::read(&out).expect("read the compiled module")
}

/// The line of a test module's output that starts with `label` (panics, showing the output,
/// if there is none).
pub fn line<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"))
}

/// Where a module called `name` built from `parts` is kept in the module cache directory
/// (named by the hash of its sources).
fn cached(name: &str, parts: &[&[u8]]) -> PathBuf {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p);
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = std::env::temp_dir().join("flint-test-modules");
    std::fs::create_dir_all(&dir).expect("create the module cache directory");
    dir.join(format!("{name}-{hash}.wasm"))
}
