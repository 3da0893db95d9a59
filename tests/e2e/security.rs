//! The guest-facing edge, end to end: what one function's initialisation saw never reaches
//! another function, and cache files that were tampered with are detected and rebuilt.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, Server, metric};
use flint_test_modules::c_module;

fn init_kv() -> Vec<u8> {
    let source = include_str!("../modules/init_kv.wat");
    wat::parse_str(source).expect("init_kv.wat")
}

fn stdout(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), StatusCode::OK);
    r.text().expect("body")
}

/// Two functions deployed from one module each boot to their own snapshot: a `_initialize`
/// that reads the key-value store sees only its own function's data.
pub fn snapshots_are_never_shared_between_functions(b: Backend) {
    let s = Server::start(b);
    let module = init_kv();
    let small = json!({ "memory_limit_mb": 32 });
    assert_eq!(
        s.deploy("alpha", &module, &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(stdout(s.invoke("alpha", b"alpha's secret")), "init saw: ");
    // A new version with another memory shape boots afresh: its initialisation reads alpha's
    // secret, which is right for alpha.
    assert_eq!(
        s.deploy("alpha", &module, &small).status(),
        StatusCode::CREATED
    );
    assert_eq!(stdout(s.invoke("alpha", b"")), "init saw: alpha's secret");
    // Beta: the same module, the same shape, its own (empty) store.
    assert_eq!(
        s.deploy("beta", &module, &small).status(),
        StatusCode::CREATED
    );
    assert_eq!(stdout(s.invoke("beta", b"")), "init saw: ");
    // Also after a restart, when both come from the cache on disk.
    let mut s = s;
    s.restart();
    assert_eq!(stdout(s.invoke("beta", b"")), "init saw: ");
    assert_eq!(stdout(s.invoke("alpha", b"")), "init saw: alpha's secret");
}

/// Flips one byte in the middle of every cached artefact and snapshot while the server is
/// stopped: each is detected (counted by kind), rebuilt, and the function answers as before.
pub fn tampered_cache_files_are_detected_and_rebuilt(b: Backend) {
    let mut s = Server::start(b);
    let r = s.deploy(
        "hello",
        &c_module("hello"),
        &json!({ "env": { "NAME": "cache" } }),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let expected = stdout(s.invoke("hello", b"x"));
    let mut flipped = Vec::new();
    s.restart_after(|dir| {
        for entry in std::fs::read_dir(dir.join("cache/artifacts")).expect("cache dir") {
            let path = entry.expect("entry").path();
            let kind = match path.extension().and_then(|e| e.to_str()) {
                Some("cwasm") => "artifact",
                Some("snap") => "snapshot",
                _ => continue,
            };
            let mut bytes = std::fs::read(&path).expect("read cache file");
            let at = bytes.len() / 2;
            bytes[at] ^= 0x20;
            std::fs::write(&path, &bytes).expect("write cache file");
            flipped.push(kind);
        }
    });
    flipped.sort_unstable();
    assert_eq!(flipped, ["artifact", "snapshot"], "one file of each kind");
    assert_eq!(stdout(s.invoke("hello", b"x")), expected);
    let m = s.metrics();
    for kind in ["artifact", "snapshot"] {
        let series = format!("flint_cache_rejections_total{{kind=\"{kind}\"}}");
        assert_eq!(metric(&m, &series), Some(1.0), "{series}\n{m}");
    }
    // Rebuilt and sealed again: the next start uses them without complaint.
    s.restart();
    assert_eq!(stdout(s.invoke("hello", b"x")), expected);
    let m = s.metrics();
    assert_eq!(
        metric(&m, r#"flint_cache_rejections_total{kind="snapshot"}"#),
        Some(0.0)
    );
}

/// An error answer names the kind and a request id, never code offsets or addresses; the
/// details go to the function's logs (behind a token) and the server's log.
pub fn errors_carry_a_request_id_and_no_internals(b: Backend) {
    let s = Server::start(b);
    let r = s.deploy("trap", &c_module("trap"), &json!({ "public": true }));
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .anonymous(reqwest::Method::POST, "/functions/trap/invoke")
        .send()
        .expect("invoke");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = r.headers()["x-flint-request-id"]
        .to_str()
        .expect("header")
        .to_string();
    let body: serde_json::Value = r.json().expect("json");
    let err = &body["error"];
    assert_eq!(err["request_id"], id.as_str());
    assert_eq!(err["trap"], "unreachable");
    let message = err["message"].as_str().expect("message");
    assert!(
        !message.contains("0x") && !message.contains("backtrace"),
        "{message}"
    );
    // A caller's own id is kept.
    let r = s
        .anonymous(reqwest::Method::POST, "/functions/trap/invoke")
        .header("x-flint-request-id", "req-42.a_b")
        .send()
        .expect("invoke");
    assert_eq!(r.headers()["x-flint-request-id"], "req-42.a_b");
    // The trap's text is in the function's logs, for its owner.
    let logs = crate::harness::eventually(|| {
        let r = s
            .req(reqwest::Method::GET, "/functions/trap/logs")
            .send()
            .ok()?;
        let v: serde_json::Value = r.json().ok()?;
        let lines: Vec<String> = v["logs"]
            .as_array()?
            .iter()
            .filter_map(|l| l["message"].as_str().map(String::from))
            .collect();
        lines
            .iter()
            .any(|l| l.starts_with("trap (unreachable)"))
            .then_some(lines)
    });
    assert!(!logs.is_empty());
}

/// Every thread that runs a guest is under the seccomp filter (mode 2 in its status), and the
/// server's other threads are not; calls of every kind work under it (this whole suite runs so).
pub fn vcpu_threads_run_under_seccomp(b: Backend) {
    let s = Server::start(b);
    let r = s.deploy("kv", &c_module("kv"), &json!({}));
    assert_eq!(r.status(), StatusCode::CREATED);
    for _ in 0..3 {
        assert!(stdout(s.invoke("kv", b"")).starts_with("visits="));
    }
    let tasks = std::fs::read_dir(format!("/proc/{}/task", s.pid())).expect("tasks");
    let (mut vcpu, mut other) = (0, 0);
    for task in tasks {
        let dir = task.expect("task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let mode = status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        if comm.starts_with("kvm-") {
            // KVM's own worker for a VM (kvm-nx-lpage-recovery), forked from the thread that
            // created the VM: it inherits that thread's filter, and runs only kernel code.
            continue;
        }
        if comm.starts_with("flint-vcpu-") {
            assert_eq!(mode, "2", "{comm}");
            vcpu += 1;
        } else {
            assert_eq!(mode, "0", "{comm}");
            other += 1;
        }
    }
    assert!(
        vcpu >= 2 && other >= 1,
        "{vcpu} vCPU threads, {other} others"
    );
}
