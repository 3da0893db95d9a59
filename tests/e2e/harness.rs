//! Starts the real `flint` binary on a free port, against SQLite in a scratch directory or a
//! fresh database on the PostgreSQL server named by `FLINT_TEST_DATABASE_URL`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};

/// The management token every test server bootstraps.
pub const TOKEN: &str = "e2e-admin-token";

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running `flint serve`.
pub struct Server {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    data_dir: PathBuf,
    database_url: Option<String>,
    extra_args: Vec<String>,
    client: Client,
    /// The admin token the server is started with (`FLINT_ADMIN_TOKEN`); change it and
    /// restart to rotate it.
    pub admin_token: String,
    /// The metrics listener's URL, when started with `--metrics-listen`.
    pub metrics_url: Option<String>,
}

fn scratch_dir() -> PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random bytes");
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("flint-e2e-{name}"));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A fresh, empty database on the test PostgreSQL server.
fn fresh_postgres_database() -> String {
    let base = std::env::var("FLINT_TEST_DATABASE_URL").expect(
        "FLINT_TEST_DATABASE_URL must name a PostgreSQL server for the PostgreSQL tests \
         (scripts/test.sh starts one and sets it)",
    );
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("random bytes");
    let db: String = format!(
        "flint_e2e_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {db}").as_str())
            .await
            .expect("create a test database");
    });
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    format!("{prefix}/{db}")
}

