//! HTTP load benchmark: `POST /functions/hello/invoke` (body `bench`, answer `hello, bench!`)
//! on the real `flint` binary, side by side in one run with its peer and two baselines:
//!
//! - `wasmtime serve` 48 (the HTTP peer, no VM), serving the same behaviour as a `wasi:http`
//!   component (`examples/c/echo.c`, built with `wit-bindgen c`, clang and the preview 1 proxy
//!   adapter); skipped with a note when `wasmtime` 48 is not on the PATH
//!   (`cargo install --locked wasmtime-cli --version 48.0.8`);
//! - Flint serving that same component, beside Flint serving the module;
//! - in-process: the same precompiled module run by wasmtime inside the benchmark process
//!   behind the same HTTP stack (axum on tokio), a fresh instance per request, no VM;
//! - process per request: each request starts a new process that loads the precompiled module
//!   and runs it (CGI, or `wasmtime run` of a `.cwasm`).
//!
//! Load comes from `wrk` (`apt-get install wrk`) over 1, 8 and 64 connections, every server in
//! turn within a round, rounds alternating; medians of the rounds, ratios, and the hot-path
//! targets checked at the end.
//! Run: `cargo bench -p flint-server --bench http` (`-- --quick` for 2-second runs, `--rounds N`).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use flint_test_modules::in_process::InProcess;
use wasmtime::Engine;

const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.wasm");
mod common;

use common::{TOKEN, start_flint};

fn guest_engine() -> Engine {
    Engine::new(&flint_compiler::engine_config().expect("config")).expect("engine")
}

/// `http run-module FILE.cwasm`: the process-per-request worker.
fn run_module(path: &str) {
    let module = InProcess::precompiled(&guest_engine(), &std::fs::read(path).expect("read cwasm"));
    let mut stdin = Vec::new();
    std::io::stdin().read_to_end(&mut stdin).expect("stdin");
    std::io::stdout()
        .write_all(&module.run(&["hello"], &stdin))
        .expect("stdout");
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

async fn in_process_server(cwasm: Vec<u8>) -> SocketAddr {
    let module = Arc::new(InProcess::precompiled(&guest_engine(), &cwasm));
    let router = Router::new()
        .route(
            "/functions/hello/invoke",
            post(|State(m): State<Arc<InProcess>>, body: Bytes| async move {
                tokio::task::spawn_blocking(move || m.run(&["hello"], &body))
                    .await
                    .expect("worker")
            }),
        )
        .with_state(module);
    serve(router).await
}

async fn process_server(cwasm_path: PathBuf) -> SocketAddr {
    let exe = std::env::current_exe().expect("current exe");
    let state = Arc::new((exe, cwasm_path));
    let router = Router::new()
        .route(
            "/functions/hello/invoke",
            post(
                |State(s): State<Arc<(PathBuf, PathBuf)>>, body: Bytes| async move {
                    tokio::task::spawn_blocking(move || {
                        let mut child = Command::new(&s.0)
                            .arg("run-module")
                            .arg(&s.1)
                            .stdin(Stdio::piped())
                            .stdout(Stdio::piped())
                            .spawn()
                            .expect("spawn worker");
                        child
                            .stdin
                            .take()
                            .expect("stdin")
                            .write_all(&body)
                            .expect("write");
                        child.wait_with_output().expect("worker output").stdout
                    })
                    .await
                    .expect("worker")
                },
            ),
        )
        .with_state(state);
    serve(router).await
}

fn deploy(url: &str, name: &str, wasm: Vec<u8>) {
    let config = r#"{"public": true, "max_concurrency": 64}"#;
    let form = reqwest::blocking::multipart::Form::new()
        .part("module", reqwest::blocking::multipart::Part::bytes(wasm))
        .text("config", config);
    let r = reqwest::blocking::Client::new()
        .put(format!("{url}/functions/{name}"))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .expect("deploy");
    assert!(
        r.status().is_success(),
        "deploy failed: {}",
        r.text().unwrap_or_default()
    );
}

#[derive(Clone)]
struct Load {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

fn micros(s: &str) -> f64 {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => f64::NAN,
    }
}

fn wrk(url: &str, connections: u32, seconds: u32, script: &Path) -> Load {
    let out = Command::new("wrk")
        .args(["-t", if connections > 1 { "2" } else { "1" }])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    // A timed-out request is missing from wrk's latencies: it must fail the run, not flatter it.
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "errors under load at {url}:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("wrk output lacks {prefix}:\n{text}"))
    };
    Load {
        rps: field("Requests/sec:").trim().parse().expect("requests/sec"),
        p50_us: micros(&field("50%")),
        p99_us: micros(&field("99%")),
    }
}

