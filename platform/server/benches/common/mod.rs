//! What the server benchmarks share: starting the real `flint` binary.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The management token the benchmark servers bootstrap.
pub const TOKEN: &str = "bench-token";

/// Starts `flint serve` on a free port with its data in `dir` and `extra` arguments; returns
/// the child and its base URL.
pub fn start_flint(dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flint"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env("FLINT_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start flint");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let url = loop {
        let mut line = String::new();
        out.read_line(&mut line).expect("read stdout");
        assert!(!line.is_empty(), "flint exited");
        if let Some(u) = line.strip_prefix("flint listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, url)
}