impl Server {
    /// Starts a server with default limits.
    pub fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[])
    }

    /// Starts a server with extra `flint serve` arguments.
    pub fn start_with(backend: Backend, extra_args: &[&str]) -> Self {
        Self::start_with_database(backend, extra_args, "")
    }

    /// Starts a server on the PostgreSQL database `url` (not a fresh one).
    pub fn start_on_database(url: &str, extra_args: &[&str]) -> Self {
        let mut s = Self::unstarted(Some(url.to_string()), extra_args);
        s.spawn();
        s
    }

    /// Starts a server with extra arguments, and `params` (e.g. `?sslmode=require`) added to
    /// the PostgreSQL URL.
    pub fn start_with_database(backend: Backend, extra_args: &[&str], params: &str) -> Self {
        let database_url =
            (backend == Backend::Postgres).then(|| fresh_postgres_database() + params);
        let mut s = Self::unstarted(database_url, extra_args);
        s.spawn();
        s
    }

    fn unstarted(database_url: Option<String>, extra_args: &[&str]) -> Self {
        Self {
            child: None,
            url: String::new(),
            data_dir: scratch_dir(),
            database_url,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            admin_token: TOKEN.to_string(),
            metrics_url: None,
        }
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flint"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env("FLINT_ADMIN_TOKEN", &self.admin_token)
            .env("RUST_LOG", "warn")
            .env_remove("FLINT_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &self.database_url {
            cmd.args(["--database-url", url]);
        }
        self.metrics_url = None;
        let mut child = cmd.spawn().expect("start flint serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            assert!(Instant::now() < deadline, "flint serve did not start");
            let line = lines
                .next()
                .expect("flint serve exited before listening")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("flint metrics on ") {
                self.metrics_url = Some(url.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("flint listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        self.url = url;
        self.child = Some(child);
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait for flint") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "flint did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The PostgreSQL URL the server uses, if it uses PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// Whether `needle` appears anywhere in the server's stored state: the bytes of every
    /// file in the data directory (the SQLite database and its journal), and for PostgreSQL
    /// the token rows and the sealed secrets.
    pub fn store_contains(&self, needle: &str) -> bool {
        let in_files = std::fs::read_dir(&self.data_dir)
            .expect("data dir")
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()));
        let Some(url) = &self.database_url else {
            return in_files;
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let rows: i64 = rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM api_tokens WHERE position($1 in \
                 token_hash || id || name || scopes || coalesce(functions, '')) > 0) + \
                 (SELECT COUNT(*) FROM secrets WHERE position(convert_to($1, 'UTF8') in \
                 ciphertext) > 0 OR position($1 in name) > 0)",
            )
            .bind(needle)
            .fetch_one(&mut conn)
            .await
            .expect("query tokens and secrets")
        });
        in_files || rows > 0
    }

    /// Kills the server with SIGKILL (a crash) and starts it again on the same store.
    pub fn crash_and_restart(&mut self) {
        let mut child = self.child.take().expect("server running");
        let _ = child.kill();
        let _ = child.wait();
        self.spawn();
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Files in the server's artefact and snapshot cache.
    pub fn cached_files(&self) -> Vec<String> {
        std::fs::read_dir(self.data_dir.join("cache/artifacts"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops and starts the server on the same store.
    pub fn restart(&mut self) {
        self.restart_after(|_| {});
    }

    /// Stops the server and starts it again on the same store with `extra_args` instead.
    pub fn restart_with(&mut self, extra_args: &[&str]) {
        assert!(self.terminate().success(), "clean exit before restart");
        self.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        self.spawn();
    }

    /// Stops the server, lets `meddle` change its data directory, and starts it again.
    pub fn restart_after(&mut self, meddle: impl FnOnce(&std::path::Path)) {
        assert!(self.terminate().success(), "clean exit before restart");
        meddle(&self.data_dir);
        self.spawn();
    }

    /// A request without a token.
    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.url, path))
    }

    /// A request with the management token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.anonymous(method, path).bearer_auth(&self.admin_token)
    }

    /// The JSON answer to an admin `GET path` (panics if it is not JSON).
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        self.req(reqwest::Method::GET, path)
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .json()
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    /// Deploys `wasm` as `name` with `config` (JSON); returns the response.
    pub fn deploy(
        &self,
        name: &str,
        wasm: &[u8],
        config: &serde_json::Value,
    ) -> reqwest::blocking::Response {
        let form = reqwest::blocking::multipart::Form::new()
            .part(
                "module",
                reqwest::blocking::multipart::Part::bytes(wasm.to_vec()),
            )
            .text("config", config.to_string());
        // A deploy compiles the module: minutes for a component with a language runtime in
        // it on two busy cores.
        self.req(reqwest::Method::PUT, &format!("/functions/{name}"))
            .multipart(form)
            .timeout(Duration::from_secs(600))
            .send()
            .expect("deploy request")
    }

    /// Invokes `name` with `body` using the token.
    pub fn invoke(&self, name: &str, body: &[u8]) -> reqwest::blocking::Response {
        self.req(reqwest::Method::POST, &format!("/functions/{name}/invoke"))
            .body(body.to_vec())
            .send()
            .expect("invoke request")
    }

    /// Runs a `flint` client command against this server (FLINT_URL and FLINT_TOKEN set).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_in(&std::env::temp_dir(), args)
    }

    /// Runs a `flint` client command in directory `dir`.
    pub fn cli_in(&self, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_flint"))
            .args(args)
            .current_dir(dir)
            .env("FLINT_URL", &self.url)
            .env("FLINT_TOKEN", &self.admin_token)
            .output()
            .expect("run the flint CLI")
    }

    /// Creates a token with `flint token create ARGS` (e.g. `--scope deploy --function f`)
    /// and returns its secret.
    pub fn create_token(&self, args: &[&str]) -> String {
        let out = self.cli(&[&["token", "create"], args].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    }

    /// The `/metrics` text (read with the admin token).
    pub fn metrics(&self) -> String {
        self.req(reqwest::Method::GET, "/metrics")
            .send()
            .expect("metrics")
            .text()
            .expect("metrics text")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Sends `request_line` (e.g. `PUT /functions/.. HTTP/1.1`) as a raw HTTP/1.1 request with
/// the token and an empty body, and returns the status code: for paths an HTTP client would
/// normalise before sending.
pub fn raw_status(url: &str, method_and_path: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let request = format!(
        "{method_and_path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line")
}

/// The names `GET /functions` lists to `token`.
pub fn function_names_for(s: &Server, token: &str) -> Vec<String> {
    let v: serde_json::Value = s
        .anonymous(reqwest::Method::GET, "/functions")
        .bearer_auth(token)
        .send()
        .expect("list functions")
        .json()
        .expect("JSON list");
    v["functions"]
        .as_array()
        .expect("a functions array")
        .iter()
        .map(|f| f["name"].as_str().expect("a name").to_string())
        .collect()
}

/// The status and the `error` object of a JSON error answer.
pub fn error_code(r: reqwest::blocking::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = r.status();
    let body: serde_json::Value = r.json().unwrap_or(serde_json::Value::Null);
    (status, body["error"].clone())
}

/// Runs `program` with `args`, feeding it `input` on stdin.
pub fn run_with_stdin(program: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program} ({e}); scripts/install-deps.sh installs it"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// The value of metric series `series` (e.g. `flint_x{a="b"}`), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `f` until it returns `Some`, for up to ten seconds.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
