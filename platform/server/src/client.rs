//! The client commands: `flint deploy`, `invoke`, `list`, `logs`, `rollback`, `delete`,
//! `token create|list|revoke`.

use std::io::Write;

use anyhow::{Context, bail};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::cli::{ClientArgs, ClientCommand, TokenCommand};

fn request(c: &ClientArgs, method: reqwest::Method, path: &str) -> RequestBuilder {
    let url = format!("{}{}", c.url.trim_end_matches('/'), path);
    let r = Client::new().request(method, url);
    match &c.token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

fn check(response: Response) -> anyhow::Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body: Value = response.json().unwrap_or(Value::Null);
    let message = body["error"]["message"].as_str().unwrap_or("no details");
    let code = body["error"]["code"].as_str().unwrap_or("error");
    bail!("{status}: {code}: {message}")
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs a client command.
pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Deploy {
            name,
            file,
            env,
            args,
            public,
            routes,
            memory_mb,
            timeout_ms,
            max_concurrency,
            client,
        } => {
            let module =
                std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
            let mut env_map = serde_json::Map::new();
            for kv in env {
                let (k, v) = kv.split_once('=').context("--env takes KEY=VALUE")?;
                env_map.insert(k.to_string(), json!(v));
            }
            let config = json!({
                "env": env_map,
                "args": args,
                "public": public,
                "routes": routes,
                "memory_limit_mb": memory_mb,
                "timeout_ms": timeout_ms,
                "max_concurrency": max_concurrency,
            });
            let form = reqwest::blocking::multipart::Form::new()
                .part(
                    "module",
                    reqwest::blocking::multipart::Part::bytes(module).file_name("module.wasm"),
                )
                .text("config", config.to_string());
            let r = check(
                request(&client, reqwest::Method::PUT, &format!("/functions/{name}"))
                    .multipart(form)
                    .send()?,
            )?;
            print_json(&r.json()?)
        }
        ClientCommand::Invoke { name, data, client } => {
            let body = match data {
                Some(d) if d.starts_with('@') => {
                    std::fs::read(&d[1..]).with_context(|| format!("read {}", &d[1..]))?
                }
                Some(d) => d.into_bytes(),
                None => Vec::new(),
            };
            let r = check(
                request(
                    &client,
                    reqwest::Method::POST,
                    &format!("/functions/{name}/invoke"),
                )
                .body(body)
                .send()?,
            )?;
            std::io::stdout().write_all(&r.bytes()?)?;
            Ok(())
        }
        ClientCommand::List { client } => {
            let r = check(request(&client, reqwest::Method::GET, "/functions").send()?)?;
            let v: Value = r.json()?;
            for f in v["functions"].as_array().into_iter().flatten() {
                println!(
                    "{}\tv{}\t{} bytes\t{}",
                    f["name"].as_str().unwrap_or(""),
                    f["version"],
                    f["size_bytes"],
                    if f["public"].as_bool() == Some(true) {
                        "public"
                    } else {
                        "private"
                    }
                );
            }
            Ok(())
        }
        ClientCommand::Logs {
            name,
            limit,
            client,
        } => {
            let r = check(
                request(
                    &client,
                    reqwest::Method::GET,
                    &format!("/functions/{name}/logs?limit={limit}"),
                )
                .send()?,
            )?;
            let v: Value = r.json()?;
            let mut logs: Vec<&Value> = v["logs"].as_array().into_iter().flatten().collect();
            logs.reverse();
            for l in logs {
                println!(
                    "{}\t{}\t{}\t{}",
                    l["at"],
                    l["level"].as_str().unwrap_or(""),
                    l["stream"].as_str().unwrap_or(""),
                    l["message"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        ClientCommand::Rollback {
            name,
            version,
            client,
        } => {
            let r = check(
                request(
                    &client,
                    reqwest::Method::POST,
                    &format!("/functions/{name}/rollback"),
                )
                .json(&json!({ "version": version }))
                .send()?,
            )?;
            print_json(&r.json()?)
        }
        ClientCommand::Delete { name, client } => {
            check(
                request(
                    &client,
                    reqwest::Method::DELETE,
                    &format!("/functions/{name}"),
                )
                .send()?,
            )?;
            println!("deleted {name}");
            Ok(())
        }
        ClientCommand::Token { command } => token(command),
    }
}

/// `flint token create|list|revoke`.
fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            scopes,
            functions,
            expires,
            name,
            client,
        } => {
            let mut body = json!({ "scopes": scopes });
            if !functions.is_empty() {
                body["functions"] = json!(functions);
            }
            if let Some(s) = expires {
                body["expires_in_s"] = json!(s);
            }
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            let r = check(
                request(&client, reqwest::Method::POST, "/tokens")
                    .json(&body)
                    .send()?,
            )?;
            let v: Value = r.json()?;
            eprintln!("id {} (the token below is shown once)", v["id"]);
            println!("{}", v["token"].as_str().unwrap_or_default());
            Ok(())
        }
        TokenCommand::List { client } => {
            let r = check(request(&client, reqwest::Method::GET, "/tokens").send()?)?;
            let v: Value = r.json()?;
            for t in v["tokens"].as_array().into_iter().flatten() {
                let scopes: Vec<&str> = t["scopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let functions = match t["functions"].as_array() {
                    Some(f) => f
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    None => "*".into(),
                };
                println!(
                    "{}\t{}\t{}\t{}\texpires {}\tlast used {}",
                    t["id"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or(""),
                    scopes.join(","),
                    functions,
                    t["expires_at"],
                    t["last_used_at"],
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id, client } => {
            check(request(&client, reqwest::Method::DELETE, &format!("/tokens/{id}")).send()?)?;
            println!("revoked {id}");
            Ok(())
        }
    }
}
