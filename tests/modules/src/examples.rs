//! The examples under `examples/` built with their toolchains from the package registries:
//! AssemblyScript (a module), and C (`wit-bindgen c`), JavaScript (componentize-js) and Python
//! (componentize-py) `wasi:http` components. Each is built in a scratch copy and cached by the hash of its
//! sources; a missing toolchain is a panic with the command to fix it, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{bundle, cached, source_dir};

/// Runs `program args` in `dir`, panicking with `hint` if it cannot start or fails.
fn run(program: &str, args: &[&str], dir: &Path, hint: &str) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("run {program} ({e}); {hint}"));
    assert!(
        status.success(),
        "{program} {args:?} failed in {}",
        dir.display()
    );
}

/// Builds `examples/<name>` (its `sources`) once per source hash: copies them into a scratch
/// directory, runs `build` there, and keeps the file it names.
fn build(name: &str, sources: &[&str], build: impl FnOnce(&Path) -> PathBuf) -> Vec<u8> {
    let example = source_dir().join("../../examples").join(name);
    let contents: Vec<Vec<u8>> = sources
        .iter()
        .map(|s| std::fs::read(example.join(s)).unwrap_or_else(|e| panic!("read {s}: {e}")))
        .collect();
    let parts: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let out = cached(name, &parts);
    // One build at a time in this process (tests for both backends ask at once).
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !out.exists() {
        let work = bundle::scratch_dir(name);
        for (s, c) in sources.iter().zip(&contents) {
            let to = work.join(s);
            std::fs::create_dir_all(to.parent().expect("a file in a directory"))
                .expect("create the build directory");
            std::fs::write(&to, c).expect("copy the example");
        }
        let built = build(&work);
        let tmp = out.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::copy(&built, &tmp).expect("copy the build");
        std::fs::rename(&tmp, &out).expect("move the build into place");
        let _ = std::fs::remove_dir_all(&work);
    }
    std::fs::read(&out).expect("read the build")
}

const NPM: &str = "install it: apt-get install nodejs npm";

/// Installs an npm example's pinned packages (`npm ci`) and runs its build script, which
/// writes `build/hello.wasm`.
fn npm_build(work: &Path) -> PathBuf {
    let ci = ["ci", "--no-audit", "--no-fund", "--loglevel=error"];
    run("npm", &ci, work, NPM);
    run("npm", &["run", "build", "--silent"], work, NPM);
    work.join("build/hello.wasm")
}

/// The AssemblyScript example, built with its pinned compiler (`npm ci`, `npm run build`).
pub fn assemblyscript_module() -> Vec<u8> {
    let sources = ["package.json", "package-lock.json", "assembly/index.ts"];
    build("assemblyscript", &sources, npm_build)
}

/// The WIT files of an example: its world and the WASI definitions.
fn wit(world: &str) -> Vec<String> {
    let mut files = vec![format!("wit/{world}")];
    for dep in [
        "cli",
        "clocks",
        "filesystem",
        "http",
        "io",
        "random",
        "sockets",
    ] {
        files.push(format!("wit/deps/{dep}.wit"));
    }
    files
}

/// The JavaScript example, a `wasi:http/proxy` component built with its pinned
/// componentize-js (`npm ci`, `npm run build`).
pub fn javascript_component() -> Vec<u8> {
    let mut sources = vec![
        "package.json".to_string(),
        "package-lock.json".into(),
        "hello.js".into(),
    ];
    sources.extend(wit("world.wit"));
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    build("javascript", &sources, npm_build)
}

/// The C example, a `wasi:http/proxy` component: bindings from `wit-bindgen c`, compiled by
/// Debian's clang as a WASI preview 1 reactor, made a component with the preview 1 proxy
/// adapter (what `wasm-tools component new --adapt` does).
pub fn c_component() -> Vec<u8> {
    c_handler_component("handler.c")
}

/// The benchmarks' hello function (`examples/c/echo.c`: "hello, BODY!") as a `wasi:http`
/// component, built as [`c_component`].
pub fn c_hello_component() -> Vec<u8> {
    c_handler_component("echo.c")
}

/// A component from `examples/c/<handler>` and the example's world.
fn c_handler_component(handler: &str) -> Vec<u8> {
    let mut sources = vec![handler.to_string()];
    sources.extend(wit("world.wit"));
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    build("c", &sources, |work| {
        let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
        let (package, _) = resolve.push_dir(work.join("wit")).expect("read the WIT");
        let world = resolve
            .select_world(&[package], Some("hello"))
            .expect("the world");
        let mut files = wit_bindgen_core::Files::default();
        wit_bindgen_c::Opts::default()
            .build()
            .generate(&mut resolve, world, &mut files)
            .expect("generate the C bindings");
        for (name, bytes) in files.iter() {
            std::fs::write(work.join(name), bytes).expect("write the bindings");
        }
        let clang = "install it: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32";
        let args = [
            "--target=wasm32-wasi",
            "--sysroot=/usr",
            "-mexec-model=reactor",
            "-O2",
            "-Werror",
            handler,
            "hello.c",
            "hello_component_type.o",
            "-o",
            "hello.core.wasm",
        ];
        run("clang", &args, work, clang);
        let core = std::fs::read(work.join("hello.core.wasm")).expect("read the core module");
        let adapter =
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER;
        let component = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(&core)
            .and_then(|e| e.adapter("wasi_snapshot_preview1", adapter))
            .and_then(|e| e.encode())
            .expect("make the component");
        let out = work.join("hello.wasm");
        std::fs::write(&out, component).expect("write the component");
        out
    })
}

/// The Python example, a `wasi:http/proxy` component built with componentize-py (the version
/// in its `requirements.txt`, installed into a virtual environment beside the cache).
pub fn python_component() -> Vec<u8> {
    let mut sources = vec!["requirements.txt".to_string(), "app.py".into()];
    sources.extend(wit("world.wit"));
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    build("python", &sources, |work| {
        let venv = std::env::temp_dir().join("flint-test-modules/componentize-py-venv");
        let hint = "install Python 3 with venv and pip: apt-get install python3-venv python3-pip";
        if !venv.join("bin/componentize-py").exists() {
            let venv = venv.to_str().expect("a UTF-8 path");
            run("python3", &["-m", "venv", venv], work, hint);
        }
        let pip = venv.join("bin/pip");
        run(
            pip.to_str().expect("a UTF-8 path"),
            &["install", "--quiet", "-r", "requirements.txt"],
            work,
            hint,
        );
        let tool = venv.join("bin/componentize-py");
        let args = [
            "-d",
            "wit",
            "-w",
            "hello",
            "componentize",
            "app",
            "-o",
            "hello.wasm",
        ];
        run(tool.to_str().expect("a UTF-8 path"), &args, work, hint);
        work.join("hello.wasm")
    })
}
