//! The client commands: `flint deploy`, `config`, `show`, `invoke`, `list`, `logs`,
//! `rollback`, `delete`, `traffic`, `secret ...`, `token ...`, over HTTP or HTTPS.
//!
//! [`Api`] is the one way they talk to the server: the base URL and token, a CA certificate
//! to trust (`--ca-cert`, for a self-signed server), the request timeout (`--timeout-s`, else
//! long enough for the call: an invocation waits for the function's timeout) and the output
//! format (`--output text|json`: every command that prints data prints JSON in `json` mode).

mod admin;
mod deploy;
mod read;

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::cli::{ClientArgs, ClientCommand, Output};

/// How long a command other than an invocation waits for its answer by default (deploys of
/// large modules compile and boot before they answer).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A server, as the command line names it.
pub struct Api<'a> {
    args: &'a ClientArgs,
}

impl<'a> Api<'a> {
    fn new(args: &'a ClientArgs) -> Self {
        Self { args }
    }

    /// Whether to print JSON.
    fn json(&self) -> bool {
        self.args.output == Output::Json
    }

    /// An HTTP client with the CA certificate and `timeout` (`None`: wait as long as it
    /// takes), unless `--timeout-s` says otherwise.
    fn client(&self, timeout: Option<Duration>) -> anyhow::Result<Client> {
        let timeout = match self.args.timeout_s {
            Some(s) => Some(Duration::from_secs(s)),
            None => timeout,
        };
        let mut b = Client::builder().timeout(timeout);
        if let Some(path) = &self.args.ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).context("parse the CA certificate")?;
            b = b.add_root_certificate(cert);
        }
        Ok(b.build()?)
    }

    /// A request to `path` with the token, waiting up to `timeout`.
    fn request_for(
        &self,
        method: reqwest::Method,
        path: &str,
        timeout: Option<Duration>,
    ) -> anyhow::Result<RequestBuilder> {
        let url = format!("{}{}", self.args.url.trim_end_matches('/'), path);
        let r = self.client(timeout)?.request(method, url);
        Ok(match &self.args.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        })
    }

    /// A request to `path` with the default timeout.
    fn request(&self, method: reqwest::Method, path: &str) -> anyhow::Result<RequestBuilder> {
        self.request_for(method, path, Some(DEFAULT_TIMEOUT))
    }

    /// Sends `r` and returns the JSON answer (`Null` for an empty one), or the server's error.
    fn send(&self, r: RequestBuilder) -> anyhow::Result<Value> {
        let r = check(r.send()?)?;
        let bytes = r.bytes()?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Prints `v` as JSON, or, in text mode, as `text` says.
    fn print(&self, v: &Value, text: impl FnOnce(&Value)) -> anyhow::Result<()> {
        if self.json() {
            println!("{}", serde_json::to_string_pretty(v)?);
        } else {
            text(v);
        }
        Ok(())
    }
}

/// The answer, or the server's error (`STATUS: code: message`).
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

/// Prints `v` as indented JSON (what commands that answer with a document print either way).
fn pretty(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Runs a client command.
pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    use ClientCommand as C;
    match command {
        C::Deploy {
            name,
            file,
            manifest,
            files,
            config,
            client,
        } => deploy::deploy(&Api::new(&client), name, file, manifest, files, &config),
        C::Config {
            name,
            config,
            patch,
            client,
        } => deploy::config(&Api::new(&client), &name, &config, patch),
        C::Show { name, client } => read::show(&Api::new(&client), &name),
        C::Invoke { name, data, client } => read::invoke(&Api::new(&client), &name, data),
        C::List { client } => read::list(&Api::new(&client)),
        C::Logs {
            name,
            limit,
            follow,
            client,
        } => read::logs(&Api::new(&client), &name, limit, follow),
        C::Rollback {
            name,
            version,
            client,
        } => deploy::rollback(&Api::new(&client), &name, version),
        C::Delete { name, client } => deploy::delete(&Api::new(&client), &name),
        C::Traffic {
            name,
            weights,
            sticky,
            clear,
            client,
        } => admin::traffic(&Api::new(&client), &name, weights, sticky, clear),
        C::Token { command } => admin::token(command),
        C::Secret { command } => admin::secret(command),
    }
}
