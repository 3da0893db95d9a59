//! Commands that change a function: `flint deploy` (module, flags or manifest), `config`,
//! `rollback`, `delete`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, pretty};
use crate::api::config::{compose_patches, merge_patch};
use crate::cli::ConfigFlags;
use crate::manifest::{FileSpec, Manifest};

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
pub fn deploy(
    api: &Api,
    name: Option<String>,
    file: Option<PathBuf>,
    manifest: Option<PathBuf>,
    files_dir: Option<PathBuf>,
    flags: &ConfigFlags,
) -> anyhow::Result<()> {
    let patch = flags.patch()?;
    let default_manifest = PathBuf::from("flint.toml");
    let manifest = match (&name, &file, manifest) {
        (_, _, Some(m)) => Some(m),
        (None, None, None) if default_manifest.exists() => Some(default_manifest),
        _ => None,
    };
    let mut expected_secrets = Vec::new();
    let mut files: Vec<FileSpec> = Vec::new();
    let (name, file, config) = match manifest {
        Some(path) => {
            let m = Manifest::load(&path)?;
            expected_secrets = m.secrets;
            files = m.files;
            let mut config = Value::Object(m.config);
            merge_patch(&mut config, &patch);
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
                true => Some(current_config(api, &name, &patch)?),
                false => None,
            };
            (name, file, config)
        }
    };
    if let Some(dir) = files_dir {
        files = vec![FileSpec {
            source: dir,
            destination: ".".into(),
        }];
    }
    let module = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
    let r = api.request(Method::PUT, &format!("/functions/{name}"))?;
    let r = if config.is_none() && files.is_empty() {
        r.body(module)
    } else {
        use reqwest::blocking::multipart::{Form, Part};
        let mut form = Form::new().part("module", Part::bytes(module).file_name("module.wasm"));
        if let Some(config) = config {
            form = form.text("config", config.to_string());
        }
        if !files.is_empty() {
            form = form.part(
                "files",
                Part::bytes(archive(&files)?).file_name("files.tar"),
            );
        }
        r.multipart(form)
    };
    pretty(&api.send(r)?);
    warn_missing_secrets(api, &name, &expected_secrets)
}

/// A tar archive of `files` (symlinks kept as links).
pub fn archive(files: &[FileSpec]) -> anyhow::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for f in files {
        let shown = f.source.display();
        let meta = std::fs::symlink_metadata(&f.source).with_context(|| format!("read {shown}"))?;
        if meta.is_dir() {
            builder
                .append_dir_all(&f.destination, &f.source)
                .with_context(|| format!("archive {shown}"))?;
        } else {
            builder
                .append_path_with_name(&f.source, &f.destination)
                .with_context(|| format!("archive {shown}"))?;
        }
    }
    Ok(builder.into_inner()?)
}

/// Says which of the secrets a manifest expects are not set for `name` yet.
fn warn_missing_secrets(api: &Api, name: &str, expected: &[String]) -> anyhow::Result<()> {
    if expected.is_empty() {
        return Ok(());
    }
    let v = api.send(api.request(Method::GET, &format!("/functions/{name}/secrets"))?)?;
    let set: Vec<&str> = v["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for missing in expected.iter().filter(|e| !set.contains(&e.as_str())) {
        eprintln!("warning: secret {missing} is not set: flint secret set {name} {missing}");
    }
    Ok(())
}

/// The active config of `name` (empty for a new function) with `patch` applied.
fn current_config(api: &Api, name: &str, patch: &Value) -> anyhow::Result<Value> {
    let r = api
        .request(Method::GET, &format!("/functions/{name}"))?
        .send()?;
    let mut config = if r.status() == reqwest::StatusCode::NOT_FOUND {
        json!({})
    } else {
        let shown: Value = super::check(r)?.json()?;
        shown["config"].clone()
    };
    if config.is_null() {
        config = json!({});
    }
    merge_patch(&mut config, patch);
    Ok(config)
}

/// `flint config NAME [flags] [--patch JSON]`: a new version with the same module.
pub fn config(
    api: &Api,
    name: &str,
    flags: &ConfigFlags,
    patch: Option<String>,
) -> anyhow::Result<()> {
    let mut body = match patch {
        Some(p) => serde_json::from_str(&p).context("--patch takes a JSON object")?,
        None => json!({}),
    };
    compose_patches(&mut body, &flags.patch()?);
    let path = format!("/functions/{name}/config");
    pretty(&api.send(api.request(Method::PATCH, &path)?.json(&body))?);
    Ok(())
}

/// `flint rollback NAME VERSION`.
pub fn rollback(api: &Api, name: &str, version: i64) -> anyhow::Result<()> {
    let path = format!("/functions/{name}/rollback");
    let body = json!({ "version": version });
    pretty(&api.send(api.request(Method::POST, &path)?.json(&body))?);
    Ok(())
}

/// `flint delete NAME`.
pub fn delete(api: &Api, name: &str) -> anyhow::Result<()> {
    api.send(api.request(Method::DELETE, &format!("/functions/{name}"))?)?;
    println!("deleted {name}");
    Ok(())
}
