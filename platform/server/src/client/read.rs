//! Commands that read: `flint list`, `show`, `logs [-f]`, and `invoke`.

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::Value;

use super::{Api, check, pretty};
use crate::settings;

/// What an invocation waits beyond the function's own timeout (queueing, booting).
const INVOKE_SLACK: Duration = Duration::from_secs(60);

/// `flint list`.
pub fn list(api: &Api) -> anyhow::Result<()> {
    let v = api.send(api.request(Method::GET, "/functions")?)?;
    api.print(&v, |v| {
        for f in v["functions"].as_array().into_iter().flatten() {
            let public = f["public"].as_bool() == Some(true);
            println!(
                "{}\tv{}\t{} bytes\t{}",
                f["name"].as_str().unwrap_or(""),
                f["version"],
                f["size_bytes"],
                if public { "public" } else { "private" }
            );
        }
    })
}

/// `flint show NAME`: the function's document.
pub fn show(api: &Api, name: &str) -> anyhow::Result<()> {
    let v = api.send(api.request(Method::GET, &format!("/functions/{name}"))?)?;
    pretty(&v);
    Ok(())
}

/// How long to wait for a call of `name`: its timeout (read from the server when the token
/// may), else the longest a function may run, plus slack for queueing and booting.
fn invoke_timeout(api: &Api, name: &str) -> Duration {
    let own = api
        .request(Method::GET, &format!("/functions/{name}"))
        .ok()
        .and_then(|r| api.send(r).ok())
        .and_then(|v| v["config"]["timeout_ms"].as_u64());
    let ms = own.unwrap_or(*settings::TIMEOUT_MS.end());
    Duration::from_millis(ms) + INVOKE_SLACK
}

/// `flint invoke NAME [--data TEXT|@FILE]`: the function's output, as is.
pub fn invoke(api: &Api, name: &str, data: Option<String>) -> anyhow::Result<()> {
    let body = match data {
        Some(d) if d.starts_with('@') => {
            std::fs::read(&d[1..]).with_context(|| format!("read {}", &d[1..]))?
        }
        Some(d) => d.into_bytes(),
        None => Vec::new(),
    };
    let timeout = invoke_timeout(api, name);
    let path = format!("/functions/{name}/invoke");
    let r = api.request_for(Method::POST, &path, Some(timeout))?;
    let r = check(r.body(body).send()?)?;
    std::io::stdout().write_all(&r.bytes()?)?;
    Ok(())
}

/// Prints one log line as text.
fn print_log(l: &Value) {
    println!(
        "{}\t{}\t{}\t{}\t{}",
        l["at"],
        l["level"].as_str().unwrap_or(""),
        l["stream"].as_str().unwrap_or(""),
        l["request_id"].as_str().unwrap_or("-"),
        l["message"].as_str().unwrap_or("")
    );
}

/// `flint logs NAME [-f]`: the newest lines, oldest first; with `-f`, then every new line as
/// the server streams it (one JSON object per line in `json` mode).
pub fn logs(api: &Api, name: &str, limit: u32, follow: bool) -> anyhow::Result<()> {
    let mut path = format!("/functions/{name}/logs?limit={limit}");
    if !follow {
        let v = api.send(api.request(Method::GET, &path)?)?;
        return api.print(&v, |v| {
            let lines: Vec<&Value> = v["logs"].as_array().into_iter().flatten().collect();
            lines.iter().rev().for_each(|l| print_log(l));
        });
    }
    path.push_str("&follow=true");
    // A follow lasts until interrupted: no request timeout.
    let response = check(api.request_for(Method::GET, &path, None)?.send()?)?;
    for line in std::io::BufReader::new(response).lines() {
        if let Some(data) = line?.strip_prefix("data:") {
            let v: Value = serde_json::from_str(data.trim())?;
            if api.json() {
                println!("{v}");
            } else {
                print_log(&v);
            }
            std::io::stdout().flush()?;
        }
    }
    Ok(())
}
