//! The client commands: `flint deploy`, `config`, `show`, `invoke`, `list`, `logs`,
//! `rollback`, `delete`, `token create|list|revoke`.

use std::io::Write;

use anyhow::{Context, bail};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use std::path::PathBuf;

use crate::cli::{ClientArgs, ClientCommand, ConfigFlags, SecretCommand, TokenCommand};
use crate::manifest::Manifest;

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
            manifest,
            config,
            client,
        } => deploy(name, file, manifest, &config, &client),
        ClientCommand::Config {
            name,
            config,
            patch,
            client,
        } => {
            let mut body = match patch {
                Some(p) => serde_json::from_str(&p).context("--patch takes a JSON object")?,
                None => json!({}),
            };
            crate::api::config::compose_patches(&mut body, &config.patch()?);
            let path = format!("/functions/{name}/config");
            let r = check(
                request(&client, reqwest::Method::PATCH, &path)
                    .json(&body)
                    .send()?,
            )?;
            print_json(&r.json()?)
        }
        ClientCommand::Show { name, client } => {
            let path = format!("/functions/{name}");
            let r = check(request(&client, reqwest::Method::GET, &path).send()?)?;
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
            follow,
            client,
        } => logs(&client, &name, limit, follow),
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
        ClientCommand::Traffic {
            name,
            weights,
            sticky,
            clear,
            client,
        } => {
            let path = format!("/functions/{name}/traffic");
            if clear {
                check(request(&client, reqwest::Method::DELETE, &path).send()?)?;
                println!("{name}: every call to the active version");
                return Ok(());
            }
            let mut map = serde_json::Map::new();
            for w in weights {
                let (v, weight) = w.split_once('=').context("weights are VERSION=WEIGHT")?;
                let weight: u32 = weight.parse().context("a weight is a whole number")?;
                map.insert(v.to_string(), json!(weight));
            }
            let body = json!({ "weights": map, "sticky": sticky });
            let r = request(&client, reqwest::Method::PUT, &path)
                .json(&body)
                .send()?;
            print_json(&check(r)?.json()?)
        }
        ClientCommand::Secret { command } => secret(command),
    }
}

impl ConfigFlags {
    /// The flags as a JSON merge patch of the config: only the fields they name.
    pub fn patch(&self) -> anyhow::Result<Value> {
        let mut patch = serde_json::Map::new();
        let mut env = serde_json::Map::new();
        for kv in &self.env {
            let (k, v) = kv.split_once('=').context("--env takes KEY=VALUE")?;
            env.insert(k.to_string(), json!(v));
        }
        for k in &self.unset_env {
            env.insert(k.clone(), Value::Null);
        }
        if !env.is_empty() {
            patch.insert("env".into(), Value::Object(env));
        }
        if !self.args.is_empty() {
            patch.insert("args".into(), json!(self.args));
        }
        if self.public || self.private {
            patch.insert("public".into(), json!(self.public));
        }
        if !self.routes.is_empty() {
            patch.insert("routes".into(), json!(self.routes));
        }
        let numbers = [
            ("memory_limit_mb", self.memory_mb),
            ("timeout_ms", self.timeout_ms),
            ("max_concurrency", self.max_concurrency.map(u64::from)),
        ];
        for (field, value) in numbers {
            if let Some(v) = value {
                patch.insert(field.into(), json!(v));
            }
        }
        Ok(Value::Object(patch))
    }
}

