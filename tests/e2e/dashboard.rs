//! The dashboard in headless Chromium against the real server: sign in, upload a real module,
//! see it listed, invoke it, watch the chart get points, see a validation error, roll back,
//! delete. Screenshots go to `target/screenshots/`, and to `docs/screenshots/` when
//! `FLINT_UPDATE_SCREENSHOTS=1`.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::Browser;
use crate::harness::{Backend, Server, TOKEN};
use flint_test_modules::c_module;

fn shot(browser: &Browser, backend: Backend, name: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    browser.screenshot(&root.join(format!("target/screenshots/{backend:?}/{name}.png")));
    if backend == Backend::Sqlite && std::env::var_os("FLINT_UPDATE_SCREENSHOTS").is_some() {
        browser.screenshot(&root.join(format!("docs/screenshots/{name}.png")));
    }
}

pub fn dashboard_in_a_real_browser(b: Backend) {
    let s = Server::start(b);
    let scratch = std::env::temp_dir().join(format!("flint-dash-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let wasm = scratch.join("hello.wasm");
    std::fs::write(&wasm, c_module("hello")).unwrap();
    let not_wasm = scratch.join("notes.wasm");
    std::fs::write(&not_wasm, "this is not WebAssembly").unwrap();

    let br = Browser::start();
    br.goto(&s.url);
    br.find("#view-signin:not([hidden])");
    shot(&br, b, "sign-in");
    br.type_into("#token", "wrong-token");
    br.click("#signin-form button");
    br.wait_text("#signin-error", "refused");
    br.clear("#token");
    br.type_into("#token", TOKEN);
    br.click("#signin-form button");
    br.find("#view-list:not([hidden])");
    br.find("#empty:not([hidden])");

    // A validation error from the server, shown next to the module field.
    br.goto(&format!("{}/#/deploy", s.url));
    br.type_into("#module", not_wasm.to_str().unwrap());
    br.type_into("#name", "broken");
    br.click("#deploy-form button[type=submit]");
    let error = br.wait_text("[data-error-for=module]", "Not a WebAssembly module");
    assert!(error.contains("\\0asm"), "{error}");
    shot(&br, b, "deploy-validation-error");

    // Upload a real module.
    br.goto(&format!("{}/#/deploy", s.url));
    br.eval("document.getElementById('deploy-form').reset()");
    br.type_into("#module", wasm.to_str().unwrap());
    br.type_into("#name", "hello");
    br.type_into("#env", "NAME=browser");
    br.type_into("#routes", "/hello");
    br.click("#public");
    br.click("#deploy-form button[type=submit]");
    br.wait_text("#fn-title", "hello");
    br.wait_text("#fn-summary", "Version 1");

    // Invoke it and read the output.
    br.type_into("#invoke-body", "from chromium");
    br.click("#invoke-form button[type=submit]");
    br.wait_text("#r-stdout", "hello, browser! you said: from chromium");
    assert!(br.text("#r-status").starts_with("200"));
    assert_eq!(br.text("#r-exit"), "0");
    assert_eq!(br.text("#r-version"), "1");
    // More calls, then the latency chart gets points on its next refresh.
    for _ in 0..3 {
        br.click("#invoke-form button[type=submit]");
    }
    br.wait("points on the latency chart", || {
        let n = br.eval("return document.querySelectorAll('#chart-latency circle').length");
        (n.as_u64().unwrap_or(0) > 0).then_some(())
    });
    shot(&br, b, "function");

    // Listed with its stats.
    br.goto(&format!("{}/#/", s.url));
    let row = br.wait_text("#functions tbody", "hello");
    assert!(row.contains("public") && row.contains("/hello"), "{row}");
    shot(&br, b, "functions");
    br.window(390, 844);
    shot(&br, b, "functions-phone");
    br.window(1280, 1000);

    // Roll back after a second deploy, with the confirmation.
    let r = s.deploy(
        "hello",
        &c_module("echo"),
        &json!({"public": true, "routes": ["/hello"]}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    br.goto(&format!("{}/#/functions/hello", s.url));
    br.wait_text("#fn-summary", "Version 2");
    br.click("#versions tbody button");
    br.accept_dialog();
    br.wait_text("#fn-summary", "Version 1");
    assert_eq!(s.invoke("hello", b"").headers()["x-flint-version"], "1");

    // Delete, with the confirmation.
    br.click("#delete");
    br.accept_dialog();
    br.find("#view-list:not([hidden])");
    br.find("#empty:not([hidden])");
    assert_eq!(s.invoke("hello", b"").status(), StatusCode::NOT_FOUND);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The day-two cards in a real browser: the live log tail, the config editor (with a
/// validation error from the server), secrets (the value never shown), and a traffic split.
pub fn dashboard_day_two(b: Backend) {
    let s = Server::start(b);
    for _ in 0..2 {
        let r = s.deploy("app", &c_module("kv"), &json!({"timeout_ms": 3000}));
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let br = Browser::start();
    br.goto(&s.url);
    br.type_into("#token", TOKEN);
    br.click("#signin-form button");
    br.find("#view-list:not([hidden])");
    br.goto(&format!("{}/#/functions/app", s.url));
    br.wait_text("#fn-summary", "Version 2");

    // A call made elsewhere shows up in the tail.
    br.wait_text("#tail-state", "live");
    assert_eq!(s.invoke("app", b"").status(), StatusCode::OK);
    br.wait_text("#logs", "visit number 1");
    br.eval("document.getElementById('logs-title').scrollIntoView()");
    shot(&br, b, "live-tail");

    // The config editor: a server-side error next to it, then a good change.
    let edit = |field: &str, value: &str| {
        br.eval(&format!(
            "const e = document.getElementById('config-editor'); const c = JSON.parse(e.value); \
             c.{field} = {value}; e.value = JSON.stringify(c, null, 2);"
        ));
    };
    edit("timeout_ms", "0");
    br.click("#config-save");
    br.wait_text("[data-error-for=config-editor]", "timeout_ms");
    br.goto(&format!("{}/#/functions/app", s.url));
    br.wait_text("#fn-summary", "Version 2");
    edit("timeout_ms", "4000");
    br.click("#config-save");
    br.wait_text("#fn-summary", "Version 3");
    let v: serde_json::Value = s.get_json("/functions/app");
    assert_eq!(v["config"]["timeout_ms"], 4000);
    br.eval("document.getElementById('config-title').scrollIntoView()");
    shot(&br, b, "config-editor");

    // Secrets: set one, see its name, never its value.
    let value = "dash-secret-0x51";
    br.type_into("#secret-name", "API_KEY");
    br.type_into("#secret-value", value);
    br.click("#secret-form button[type=submit]");
    br.wait_text("#secrets tbody", "API_KEY");
    let page = br.eval("return document.body.innerText + document.documentElement.outerHTML");
    assert!(
        !page.as_str().unwrap().contains(value),
        "the page shows the secret"
    );
    br.eval("document.getElementById('secrets-title').scrollIntoView()");
    shot(&br, b, "secrets");

    // A traffic split between versions 2 and 3.
    br.type_into("#traffic-weights", "2=50,3=50");
    br.click("#traffic-form button[type=submit]");
    br.wait_text("#traffic-now", "version 3: 50%");
    let v: serde_json::Value = s.get_json("/functions/app");
    assert_eq!(v["traffic"]["weights"], json!({"2": 50, "3": 50}));
    br.eval("document.getElementById('traffic-title').scrollIntoView()");
    shot(&br, b, "traffic");
    br.click("#traffic-clear");
    br.wait_text("#traffic-now", "Every call goes to the active version");
}
