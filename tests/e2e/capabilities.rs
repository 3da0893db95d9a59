//! What a function can do beyond stdin and stdout, through the real binary: bundled files,
//! scratch and mounts.

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{Backend, Server, error_code};
use flint_test_modules::bundle::{fs_tree_tar, scratch_dir, write_fs_tree};
use flint_test_modules::{c_module, line};

/// Deploys `module` with `config` and the tar archive `files`.
fn deploy_with_files(
    s: &Server,
    name: &str,
    module: &[u8],
    config: &Value,
    files: Vec<u8>,
) -> reqwest::blocking::Response {
    let form = Form::new()
        .part("module", Part::bytes(module.to_vec()))
        .text("config", config.to_string())
        .part("files", Part::bytes(files));
    s.req(Method::PUT, &format!("/functions/{name}"))
        .multipart(form)
        .send()
        .expect("deploy request")
}

fn text(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), StatusCode::OK);
    r.text().unwrap()
}

pub fn bundled_files_scratch_and_mounts(b: Backend) {
    let s = Server::start_with(b, &["--max-files-bytes", "200000"]);
    let tar = fs_tree_tar();
    // The whole suite through HTTP: bundle read-only at /, scratch at /tmp.
    let config = json!({"args": ["suite"]});
    let r = deploy_with_files(&s, "fs", &c_module("fs"), &config, tar.clone());
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    let out = text(s.invoke("fs", b""));
    assert!(line(&out, "read hello").ends_with("ok 22 hello from the bundle"));
    assert!(line(&out, "escape via symlink").ends_with("EPERM"));
    assert!(line(&out, "create in ro").ends_with("EPERM"));
    assert!(line(&out, "pread").ends_with("ok 11 hello WORLD"));
    let shown = s.get_json("/functions/fs");
    assert!(shown["files_bytes"].as_i64().unwrap() > 50, "{shown}");
    // Scratch never outlives a call.
    let patched = s
        .req(Method::PATCH, "/functions/fs/config")
        .json(&json!({"args": ["persist"]}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), StatusCode::CREATED);
    for _ in 0..3 {
        assert_eq!(text(s.invoke("fs", b"")), "marker absent\n");
    }

    // A writable mount of a subtree: writes land in a per-call overlay.
    let config = json!({
        "args": ["overwrite", "/app/a.txt", "changed"],
        "mounts": [{"source": "/data", "path": "/app", "writable": true}],
    });
    let r = deploy_with_files(&s, "mounted", &c_module("files"), &config, tar.clone());
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    for _ in 0..2 {
        assert_eq!(text(s.invoke("mounted", b"")), "alpha -> changed\n");
    }
    // Read-only by default, and nothing else of the bundle is there.
    let config = json!({
        "args": ["overwrite", "/app/a.txt", "changed"],
        "mounts": [{"source": "/data", "path": "/app"}],
    });
    let r = deploy_with_files(&s, "mounted", &c_module("files"), &config, tar.clone());
    assert_eq!(r.status(), StatusCode::CREATED);
    let out = text(s.invoke("mounted", b""));
    assert!(out.starts_with("alpha -> "), "{out}");
    assert!(out.contains("not permitted"), "{out}");

    // Survives a restart (the bundle is stored with the version), and rollback brings back a
    // version's own files.
    let mut s = s;
    s.restart();
    let out = text(s.invoke("mounted", b""));
    assert!(out.starts_with("alpha -> "), "{out}");
    let rolled = s
        .req(Method::POST, "/functions/mounted/rollback")
        .json(&json!({"version": 1}))
        .send()
        .unwrap();
    assert_eq!(rolled.status(), StatusCode::OK);
    assert_eq!(text(s.invoke("mounted", b"")), "alpha -> changed\n");

    refusals(&s, &tar);
}

fn refusals(s: &Server, tar: &[u8]) {
    let refused = |config: Value, files: Vec<u8>| {
        let r = deploy_with_files(s, "bad", &c_module("files"), &config, files);
        let (status, e) = error_code(r);
        (
            status,
            e["code"].as_str().unwrap_or_default().to_string(),
            e,
        )
    };
    let missing = json!({"mounts": [{"source": "/nope", "path": "/app"}]});
    let (status, code, e) = refused(missing, tar.to_vec());
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_config")
    );
    assert_eq!(e["field"], "mounts[0].source");
    let escaping = json!({"mounts": [{"source": "/data/../..", "path": "/app"}]});
    let (status, _, e) = refused(escaping, tar.to_vec());
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("mounts[0].source"))
    );
    let (status, code, _) = refused(json!({}), vec![0x41; 2048]);
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_files")
    );
    // More than --max-files-bytes (200,000 here).
    let big = scratch_dir("big-bundle");
    write_fs_tree(&big);
    std::fs::write(big.join("big.bin"), vec![7u8; 300_000]).unwrap();
    let (status, code, _) = refused(json!({}), flint_test_modules::bundle::tar_of(&big));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{code}");
    let _ = std::fs::remove_dir_all(&big);
    let scratch = json!({"scratch_max_mb": 100000});
    let (status, _, e) = refused(scratch, tar.to_vec());
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scratch_max_mb"))
    );
    // Nothing was stored by any refusal.
    let r = s.req(Method::GET, "/functions/bad").send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// `flint deploy` reads `files` from a manifest and sends them as the bundle.
