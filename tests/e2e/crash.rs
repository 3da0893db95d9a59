//! Crash safety: SIGKILL during deploys and calls, and a cache disk that cannot be written.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, Server, metric};
use flint_test_modules::c_module;

/// SIGKILL in the middle of deploys leaves each function either without the new version or
/// with all of it; SIGKILL during calls loses only those calls; the restarted node serves
/// every function.
pub fn sigkill_loses_nothing_stored(b: Backend) {
    let mut s = Server::start(b);
    assert_eq!(
        s.deploy("steady", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    // Deploys cut at different points: before, during and after the store writes.
    for (i, after_ms) in [5u64, 40, 120, 300].into_iter().enumerate() {
        let name = format!("cut{i}");
        let (url, token) = (s.url.clone(), s.admin_token.clone());
        let module = flint_test_modules::memory::distinct(&c_module("hello"), i as u64);
        let deploying = std::thread::spawn(move || {
            let form = reqwest::blocking::multipart::Form::new()
                .part("module", reqwest::blocking::multipart::Part::bytes(module));
            reqwest::blocking::Client::new()
                .put(format!("{url}/functions/{name}"))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .map(|r| r.status())
        });
        std::thread::sleep(Duration::from_millis(after_ms));
        s.crash_and_restart();
        let answered = deploying.join().unwrap();
        let name = format!("cut{i}");
        let shown = s
            .req(Method::GET, &format!("/functions/{name}"))
            .send()
            .unwrap();
        match shown.status() {
            StatusCode::NOT_FOUND => assert_ne!(
                answered.ok(),
                Some(StatusCode::CREATED),
                "{name}: a deploy that answered 201 was lost"
            ),
            StatusCode::OK => {
                let v: Value = shown.json().unwrap();
                assert_eq!(v["version"], 1, "{name}");
                let r = s.invoke(&name, b"");
                assert_eq!(r.status(), StatusCode::OK, "{name}: a stored version runs");
            }
            other => panic!("{name}: {other}"),
        }
    }
    // Calls cut by a crash are lost; the node serves again after it.
    let (url, token) = (s.url.clone(), s.admin_token.clone());
    let calls = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        (0..50)
            .map(|_| {
                client
                    .post(format!("{url}/functions/steady/invoke"))
                    .bearer_auth(&token)
                    .body("x")
                    .send()
                    .is_ok()
            })
            .filter(|ok| *ok)
            .count()
    });
    std::thread::sleep(Duration::from_millis(100));
    s.crash_and_restart();
    let _ = calls.join().unwrap();
    assert_eq!(s.invoke("steady", b"after").text().unwrap(), "after");
}

/// A cache directory that cannot be written (here: replaced by a file) costs caching, not
/// calls: deploys and calls succeed, each file not written is counted and logged.
pub fn an_unwritable_cache_degrades_to_no_caching(b: Backend) {
    let s = Server::start(b);
    let cache = s.data_dir().join("cache/artifacts");
    let aside = s.data_dir().join("cache/artifacts-aside");
    std::fs::rename(&cache, &aside).unwrap();
    std::fs::write(&cache, "not a directory").unwrap();
    assert_eq!(
        s.deploy("f", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(s.invoke("f", b"uncached").text().unwrap(), "uncached");
    let m = s.metrics();
    for kind in ["artifact", "snapshot"] {
        let series = format!("flint_cache_write_failures_total{{kind=\"{kind}\"}}");
        assert!(metric(&m, &series).unwrap_or(0.0) >= 1.0, "{series}");
    }
    std::fs::remove_file(&cache).unwrap();
    std::fs::rename(&aside, &cache).unwrap();
}

/// `--cache-max-bytes` keeps the cache within its limit (least recently used files go first)
/// and an evicted function still answers, before and after a restart.
pub fn the_cache_stays_within_its_limit(b: Backend) {
    let limit: u64 = 768 << 10;
    let mut s = Server::start_with(b, &["--cache-max-bytes", "768KiB"]);
    let names = ["echo", "kv", "random", "clock", "args"];
    for name in names {
        assert_eq!(
            s.deploy(name, &c_module(name), &json!({})).status(),
            StatusCode::CREATED,
            "{name}"
        );
    }
    let cache = s.data_dir().join("cache/artifacts");
    let on_disk = || -> u64 {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    assert!(on_disk() <= limit, "{} bytes in the cache", on_disk());
    let m = s.metrics();
    assert!(metric(&m, "flint_cache_evictions_total").unwrap() >= 1.0);
    let reported = metric(&m, "flint_cache_bytes").unwrap();
    assert!(reported > 0.0 && reported <= limit as f64, "{reported}");
    s.restart();
    for name in names {
        assert_eq!(s.invoke(name, b"x").status(), StatusCode::OK, "{name}");
    }
    assert!(on_disk() <= limit, "{} bytes after the restart", on_disk());
}
