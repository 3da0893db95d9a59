//! The tenant edge, end to end: scoped tokens, authentication before any work, and what a
//! caller without rights can learn.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, Server, error_code, metric};
use flint_test_modules::c_module;

fn created(r: reqwest::blocking::Response) {
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text());
}

/// The status `token` gets for `method path` (with `body`).
fn status_with(s: &Server, token: &str, method: Method, path: &str, body: &str) -> StatusCode {
    let r = s
        .anonymous(method, path)
        .bearer_auth(token)
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status();
    if status == StatusCode::FORBIDDEN {
        let (_, e) = error_code(r);
        assert_eq!(e["code"], "forbidden", "a 403 carries a JSON error");
    }
    status
}

fn deploy_as(s: &Server, token: &str, name: &str) -> StatusCode {
    let form = reqwest::blocking::multipart::Form::new().part(
        "module",
        reqwest::blocking::multipart::Part::bytes(c_module("echo")),
    );
    s.anonymous(Method::PUT, &format!("/functions/{name}"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap()
        .status()
}

fn listed(s: &Server, token: &str) -> Vec<String> {
    crate::harness::function_names_for(s, token)
}

/// Every scope boundary: what `deploy`, `invoke` and `metrics` tokens may and may not do,
/// listing without secrets, expiry, revocation, hashing at rest, and rotation of the admin
/// token.
pub fn scoped_tokens_expiry_and_revocation(b: Backend) {
    let mut s = Server::start(b);
    for (name, config) in [
        ("a", json!({})),
        ("b", json!({})),
        ("pub", json!({"public": true})),
    ] {
        created(s.deploy(name, &c_module("echo"), &config));
    }
    let deployer = s.create_token(&["--scope", "deploy", "--function", "a", "--name", "ci"]);
    let invoker = s.create_token(&["--scope", "invoke", "--function", "a"]);
    let scraper = s.create_token(&["--scope", "metrics"]);
    let both = s.create_token(&["--scope", "deploy", "--scope", "invoke", "--function", "b"]);

    // deploy: manages its functions only, cannot invoke, list others, see tokens or metrics.
    assert_eq!(deploy_as(&s, &deployer, "a"), StatusCode::CREATED);
    assert_eq!(deploy_as(&s, &deployer, "b"), StatusCode::FORBIDDEN);
    assert_eq!(deploy_as(&s, &deployer, "new"), StatusCode::FORBIDDEN);
    assert_eq!(listed(&s, &deployer), ["a"]);
    let d = |m: Method, p: &str, body: &str| status_with(&s, &deployer, m, p, body);
    assert_eq!(d(Method::GET, "/functions/a", ""), StatusCode::OK);
    assert_eq!(d(Method::GET, "/functions/a/logs", ""), StatusCode::OK);
    assert_eq!(
        d(Method::GET, "/functions/a/invocations", ""),
        StatusCode::OK
    );
    assert_eq!(
        d(Method::POST, "/functions/a/rollback", r#"{"version":1}"#),
        StatusCode::OK
    );
    for (m, p, body) in [
        (Method::GET, "/functions/b", ""),
        (Method::GET, "/functions/b/logs", ""),
        (Method::POST, "/functions/b/rollback", r#"{"version":1}"#),
        (Method::DELETE, "/functions/b", ""),
        (Method::POST, "/functions/a/invoke", "x"),
        (Method::GET, "/tokens", ""),
        (Method::POST, "/tokens", r#"{"scopes":["admin"]}"#),
        (Method::GET, "/metrics", ""),
    ] {
        assert_eq!(
            d(m.clone(), p, body),
            StatusCode::FORBIDDEN,
            "deploy token: {m} {p}"
        );
    }

    // invoke: calls the functions it names (public ones too), nothing else; a function it
    // does not name gets the same 403 whether it exists or not.
    let i = |m: Method, p: &str| status_with(&s, &invoker, m, p, "x");
    assert_eq!(i(Method::POST, "/functions/a/invoke"), StatusCode::OK);
    assert_eq!(i(Method::POST, "/functions/pub/invoke"), StatusCode::OK);
    assert_eq!(
        i(Method::POST, "/functions/b/invoke"),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        i(Method::POST, "/functions/nope/invoke"),
        StatusCode::FORBIDDEN
    );
    for (m, p) in [
        (Method::GET, "/functions"),
        (Method::GET, "/functions/a"),
        (Method::DELETE, "/functions/a"),
        (Method::GET, "/metrics"),
        (Method::GET, "/tokens"),
    ] {
        assert_eq!(
            i(m.clone(), p),
            StatusCode::FORBIDDEN,
            "invoke token: {m} {p}"
        );
    }
    assert_eq!(deploy_as(&s, &invoker, "a"), StatusCode::FORBIDDEN);

    // Scopes add up; metrics reads metrics only.
    let both_s = |m: Method, p: &str| status_with(&s, &both, m, p, "x");
    assert_eq!(both_s(Method::POST, "/functions/b/invoke"), StatusCode::OK);
    assert_eq!(both_s(Method::GET, "/functions/b/logs"), StatusCode::OK);
    assert_eq!(
        both_s(Method::POST, "/functions/a/invoke"),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_with(&s, &scraper, Method::GET, "/metrics", ""),
        StatusCode::OK
    );
    assert_eq!(
        status_with(&s, &scraper, Method::GET, "/functions", ""),
        StatusCode::FORBIDDEN
    );
    let anonymous = s.anonymous(Method::GET, "/metrics").send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Bad requests for tokens are 400s that say why.
    for body in [
        json!({"scopes": ["invoke"]}),
        json!({"scopes": []}),
        json!({"scopes": ["root"]}),
        json!({"scopes": ["deploy"], "functions": ["Bad Name"]}),
        json!({"scopes": ["deploy"], "expires_in_s": 0}),
    ] {
        let r = s.req(Method::POST, "/tokens").json(&body).send().unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }

    // The list shows ids, scopes, functions and use, never a secret or its hash.
    let list = s
        .req(Method::GET, "/tokens")
        .send()
        .unwrap()
        .text()
        .unwrap();
    for secret in [&deployer, &invoker, &scraper, &both] {
        assert!(!list.contains(secret.as_str()));
        assert!(!s.store_contains(secret), "tokens are hashed at rest");
    }
    let v: Value = serde_json::from_str(&list).unwrap();
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 5, "admin + four");
    let ci = tokens.iter().find(|t| t["name"] == "ci").unwrap();
    assert_eq!(ci["scopes"], json!(["deploy"]));
    assert_eq!(ci["functions"], json!(["a"]));
    assert!(ci["last_used_at"].as_i64().is_some());
    assert!(ci.get("token").is_none() && ci.get("token_hash").is_none());

    // Expiry.
    let r = s
        .req(Method::POST, "/tokens")
        .json(&json!({"scopes": ["invoke"], "functions": ["a"], "expires_in_s": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let short: Value = r.json().unwrap();
    let short = short["token"].as_str().unwrap().to_string();
    assert_eq!(i(Method::POST, "/functions/a/invoke"), StatusCode::OK);
    assert_eq!(
        status_with(&s, &short, Method::POST, "/functions/a/invoke", "x"),
        StatusCode::OK
    );
    std::thread::sleep(Duration::from_millis(1100));
    let r = s
        .anonymous(Method::POST, "/functions/a/invoke")
        .bearer_auth(&short)
        .send()
        .unwrap();
    let (status, e) = error_code(r);
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_expired"))
    );

    // Revocation takes effect at once on this node.
    let id = ci["id"].as_str().unwrap();
    let out = s.cli(&["token", "revoke", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(deploy_as(&s, &deployer, "a"), StatusCode::UNAUTHORIZED);
    let listed_ids = String::from_utf8(s.cli(&["token", "list"]).stdout).unwrap();
    assert!(!listed_ids.contains(id), "{listed_ids}");
    let again = s
        .req(Method::DELETE, &format!("/tokens/{id}"))
        .send()
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Changing FLINT_ADMIN_TOKEN revokes the token it replaced; other tokens stay.
    let old = s.admin_token.clone();
    s.admin_token = "e2e-rotated-admin-token".into();
    s.restart();
    assert_eq!(
        status_with(&s, &old, Method::GET, "/functions", ""),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(function_count(&s), 3);
    assert_eq!(
        status_with(&s, &invoker, Method::POST, "/functions/a/invoke", "x"),
        StatusCode::OK
    );
}

fn function_count(s: &Server) -> usize {
    let v: Value = s.get_json("/functions");
    v["functions"].as_array().unwrap().len()
}

/// Resident memory of process `pid` (RSS: anon + file + shmem), in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Sends the head of `request` (`METHOD path`) declaring `length` body bytes, then streams zeros until
/// the server answers or closes; returns the answer's status and how long it took.
fn flood(url: &str, request: &str, length: usize, token: Option<&str>) -> (u16, Duration) {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head =
        format!("{request} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {length}\r\n\r\n");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![0u8; 64 << 10];
        let mut sent = 0;
        while sent < length {
            if stream.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut head = [0u8; 12];
    reader
        .read_exact(&mut head)
        .expect("an answer before the body was sent");
    let elapsed = started.elapsed();
    drop(reader);
    let sent = sender.join().unwrap();
    assert!(
        sent < length,
        "the server stopped reading the body ({sent} of {length} bytes)"
    );
    let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
    (status, elapsed)
}

/// An anonymous 32 MiB invoke of a private function is refused from its headers: the body is
/// neither buffered (the server's RSS stays put) nor read past a small drain, no sandbox is
/// booted, and the answer is the one a missing function gets.
pub fn auth_comes_before_any_work(b: Backend) {
    let mut s = Server::start(b);
    created(s.deploy("closed", &c_module("echo"), &json!({})));
    // A fresh process: nothing loaded until someone may call it.
    s.restart();
    let pid = s.pid();
    let before = rss_bytes(pid);
    let body = 32 << 20;
    for request in [
        "POST /functions/closed/invoke",
        "POST /functions/absent/invoke",
    ] {
        let (status, _) = flood(&s.url, request, body, None);
        assert_eq!(status, 404, "{request}");
    }
    // A token that does not cover the function: 403, also before the body.
    let other = s.create_token(&["--scope", "invoke", "--function", "other"]);
    let (status, _) = flood(&s.url, "POST /functions/closed/invoke", body, Some(&other));
    assert_eq!(status, 403);
    // An authorised caller over --max-body-bytes: 413 from the declared length, unread.
    let (status, _) = flood(
        &s.url,
        "POST /functions/closed/invoke",
        body,
        Some(&s.admin_token),
    );
    assert_eq!(status, 413);
    let grown = rss_bytes(pid).saturating_sub(before);
    assert!(grown < 8 << 20, "the server grew by {grown} bytes");
    let m = s.metrics();
    let sandboxes: f64 = ["idle", "busy"]
        .iter()
        .filter_map(|st| {
            metric(
                &m,
                &format!("flint_sandboxes{{function=\"closed\",state=\"{st}\"}}"),
            )
        })
        .sum();
    assert_eq!(sandboxes, 0.0, "no sandbox was booted for refused calls");
    // Deploys check the scope before reading the upload too.
    let deployer = s.create_token(&["--scope", "deploy", "--function", "mine"]);
    let (status, _) = flood(&s.url, "PUT /functions/closed", body, Some(&deployer));
    assert_eq!(status, 403);
    // And the function still works for a caller who may call it.
    let r = s.invoke("closed", b"still here");
    assert_eq!(r.text().unwrap(), "still here");
}

/// What a function writes cannot attack the platform: statuses 200-599 only, no framing,
/// hop-by-hop or Flint headers, every cookie sent, `Location` redirects, and answers carry
/// `nosniff` and a CSP sandbox unless the function opts out.
pub fn function_responses_cannot_attack_the_platform(b: Backend) {
    let s = Server::start(b);
    // `echo` behind a route writes the request body as its answer, CGI headers included.
    let config = json!({"routes": ["/echo"], "public": true});
    created(s.deploy("echo", &c_module("echo"), &config));
    let open = json!({"routes": ["/trusted"], "public": true, "response_sandbox": false});
    created(s.deploy("trusted", &c_module("echo"), &open));
    let send = |path: &str, body: &str| {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client
            .post(format!("{}{path}", s.url))
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let r = send(
        "/echo",
        "Content-Type: text/html\nSet-Cookie: a=1\nSet-Cookie: b=2\n\
         Transfer-Encoding: chunked\nConnection: keep-alive, x\nX-Flint-Version: 99\n\
         Strict-Transport-Security: max-age=99\nX-Custom: yes\n\n<script>alert(1)</script>",
    );
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["content-type"], "text/html");
    let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(h["x-custom"], "yes");
    assert!(h.get("strict-transport-security").is_none());
    assert!(h.get("transfer-encoding").is_none());
    assert_ne!(h["x-flint-version"], "99", "Flint's own header wins");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "sandbox");
    assert_eq!(r.text().unwrap(), "<script>alert(1)</script>");

    for status in ["101", "999", "0"] {
        let r = send("/echo", &format!("Status: {status}\n\nx"));
        let (code, e) = error_code(r);
        assert_eq!(code, StatusCode::BAD_GATEWAY, "{status}");
        assert_eq!(e["code"], "bad_function_response");
    }
    let r = send("/echo", "Location: /elsewhere\n\n");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/elsewhere");

    let r = send("/trusted", "Content-Type: text/html\n\n<p>ok</p>");
    assert!(r.headers().get("content-security-policy").is_none());
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // Plain invokes are function answers too.
    let r = s.invoke("echo", b"plain");
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
}

/// Key-value quotas are the host's: a function over its key or byte quota gets `-4` from
/// `kv_set` (the invocation still succeeds), the rejections are counted, and overwriting or
/// deleting within the quota works again.
pub fn key_value_quotas_are_enforced_on_the_host(b: Backend) {
    let s = Server::start(b);
    let config = json!({"kv_max_keys": 3, "kv_max_bytes": 100_000});
    created(s.deploy("fill", &c_module("kvfill"), &config));
    let bytes = json!({"kv_max_keys": 100, "kv_max_bytes": 100_000});
    created(s.deploy("bytes", &c_module("kvfill"), &bytes));
    let run_on = |function: &str, input: &str| {
        let r = s.invoke(function, input.as_bytes());
        assert_eq!(r.status(), StatusCode::OK);
        r.text().unwrap()
    };
    let run = |input: &str| run_on("fill", input);
    // Keys: the fourth distinct key is over the quota; the long key is refused by size.
    assert_eq!(run("5 10"), "set: 0 0 0 -4 -4\nlong key: -3\nget: 10\n");
    // Overwriting existing keys stays within the key quota.
    assert_eq!(run("3 20"), "set: 0 0 0\nlong key: -3\nget: 20\n");
    // Bytes: three keys of 40,000 bytes do not fit in 100,000.
    assert_eq!(
        run_on("bytes", "3 40000"),
        "set: 0 0 -4\nlong key: -3\nget: 40000\n"
    );
    let m = s.metrics();
    let count = |reason: &str| {
        metric(
            &m,
            &format!("flint_kv_rejections_total{{function=\"fill\",reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0)
    };
    // The long key is refused in the guest first (it never reaches the host).
    assert_eq!(count("quota_exceeded"), 2.0);
    assert_eq!(count("store_error"), 0.0);
    // Over the bound is a 400 that names the field.
    let (status, e) =
        error_code(s.deploy("fill", &c_module("kvfill"), &json!({"kv_max_keys": -1})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

/// Limits are checked against what the micro-VM can really hold (a 400 that names the
/// largest that fits, not a 500 later), and a rollback boots the old version before it
/// switches, so a rollback that cannot boot leaves the function as it was.
pub fn validation_matches_reality(b: Backend) {
    let mut s = Server::start(b);
    let (status, e) =
        error_code(s.deploy("big", &c_module("echo"), &json!({"memory_limit_mb": 4096})));
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_config"))
    );
    assert_eq!(e["field"], "memory_limit_mb");
    let message = e["message"].as_str().unwrap();
    let at_most: u64 = message
        .rsplit("at most ")
        .next()
        .and_then(|m| m.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!((3000..4096).contains(&at_most), "{message}");
    // Version 1 fits this server; version 2 is small.
    created(s.deploy("f", &c_module("echo"), &json!({"memory_limit_mb": 3000})));
    created(s.deploy("f", &c_module("echo"), &json!({})));
    // With 1.5 GiB request buffers, version 1 no longer fits the guest's address space.
    s.restart_with(&["--max-body-bytes", "1610612736"]);
    let r = s
        .req(Method::POST, "/functions/f/rollback")
        .json(&json!({"version": 1}))
        .send()
        .unwrap();
    let (status, e) = error_code(r);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let shown: Value = s.get_json("/functions/f");
    assert_eq!(shown["version"], 2, "a failed rollback changes nothing");
    let r = s.invoke("f", b"still v2");
    assert_eq!(r.headers()["x-flint-version"], "2");
    assert_eq!(r.text().unwrap(), "still v2");
}

/// Mode bits of `path` (permissions only).
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        }
        out.push(path);
    }
    out
}

/// The data directory and everything in it are for the server's user only; the admin token
/// comes from a file or the environment, never the command line; `/metrics` can move to its
/// own listener (and then leaves the API's).
pub fn files_tokens_and_metrics_stay_private(b: Backend) {
    let mut s = Server::start(b);
    created(s.deploy("f", &c_module("echo"), &json!({})));
    assert_eq!(s.invoke("f", b"x").status(), StatusCode::OK);
    let dir = s.data_dir().to_path_buf();
    assert_eq!(mode(&dir), 0o700);
    let files = files_under(&dir);
    assert!(files.iter().any(|f| f.ends_with("node.key")));
    for f in &files {
        let want = if f.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(f), want, "{}", f.display());
    }
    // There is no --admin-token flag (command lines are visible in ps).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flint"))
        .args(["serve", "--admin-token", "visible"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A token file replaces the environment's token, and so revokes it.
    let file = dir.join("given-token");
    std::fs::write(&file, "e2e-token-from-a-file\n").unwrap();
    let old = s.admin_token.clone();
    s.restart_with(&["--admin-token-file", file.to_str().unwrap()]);
    let with = |token: &str| {
        s.anonymous(Method::GET, "/functions")
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(with("e2e-token-from-a-file"), StatusCode::OK);
    assert_eq!(with(&old), StatusCode::UNAUTHORIZED);
    // Metrics on their own listener, without a token; gone from the API.
    s.admin_token = "e2e-token-from-a-file".into();
    s.restart_with(&[
        "--admin-token-file",
        file.to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let url = s
        .metrics_url
        .clone()
        .expect("the metrics listener's address");
    let text = reqwest::blocking::get(&url).unwrap().text().unwrap();
    assert!(
        text.contains("flint_invocations_total{function=\"f\""),
        "{text}"
    );
    let r = s.req(Method::GET, "/metrics").send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Milliseconds of each of `n` sequential calls of `function`.
fn latencies(s: &Server, function: &str, n: usize) -> Vec<f64> {
    let mut out: Vec<f64> = (0..n)
        .map(|_| {
            let started = Instant::now();
            let r = s.invoke(function, b"ping");
            assert_eq!(r.status(), StatusCode::OK);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One function flooded with slow calls (more than the node's slots) cannot take every slot:
/// another function's calls still start at once, so its latency stays far below one slow
/// call (the bound: 1 s, against 1.5 s calls that a first-come, first-served node would queue
/// it behind). Prints the figures `docs/BENCHMARKS.md` records.
pub fn a_flooded_function_leaves_room_for_others(b: Backend) {
    let s = Server::start_with(b, &["--max-concurrency", "4"]);
    let hog = json!({"max_concurrency": 64, "timeout_ms": 30_000});
    created(s.deploy("hog", &c_module("sleep"), &hog));
    created(s.deploy("victim", &c_module("echo"), &json!({})));
    let quiet = latencies(&s, "victim", 40);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (url, token, stop) = (s.url.clone(), s.admin_token.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                let mut calls = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = client
                        .post(format!("{url}/functions/hog/invoke"))
                        .bearer_auth(&token)
                        .body("1500")
                        .send();
                    calls += usize::from(r.is_ok_and(|r| r.status() == StatusCode::OK));
                }
                calls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let flooded = latencies(&s, "victim", 40);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let hog_calls: usize = flood.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!(
        "fairness: victim p50/p99 {:.1}/{:.1} ms quiet, {:.1}/{:.1} ms while hog is flooded \
         ({hog_calls} hog calls of 1.5 s)",
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99),
        percentile(&flooded, 0.5),
        percentile(&flooded, 0.99),
    );
    assert!(hog_calls >= 3, "the hog ran ({hog_calls} calls)");
    assert!(
        percentile(&flooded, 0.99) < 1000.0,
        "victim p99 {:.1} ms while the hog was flooded",
        percentile(&flooded, 0.99)
    );
}
