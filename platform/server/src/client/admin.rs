//! Commands that manage access and routing: `flint traffic`, `secret ...`, `token ...`.

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, pretty};
use crate::cli::{SecretCommand, TokenCommand};

/// `flint traffic NAME V=W... [--sticky] | --clear`.
pub fn traffic(
    api: &Api,
    name: &str,
    weights: Vec<String>,
    sticky: bool,
    clear: bool,
) -> anyhow::Result<()> {
    let path = format!("/functions/{name}/traffic");
    if clear {
        api.send(api.request(Method::DELETE, &path)?)?;
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
    pretty(&api.send(api.request(Method::PUT, &path)?.json(&body))?);
    Ok(())
}

/// `flint secret set|list|delete|reseal`.
pub fn secret(command: SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Set {
            function,
            name,
            value,
            client,
        } => {
            let api = Api::new(&client);
            let value = match value {
                Some(v) => v,
                None => {
                    let mut v = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut v)?;
                    v.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let path = format!("/functions/{function}/secrets/{name}");
            api.send(api.request(Method::PUT, &path)?.body(value))?;
            println!("set {name} of {function}");
        }
        SecretCommand::List { function, client } => {
            let api = Api::new(&client);
            let path = format!("/functions/{function}/secrets");
            let v = api.send(api.request(Method::GET, &path)?)?;
            api.print(&v, |v| {
                for s in v["secrets"].as_array().into_iter().flatten() {
                    let name = s["name"].as_str().unwrap_or("");
                    println!("{name}\tupdated {}", s["updated_at"]);
                }
            })?;
        }
        SecretCommand::Delete {
            function,
            name,
            client,
        } => {
            let api = Api::new(&client);
            let path = format!("/functions/{function}/secrets/{name}");
            api.send(api.request(Method::DELETE, &path)?)?;
            println!("deleted {name} of {function}");
        }
        SecretCommand::Reseal { client } => {
            let api = Api::new(&client);
            pretty(&api.send(api.request(Method::POST, "/secrets/reseal")?)?);
        }
    }
    Ok(())
}

/// The text line of one token.
fn token_line(t: &Value) -> String {
    let list = |v: &Value| -> Option<String> {
        let items: Vec<&str> = v.as_array()?.iter().filter_map(Value::as_str).collect();
        Some(items.join(","))
    };
    format!(
        "{}\t{}\t{}\t{}\texpires {}\tlast used {}",
        t["id"].as_str().unwrap_or(""),
        t["name"].as_str().unwrap_or(""),
        list(&t["scopes"]).unwrap_or_default(),
        list(&t["functions"]).unwrap_or_else(|| "*".into()),
        t["expires_at"],
        t["last_used_at"],
    )
}

/// `flint token create|list|revoke`.
pub fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            scopes,
            functions,
            expires,
            name,
            client,
        } => {
            let api = Api::new(&client);
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
            let v = api.send(api.request(Method::POST, "/tokens")?.json(&body))?;
            api.print(&v, |v| {
                eprintln!("id {} (the token below is shown once)", v["id"]);
                println!("{}", v["token"].as_str().unwrap_or_default());
            })?;
        }
        TokenCommand::List { client } => {
            let api = Api::new(&client);
            let v = api.send(api.request(Method::GET, "/tokens")?)?;
            api.print(&v, |v| {
                for t in v["tokens"].as_array().into_iter().flatten() {
                    println!("{}", token_line(t));
                }
            })?;
        }
        TokenCommand::Revoke { id, client } => {
            let api = Api::new(&client);
            api.send(api.request(Method::DELETE, &format!("/tokens/{id}"))?)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
