//! What a function can do beyond stdin and stdout, through the real binary: bundled files,
//! scratch and mounts.

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{Backend, Server, error_code};
use flint_test_modules::bundle::{fs_tree_tar, scratch_dir, write_fs_tree};
use flint_test_modules::c_module;

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

fn line<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"))
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
    assert!(shown["active"]["files_bytes"].as_i64().unwrap() > 50, "{shown}");
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
        (status, e["code"].as_str().unwrap_or_default().to_string(), e)
    };
    let missing = json!({"mounts": [{"source": "/nope", "path": "/app"}]});
    let (status, code, e) = refused(missing, tar.to_vec());
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_config"));
    assert_eq!(e["field"], "mounts[0].source");
    let escaping = json!({"mounts": [{"source": "/data/../..", "path": "/app"}]});
    let (status, _, e) = refused(escaping, tar.to_vec());
    assert_eq!((status, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("mounts[0].source")));
    let (status, code, _) = refused(json!({}), vec![0x41; 2048]);
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_files"));
    // More than --max-files-bytes (200,000 here).
    let big = scratch_dir("big-bundle");
    write_fs_tree(&big);
    std::fs::write(big.join("big.bin"), vec![7u8; 300_000]).unwrap();
    let (status, code, _) = refused(json!({}), flint_test_modules::bundle::tar_of(&big));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{code}");
    let _ = std::fs::remove_dir_all(&big);
    let scratch = json!({"scratch_max_mb": 100000});
    let (status, _, e) = refused(scratch, tar.to_vec());
    assert_eq!((status, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("scratch_max_mb")));
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
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
        &["deploy", "plain", "files.wasm", "--files", "public", "--arg", "cat", "--arg", "/css/site.css"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text(s.invoke("plain", b"")), "body{}");
    let _ = std::fs::remove_dir_all(&dir);
}
