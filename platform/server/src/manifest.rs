//! `flint.toml`: a function described in a file, like `spin.toml`, for `flint deploy`.
//!
//! ```toml
//! name = "hello"
//! module = "target/wasm32-wasip1/release/hello.wasm"   # relative to this file
//! public = true
//! routes = ["/hello"]
//! timeout_ms = 5000
//!
//! secrets = ["API_KEY"]   # set apart: flint secret set hello API_KEY
//!
//! # Bundled files, relative to this file: a directory or file at the same path in the
//! # bundle, or a source placed at a destination.
//! files = ["templates", { source = "public", destination = "/static" }]
//!
//! [env]
//! GREETING = "hi"
//! ```
//!
//! `secrets` names the secrets the function expects (their values never go in a file:
//! `flint deploy` says which are not set yet). `files` lists what goes in the bundle (sent as
//! the deploy's `files` archive). Every other key besides `name` and `module`
//! is a config field (as in the deploy API's `config`
//! part); fields left out take their defaults, so the file is the whole config. The server
//! validates the fields, with the same errors as any deploy.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Function name.
    pub name: String,
    /// The module file, resolved against the manifest's directory.
    pub module: PathBuf,
    /// The secrets the function expects (names).
    pub secrets: Vec<String>,
    /// What goes in the bundle.
    pub files: Vec<FileSpec>,
    /// The config fields, as JSON.
    pub config: Map<String, Value>,
}

/// A file or directory of the manifest's directory, and where it goes in the bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSpec {
    /// On this machine, resolved against the manifest's directory.
    pub source: PathBuf,
    /// In the bundle, relative (`.` for its root).
    pub destination: String,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("parse {path}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// A required key is missing or has the wrong type.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Manifest {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| match e {
            ManifestError::Parse { source, .. } => ManifestError::Parse {
                path: shown,
                source,
            },
            ManifestError::Invalid { message, .. } => ManifestError::Invalid {
                path: shown,
                message,
            },
            other => other,
        })
    }

    /// Parses manifest `text`, resolving the module path against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ManifestError> {
        let invalid = |message: &str| ManifestError::Invalid {
            path: String::new(),
            message: message.to_string(),
        };
        let value: toml::Table = toml::from_str(text).map_err(|source| ManifestError::Parse {
            path: String::new(),
            source,
        })?;
        let json = serde_json::to_value(value).map_err(|_| invalid("not representable"))?;
        let Value::Object(mut config) = json else {
            return Err(invalid("expected a table"));
        };
        let name = match config.remove("name") {
            Some(Value::String(n)) => n,
            _ => return Err(invalid("`name` (a string) is required")),
        };
        let module = match config.remove("module") {
            Some(Value::String(m)) => base.join(m),
            _ => return Err(invalid("`module` (a path) is required")),
        };
        let secrets = match config.remove("secrets") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .into_iter()
                .map(|n| match n {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid("`secrets` is a list of names")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("`secrets` is a list of names")),
        };
        let files = match config.remove("files") {
            None => Vec::new(),
            Some(Value::Array(list)) => list
                .into_iter()
                .map(|item| file_spec(item, base))
                .collect::<Result<_, _>>()
                .map_err(|m| invalid(&m))?,
            Some(_) => return Err(invalid("`files` is a list")),
        };
        Ok(Self {
            name,
            module,
            secrets,
            files,
            config,
        })
    }
}

/// One entry of `files`: `"path"` or `{ source = "path", destination = "/in/bundle" }`.
fn file_spec(item: Value, base: &Path) -> Result<FileSpec, String> {
    let (source, destination) = match item {
        Value::String(s) => (s.clone(), s),
        Value::Object(mut t) => match (t.remove("source"), t.remove("destination")) {
            (Some(Value::String(s)), Some(Value::String(d))) if t.is_empty() => (s, d),
            _ => return Err("a `files` table has `source` and `destination` strings".into()),
        },
        _ => return Err("`files` entries are paths or { source, destination } tables".into()),
    };
    if source.contains('*') {
        return Err(format!(
            "{source}: patterns are not supported; name a file or directory"
        ));
    }
    if Path::new(&source).is_absolute() || source.split('/').any(|c| c == "..") {
        return Err(format!(
            "{source}: a source lies inside the manifest's directory"
        ));
    }
    let destination = destination.trim_matches('/');
    if destination.split('/').any(|c| c == "..") {
        return Err(format!("{destination}: a destination may not contain .."));
    }
    Ok(FileSpec {
        source: base.join(source),
        destination: if destination.is_empty() {
            ".".into()
        } else {
            destination.into()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_paths_or_source_destination_tables() {
        let m = Manifest::parse(
            "name = \"a\"\nmodule = \"a.wasm\"\nfiles = [\"tpl\", { source = \"public\", destination = \"/static\" }, { source = \"root\", destination = \"/\" }]",
            Path::new("/srv"),
        )
        .unwrap();
        let got: Vec<(PathBuf, &str)> = m
            .files
            .iter()
            .map(|f| (f.source.clone(), f.destination.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (PathBuf::from("/srv/tpl"), "tpl"),
                (PathBuf::from("/srv/public"), "static"),
                (PathBuf::from("/srv/root"), "."),
            ]
        );
        assert!(!m.config.contains_key("files"));
        for bad in [
            "[\"../x\"]",
            "[\"/etc\"]",
            "[\"a/*.txt\"]",
            "[{ source = \"a\" }]",
            "\"a\"",
        ] {
            let text = format!("name = \"a\"\nmodule = \"a.wasm\"\nfiles = {bad}");
            assert!(Manifest::parse(&text, Path::new("/srv")).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_and_module_come_out_and_the_rest_is_config() {
        let m = Manifest::parse(
            "name = \"hello\"\nmodule = \"out/hello.wasm\"\npublic = true\n\
             routes = [\"/hello\"]\ntimeout_ms = 5000\nsecrets = [\"API_KEY\"]\n\
             [env]\nGREETING = \"hi\"\n",
            Path::new("/srv/app"),
        )
        .unwrap();
        assert_eq!(m.name, "hello");
        assert_eq!(m.module, Path::new("/srv/app/out/hello.wasm"));
        assert_eq!(m.secrets, ["API_KEY"]);
        assert_eq!(
            Value::Object(m.config),
            serde_json::json!({"public": true, "routes": ["/hello"], "timeout_ms": 5000, "env": {"GREETING": "hi"}})
        );
        for bad in [
            "module = \"x.wasm\"",
            "name = \"a\"",
            "name = 1\nmodule = \"x\"",
            "= broken",
        ] {
            assert!(Manifest::parse(bad, Path::new(".")).is_err(), "{bad}");
        }
    }
}