/// `flint deploy`: a module with the active config kept (changed by the flags), or a
/// manifest's whole config (overridden by the flags).
fn deploy(
    name: Option<String>,
    file: Option<PathBuf>,
    manifest: Option<PathBuf>,
    flags: &ConfigFlags,
    client: &ClientArgs,
) -> anyhow::Result<()> {
    let patch = flags.patch()?;
    let default_manifest = PathBuf::from("flint.toml");
    let manifest = match (&name, &file, manifest) {
        (_, _, Some(m)) => Some(m),
        (None, None, None) if default_manifest.exists() => Some(default_manifest),
        _ => None,
    };
    let (name, file, config) = match manifest {
        Some(path) => {
            let m = Manifest::load(&path)?;
            let mut config = Value::Object(m.config);
            crate::api::config::merge_patch(&mut config, &patch);
            (
                name.unwrap_or(m.name),
                file.unwrap_or(m.module),
                Some(config),
            )
        }
        None => {
            let (Some(name), Some(file)) = (name, file) else {
                bail!("give NAME and FILE, or a manifest (--manifest, or ./flint.toml)");
            };
            let changes = patch.as_object().is_some_and(|p| !p.is_empty());
            let config = match changes {
                true => Some(current_config(client, &name, &patch)?),
                false => None,
            };
            (name, file, config)
        }
    };
    let module = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
    let path = format!("/functions/{name}");
    let r = match config {
        Some(config) => {
            let form = reqwest::blocking::multipart::Form::new()
                .part(
                    "module",
                    reqwest::blocking::multipart::Part::bytes(module).file_name("module.wasm"),
                )
                .text("config", config.to_string());
            request(client, reqwest::Method::PUT, &path)
                .multipart(form)
                .send()?
        }
        None => request(client, reqwest::Method::PUT, &path)
            .body(module)
            .send()?,
    };
    print_json(&check(r)?.json()?)
}

/// The active config of `name` (empty for a new function) with `patch` applied.
fn current_config(client: &ClientArgs, name: &str, patch: &Value) -> anyhow::Result<Value> {
    let r = request(client, reqwest::Method::GET, &format!("/functions/{name}")).send()?;
    let mut config = if r.status() == reqwest::StatusCode::NOT_FOUND {
        json!({})
    } else {
        let shown: Value = check(r)?.json()?;
        shown["config"].clone()
    };
    if config.is_null() {
        config = json!({});
    }
    crate::api::config::merge_patch(&mut config, patch);
    Ok(config)
}

/// Prints one log line as `flint logs` does.
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

/// `flint logs NAME [-f]`: the newest lines, oldest first; with `-f`, then every new line.
fn logs(client: &ClientArgs, name: &str, limit: u32, follow: bool) -> anyhow::Result<()> {
    let mut path = format!("/functions/{name}/logs?limit={limit}");
    if !follow {
        let v: Value = check(request(client, reqwest::Method::GET, &path).send()?)?.json()?;
        let logs: Vec<&Value> = v["logs"].as_array().into_iter().flatten().collect();
        logs.iter().rev().for_each(|l| print_log(l));
        return Ok(());
    }
    path.push_str("&follow=true");
    let url = format!("{}{}", client.url.trim_end_matches('/'), path);
    // A follow lasts until interrupted: no request timeout.
    let http = Client::builder().timeout(None).build()?;
    let mut r = http.get(url);
    if let Some(t) = &client.token {
        r = r.bearer_auth(t);
    }
    let response = check(r.send()?)?;
    use std::io::BufRead;
    for line in std::io::BufReader::new(response).lines() {
        if let Some(data) = line?.strip_prefix("data:") {
            print_log(&serde_json::from_str(data.trim())?);
            std::io::stdout().flush()?;
        }
    }
    Ok(())
}

/// `flint secret set|list|delete|reseal`.
fn secret(command: SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Set {
            function,
            name,
            value,
            client,
        } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut v = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut v)?;
                    v.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let path = format!("/functions/{function}/secrets/{name}");
            check(
                request(&client, reqwest::Method::PUT, &path)
                    .body(value)
                    .send()?,
            )?;
            println!("set {name} of {function}");
        }
        SecretCommand::List { function, client } => {
            let path = format!("/functions/{function}/secrets");
            let v: Value = check(request(&client, reqwest::Method::GET, &path).send()?)?.json()?;
            for s in v["secrets"].as_array().into_iter().flatten() {
                println!(
                    "{}\tupdated {}",
                    s["name"].as_str().unwrap_or(""),
                    s["updated_at"]
                );
            }
        }
        SecretCommand::Delete {
            function,
            name,
            client,
        } => {
            let path = format!("/functions/{function}/secrets/{name}");
            check(request(&client, reqwest::Method::DELETE, &path).send()?)?;
            println!("deleted {name} of {function}");
        }
        SecretCommand::Reseal { client } => {
            let r = request(&client, reqwest::Method::POST, "/secrets/reseal").send()?;
            print_json(&check(r)?.json()?)?;
        }
    }
    Ok(())
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
