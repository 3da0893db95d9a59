//! The scenarios, each run against both backends by `main.rs`.

use std::time::Duration;

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Server, error_code, eventually, metric};
use flint_test_modules::c_module;

fn function_names(s: &Server) -> Vec<String> {
    crate::harness::function_names_for(s, &s.admin_token)
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

pub fn deploy_invoke_and_headers(b: Backend) {
    let s = Server::start(b);
    let r = s.deploy(
        "hello",
        &c_module("hello"),
        &json!({"env": {"NAME": "flint"}}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let d: Value = r.json().unwrap();
    assert_eq!(d["version"], 1);
    assert_eq!(d["sha256"].as_str().unwrap().len(), 64);
    let r = s.invoke("hello", b"hi");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-flint-exit-code"), "0");
    assert_eq!(header(&r, "x-flint-version"), "1");
    assert!(header(&r, "x-flint-duration-us").parse::<u64>().unwrap() > 0);
    assert_eq!(r.text().unwrap(), "hello, flint! you said: hi\n");
    let f: Value = s.get_json("/functions/hello");
    assert_eq!(f["versions"].as_array().unwrap().len(), 1);
    assert_eq!(f["config"]["env"]["NAME"], "flint");
}

pub fn bad_uploads_are_refused_and_store_nothing(b: Backend) {
    let s = Server::start_with(b, &["--max-module-bytes", "200000"]);
    let cases: Vec<(Vec<u8>, Value, StatusCode, &str)> = vec![
        (b"MZ this is not wasm".to_vec(), json!({}), StatusCode::BAD_REQUEST, "invalid_module"),
        (
            wat::parse_str(r#"(module (import "env" "printf" (func)) (memory (export "memory") 1) (func (export "_start")))"#).unwrap(),
            json!({}),
            StatusCode::BAD_REQUEST,
            "invalid_module",
        ),
        (vec![0u8; 300_000], json!({}), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (c_module("hello"), json!({"memory_limit_mb": 0}), StatusCode::BAD_REQUEST, "invalid_config"),
        (c_module("hello"), json!({"no_such_setting": 1}), StatusCode::BAD_REQUEST, "invalid_config"),
        (c_module("hello"), json!({"routes": ["/functions/x"]}), StatusCode::BAD_REQUEST, "invalid_config"),
    ];
    for (wasm, config, status, code) in cases {
        let (got, err) = error_code(s.deploy("bad", &wasm, &config));
        assert_eq!(
            (got, err["code"].as_str().unwrap()),
            (status, code),
            "{err}"
        );
        assert!(!err["message"].as_str().unwrap().is_empty());
    }
    // A malformed JSON config part.
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "module",
            reqwest::blocking::multipart::Part::bytes(c_module("hello")),
        )
        .text("config", "{not json");
    let (status, err) = error_code(
        s.req(Method::PUT, "/functions/bad")
            .multipart(form)
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_config")
    );
    let (_, err) = error_code(s.deploy("bad", &wat::parse_str(r#"(module (import "env" "printf" (func)) (memory (export "memory") 1) (func (export "_start")))"#).unwrap(), &json!({})));
    assert_eq!(err["reason"], "unknown_import");
    assert!(err["message"].as_str().unwrap().contains("env.printf"));
    assert!(function_names(&s).is_empty(), "nothing may be stored");
}

pub fn bad_names_tokens_and_bodies(b: Backend) {
    let s = Server::start_with(b, &["--max-body-bytes", "1000"]);
    assert_eq!(crate::harness::raw_status(&s.url, "PUT /functions/.."), 400);
    for name in ["a%2Fb", &"x".repeat(300), "UPPER", "a..b"] {
        let (status, err) = error_code(s.deploy(name, &c_module("hello"), &json!({})));
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, "invalid_name"),
            "{name}"
        );
    }
    let (status, err) = error_code(s.invoke("nope", b""));
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let no_token = s.anonymous(Method::GET, "/functions").send().unwrap();
    assert_eq!(error_code(no_token).0, StatusCode::UNAUTHORIZED);
    let wrong = s
        .anonymous(Method::GET, "/functions")
        .bearer_auth("wrong")
        .send()
        .unwrap();
    assert_eq!(error_code(wrong).1["code"], "unauthorized");
    let form = reqwest::blocking::multipart::Form::new().part(
        "module",
        reqwest::blocking::multipart::Part::bytes(c_module("echo")),
    );
    let r = s
        .anonymous(Method::PUT, "/functions/echo")
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(function_names(&s).is_empty());
    assert_eq!(
        s.deploy("echo", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    let (status, err) = error_code(s.invoke("echo", &vec![b'a'; 5000]));
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(s.invoke("echo", b"fits").text().unwrap(), "fits");
}

pub fn faults_and_timeouts_are_reported_and_recovered_from(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("spin", &c_module("loop"), &json!({"timeout_ms": 300}))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.deploy("trap", &c_module("trap"), &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.deploy("exit", &c_module("exit"), &json!({})).status(),
        StatusCode::CREATED
    );
    let started = std::time::Instant::now();
    let r = s.invoke("spin", b"");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(header(&r, "x-flint-exit-code"), "-1");
    let (status, err) = error_code(r);
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::GATEWAY_TIMEOUT, "timeout")
    );
    let (status, err) = error_code(s.invoke("trap", b""));
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::INTERNAL_SERVER_ERROR, "trap")
    );
    assert_eq!(err["trap"], "unreachable");
    let (status, err) = error_code(s.invoke("exit", b""));
    assert_eq!(
        (status, err["exit_code"].as_i64()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some(3))
    );
    assert_eq!(err["stderr"], "something went wrong\n");
    // The same functions answer again, the same way, from their snapshots.
    assert_eq!(
        error_code(s.invoke("spin", b"")).0,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(
        error_code(s.invoke("trap", b"")).0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let m = s.metrics();
    assert_eq!(
        metric(
            &m,
            r#"flint_guest_faults_total{function="spin",kind="timeout"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &m,
            r#"flint_guest_faults_total{function="trap",kind="unreachable"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &m,
            r#"flint_invocations_total{function="spin",outcome="timeout"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &m,
            r#"flint_invocations_total{function="exit",outcome="exit_nonzero"}"#
        ),
        Some(1.0)
    );
}

pub fn metrics_count_invocations_with_fine_buckets(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("echo", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    let m = s.metrics();
    // Every series exists from the deploy on, at zero.
    assert_eq!(
        metric(
            &m,
            r#"flint_invocations_total{function="echo",outcome="ok"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, r#"flint_stack_guard_violations_total{function="echo"}"#),
        Some(0.0)
    );
    assert_eq!(metric(&m, "flint_deploys_total"), Some(1.0));
    for i in 0..5 {
        assert_eq!(
            s.invoke("echo", format!("{i}").as_bytes()).status(),
            StatusCode::OK
        );
    }
    let m = s.metrics();
    assert_eq!(
        metric(
            &m,
            r#"flint_invocations_total{function="echo",outcome="ok"}"#
        ),
        Some(5.0)
    );
    assert_eq!(
        metric(
            &m,
            r#"flint_invocation_duration_seconds_count{function="echo"}"#
        ),
        Some(5.0)
    );
    assert!(
        m.contains(r#"flint_invocation_duration_seconds_bucket{function="echo",le="0.000025"}"#),
        "{m}"
    );
    // Sandboxes are restored after the answer, off the request path: wait for those restores.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let restored = |m: &str| metric(m, "flint_snapshot_restore_duration_seconds_count");
    let mut m = m;
    while restored(&m).unwrap() < 5.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        m = s.metrics();
    }
    assert!(restored(&m).unwrap() >= 5.0, "{m}");
    assert!(
        m.contains("flint_http_requests_total{code=\"200\",route=\"/functions/{name}/invoke\"} 5")
    );
    assert!(m.contains("flint_queue_wait_seconds_bucket"));
    // Prometheus' own linter accepts the exposition.
    let lint = crate::harness::run_with_stdin("promtool", &["check", "metrics"], m.as_bytes());
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(m.contains(r#"flint_sandboxes{function="echo",state="idle"}"#));
}

pub fn logs_and_key_value_store(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("kv", &c_module("kv"), &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(s.invoke("kv", b"").text().unwrap(), "visits=1\n");
    assert_eq!(s.invoke("kv", b"").text().unwrap(), "visits=2\n");
    let logs: Value = eventually(|| {
        let v: Value = s.get_json("/functions/kv/logs");
        (v["logs"].as_array().unwrap().len() >= 2).then_some(v)
    });
    let messages: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, vec!["visit number 2", "visit number 1"]);
    assert_eq!(logs["logs"][0]["level"], "info");
    let inv: Value = s.get_json("/functions/kv/invocations");
    assert_eq!(inv["invocations"].as_array().unwrap().len(), 2);
    assert_eq!(inv["stats"]["calls"], 2);
}

pub fn rollback_switches_versions(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("f", &c_module("args"), &json!({"args": ["one"]}))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.deploy("f", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    let r = s.invoke("f", b"v2 echoes");
    assert_eq!(header(&r, "x-flint-version"), "2");
    assert_eq!(r.text().unwrap(), "v2 echoes");
    let r = s
        .req(Method::POST, "/functions/f/rollback")
        .json(&json!({"version": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.invoke("f", b"ignored");
    assert_eq!(header(&r, "x-flint-version"), "1");
    assert_eq!(r.text().unwrap(), "0:f\n1:one\n");
    let (status, err) = error_code(
        s.req(Method::POST, "/functions/f/rollback")
            .json(&json!({"version": 9}))
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "version_not_found")
    );
    let (status, _) = error_code(
        s.req(Method::POST, "/functions/f/rollback")
            .body("{")
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

pub fn public_and_private_functions(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("open", &c_module("echo"), &json!({"public": true}))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.deploy("closed", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    let r = s
        .anonymous(Method::POST, "/functions/open/invoke")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(
        (r.status(), r.text().unwrap().as_str()),
        (StatusCode::OK, "x")
    );
    let r = s
        .anonymous(Method::POST, "/functions/closed/invoke")
        .body("x")
        .send()
        .unwrap();
    // To a caller without rights, a private function looks exactly like a missing one.
    let hidden = error_code(r);
    let r = s
        .anonymous(Method::POST, "/functions/absent/invoke")
        .body("x")
        .send()
        .unwrap();
    let missing = error_code(r);
    assert_eq!(hidden.0, StatusCode::NOT_FOUND);
    assert_eq!(hidden.1["code"], missing.1["code"]);
    assert_eq!(
        hidden.1["message"]
            .as_str()
            .unwrap()
            .replace("closed", "NAME"),
        missing.1["message"]
            .as_str()
            .unwrap()
            .replace("absent", "NAME")
    );
}

pub fn cgi_routes(b: Backend) {
    let s = Server::start(b);
    let r = s.deploy(
        "cgi",
        &c_module("cgi"),
        &json!({"routes": ["/app"], "public": true}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .anonymous(Method::PATCH, "/app/items/7?x=1&y=2")
        .header("x-test-agent", "e2e")
        .body("payload")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "content-type"), "text/x-flint-test");
    assert_eq!(header(&r, "x-path-info"), "/items/7");
    assert_eq!(header(&r, "x-flint-exit-code"), "0");
    assert_eq!(
        r.text().unwrap(),
        "method=PATCH query=x=1&y=2 agent=e2e body=payload"
    );
    let (status, _) = error_code(s.anonymous(Method::GET, "/application").send().unwrap());
    assert_eq!(status, StatusCode::NOT_FOUND);
    let taken = s.deploy("other", &c_module("echo"), &json!({"routes": ["/app"]}));
    let (status, err) = error_code(taken);
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "route_conflict")
    );
}

pub fn delete_removes_everything(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("gone", &c_module("echo"), &json!({"routes": ["/gone"]}))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(s.invoke("gone", b"x").status(), StatusCode::OK);
    let r = s.req(Method::DELETE, "/functions/gone").send().unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(error_code(s.invoke("gone", b"x")).0, StatusCode::NOT_FOUND);
    assert_eq!(
        error_code(s.anonymous(Method::GET, "/gone").send().unwrap()).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        error_code(s.req(Method::DELETE, "/functions/gone").send().unwrap()).0,
        StatusCode::NOT_FOUND
    );
    assert!(!s.metrics().contains(r#"function="gone""#));
}

pub fn restart_keeps_every_function(b: Backend) {
    let mut s = Server::start(b);
    assert_eq!(
        s.deploy("a", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.deploy("b", &c_module("hello"), &json!({"env": {"NAME": "b"}}))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.deploy("b", &c_module("hello"), &json!({"env": {"NAME": "b2"}}))
            .status(),
        StatusCode::CREATED
    );
    let cached = s.cached_files();
    assert_eq!(
        cached.iter().filter(|f| f.ends_with(".cwasm")).count(),
        2,
        "{cached:?}"
    );
    // Both versions of b share one module and one memory shape, so one snapshot.
    assert_eq!(
        cached.iter().filter(|f| f.ends_with(".snap")).count(),
        2,
        "{cached:?}"
    );
    s.restart();
    assert_eq!(function_names(&s), vec!["a", "b"]);
    assert_eq!(s.invoke("a", b"still here").text().unwrap(), "still here");
    let r = s.invoke("b", b"");
    assert_eq!(header(&r, "x-flint-version"), "2");
    assert_eq!(r.text().unwrap(), "hello, b2! you said: \n");
    // The restart resumed from the cached files: nothing new was compiled or snapshotted.
    assert_eq!(s.cached_files().len(), cached.len());
}

pub fn concurrent_invocations_are_not_mixed_up(b: Backend) {
    let s = Server::start_with(b, &["--idle-sandbox-ttl-s", "3"]);
    let config = json!({"max_concurrency": 16});
    assert_eq!(
        s.deploy("echo", &c_module("echo"), &config).status(),
        StatusCode::CREATED
    );
    let results: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|t| {
                let s = &s;
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let body = format!("request {t}-{i} {}", "z".repeat(t * 10 + i));
                            let r = s.invoke("echo", body.as_bytes());
                            assert_eq!(r.status(), StatusCode::OK);
                            (body, r.text().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(results.len(), 200);
    for (sent, got) in &results {
        assert_eq!(sent, got);
    }
    let m = s.metrics();
    assert_eq!(
        metric(
            &m,
            r#"flint_invocations_total{function="echo",outcome="ok"}"#
        ),
        Some(200.0)
    );
    // A burst of calls that overlap for sure (each sleeps 300 ms; a burst of echoes may
    // not, when each call is done before the next request is parsed) leaves a sandbox per
    // call idle; once the function is quiet, its extra sandboxes are freed and one stays warm.
    let config = json!({"max_concurrency": 4, "timeout_ms": 5000});
    assert_eq!(
        s.deploy("slow", &c_module("sleep"), &config).status(),
        StatusCode::CREATED
    );
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| assert_eq!(s.invoke("slow", b"300").status(), StatusCode::OK));
        }
    });
    let idle = r#"flint_sandboxes{function="slow",state="idle"}"#;
    assert_eq!(
        eventually(|| metric(&s.metrics(), idle).filter(|&n| n >= 4.0)),
        4.0,
        "the overlapping calls left four sandboxes idle"
    );
    eventually(|| (metric(&s.metrics(), idle) == Some(1.0)).then_some(()));
    assert_eq!(s.invoke("slow", b"1").status(), StatusCode::OK);
    assert_eq!(
        s.invoke("echo", b"still warm").text().unwrap(),
        "still warm"
    );
}

pub fn overload_answers_429_with_retry_after(b: Backend) {
    let s = Server::start_with(b, &["--queue-length", "1"]);
    let config = json!({"max_concurrency": 1, "timeout_ms": 5000});
    assert_eq!(
        s.deploy("slow", &c_module("sleep"), &config).status(),
        StatusCode::CREATED
    );
    let statuses: Vec<(StatusCode, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let s = &s;
                scope.spawn(move || {
                    let r = s.invoke("slow", b"700");
                    let retry = header(&r, "retry-after");
                    (r.status(), retry)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    let rejected: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!((1..=2).contains(&ok), "{statuses:?}");
    assert!(rejected.len() >= 4, "{statuses:?}");
    assert!(rejected.iter().all(|(_, retry)| retry == "1"));
    let m = s.metrics();
    assert!(
        metric(
            &m,
            r#"flint_invocations_total{function="slow",outcome="overloaded"}"#
        )
        .unwrap()
            >= 4.0
    );
}

pub fn sigterm_drains_in_flight_calls(b: Backend) {
    let mut s = Server::start(b);
    assert_eq!(
        s.deploy("slow", &c_module("sleep"), &json!({"timeout_ms": 10000}))
            .status(),
        StatusCode::CREATED
    );
    let url = s.url.clone();
    let call = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(format!("{url}/functions/slow/invoke"))
            .bearer_auth(crate::harness::TOKEN)
            .body("1500")
            .send()
            .map(|r| (r.status(), r.text().unwrap_or_default()))
    });
    std::thread::sleep(Duration::from_millis(500));
    let status = s.terminate();
    assert!(status.success(), "flint exited with {status}");
    let (code, body) = call
        .join()
        .unwrap()
        .expect("the in-flight call got an answer");
    assert_eq!((code, body.as_str()), (StatusCode::OK, "slept 1500 ms\n"));
}

pub fn cli_and_example(b: Backend) {
    let s = Server::start(b);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.wasm");
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let deployed = ok(s.cli(&["deploy", "hello", example, "--public", "--env", "A=1"]));
    assert!(deployed.contains("\"version\": 1"), "{deployed}");
    ok(s.cli(&["deploy", "hello", example, "--public", "--arg", "x"]));
    assert_eq!(
        ok(s.cli(&["invoke", "hello", "--data", "cli"])),
        "hello, cli!\n"
    );
    assert_eq!(ok(s.cli(&["invoke", "hello"])), "hello, world!\n");
    let listed = ok(s.cli(&["list"]));
    assert!(
        listed.starts_with("hello\tv2\t320 bytes\tpublic"),
        "{listed}"
    );
    ok(s.cli(&["rollback", "hello", "1"]));
    let r = s.invoke("hello", b"");
    assert_eq!(header(&r, "x-flint-version"), "1");
    ok(s.cli(&["logs", "hello"]));
    let failed = s.cli(&["invoke", "missing"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("not_found"));
    // A token made with `flint token create` works for management calls.
    let token = s.create_token(&["--scope", "deploy"]);
    let r = s
        .anonymous(Method::GET, "/functions")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    ok(s.cli(&["delete", "hello"]));
    assert!(function_names(&s).is_empty());
}