/// `wasmtime serve` 48 on a free port, serving `component`; `None` (with a note) if `wasmtime`
/// 48 is not installed.
fn wasmtime_serve(component: &Path) -> Option<(std::process::Child, String)> {
    let version = Command::new("wasmtime").arg("--version").output().ok()?;
    if !String::from_utf8_lossy(&version.stdout).starts_with("wasmtime 48.") {
        eprintln!(
            "note: wasmtime 48 is not installed (cargo install --locked wasmtime-cli --version \
             48.0.8): the wasmtime serve rows are skipped"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new("wasmtime")
        .args(["serve", "-S", "cli", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wasmtime serve");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    for _ in 0..600 {
        let probe = client.post(format!("{url}/")).body("bench").send();
        if probe.is_ok_and(|r| r.status().is_success()) {
            return Some((child, url));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("wasmtime serve did not answer");
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Median load of each server over the rounds.
fn medians(rounds: &[Vec<Load>]) -> Vec<Load> {
    (0..rounds[0].len())
        .map(|i| Load {
            rps: median(rounds.iter().map(|r| r[i].rps).collect()),
            p50_us: median(rounds.iter().map(|r| r[i].p50_us).collect()),
            p99_us: median(rounds.iter().map(|r| r[i].p99_us).collect()),
        })
        .collect()
}

const FLINT: &str = "Flint (micro-VM per call)";
const FLINT_COMPONENT: &str = "Flint, the wasi:http component";
const PEER: &str = "wasmtime serve, no VM";
const IN_PROCESS: &str = "in-process wasmtime, no VM";
const PER_PROCESS: &str = "process per request";

fn ratio(a: f64, b: Option<f64>) -> String {
    b.map_or("-".into(), |b| format!("{:.2}x", a / b))
}

/// Prints one connection count's table: each server's medians and its ratios to the peer and
/// to in-process wasmtime.
fn print_table(connections: u32, names: &[&str], loads: &[Load]) {
    let of = |name: &str| names.iter().position(|n| *n == name).map(|i| &loads[i]);
    let (peer, base) = (of(PEER), of(IN_PROCESS));
    for (name, l) in names.iter().zip(loads) {
        println!(
            "| {connections} | {name} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            l.rps,
            l.p50_us,
            l.p99_us,
            ratio(l.rps, peer.map(|p| p.rps)),
            ratio(l.p50_us, peer.map(|p| p.p50_us)),
            ratio(l.p99_us, peer.map(|p| p.p99_us)),
            ratio(l.rps, base.map(|p| p.rps)),
            ratio(l.p50_us, base.map(|p| p.p50_us)),
        );
    }
}

/// Prints the hot-path targets with this run's ratios.
fn print_targets(names: &[&str], by_conns: &[(u32, Vec<Load>)]) {
    let get = |conns: u32, name: &str| {
        let i = names.iter().position(|n| *n == name)?;
        by_conns
            .iter()
            .find(|(c, _)| *c == conns)
            .map(|(_, l)| &l[i])
    };
    let check = |what: &str, value: Option<f64>, ok: fn(f64) -> bool| match value {
        Some(v) => println!(
            "- {what}: {v:.2}x ({})",
            if ok(v) { "met" } else { "NOT met" }
        ),
        None => println!("- {what}: not measured (no wasmtime serve)"),
    };
    let (f8, f1) = (get(8, FLINT), get(1, FLINT));
    let r = |a: Option<&Load>, b: Option<&Load>, f: fn(&Load) -> f64| Some(f(a?) / f(b?));
    check(
        "8 connections, req/s vs wasmtime serve (>= 1.5x)",
        r(f8, get(8, PEER), |l| l.rps),
        |v| v >= 1.5,
    );
    check(
        "8 connections, req/s vs in-process wasmtime (>= 0.5x)",
        r(f8, get(8, IN_PROCESS), |l| l.rps),
        |v| v >= 0.5,
    );
    check(
        "1 connection, p50 vs wasmtime serve (<= 0.6x)",
        r(f1, get(1, PEER), |l| l.p50_us),
        |v| v <= 0.6,
    );
    check(
        "1 connection, p99 vs wasmtime serve (<= 1.0x)",
        r(f1, get(1, PEER), |l| l.p99_us),
        |v| v <= 1.0,
    );
    let slowest = by_conns
        .iter()
        .filter_map(|(c, _)| r(get(*c, FLINT), get(*c, PER_PROCESS), |l| l.rps))
        .reduce(f64::min);
    check(
        "process per request, Flint's req/s over it at every connection count (>= 20x)",
        slowest,
        |v| v >= 20.0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("run-module") {
        return run_module(&args[2]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let seconds = if quick { 2 } else { 5 };
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(2);
    let dir = std::env::temp_dir().join(format!("flint-http-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let script = dir.join("post.lua");
    std::fs::write(&script, "wrk.method = \"POST\"\nwrk.body = \"bench\"\n").expect("lua");

    let compiler = flint_compiler::Compiler::new().expect("compiler");
    let wasm = std::fs::read(HELLO).expect("hello.wasm");
    let artifact = compiler
        .compile(&wasm, &flint_compiler::ModuleLimits::default())
        .expect("compile");
    let cwasm_path = dir.join("hello.cwasm");
    std::fs::write(&cwasm_path, &artifact.bytes).expect("write cwasm");
    let component = dir.join("hello-http.wasm");
    let component_bytes = flint_test_modules::examples::c_hello_component();
    std::fs::write(&component, &component_bytes).expect("write the component");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let in_process = rt.block_on(in_process_server(artifact.bytes.clone()));
    let per_process = rt.block_on(process_server(cwasm_path));
    let (mut flint, flint_url) = start_flint(&dir.join("data"), &["--queue-length", "100000"]);
    deploy(
        &flint_url,
        "hello",
        std::fs::read(HELLO).expect("hello.wasm"),
    );
    deploy(&flint_url, "hello-http", component_bytes);
    let mut targets = vec![
        (FLINT, format!("{flint_url}/functions/hello/invoke")),
        (
            FLINT_COMPONENT,
            format!("{flint_url}/functions/hello-http/invoke"),
        ),
    ];
    let peer = wasmtime_serve(&component);
    if let Some((_, url)) = &peer {
        targets.push((PEER, format!("{url}/functions/hello/invoke")));
    }
    targets.push((
        IN_PROCESS,
        format!("http://{in_process}/functions/hello/invoke"),
    ));
    targets.push((
        PER_PROCESS,
        format!("http://{per_process}/functions/hello/invoke"),
    ));
    for (name, url) in &targets {
        let body = reqwest::blocking::Client::new()
            .post(url)
            .body("bench")
            .send()
            .expect("warm-up request")
            .text()
            .expect("body");
        assert_eq!(body, "hello, bench!\n", "{name} at {url}");
    }
    let names: Vec<&str> = targets.iter().map(|(n, _)| *n).collect();
    let connection_counts = [1u32, 8, 64];
    // results[round][conns][server]
    let mut results: Vec<Vec<Vec<Load>>> = Vec::new();
    for _ in 0..rounds {
        let round = connection_counts
            .iter()
            .map(|&c| {
                targets
                    .iter()
                    .map(|(_, url)| wrk(url, c, seconds, &script))
                    .collect()
            })
            .collect();
        results.push(round);
    }
    println!(
        "{rounds} alternating rounds of {seconds} s per server and connection count; medians.\n"
    );
    println!(
        "| connections | server | req/s | p50 (us) | p99 (us) | req/s vs wasmtime serve | p50 vs wasmtime serve | p99 vs wasmtime serve | req/s vs in-process | p50 vs in-process |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut by_conns = Vec::new();
    for (i, &connections) in connection_counts.iter().enumerate() {
        let per_round: Vec<Vec<Load>> = results.iter().map(|r| r[i].clone()).collect();
        let loads = medians(&per_round);
        print_table(connections, &names, &loads);
        by_conns.push((connections, loads));
    }
    println!("\nTargets (Flint serving the module):");
    print_targets(&names, &by_conns);
    if let Some((mut child, _)) = peer {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = flint.kill();
    let _ = flint.wait();
    rt.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}
