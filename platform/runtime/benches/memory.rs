//! What functions and sandboxes cost in memory, measured as this process's proportional set
//! size (anonymous + file + shmem, shared pages split; `smaps_rollup`), on distinct C modules
//! (a custom section makes each hash unique), and what the trust-free restore costs in time
//! against the trusting one.
//!
//! Run: `cargo bench -p flint-runtime --bench memory` (`-- --quick` for smaller counts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flint_compiler::{Artifact, ModuleLimits};
use flint_runtime::host::host_functions;
use flint_runtime::{FunctionConfig, MemoryKvStore, Request, Runtime, invoke};
use flint_test_modules::c_module;
use flint_test_modules::memory::{distinct, pss_bytes, rss_total_bytes};
use flint_vmm::{ReadySandbox, RestoreStrategy};

fn compile(rt: &Runtime, wasm: &[u8]) -> Artifact {
    rt.compiler()
        .compile(wasm, &ModuleLimits::default())
        .expect("compile")
}

fn host() -> flint_vmm::HostFunctions {
    host_functions(Arc::new(MemoryKvStore::default()))
}

fn hello() -> Request {
    Request {
        stdin: b"memory".to_vec(),
        ..Request::default()
    }
}

fn config(restore: RestoreStrategy) -> FunctionConfig {
    FunctionConfig {
        timeout: Duration::from_millis(100),
        restore,
        ..FunctionConfig::default()
    }
}

fn kib(bytes: i64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// PSS growth per item over `n` items made by `make` (kept alive until measured).
fn per_item<T>(n: usize, mut make: impl FnMut(usize) -> T) -> i64 {
    let before = pss_bytes(None) as i64;
    let items: Vec<T> = (0..n).map(&mut make).collect();
    let after = pss_bytes(None) as i64;
    drop(items);
    (after - before) / n as i64
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 20 } else { 100 };
    let rt = Runtime::new().expect("the benchmark needs /dev/kvm");
    let cfg = config(RestoreStrategy::default());
    let dir = std::env::temp_dir().join(format!("flint-memory-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let hello_wasm = c_module("hello");

    // Warm up: the guest image's shared pages and the compiler's caches are paid once.
    let warm = rt
        .boot(&compile(&rt, &hello_wasm), &cfg, host())
        .expect("boot");
    drop(warm);

    println!("| measure (PSS, {n} samples) | per item |");
    println!("|---|---:|");
    let artifacts: Vec<Artifact> = (0..n)
        .map(|i| compile(&rt, &distinct(&hello_wasm, i as u64)))
        .collect();
    let per_function = per_item(n, |i| {
        let path = dir.join(format!("{i}.snap"));
        let mut sb = rt.boot(&artifacts[i], &cfg, host()).expect("boot");
        sb.snapshot()
            .write_to(&path)
            .expect("write the snapshot file");
        invoke(&mut sb, &cfg, &hello()).expect("invoke");
        sb.restore().expect("restore");
        sb
    });
    println!(
        "| deployed and once-invoked function (64 MiB limit) | {} |",
        kib(per_function)
    );

    let first = rt.boot(&artifacts[0], &cfg, host()).expect("boot");
    let snapshot = first.snapshot().clone();
    let module_bytes = artifacts[0].bytes.len();
    let spawn = |c: &FunctionConfig| -> ReadySandbox {
        rt.spawn(snapshot.clone(), c, module_bytes, host())
            .expect("spawn")
    };
    let per_idle = per_item(n, |_| {
        let mut sb = spawn(&cfg);
        invoke(&mut sb, &cfg, &hello()).expect("invoke");
        sb.restore().expect("restore");
        sb
    });
    println!(
        "| extra idle sandbox after an ordinary call | {} |",
        kib(per_idle)
    );

    // Generous enough for the bomb, whose every page is a fault on nested KVM.
    let slow = FunctionConfig {
        timeout: Duration::from_secs(10),
        ..cfg.clone()
    };
    for (name, module, c) in [
        ("timeout", "loop", &cfg),
        ("trap", "trap", &slow),
        ("call that allocated up to the limit", "bomb", &slow),
    ] {
        let art = compile(&rt, &c_module(module));
        let booted = rt.boot(&art, c, host()).expect("boot");
        let snap = booted.snapshot().clone();
        let per = per_item(n, |_| {
            let mut sb = rt
                .spawn(snap.clone(), c, art.bytes.len(), host())
                .expect("spawn");
            let _ = invoke(&mut sb, c, &Request::default());
            sb.restore().expect("restore");
            sb
        });
        println!("| idle sandbox after a {name} | {} |", kib(per));
    }

    let bomb = c_module("bomb");
    let per_bombed = per_item(if quick { 5 } else { 20 }, |i| {
        let art = compile(&rt, &distinct(&bomb, 1_000_000 + i as u64));
        let mut sb = rt.boot(&art, &slow, host()).expect("boot");
        for _ in 0..3 {
            let r = invoke(&mut sb, &slow, &Request::default()).expect("invoke");
            assert!(r.result.stdout.starts_with(b"blocks="), "the bomb ran");
            sb.restore().expect("restore");
        }
        sb
    });
    println!(
        "| function after three calls that allocate until refused (deploy included) | {} |",
        kib(per_bombed)
    );
    println!(
        "\n(process total now: PSS {}, RSS anon+file+shmem {})",
        kib(pss_bytes(None) as i64),
        kib(rss_total_bytes(None) as i64)
    );
    let _ = std::fs::remove_dir_all(&dir);

    restore_latency(&rt, &hello_wasm, if quick { 300 } else { 3000 });
}

/// Median of `hello` call + restore per strategy, in alternating rounds, and each one's ratio
/// to the trusting `runtime-ranges`.
fn restore_latency(rt: &Runtime, wasm: &[u8], n: usize) {
    let art = compile(rt, wasm);
    let mut sandboxes: Vec<(RestoreStrategy, FunctionConfig, ReadySandbox, Vec<f64>)> =
        RestoreStrategy::ALL
            .into_iter()
            .map(|s| {
                let c = config(s);
                let sb = rt.boot(&art, &c, host()).expect("boot");
                (s, c, sb, Vec::new())
            })
            .collect();
    let rounds = 10;
    for _ in 0..rounds {
        for (_, c, sb, samples) in &mut sandboxes {
            for _ in 0..n / rounds {
                let t = Instant::now();
                invoke(sb, c, &hello()).expect("invoke");
                sb.restore().expect("restore");
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<(RestoreStrategy, f64, u64)> = sandboxes
        .iter_mut()
        .map(|(s, _, sb, v)| (*s, median(v), sb.private_bytes().unwrap_or(0)))
        .collect();
    let trusting = medians
        .iter()
        .find(|m| m.0 == RestoreStrategy::RuntimeRanges)
        .map_or(1.0, |m| m.1);
    println!(
        "\n| hello call + restore | median us | ratio to runtime-ranges | idle sandbox private |"
    );
    println!("|---|---:|---:|---:|");
    for (s, m, private) in medians {
        let trust = if s.trusts_guest() {
            " (trusts the guest)"
        } else {
            ""
        };
        println!(
            "| {s}{trust} | {m:.1} | {:.2}x | {} |",
            m / trusting,
            kib(private as i64)
        );
    }
}
