//! HTTP load benchmark: `POST /functions/hello/invoke` on the real `flint` binary, side by side
//! in one run with two baselines behind the same HTTP stack (axum on tokio):
//!
//! - in-process: the same precompiled module run by wasmtime inside the server process, a fresh
//!   instance per request, no VM (what a server without isolation does);
//! - process per request: each request starts a new process that loads the precompiled module
//!   and runs it (CGI, or `wasmtime run` of a `.cwasm`).
//!
//! Load comes from `wrk` (`apt-get install wrk`) at several connection counts.
//! Run: `cargo bench -p flint-server --bench http` (`-- --quick` for 2-second runs).

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

fn deploy(url: &str) {
    let config = r#"{"public": true, "max_concurrency": 64}"#;
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "module",
            reqwest::blocking::multipart::Part::bytes(std::fs::read(HELLO).expect("hello.wasm")),
        )
        .text("config", config);
    let r = reqwest::blocking::Client::new()
        .put(format!("{url}/functions/hello"))
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
        .arg(format!("{url}/functions/hello/invoke"))
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "errors under load:\n{text}");
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("run-module") {
        return run_module(&args[2]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let seconds = if quick { 2 } else { 5 };
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

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let in_process = rt.block_on(in_process_server(artifact.bytes.clone()));
    let per_process = rt.block_on(process_server(cwasm_path));
    let (mut flint, flint_url) = start_flint(&dir.join("data"), &["--queue-length", "100000"]);
    deploy(&flint_url);
    let targets = [
        ("Flint (micro-VM per call)", flint_url),
        ("in-process wasmtime, no VM", format!("http://{in_process}")),
        ("process per request", format!("http://{per_process}")),
    ];
    for (_, url) in &targets {
        let body = reqwest::blocking::Client::new()
            .post(format!("{url}/functions/hello/invoke"))
            .body("bench")
            .send()
            .expect("warm-up request")
            .text()
            .expect("body");
        assert_eq!(body, "hello, bench!\n", "{url}");
    }
    println!(
        "| connections | server | req/s | p50 (us) | p99 (us) | req/s vs in-process | p50 vs in-process |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for connections in [1u32, 8, 32] {
        let results: Vec<(&str, Load)> = targets
            .iter()
            .map(|(name, url)| (*name, wrk(url, connections, seconds, &script)))
            .collect();
        let base = &results[1].1;
        for (name, l) in &results {
            println!(
                "| {connections} | {name} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.2}x |",
                l.rps,
                l.p50_us,
                l.p99_us,
                l.rps / base.rps,
                l.p50_us / base.p50_us
            );
        }
    }
    let _ = flint.kill();
    let _ = flint.wait();
    rt.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}
