//! The day-two workflow, end to end: config that survives redeploys, config changes without
//! a module, manifests.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, Server};
use flint_test_modules::c_module;

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A scratch directory with the echo module in it.
fn workdir() -> (std::path::PathBuf, String) {
    let dir = flint_test_modules::bundle::scratch_dir("lifecycle");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/echo.wasm"), c_module("echo")).unwrap();
    let module = dir.join("out/echo.wasm").to_str().unwrap().to_string();
    (dir, module)
}

/// A code fix keeps the config: a raw-module deploy, or the CLI without flags; flags change
/// only what they name; `PATCH .../config` makes a new version with the same module, which a
/// rollback undoes; `flint show` shows it.
pub fn config_survives_redeploys(b: Backend) {
    let s = Server::start(b);
    let (dir, module) = workdir();
    let config = json!({"public": true, "routes": ["/app"], "env": {"A": "1"}, "timeout_ms": 3000});
    assert_eq!(
        s.deploy("app", &c_module("echo"), &config).status(),
        StatusCode::CREATED
    );
    let r = s
        .req(Method::PUT, "/functions/app")
        .body(c_module("echo"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().unwrap();
    assert_eq!(v["config_kept"], true);
    assert_eq!(v["config"]["public"], true);
    assert_eq!(v["config"]["routes"], json!(["/app"]));
    assert_eq!(v["config"]["env"], json!({"A": "1"}));
    // Still public and routed.
    let r = s.anonymous(Method::POST, "/app").body("hi").send().unwrap();
    assert_eq!(r.text().unwrap(), "hi");

    ok(s.cli(&["deploy", "app", &module]));
    assert_eq!(s.get_json("/functions/app")["config"]["public"], true);
    ok(s.cli(&["deploy", "app", &module, "--env", "B=2"]));
    let c = s.get_json("/functions/app")["config"].clone();
    assert_eq!(
        (c["env"].clone(), c["timeout_ms"].clone()),
        (json!({"A": "1", "B": "2"}), json!(3000))
    );
    assert_eq!(s.get_json("/functions/app")["version"], 4);

    let r = s
        .req(Method::PATCH, "/functions/app/config")
        .json(&json!({"env": {"A": null}, "timeout_ms": 5000}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = s.get_json("/functions/app");
    assert_eq!(v["version"], 5);
    assert_eq!(v["config"]["env"], json!({"B": "2"}));
    assert_eq!(v["config"]["timeout_ms"], 5000);
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions[0]["sha256"], versions[1]["sha256"], "same module");
    let bad = s
        .req(Method::PATCH, "/functions/app/config")
        .json(&json!({"timeout_ms": 0}))
        .send()
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let missing = s
        .req(Method::PATCH, "/functions/nope/config")
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    ok(s.cli(&["rollback", "app", "4"]));
    assert_eq!(
        s.get_json("/functions/app")["config"]["env"],
        json!({"A": "1", "B": "2"})
    );
    ok(s.cli(&["config", "app", "--private", "--unset-env", "B"]));
    let c = s.get_json("/functions/app")["config"].clone();
    assert_eq!(
        (c["public"].clone(), c["env"].clone()),
        (json!(false), json!({"A": "1"}))
    );
    let out = ok(s.cli(&["show", "app"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "app");
    assert_eq!(v["version"], 6);
    let _ = std::fs::remove_dir_all(dir);
}

/// `flint deploy` reads `flint.toml` (given, or in the working directory): the manifest is the
/// whole config, flags override it, and the server's validation errors come back.
pub fn manifests_deploy_like_spin_toml(b: Backend) {
    let s = Server::start(b);
    let (dir, _) = workdir();
    std::fs::write(
        dir.join("flint.toml"),
        "name = \"site\"\nmodule = \"out/echo.wasm\"\npublic = true\nroutes = [\"/site\"]\n\
         timeout_ms = 4000\nsecrets = [\"TOKEN_A\"]\n[env]\nGREETING = \"hi\"\n",
    )
    .unwrap();
    let out = s.cli_in(&dir, &["deploy"]);
    assert!(out.status.success());
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(warned.contains("secret TOKEN_A is not set"), "{warned}");
    let c = s.get_json("/functions/site")["config"].clone();
    assert_eq!(c["public"], true);
    assert_eq!(c["routes"], json!(["/site"]));
    assert_eq!(c["env"], json!({"GREETING": "hi"}));
    assert_eq!(c["timeout_ms"], 4000);
    let r = s.anonymous(Method::POST, "/site").body("x").send().unwrap();
    assert_eq!(r.text().unwrap(), "x");
    // Flags override the manifest; the manifest is given by path from elsewhere.
    let manifest = dir.join("flint.toml");
    ok(s.cli(&[
        "deploy",
        "--manifest",
        manifest.to_str().unwrap(),
        "--timeout-ms",
        "2000",
    ]));
    assert_eq!(s.get_json("/functions/site")["config"]["timeout_ms"], 2000);
    // A field the server does not know is the server's 400.
    std::fs::write(
        dir.join("bad.toml"),
        "name = \"site\"\nmodule = \"out/echo.wasm\"\npublc = true\n",
    )
    .unwrap();
    let out = s.cli_in(&dir, &["deploy", "--manifest", "bad.toml"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid_config"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Output past the function's limit is a 502 `output_too_large` that names the limit, counted
/// in the metrics, never a cut-off 200; the limit is configurable; stderr cut on its way to
/// the logs says so.
pub fn output_limits_tell_the_truth(b: Backend) {
    let s = Server::start(b);
    assert_eq!(
        s.deploy("big", &c_module("bigout"), &json!({})).status(),
        StatusCode::CREATED
    );
    let r = s.invoke("big", b"");
    let (status, e) = crate::harness::error_code(r);
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("output_too_large"))
    );
    assert_eq!(e["limit_bytes"], 1 << 20);
    let m = s.metrics();
    let series = r#"flint_invocations_total{function="big",outcome="output_too_large"}"#;
    assert_eq!(crate::harness::metric(&m, series), Some(1.0));
    let roomy = json!({"max_output_bytes": 16 << 20});
    assert_eq!(
        s.deploy("big", &c_module("bigout"), &roomy).status(),
        StatusCode::CREATED
    );
    let r = s.invoke("big", b"");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().len(), 10 << 20);

    assert_eq!(
        s.deploy("noisy", &c_module("noisy"), &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(s.invoke("noisy", b"150 10").text().unwrap(), "done\n");
    assert_eq!(s.invoke("noisy", b"60 2000").text().unwrap(), "done\n");
    let logs: Value = crate::harness::eventually(|| {
        let v: Value = s.get_json("/functions/noisy/logs?limit=1000");
        let n = v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["message"].as_str().unwrap().starts_with("[stderr cut"))
            .count();
        (n == 2).then_some(v)
    });
    let cuts: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with("[stderr cut"))
        .collect();
    assert!(cuts.iter().any(|c| c.contains("50 more lines")), "{cuts:?}");
    assert!(cuts.iter().any(|c| c.contains("stderr past")), "{cuts:?}");
}

/// Every call's request id (the caller's, if sane) is on its answer, its record and its log
/// lines; `?since=` pages forward; `?follow=true` streams new lines as server-sent events,
/// seen within a second of the call; `flint logs -f` prints them.
pub fn live_logs_carry_request_ids(b: Backend) {
    use std::io::BufRead;
    let s = Server::start(b);
    assert_eq!(
        s.deploy("kv", &c_module("kv"), &json!({})).status(),
        StatusCode::CREATED
    );
    let r = s
        .req(Method::POST, "/functions/kv/invoke")
        .header("x-flint-request-id", "req-abc")
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-flint-request-id"], "req-abc");
    let first: Value = crate::harness::eventually(|| {
        let v: Value = s.get_json("/functions/kv/logs");
        (!v["logs"].as_array().unwrap().is_empty()).then_some(v)
    });
    let line = &first["logs"][0];
    assert_eq!(line["request_id"], "req-abc");
    assert_eq!(line["message"], "visit number 1");
    let records: Value = crate::harness::eventually(|| {
        let v: Value = s.get_json("/functions/kv/invocations");
        (!v["invocations"].as_array().unwrap().is_empty()).then_some(v)
    });
    assert_eq!(records["invocations"][0]["request_id"], "req-abc");
    let since = line["id"].as_i64().unwrap();
    let later: Value = s.get_json(&format!("/functions/kv/logs?since={since}"));
    assert!(later["logs"].as_array().unwrap().is_empty());

    // A follower over SSE.
    let url = format!("{}/functions/kv/logs?follow=true&limit=1", s.url);
    let token = s.admin_token.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap();
        let r = client.get(url).bearer_auth(token).send().unwrap();
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:") {
                let v: Value = serde_json::from_str(data.trim()).unwrap();
                if tx.send((std::time::Instant::now(), v)).is_err() {
                    return;
                }
            }
        }
    });
    let (_, replayed) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(replayed["request_id"], "req-abc", "the newest line first");
    let called = std::time::Instant::now();
    s.req(Method::POST, "/functions/kv/invoke")
        .header("x-flint-request-id", "live-1")
        .send()
        .unwrap();
    let (seen, v) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(v["request_id"], "live-1");
    let lag = seen.duration_since(called);
    eprintln!(
        "follower saw the line {} ms after the call started",
        lag.as_millis()
    );
    assert!(lag < std::time::Duration::from_secs(1), "{lag:?}");

    // The CLI follows too.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flint"))
        .args(["logs", "-f", "kv", "--limit", "1"])
        .env("FLINT_URL", &s.url)
        .env("FLINT_TOKEN", &s.admin_token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(out.next().unwrap().unwrap().contains("live-1"));
    s.req(Method::POST, "/functions/kv/invoke")
        .header("x-flint-request-id", "live-2")
        .send()
        .unwrap();
    let next = out.next().unwrap().unwrap();
    assert!(
        next.contains("live-2") && next.contains("visit number 3"),
        "{next}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `--log-format json` writes one JSON object per line, with an access-log line per request
/// carrying its request id.
pub fn host_logs_can_be_json(_: Backend) {
    use std::io::{BufRead, Read};
    let dir = std::env::temp_dir().join(format!("flint-json-logs-{}", std::process::id()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flint"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(&dir)
        .env("FLINT_ADMIN_TOKEN", "e2e-json-logs-token")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = std::io::BufReader::new(stdout)
        .lines()
        .find_map(|l| {
            l.ok()?
                .strip_prefix("flint listening on ")
                .map(str::to_string)
        })
        .unwrap();
    let r = reqwest::blocking::Client::new()
        .get(format!("{url}/healthz"))
        .header("x-flint-request-id", "json-1")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = child.kill();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "flint::access" && l["path"] == "/healthz")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(access["status"], 200);
    assert_eq!(access["level"], "INFO");
}

/// Secrets: set through the API and the CLI, given to the function as environment variables,
/// never in any answer, log, record or metric, sealed at rest (absent from the database's
/// bytes), and still readable after a key rotation and a reseal.
pub fn secrets_never_leave_the_server(b: Backend) {
    let mut s = Server::start(b);
    let value = "s3cr3t-value-0x5eed";
    let env = json!({"env": {"PLAIN": "p"}});
    assert_eq!(
        s.deploy("envy", &c_module("env"), &env).status(),
        StatusCode::CREATED
    );
    ok(s.cli(&["secret", "set", "envy", "API_KEY", "--value", value]));
    let r = s
        .req(Method::PUT, "/functions/envy/secrets/DB_PASSWORD")
        .body("other-secret-0x77")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let call = |s: &Server, name: &str| s.invoke("envy", name.as_bytes()).text().unwrap();
    assert_eq!(call(&s, "API_KEY"), format!("{value}\n"));
    assert_eq!(call(&s, "PLAIN"), "p\n");
    for bad in ["FLINT_X", "no-dashes", ""] {
        let r = s
            .req(Method::PUT, &format!("/functions/envy/secrets/{bad}"))
            .body("x")
            .send()
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
    }
    let listed = ok(s.cli(&["secret", "list", "envy"]));
    assert!(
        listed.contains("API_KEY") && listed.contains("DB_PASSWORD"),
        "{listed}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    for path in [
        "/functions/envy",
        "/functions",
        "/functions/envy/secrets",
        "/functions/envy/logs",
        "/functions/envy/invocations",
        "/metrics",
    ] {
        let text = s.req(Method::GET, path).send().unwrap().text().unwrap();
        assert!(!text.contains(value), "{path} shows the secret");
    }
    assert!(
        !s.store_contains(value),
        "the store holds the secret in clear"
    );
    assert!(s.store_contains("API_KEY") || b == Backend::Sqlite);

    // Rotation: a new key first, the old one second; reseal; then the new key alone.
    let old = std::fs::read_to_string(s.data_dir().join("secrets.key")).unwrap();
    let new = "ab".repeat(32);
    let keys = s.data_dir().join("keys");
    std::fs::write(&keys, format!("{new}\n{old}")).unwrap();
    let key_arg = ["--secrets-key-file", keys.to_str().unwrap()];
    s.restart_with(&key_arg);
    assert_eq!(call(&s, "API_KEY"), format!("{value}\n"));
    let v: Value = serde_json::from_str(&ok(s.cli(&["secret", "reseal"]))).unwrap();
    assert_eq!(v["resealed"], 2);
    std::fs::write(&keys, format!("{new}\n")).unwrap();
    s.restart_with(&key_arg);
    assert_eq!(call(&s, "API_KEY"), format!("{value}\n"));
    ok(s.cli(&["secret", "delete", "envy", "API_KEY"]));
    assert_eq!(call(&s, "API_KEY"), "(unset)\n");
}

/// A 90/10 split over 1,000 calls lands within statistical bounds, with the serving version in
/// `x-flint-version` and in `flint_version_invocations_total`; sticky splits keep a request id
/// on one version; the split shows in `GET /functions/{name}`; a rollback clears it.
pub fn traffic_splits_between_versions(b: Backend) {
    let s = Server::start(b);
    for _ in 0..2 {
        assert_eq!(
            s.deploy("canary", &c_module("echo"), &json!({})).status(),
            StatusCode::CREATED
        );
    }
    ok(s.cli(&["traffic", "canary", "1=90", "2=10"]));
    assert_eq!(
        s.get_json("/functions/canary")["traffic"]["weights"],
        json!({"1": 90, "2": 10})
    );
    let mut twos = 0;
    for _ in 0..1000 {
        let r = s.invoke("canary", b"x");
        assert_eq!(r.status(), StatusCode::OK);
        twos += usize::from(r.headers()["x-flint-version"] == "2");
    }
    // Binomial(1000, 0.1): mean 100, sd 9.5; five sd either side.
    assert!(
        (52..=148).contains(&twos),
        "{twos} of 1000 calls went to version 2"
    );
    let m = s.metrics();
    let count = |v: i64| {
        let series =
            format!("flint_version_invocations_total{{function=\"canary\",version=\"{v}\"}}");
        crate::harness::metric(&m, &series).unwrap_or(0.0) as usize
    };
    assert_eq!((count(1), count(2)), (1000 - twos, twos));
    for bad in [
        json!({"1": 90, "2": 20}),
        json!({"7": 100}),
        json!({"1": 100, "x": 0}),
    ] {
        let r = s
            .req(Method::PUT, "/functions/canary/traffic")
            .json(&bad)
            .send()
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}");
    }
    // Sticky: one request id, one version.
    ok(s.cli(&["traffic", "canary", "1=50", "2=50", "--sticky"]));
    let version_for = |id: &str| {
        let r = s
            .req(Method::POST, "/functions/canary/invoke")
            .header("x-flint-request-id", id)
            .send()
            .unwrap();
        r.headers()["x-flint-version"].to_str().unwrap().to_string()
    };
    for id in ["client-a", "client-b", "client-c"] {
        let first = version_for(id);
        assert!((0..10).all(|_| version_for(id) == first), "{id}");
    }
    // A rollback clears the split.
    ok(s.cli(&["rollback", "canary", "1"]));
    assert!(s.get_json("/functions/canary")["traffic"].is_null());
    assert!((0..20).all(|_| s.invoke("canary", b"x").headers()["x-flint-version"] == "1"));
    ok(s.cli(&["traffic", "canary", "1=10", "2=90"]));
    ok(s.cli(&["traffic", "canary", "--clear"]));
    assert!((0..20).all(|_| s.invoke("canary", b"x").headers()["x-flint-version"] == "1"));
}

/// `flint serve --tls-cert/--tls-key` serves HTTPS (a self-signed certificate made here with
/// openssl), and the CLI talks to it with `--ca-cert`; a client that does not trust the
/// certificate is refused, and a stalled handshake does not stop others.
pub fn the_cli_talks_to_a_tls_server(b: Backend) {
    let (dir, module) = workdir();
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    let openssl = |args: &[&str]| {
        let made = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run openssl (scripts/install-deps.sh installs it)");
        let err = String::from_utf8_lossy(&made.stderr);
        assert!(made.status.success(), "{err}");
    };
    // A throwaway CA, and a certificate for 127.0.0.1 signed by it.
    let (ca_subject, leaf_subject) = ("/CN=flint-test-ca", "/CN=localhost");
    let new_key = ["-newkey", "rsa:2048", "-nodes"];
    let ca_args = ["req", "-x509", "-days", "1", "-subj", ca_subject];
    let ca_out = ["-keyout", "ca.key", "-out", "ca.pem"];
    openssl(&[&ca_args[..], &new_key, &ca_out].concat());
    let leaf_args = ["req", "-subj", leaf_subject];
    let leaf_out = ["-keyout", "key.pem", "-out", "leaf.csr"];
    openssl(&[&leaf_args[..], &new_key, &leaf_out].concat());
    let ext = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n";
    std::fs::write(dir.join("leaf.ext"), ext).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    let s = Server::start_with(
        b,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(s.url.starts_with("https://"), "{}", s.url);
    // A connection that never handshakes.
    let _stalled = std::net::TcpStream::connect(s.url.trim_start_matches("https://")).unwrap();
    let ca = ca.to_str().unwrap();
    ok(s.cli(&["deploy", "tls", &module, "--ca-cert", ca]));
    assert_eq!(
        ok(s.cli(&["invoke", "tls", "--data", "secure", "--ca-cert", ca])),
        "secure"
    );
    let listed = ok(s.cli(&["list", "--ca-cert", ca, "--output", "json"]));
    let v: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v["functions"][0]["name"], "tls");
    let untrusted = s.cli(&["list"]);
    assert!(
        !untrusted.status.success(),
        "a client without the CA is refused"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// With `?sslmode=require`, the store's connections to PostgreSQL are TLS (`scripts/test.sh`
/// starts its server with `ssl=on`): the server runs, and PostgreSQL reports its sessions
/// encrypted.
pub fn postgres_over_tls() {
    let s = Server::start_with_database(Backend::Postgres, &[], "?sslmode=require");
    assert_eq!(
        s.deploy("tls", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(s.invoke("tls", b"x").text().unwrap(), "x");
    let url = s.database_url().unwrap().to_string();
    let db = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (encrypted, plain): (i64, i64) = rt.block_on(async {
        use sqlx::Connection;
        let plain_url = url.split('?').next().unwrap().to_string();
        let mut conn = sqlx::PgConnection::connect(&plain_url).await.unwrap();
        sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
        )
        .bind(&db)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    });
    assert!(encrypted >= 1, "no encrypted session to {db}");
    assert_eq!(plain, 0, "the server's sessions are all encrypted");
}
