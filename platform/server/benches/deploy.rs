//! Deploy latency and node density on the real `flint` binary, as `curl` sees them:
//!
//! - deploy of a distinct C hello (validate, compile, boot, snapshot, store) to its 201;
//! - deploy of an already-compiled module under a new name (compile cached; a function never
//!   shares another's snapshot, so it boots);
//! - many distinct functions deployed and each invoked, with the server's memory (PSS, and its
//!   anonymous + shmem part) per function and the budget's own accounting.
//!
//! Run: `cargo bench -p flint-server --bench deploy` (`-- --quick` for 20 functions; the
//! default is 1,000).

use std::time::Instant;

use flint_test_modules::c_module;
use flint_test_modules::memory::{distinct, pss_anon_shmem_bytes, pss_bytes};

mod common;

use common::{TOKEN, start_flint};

fn deploy(client: &reqwest::blocking::Client, url: &str, name: &str, wasm: &[u8]) -> f64 {
    let started = Instant::now();
    let r = client
        .put(format!("{url}/functions/{name}"))
        .bearer_auth(TOKEN)
        .body(wasm.to_vec())
        .send()
        .expect("deploy");
    let ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
    ms
}

fn invoke(client: &reqwest::blocking::Client, url: &str, name: &str) {
    let r = client
        .post(format!("{url}/functions/{name}/invoke"))
        .bearer_auth(TOKEN)
        .body("bench")
        .send()
        .expect("invoke");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{name}: {}",
        r.text().unwrap_or_default()
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let functions: u64 = if quick { 20 } else { 1000 };
    let dir = std::env::temp_dir().join(format!("flint-deploy-bench-{}", std::process::id()));
    let (mut flint, url) = start_flint(&dir, &[]);
    let pid = Some(flint.id());
    let client = reqwest::blocking::Client::new();
    let hello = c_module("hello");
    deploy(&client, &url, "warm", &hello);
    invoke(&client, &url, "warm");

    let rounds = if quick { 10 } else { 30 };
    let (mut fresh, mut renamed) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let wasm = distinct(&hello, 1_000_000 + i);
        fresh.push(deploy(&client, &url, &format!("fresh{i}"), &wasm));
        renamed.push(deploy(&client, &url, &format!("renamed{i}"), &wasm));
    }
    println!("| deploy, as the client sees it ({rounds} alternating rounds) | median ms |");
    println!("|---|---:|");
    println!(
        "| distinct C hello (validate, compile, boot, snapshot, store) | {:.1} |",
        median(&mut fresh)
    );
    println!(
        "| already-compiled module under a new name | {:.1} |",
        median(&mut renamed)
    );

    std::thread::sleep(std::time::Duration::from_millis(500));
    let (pss0, anon0) = (pss_bytes(pid) as f64, pss_anon_shmem_bytes(pid) as f64);
    let started = Instant::now();
    for i in 0..functions {
        let name = format!("f{i}");
        deploy(&client, &url, &name, &distinct(&hello, i));
        invoke(&client, &url, &name);
    }
    let took = started.elapsed().as_secs_f64();
    for i in 0..functions {
        invoke(&client, &url, &format!("f{i}"));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (pss1, anon1) = (pss_bytes(pid) as f64, pss_anon_shmem_bytes(pid) as f64);
    let m = client
        .get(format!("{url}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    let n = functions as f64;
    println!(
        "\n{functions} distinct functions deployed and invoked (twice each) in {took:.1} s; all answered."
    );
    println!("| per function | KiB |");
    println!("|---|---:|");
    println!("| server PSS | {:.0} |", (pss1 - pss0) / n / 1024.0);
    println!(
        "| server PSS, anonymous + shmem | {:.0} |",
        (anon1 - anon0) / n / 1024.0
    );
    println!(
        "| budget's own count: snapshots + idle sandboxes | {:.0} |",
        (metric(&m, r#"flint_memory_bytes{kind="snapshots"}"#)
            + metric(&m, r#"flint_memory_bytes{kind="idle_sandboxes"}"#))
            / (n + 2.0 * rounds as f64 + 1.0)
            / 1024.0
    );
    println!(
        "\nserver total: PSS {:.0} MiB; budget {:.0} MiB, evictions {}",
        pss1 / 1048576.0,
        metric(&m, "flint_memory_budget_bytes") / 1048576.0,
        metric(&m, r#"flint_memory_evictions_total{kind="function"}"#)
    );
    let _ = flint.kill();
    let _ = flint.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
