//! Store outages, end to end: a private PostgreSQL server that the test stops and starts.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Server, error_code, eventually, metric};
use flint_test_modules::c_module;

/// A PostgreSQL server of the test's own, on its own port and data directory.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(script: &str) {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n");
    let status = if root.unwrap_or(false) {
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", script])
            .status()
    } else {
        Command::new("sh").args(["-c", script]).status()
    };
    assert!(
        status.expect("run a PostgreSQL command").success(),
        "{script}"
    );
}

impl PrivatePostgres {
    /// Initialises and starts a server.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (apt-get install postgresql)")
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("flint-outage-pg-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").arg("postgres").arg(&dir).status();
        let pg = Self { dir, bin, port };
        as_postgres(&format!(
            "{}/initdb -D {}/data -A trust -U postgres >/dev/null",
            pg.bin.display(),
            pg.dir.display()
        ));
        pg.up();
        pg
    }

    /// The database URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (initialised) server.
    pub fn up(&self) {
        as_postgres(&format!(
            "{}/pg_ctl -D {d}/data -l {d}/log -w start -o \"-p {} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off\" >/dev/null",
            self.bin.display(),
            self.port,
            d = self.dir.display()
        ));
    }

    /// Stops the server at once (`-m immediate`: like a crash, connections are cut).
    pub fn down(&self) {
        as_postgres(&format!(
            "{}/pg_ctl -D {}/data -m immediate stop >/dev/null",
            self.bin.display(),
            self.dir.display()
        ));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c"])
            .arg(format!(
                "{}/pg_ctl -D {}/data -m immediate stop >/dev/null 2>&1",
                self.bin.display(),
                self.dir.display()
            ))
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn invocation_count(s: &Server, name: &str) -> usize {
    let v: Value = s.get_json(&format!("/functions/{name}/invocations"));
    v["invocations"].as_array().map_or(0, Vec::len)
}

/// With PostgreSQL down: warm functions answer; every call that needs the store answers 503
/// `store_unavailable` with `Retry-After` within about 2 s; `/readyz` answers at once and stays
/// ready (this node has warm functions). After it is back, every record written meanwhile is
/// in the store, and nothing was dropped.
pub fn the_store_goes_down_and_comes_back() {
    let pg = PrivatePostgres::start();
    let mut s = Server::start_on_database(&pg.url(), &[]);
    assert_eq!(
        s.deploy("warm", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    for _ in 0..5 {
        assert_eq!(s.invoke("warm", b"before").status(), StatusCode::OK);
    }
    eventually(|| (invocation_count(&s, "warm") == 5).then_some(()));

    pg.down();
    let calls_in_outage = 20;
    for _ in 0..calls_in_outage {
        let r = s.invoke("warm", b"during");
        assert_eq!(r.status(), StatusCode::OK, "a warm function answers");
    }
    let store_calls = [
        (Method::GET, "/functions", None),
        (Method::GET, "/functions/warm", None),
        (Method::GET, "/functions/warm/logs", None),
        (Method::GET, "/tokens", None),
        (
            Method::POST,
            "/functions/warm/rollback",
            Some(json!({"version": 1})),
        ),
        (Method::POST, "/functions/cold/invoke", None),
    ];
    // The first call may also wait for a token check (1 s) if the admin token's 10 s of trust
    // ran out; its 503 tells the checks not to wait for the store meanwhile, so every later
    // call answers within the store's own 2 s deadline.
    let mut bound = Duration::from_millis(3500);
    for (method, path, body) in store_calls {
        let started = Instant::now();
        let mut r = s.req(method.clone(), path);
        if let Some(b) = &body {
            r = r.json(b);
        }
        let r = r.send().unwrap();
        let took = started.elapsed();
        let retry = r.headers().get("retry-after").is_some();
        let (status, e) = error_code(r);
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable")),
            "{method} {path}"
        );
        assert!(retry, "{method} {path}: Retry-After");
        eprintln!("store down: {method} {path} -> {status} in {took:?}");
        assert!(took < bound, "{method} {path} took {took:?}");
        bound = Duration::from_millis(2800);
    }
    let started = Instant::now();
    let deploy = s.deploy("new", &c_module("echo"), &json!({}));
    assert_eq!(deploy.status(), StatusCode::SERVICE_UNAVAILABLE);
    eprintln!("store down: deploy -> 503 in {:?}", started.elapsed());
    assert!(
        started.elapsed() < bound,
        "deploy took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let ready: Value = s
        .anonymous(Method::GET, "/readyz")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    eprintln!("store down: /readyz in {:?}: {ready}", started.elapsed());
    assert_eq!(
        (ready["ready"].as_bool(), ready["database"].as_bool()),
        (Some(true), Some(false))
    );

    pg.up();
    let back = Instant::now();
    eventually(|| {
        let r = s.req(Method::GET, "/functions").send().ok()?;
        (r.status() == StatusCode::OK).then_some(())
    });
    // Every record of the outage is written once the store is back.
    let want = 5 + calls_in_outage;
    crate::harness::eventually(|| (invocation_count(&s, "warm") == want).then_some(()));
    eprintln!(
        "store back: the {calls_in_outage} buffered records written within {:?}",
        back.elapsed()
    );
    let m = s.metrics();
    assert_eq!(metric(&m, "flint_records_dropped_total"), Some(0.0));
    assert_eq!(
        s.deploy("new", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    s.restart();
    assert_eq!(s.invoke("new", b"after").text().unwrap(), "after");
}

/// How long until `f` holds, polling every 10 ms (up to 10 s).
fn time_until(mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never happened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

/// Two nodes on one PostgreSQL: deploys, rollbacks, config changes and deletes made through
/// one reach the other in well under a second (LISTEN/NOTIFY; the 2 s poll is the backstop).
pub fn changes_reach_every_node_at_once() {
    let a = Server::start(crate::harness::Backend::Postgres);
    let b = Server::start_on_database(a.database_url().unwrap(), &[]);
    assert_eq!(
        a.deploy("f", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    let version_on_b = || {
        let r = b.invoke("f", b"x");
        r.headers()
            .get("x-flint-version")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(
        version_on_b().as_deref(),
        Some("1"),
        "b loads f on its first call"
    );
    let mut lags = Vec::new();
    // A deploy through a.
    assert_eq!(
        a.deploy("f", &c_module("echo"), &json!({})).status(),
        StatusCode::CREATED
    );
    lags.push(time_until(|| version_on_b().as_deref() == Some("2")));
    // A rollback through a.
    let r = a
        .req(Method::POST, "/functions/f/rollback")
        .json(&json!({"version": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    lags.push(time_until(|| version_on_b().as_deref() == Some("1")));
    // A config change through b, seen by a.
    let r = b
        .req(Method::PATCH, "/functions/f/config")
        .json(&json!({"public": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    lags.push(time_until(|| {
        a.anonymous(Method::POST, "/functions/f/invoke")
            .send()
            .unwrap()
            .status()
            == StatusCode::OK
    }));
    // A delete through a.
    assert_eq!(
        a.req(Method::DELETE, "/functions/f")
            .send()
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    lags.push(time_until(|| {
        b.invoke("f", b"x").status() == StatusCode::NOT_FOUND
    }));
    eprintln!("changes reached the other node after {lags:?}");
    for lag in lags {
        assert!(lag < Duration::from_millis(800), "{lag:?}");
    }
}
