//! WebAssembly in the micro-VM against wasmtime in-process on the host, side by side in one run.
//!
//! Run: `cargo bench -p flint-runtime --bench wasm` (`-- --quick` for fewer iterations).
//!
//! Rows: CPU-bound work (recursive fib(27), 100 passes of a checksum over 1 MiB), the
//! per-call overhead (an empty `_start`), and file work (read a 64 KiB bundled file, write it
//! to a scratch file in `/tmp`). Columns: Flint (restore + call in a micro-VM);
//! wasmtime in-process with the guest's exact engine settings and the same compiled artefact
//! (the no-isolation floor: same code, no VM); wasmtime in-process with its default settings
//! (guard pages and signal-based traps instead of explicit bounds checks).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flint_compiler::ModuleLimits;
use flint_runtime::host::host_functions;
use flint_runtime::{Files, FunctionConfig, MemoryKvStore, Request, Runtime, invoke};
use flint_test_modules::in_process::InProcess;
use wasmtime::{Config, Engine, Module};

const EMPTY: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let samples: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(samples)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_compute, n_call) = if quick { (5, 200) } else { (21, 2000) };
    let rt = Runtime::new().expect("the benchmark needs /dev/kvm");
    let limits = ModuleLimits::default();
    let compute = flint_test_modules::c_module("compute");
    let empty = wat::parse_str(EMPTY).expect("WAT");
    let config = FunctionConfig {
        timeout: Duration::from_secs(60),
        ..FunctionConfig::default()
    };

    let guest_engine =
        Engine::new(&flint_compiler::engine_config().expect("config")).expect("engine");
    let default_engine = Engine::new(&Config::new()).expect("engine");

    println!(
        "| workload | Flint micro-VM (us) | in-process, guest settings (us) | in-process, wasmtime defaults (us) | Flint / in-process |"
    );
    println!("|---|---:|---:|---:|---:|");
    let filework = flint_test_modules::c_module("filework");
    let cases: [(&str, &[u8], &[&str], usize); 4] = [
        ("fib(27)", &compute, &["compute", "fib", "27"], n_compute),
        (
            "checksum 100 x 1 MiB",
            &compute,
            &["compute", "sum"],
            n_compute,
        ),
        (
            "empty _start (per-call overhead)",
            &empty,
            &["empty"],
            n_call,
        ),
        (
            "read 64 KiB bundled file, write it to /tmp",
            &filework,
            &["filework"],
            n_call,
        ),
    ];
    let files = template_files();
    for (name, wasm, args, n) in cases {
        let config = if args[0] == "filework" {
            FunctionConfig {
                files: files.clone(),
                ..config.clone()
            }
        } else {
            config.clone()
        };
        let files = &config.files;
        let fs = flint_test_modules::in_process::leaked_fs(
            &files.image,
            &files.mounts,
            files.scratch_max_bytes,
        );
        let artifact = rt.compiler().compile(wasm, &limits).expect("compile");
        let mut sb = rt
            .boot(
                &artifact,
                &config,
                host_functions(Arc::new(MemoryKvStore::default())),
            )
            .expect("boot");
        let request = Request {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Request::default()
        };
        let expected = invoke(&mut sb, &config, &request)
            .expect("invoke")
            .result
            .stdout;
        let vm = time(n, || {
            let r = invoke(&mut sb, &config, &request).expect("invoke");
            assert_eq!(r.result.stdout, expected);
        });
        let same = InProcess::precompiled(&guest_engine, &artifact.bytes).with_fs(fs.clone());
        assert_eq!(same.run(args, b""), expected);
        let in_process = time(n, || {
            same.run(args, b"");
        });
        let module = Module::new(&default_engine, wasm).expect("compile natively");
        let defaults = InProcess::new(&default_engine, &module).with_fs(fs);
        let in_process_defaults = time(n, || {
            defaults.run(args, b"");
        });
        println!(
            "| {name} | {vm:.1} | {in_process:.1} | {in_process_defaults:.1} | {:.2}x |",
            vm / in_process
        );
    }
    idle_density(&rt, &config, if quick { 20 } else { 100 });
}

/// A bundle holding a 64 KiB `/template.html`.
fn template_files() -> Files {
    let dir = flint_test_modules::bundle::scratch_dir("bench-template");
    std::fs::write(
        dir.join("template.html"),
        &"<p>{{x}}</p>\n".repeat(65536 / 13 + 1).as_bytes()[..65536],
    )
    .expect("write the template");
    let tar = flint_test_modules::bundle::tar_of(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let image = flint_runtime::bundle::image_from_tar(&tar, Default::default()).expect("bundle");
    Files {
        image: Arc::new(image),
        ..Files::default()
    }
}

/// How many idle sandboxes of one function fit in a GiB: `n` sandboxes mapped copy-on-write
/// from the snapshot of the C `hello` module, each invoked once and restored (so each holds
/// the pages a call dirties), measured as the growth of this process's proportional set size
/// (anonymous + file + shmem, shared pages split; KVM's own per-VM kernel memory is not
/// included).
fn idle_density(rt: &Runtime, config: &FunctionConfig, n: usize) {
    let wasm = flint_test_modules::c_module("hello");
    let artifact = rt
        .compiler()
        .compile(&wasm, &ModuleLimits::default())
        .expect("compile");
    let host = || host_functions(Arc::new(MemoryKvStore::default()));
    let first = rt.boot(&artifact, config, host()).expect("boot");
    let snapshot = first.snapshot().clone();
    let before = flint_test_modules::memory::pss_bytes(None);
    let request = Request {
        stdin: b"density".to_vec(),
        ..Request::default()
    };
    let sandboxes: Vec<_> = (0..n)
        .map(|_| {
            let mut sb = rt
                .spawn(snapshot.clone(), config, artifact.bytes.len(), host())
                .expect("spawn");
            invoke(&mut sb, config, &request).expect("invoke");
            sb.restore().expect("restore");
            sb
        })
        .collect();
    let per_sandbox =
        (flint_test_modules::memory::pss_bytes(None).saturating_sub(before)) / n as u64;
    println!(
        "\nidle sandboxes of `hello` (C): {n} measured, {} KiB (PSS) each, {} per GiB (snapshot: {} KiB of its own pages, shared)",
        per_sandbox / 1024,
        (1u64 << 30) / per_sandbox.max(1),
        snapshot.own_bytes() / 1024
    );
    drop(sandboxes);
}
