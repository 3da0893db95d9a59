//! The command line: `flint serve` and the client commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use flint_vmm::{RestoreStrategy, SeccompPolicy};

/// Flint: WebAssembly functions, each call in its own KVM micro-VM.
#[derive(Debug, Parser)]
#[command(name = "flint", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server's state lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the embedded database and the artefact cache.
    #[arg(long, env = "FLINT_DATA_DIR", default_value = "flint-data")]
    pub data_dir: PathBuf,
    /// A `postgres://` URL; the embedded SQLite file in the data directory when absent.
    #[arg(long, env = "FLINT_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Which server a client command talks to.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(long, env = "FLINT_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A management token.
    #[arg(long, env = "FLINT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A PEM CA certificate to trust, for a server with a self-signed certificate.
    #[arg(long, env = "FLINT_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Seconds to wait for an answer (default: for invoke, the function's timeout plus a
    /// minute; for the rest, five minutes).
    #[arg(long, env = "FLINT_TIMEOUT_S")]
    pub timeout_s: Option<u64>,
    /// What to print: text, or json (every command that prints data).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// A client command's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for people.
    Text,
    /// JSON for scripts.
    Json,
}

/// `flint serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FLINT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Store location.
    #[command(flatten)]
    pub store: StoreArgs,
    /// A PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "FLINT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FLINT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A file holding the admin token to make the one bootstrap token on start (replacing,
    /// and so revoking, the previous one). The token may also come from the environment
    /// variable `FLINT_ADMIN_TOKEN`; there is no flag for it, since command lines are
    /// visible to every user in `ps`.
    #[arg(long, env = "FLINT_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// A file of secrets keys, one per line (64 hex digits), the first sealing; default
    /// `FLINT_SECRETS_KEYS` (comma-separated), else `DATA_DIR/secrets.key` (created on first
    /// start). Nodes sharing a database must share the keys.
    #[arg(long, env = "FLINT_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// Serve `/metrics` on this address instead (without a token, for a network only the
    /// scraper reaches); otherwise the API's `/metrics` needs a token with the `metrics` scope.
    #[arg(long, env = "FLINT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Largest module upload, in bytes.
    #[arg(long, env = "FLINT_MAX_MODULE_BYTES", default_value_t = 32 << 20)]
    pub max_module_bytes: usize,
    /// Largest bundle of files a deploy may bring (the tar archive), in bytes.
    #[arg(long, env = "FLINT_MAX_FILES_BYTES", default_value_t = 64 << 20)]
    pub max_files_bytes: usize,
    /// Largest invocation body, in bytes.
    #[arg(long, env = "FLINT_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Invocations running at once across all functions (default: 4 per CPU core; more only
    /// adds latency, since each running call occupies a core).
    #[arg(long, env = "FLINT_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,
    /// Invocations that may wait per function before 429.
    #[arg(long, env = "FLINT_QUEUE_LENGTH", default_value_t = 256)]
    pub queue_length: usize,
    /// How long an invocation may wait for a slot before 503, in milliseconds.
    #[arg(long, env = "FLINT_QUEUE_TIMEOUT_MS", default_value_t = 10_000)]
    pub queue_timeout_ms: u64,
    /// How sandboxes return to their snapshot before each call: pagemap (trusts nothing),
    /// dirty-log (trusts nothing; slow on nested KVM), full-reset (trusts nothing; every call
    /// refaults its pages) or runtime-ranges (fastest; trusts the guest runtime's reports).
    #[arg(long, env = "FLINT_RESTORE", default_value_t = RestoreStrategy::default())]
    pub restore: RestoreStrategy,
    /// Memory for snapshots and sandboxes (e.g. 8GiB, 512MiB; default: 80% of the machine's
    /// or the cgroup's memory). Past it, idle sandboxes and then least recently used functions
    /// are evicted; a call or deploy that still cannot fit gets a 503 `memory_exhausted`.
    #[arg(long, env = "FLINT_MEMORY_BUDGET", value_parser = crate::budget::parse_size)]
    pub memory_budget: Option<u64>,
    /// Largest the node's cache of compiled artefacts and snapshots may grow (e.g. 4GiB;
    /// default: unbounded). Past it the least recently used files are deleted (and rebuilt
    /// when next needed); match it to the data volume's size (Kubernetes ephemeral storage).
    #[arg(long, env = "FLINT_CACHE_MAX_BYTES", value_parser = crate::budget::parse_size)]
    pub cache_max_bytes: Option<u64>,
    /// The seccomp allow-list on the threads that run guests: enforce (a forbidden system call
    /// kills the process) or off (only to measure or debug; never in production).
    #[arg(long, env = "FLINT_SECCOMP", default_value_t = SeccompPolicy::default())]
    pub seccomp: SeccompPolicy,
    /// Seconds a function must go unused before its extra idle sandboxes are freed (one stays).
    #[arg(long, env = "FLINT_IDLE_SANDBOX_TTL_S", default_value_t = 60)]
    pub idle_sandbox_ttl_s: u64,
    /// Host log format: text, or json (one object per line, for log shippers). Either way
    /// every HTTP request gets one access-log line at info (target `flint::access`).
    #[arg(long, env = "FLINT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds between SIGTERM and closing the listener: readiness turns false at once and
    /// the node keeps serving meanwhile, so a load balancer (or Kubernetes) moves traffic
    /// away before connections are refused.
    #[arg(long, env = "FLINT_SHUTDOWN_DELAY_S", default_value_t = 0)]
    pub shutdown_delay_s: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "FLINT_SHUTDOWN_GRACE_S", default_value_t = 30)]
    pub shutdown_grace_s: u64,
}

