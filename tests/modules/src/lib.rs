//! The WebAssembly modules Flint's tests and benchmarks run: the C programs beside this crate,
//! compiled on first use with Debian's clang for `wasm32-wasi` (real WASI preview 1 command
//! modules), and cached by the hash of their source.
//!
//! A missing clang or wasi-libc is a panic with the command to fix it, never a skipped test.
//! [`in_process`] is the benchmarks' no-isolation baseline; [`memory`] measures what a process
//! costs; [`reference`](mod@reference) runs a module under wasmtime's own WASI, the filesystem tests' reference;
//! [`bundle`] makes the file tree those tests deploy.

pub mod bundle;
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

/// The AssemblyScript example (`examples/assemblyscript`), built with its pinned compiler from
/// the npm registry (`npm ci`, `npm run build`) into a scratch copy, and cached by the hash of
/// its sources. A missing npm is a panic with the command to fix it.
pub fn assemblyscript_module() -> Vec<u8> {
    let example = source_dir().join("../../examples/assemblyscript");
    let sources = ["package.json", "package-lock.json", "assembly/index.ts"];
    let contents: Vec<Vec<u8>> = sources
        .iter()
        .map(|s| std::fs::read(example.join(s)).expect("read the AssemblyScript example"))
        .collect();
    let parts: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let out = cached("assemblyscript", &parts);
    // One build at a time in this process (tests for both backends ask at once).
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !out.exists() {
        let work = bundle::scratch_dir("assemblyscript");
        std::fs::create_dir_all(work.join("assembly")).expect("create the build directory");
        for s in sources {
            std::fs::copy(example.join(s), work.join(s)).expect("copy the example");
        }
        let npm = |args: &[&str]| {
            let status = Command::new("npm")
                .args(args)
                .current_dir(&work)
                .status()
                .unwrap_or_else(|e| {
                    panic!("run npm ({e}); install it: apt-get install nodejs npm")
                });
            assert!(
                status.success(),
                "npm {args:?} failed in {}",
                work.display()
            );
        };
        npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        npm(&["run", "build", "--silent"]);
        let tmp = out.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::copy(work.join("build/hello.wasm"), &tmp).expect("copy the built module");
        std::fs::rename(&tmp, &out).expect("move the built module into place");
        let _ = std::fs::remove_dir_all(&work);
    }
    std::fs::read(&out).expect("read the built module")
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
