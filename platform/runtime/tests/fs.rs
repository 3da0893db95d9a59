//! The WASI filesystem, compared with wasmtime's own: `tests/modules/fs.c` runs over the same
//! tree in the micro-VM, in-process with Flint's WASI, and under `wasmtime-wasi` over real
//! directories, and all three must print the same, errno for errno.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flint_compiler::ModuleLimits;
use flint_runtime::bundle::{BundleLimits, image_from_tar};
use flint_runtime::host::host_functions;
use flint_runtime::{Files, FunctionConfig, MemoryKvStore, Request, Runtime, invoke};
use flint_test_modules::bundle::{fs_tree_tar, scratch_dir, write_fs_tree};
use flint_test_modules::in_process::{self, InProcess};
use flint_test_modules::line;
use flint_test_modules::reference::{self, Preopen};
use flint_vmm::ReadySandbox;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("these tests need /dev/kvm"))
}

fn image() -> Arc<Vec<u8>> {
    static IMAGE: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let image = image_from_tar(&fs_tree_tar(), BundleLimits::default()).expect("bundle");
            Arc::new(image)
        })
        .clone()
}

fn config(scratch_max_bytes: u64) -> FunctionConfig {
    FunctionConfig {
        timeout: Duration::from_secs(5),
        files: Files {
            image: image(),
            scratch_max_bytes,
            ..Files::default()
        },
        ..FunctionConfig::default()
    }
}

fn boot(config: &FunctionConfig) -> ReadySandbox {
    let rt = runtime();
    let artifact = rt
        .compiler()
        .compile(
            &flint_test_modules::c_module("fs"),
            &ModuleLimits::default(),
        )
        .expect("module compiles");
    let host = host_functions(Arc::new(MemoryKvStore::default()));
    rt.boot(&artifact, config, host).expect("function boots")
}

fn in_vm(sb: &mut ReadySandbox, config: &FunctionConfig, mode: &str) -> String {
    let req = Request {
        args: vec!["fs".into(), mode.into()],
        ..Request::default()
    };
    let r = invoke(sb, config, &req).expect("invocation completes");
    assert_eq!(r.result.trap, None, "{}", r.result.trap_message);
    assert_eq!(r.result.exit_code, 0);
    String::from_utf8(r.result.stdout).expect("utf-8")
}

fn in_process(config: &FunctionConfig, mode: &str) -> String {
    let files = &config.files;
    let fs = in_process::leaked_fs(&files.image, &files.mounts, files.scratch_max_bytes);
    let engine = wasmtime::Engine::default();
    let module =
        wasmtime::Module::new(&engine, flint_test_modules::c_module("fs")).expect("compile");
    let (out, code) = InProcess::new(&engine, &module)
        .with_fs(fs)
        .run_code(&["fs", mode], b"");
    assert_eq!(code, 0);
    String::from_utf8(out).expect("utf-8")
}

fn under_wasmtime(mode: &str) -> String {
    let (root, tmp) = (scratch_dir("fs-root"), scratch_dir("fs-tmp"));
    write_fs_tree(&root);
    let (out, code) = reference::run(
        &flint_test_modules::c_module("fs"),
        &["fs", mode],
        &[
            Preopen {
                host: &root,
                guest: "/",
                writable: false,
            },
            Preopen {
                host: &tmp,
                guest: "/tmp",
                writable: true,
            },
        ],
    );
    let _ = (
        std::fs::remove_dir_all(&root),
        std::fs::remove_dir_all(&tmp),
    );
    assert_eq!(code, 0);
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn every_call_answers_as_wasmtime_does_in_the_vm_and_in_process() {
    let config = config(16 << 20);
    let reference = under_wasmtime("suite");
    // The reference itself says what the suite is about (it could not pass by printing nothing).
    assert!(line(&reference, "read hello").ends_with("ok 22 hello from the bundle"));
    assert!(line(&reference, "escape via symlink").ends_with("EPERM"));
    assert!(line(&reference, "open ro for write").ends_with("EPERM"));
    assert!(line(&reference, "read without read right").ends_with("EBADF"));
    assert_eq!(reference.lines().count(), 143, "{reference}");
    let mut sb = boot(&config);
    let vm = in_vm(&mut sb, &config, "suite");
    let diff = |name: &str, out: &str| {
        for (want, got) in reference.lines().zip(out.lines()) {
            assert_eq!(got, want, "{name} differs from wasmtime");
        }
        assert_eq!(
            out.lines().count(),
            reference.lines().count(),
            "{name}:\n{out}"
        );
    };
    diff("the micro-VM", &vm);
    diff("in-process", &in_process(&config, "suite"));
    // The second call in the same sandbox starts from the snapshot again.
    diff(
        "the micro-VM's second call",
        &in_vm(&mut sb, &config, "suite"),
    );
}

#[test]
fn one_calls_scratch_files_are_gone_in_the_next() {
    let config = config(16 << 20);
    let mut sb = boot(&config);
    for _ in 0..3 {
        let out = in_vm(&mut sb, &config, "persist");
        assert_eq!(out, "marker absent\n");
    }
    assert_eq!(under_wasmtime("persist"), "marker absent\n");
}

#[test]
fn a_full_scratch_is_enospc_and_freeing_makes_room() {
    let config = config(1 << 20);
    let mut sb = boot(&config);
    let want = "full after 960 KiB: ENOSPC\nsmall file when full         ok\nunlink big                   ok\nwrite after freeing          ok\n";
    assert_eq!(in_vm(&mut sb, &config, "fill"), want);
    assert_eq!(in_process(&config, "fill"), want);
    // The next call has all of its scratch again.
    assert_eq!(in_vm(&mut sb, &config, "fill"), want);
}