/// How the host logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands: the server's own, and the client commands that talk to a server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server.
    Serve(ServeArgs),
    /// Prints a shell completion script (e.g. `flint completions bash > /etc/bash_completion.d/flint`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// A command for a running server.
    #[command(flatten)]
    Client(ClientCommand),
}

/// The commands that talk to a running server over HTTP.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Deploys a module as a new version of a function. With only NAME and FILE the active
    /// config is kept; config flags change only the fields they name. With a manifest
    /// (`--manifest`, or `./flint.toml` when NAME and FILE are left out) the manifest is the
    /// whole config, and flags override it.
    Deploy {
        /// Function name (from the manifest when left out).
        name: Option<String>,
        /// The `.wasm` file (from the manifest when left out).
        file: Option<PathBuf>,
        /// A `flint.toml` manifest: name, module, and config fields.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// A directory whose contents are the function's bundled files (the bundle's root;
        /// replaces a manifest's `files`).
        #[arg(long)]
        files: Option<PathBuf>,
        /// Config changes.
        #[command(flatten)]
        config: ConfigFlags,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Changes a function's config without a new module (a new version).
    Config {
        /// Function name.
        name: String,
        /// Config changes.
        #[command(flatten)]
        config: ConfigFlags,
        /// A JSON merge patch of the config, applied before the flags.
        #[arg(long)]
        patch: Option<String>,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Shows a function: active version, config, versions, last hour's calls.
    Show {
        /// Function name.
        name: String,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Invokes a function and prints its output.
    Invoke {
        /// Function name.
        name: String,
        /// Request body: text, or @file.
        #[arg(long, short = 'd')]
        data: Option<String>,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lists functions.
    List {
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Prints a function's recent logs.
    Logs {
        /// Function name.
        name: String,
        /// How many lines.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Keep printing new lines as they come (server-sent events).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Makes an earlier version active again.
    Rollback {
        /// Function name.
        name: String,
        /// Version number.
        version: i64,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Deletes a function and all its versions.
    Delete {
        /// Function name.
        name: String,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Splits a function's calls between versions (canaries), or clears the split.
    Traffic {
        /// Function name.
        name: String,
        /// VERSION=WEIGHT pairs adding up to 100, e.g. 4=90 5=10.
        #[arg(value_name = "VERSION=WEIGHT", required_unless_present = "clear")]
        weights: Vec<String>,
        /// Send each request id always to the same version.
        #[arg(long)]
        sticky: bool,
        /// Back to the active version alone.
        #[arg(long, conflicts_with = "weights")]
        clear: bool,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A function's secrets (values are never shown).
    Secret {
        /// What to do.
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Tokens and their scopes.
    Token {
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// Config fields to change (each left out stays as it is). Defaults and bounds: `GET
/// /api/meta`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigFlags {
    /// Set an environment variable (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Remove an environment variable (repeatable).
    #[arg(long = "unset-env", value_name = "KEY")]
    pub unset_env: Vec<String>,
    /// The arguments after `argv[0]` (repeatable; replaces the list).
    #[arg(long = "arg")]
    pub args: Vec<String>,
    /// Invocable without a token.
    #[arg(long, conflicts_with = "private")]
    pub public: bool,
    /// Invocable only with a token.
    #[arg(long)]
    pub private: bool,
    /// Path prefix routed to the function (repeatable; replaces the list).
    #[arg(long = "route")]
    pub routes: Vec<String>,
    /// Linear-memory limit in MiB.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Timeout in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Invocations running at once; more wait in a bounded queue.
    #[arg(long)]
    pub max_concurrency: Option<u32>,
}

/// Secret commands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Sets a secret (the value from --value, else from stdin).
    Set {
        /// Function name.
        function: String,
        /// The environment variable it becomes.
        name: String,
        /// The value (prefer stdin: command lines show in `ps`).
        #[arg(long)]
        value: Option<String>,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lists a function's secrets: names and update times.
    List {
        /// Function name.
        function: String,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Deletes a secret.
    Delete {
        /// Function name.
        function: String,
        /// The secret's name.
        name: String,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Seals every secret again under the first secrets key (after a rotation; admin).
    Reseal {
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Token commands (they need an admin token).
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it (the secret is shown once).
    Create {
        /// What it may do: admin, deploy, invoke, metrics (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A function it covers (repeatable; all when absent, except for invoke tokens).
        #[arg(long = "function")]
        functions: Vec<String>,
        /// Lifetime, e.g. 90m, 12h, 30d.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<u64>,
        /// A name to remember it by.
        #[arg(long)]
        name: Option<String>,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lists tokens (never their secrets).
    List {
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revokes a token by id.
    Revoke {
        /// The token's id, from `flint token list`.
        id: String,
        /// Server.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// A lifetime like `45s`, `90m`, `12h` or `30d`, in seconds.
pub fn parse_lifetime(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (s, m, h, d)"))?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(unit_s)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::parse_lifetime;

    #[test]
    fn lifetimes_parse_with_units() {
        assert_eq!(parse_lifetime("30d"), Ok(30 * 86_400));
        assert_eq!(parse_lifetime("90m"), Ok(5400));
        assert_eq!(parse_lifetime("45s"), Ok(45));
        for bad in ["", "d", "30", "30w", "0h", "-1d", "99999999999999999999d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