pub fn manifests_bring_their_files(b: Backend) {
    let s = Server::start(b);
    let dir = scratch_dir("manifest-files");
    std::fs::create_dir_all(dir.join("public/css")).unwrap();
    std::fs::write(dir.join("public/css/site.css"), "body{}").unwrap();
    std::fs::write(dir.join("notes.txt"), "remember").unwrap();
    std::fs::write(dir.join("files.wasm"), c_module("files")).unwrap();
    std::fs::write(
        dir.join("flint.toml"),
        "name = \"site\"\nmodule = \"files.wasm\"\nargs = [\"cat\", \"/static/css/site.css\"]\n\
         files = [\"notes.txt\", { source = \"public\", destination = \"/static\" }]\n",
    )
    .unwrap();
    let out = s.cli_in(&dir, &["deploy"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text(s.invoke("site", b"")), "body{}");
    let patched = s
        .req(Method::PATCH, "/functions/site/config")
        .json(&json!({"args": ["cat", "/notes.txt"]}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), StatusCode::CREATED);
    // A config change keeps the version's files.
    assert_eq!(text(s.invoke("site", b"")), "remember");
    // `--files DIR` makes a directory the bundle's root.
    let out = s.cli_in(
        &dir,
        &[
            "deploy",
            "plain",
            "files.wasm",
            "--files",
            "public",
            "--arg",
            "cat",
            "--arg",
            "/css/site.css",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text(s.invoke("plain", b"")), "body{}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local upstream for outbound HTTP: `/echo` answers with what it got, `/slow` after five
/// seconds, `/big` with 2 MiB. Returns its port.
pub(crate) fn upstream() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut first, mut length, mut from) = (String::new(), 0usize, String::new());
                reader.read_line(&mut first).unwrap_or(0);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if let Some(v) = lower.strip_prefix("x-from:") {
                        from = v.trim().to_string();
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                let reply = match path.as_str() {
                    "/slow" => {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        "late".to_string()
                    }
                    "/big" => "x".repeat(2 << 20),
                    _ => format!("got {} from {from}", String::from_utf8_lossy(&body)),
                };
                let mut stream = stream;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Upstream: yes\r\nConnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(reply.as_bytes());
            });
        }
    });
    port
}

pub fn outbound_http_is_allowed_listed_bounded_and_counted(b: Backend) {
    let s = Server::start(b);
    let port = upstream();
    let fetch = c_module("fetch");
    let config = json!({"allowed_outbound_hosts": [format!("127.0.0.1:{port}")], "outbound_timeout_ms": 500});
    let r = s.deploy("fetch", &fetch, &config);
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    let call = |name: &str, url: String| text(s.invoke(name, url.as_bytes()));
    assert_eq!(
        call("fetch", format!("http://127.0.0.1:{port}/echo")),
        "status 200\nbody got ping from flint\n"
    );
    // Only the listed host and port.
    assert_eq!(
        call("fetch", format!("http://localhost:{port}/echo")),
        "error -1\n"
    );
    assert_eq!(
        call("fetch", format!("http://127.0.0.1:{}/echo", port + 1)),
        "error -1\n"
    );
    assert_eq!(call("fetch", "not a url".into()), "error -2\n");
    // Bounded: a slow upstream hits outbound_timeout_ms, a big answer the response limit.
    let started = std::time::Instant::now();
    assert_eq!(
        call("fetch", format!("http://127.0.0.1:{port}/slow")),
        "error -4\n"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        call("fetch", format!("http://127.0.0.1:{port}/big")),
        "error -5\n"
    );
    // A function allowed no hosts calls none.
    assert_eq!(
        s.deploy("closed", &fetch, &json!({})).status(),
        StatusCode::CREATED
    );
    assert_eq!(
        call("closed", format!("http://127.0.0.1:{port}/echo")),
        "error -1\n"
    );
    // The call's deadline holds while the host waits for the upstream.
    let config =
        json!({"allowed_outbound_hosts": [format!("127.0.0.1:{port}")], "timeout_ms": 1000});
    assert_eq!(
        s.deploy("patient", &fetch, &config).status(),
        StatusCode::CREATED
    );
    let started = std::time::Instant::now();
    let r = s.invoke(
        "patient",
        format!("http://127.0.0.1:{port}/slow").as_bytes(),
    );
    let (status, e) = error_code(r);
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("timeout"))
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Counted by function and result.
    let m = s.metrics();
    let count = |result: &str| {
        let series =
            format!("flint_outbound_requests_total{{function=\"fetch\",result=\"{result}\"}}");
        crate::harness::metric(&m, &series).unwrap_or(-1.0)
    };
    assert_eq!(
        (count("ok"), count("not_allowed"), count("bad_request")),
        (1.0, 2.0, 1.0)
    );
    assert_eq!((count("timeout"), count("too_large")), (1.0, 1.0));
    let durations = "flint_outbound_request_duration_seconds_count{function=\"fetch\"}";
    assert_eq!(crate::harness::metric(&m, durations), Some(6.0));
}

/// A function written in AssemblyScript (built here with its compiler from npm) deploys and
/// runs: stdin, environment, stdout and the key-value store.
pub fn an_assemblyscript_function_runs(b: Backend) {
    let s = Server::start(b);
    let wasm = flint_test_modules::assemblyscript_module();
    let r = s.deploy("as-hello", &wasm, &json!({"env": {"GREETING": "Hi"}}));
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    assert_eq!(
        text(s.invoke("as-hello", b"Flint")),
        "Hi, Flint! (call 1)\n"
    );
    assert_eq!(
        text(s.invoke("as-hello", b"again")),
        "Hi, again! (call 2)\n"
    );
}
