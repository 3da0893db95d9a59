//! What a user configures per function (the JSON config part of a deploy), its defaults and
//! bounds (defined here once: `--help`, the API's `/api/meta` and the dashboard show these), its
//! validation, the one parse of stored settings, what the settings mean for the compiler and the
//! runtime, and the names Flint accepts.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use flint_compiler::ModuleLimits;
use flint_runtime::FunctionConfig;
use flint_vmm::RestoreStrategy;
use serde::{Deserialize, Serialize};

use crate::store::VersionInfo;

/// Default linear-memory limit, MiB.
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = 64;
/// Default per-invocation timeout, ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default invocations running at once per function.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 8;
/// Default export each invocation runs.
pub const DEFAULT_ENTRY: &str = "_start";
/// Default most keys a function may keep in its key-value store.
pub const DEFAULT_KV_MAX_KEYS: u64 = 10_000;
/// Default most bytes (keys and values) a function may keep in its key-value store.
pub const DEFAULT_KV_MAX_BYTES: u64 = 64 << 20;
/// Accepted key quotas.
pub const KV_MAX_KEYS: RangeInclusive<u64> = 0..=10_000_000;
/// Accepted byte quotas (up to 16 GiB).
pub const KV_MAX_BYTES: RangeInclusive<u64> = 0..=(16 << 30);
/// Default largest answer (stdout) of a call, bytes.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 20;
/// Accepted output limits, bytes (up to 64 MiB).
pub const MAX_OUTPUT_BYTES: RangeInclusive<u64> = 1024..=(64 << 20);
/// Accepted linear-memory limits, MiB.
pub const MEMORY_LIMIT_MB: RangeInclusive<u64> = 1..=4096;
/// Accepted timeouts, ms (up to 15 minutes).
pub const TIMEOUT_MS: RangeInclusive<u64> = 1..=900_000;
/// Accepted per-function concurrency.
pub const MAX_CONCURRENCY: RangeInclusive<u32> = 1..=1024;
/// Default most bytes one call may write to `/tmp` and writable mounts, MiB.
pub const DEFAULT_SCRATCH_MAX_MB: u64 = 16;
/// Accepted scratch limits, MiB (written files live in the guest's memory).
pub const SCRATCH_MAX_MB: RangeInclusive<u64> = 0..=256;
/// Most mounts a function may declare.
pub const MAX_MOUNTS: usize = 16;
/// Default longest outbound HTTP request, ms.
pub const DEFAULT_OUTBOUND_TIMEOUT_MS: u64 = 10_000;
/// Most hosts a function may call.
pub const MAX_OUTBOUND_HOSTS: usize = 64;

/// A directory of the function's bundled files as the module sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountSettings {
    /// Directory of the bundle (`/` for all of it).
    #[serde(default = "root")]
    pub source: String,
    /// Absolute path the module sees it at.
    pub path: String,
    /// Whether calls may write it (into a per-call overlay the restore discards).
    #[serde(default)]
    pub writable: bool,
}

fn root() -> String {
    "/".into()
}

/// Whether `path` is absolute and free of empty, `.` and `..` segments (`/` itself allowed).
fn is_clean_absolute(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/') && path.len() <= 1024 && flint_abi::files::is_clean(&path[1..]))
}

/// Paths a route may not claim: they belong to Flint's own API and dashboard.
pub const RESERVED_PREFIXES: &[&str] = &[
    "/functions",
    "/metrics",
    "/healthz",
    "/readyz",
    "/api",
    "/assets",
    "/dashboard",
    "/tokens",
    "/secrets",
];

/// The configuration of one function version, as users write it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionSettings {
    /// Environment variables for every invocation.
    pub env: BTreeMap<String, String>,
    /// Arguments after `argv[0]` (which is the function's name).
    pub args: Vec<String>,
    /// Linear-memory limit in MiB.
    pub memory_limit_mb: u64,
    /// Per-invocation wall-clock limit in milliseconds.
    pub timeout_ms: u64,
    /// Invocations running at once; more wait in a bounded queue.
    pub max_concurrency: u32,
    /// Path prefixes routed to this function, CGI-style.
    pub routes: Vec<String>,
    /// Whether invoking needs no token.
    pub public: bool,
    /// The export each invocation runs.
    pub entry: String,
    /// Whether the function's answers carry `Content-Security-Policy: sandbox`, so that HTML
    /// it returns cannot act on Flint's origin (turn off only for a function served from its
    /// own host name; see docs/SECURITY.md).
    pub response_sandbox: bool,
    /// Most keys the function may keep in its key-value store.
    pub kv_max_keys: u64,
    /// Most bytes (keys plus values) the function may keep in its key-value store.
    pub kv_max_bytes: u64,
    /// Largest answer (stdout) of a call; more is a 502 `output_too_large`, never a cut 200.
    pub max_output_bytes: u64,
    /// Directories of the bundle the module sees; empty for the default (all of it,
    /// read-only, at `/`). `/tmp` is a writable scratch directory unless a mount claims it.
    pub mounts: Vec<MountSettings>,
    /// Most bytes one call may write to `/tmp` and writable mounts, MiB.
    pub scratch_max_mb: u64,
    /// Hosts the function may call over HTTP (`host` or `host:port`; `*.example.com` for
    /// subdomains). None by default.
    pub allowed_outbound_hosts: Vec<String>,
    /// Longest an outbound HTTP request may take, ms (never past the call's deadline).
    pub outbound_timeout_ms: u64,
}

impl Default for FunctionSettings {
    fn default() -> Self {
        Self {
            env: BTreeMap::new(),
            args: Vec::new(),
            memory_limit_mb: DEFAULT_MEMORY_LIMIT_MB,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            routes: Vec::new(),
            public: false,
            entry: DEFAULT_ENTRY.into(),
            response_sandbox: true,
            kv_max_keys: DEFAULT_KV_MAX_KEYS,
            kv_max_bytes: DEFAULT_KV_MAX_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            mounts: Vec::new(),
            scratch_max_mb: DEFAULT_SCRATCH_MAX_MB,
            allowed_outbound_hosts: Vec::new(),
            outbound_timeout_ms: DEFAULT_OUTBOUND_TIMEOUT_MS,
        }
    }
}

/// A setting that is out of range, with the field it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    /// The field (`memory_limit_mb`, `routes[0]`, ...).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a function name: 1-63 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter
/// or digit (so it is safe in URLs, paths and metric labels).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok_len = (1..=63).contains(&name.len());
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok_len && ok_first && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "invalid function name {:?}: use 1-63 characters a-z, 0-9, '-' or '_', starting with a letter or digit",
            name.chars().take(80).collect::<String>()
        ))
    }
}

fn validate_route(field: String, route: &str) -> Result<(), SettingsError> {
    if !route.starts_with('/') || route.len() < 2 || route.len() > 200 {
        return Err(err(
            field,
            "a route is a path prefix like /hello (2-200 characters)",
        ));
    }
    if route.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(err(field, "a route may not contain . or .. segments"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-_.~".contains(c);
    if !route.chars().all(allowed) {
        return Err(err(
            field,
            "a route may contain only letters, digits and / - _ . ~",
        ));
    }
    let trimmed = route.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(err(
            field,
            "a route may not be / itself: name a prefix like /hello",
        ));
    }
    for reserved in RESERVED_PREFIXES {
        if trimmed == *reserved || trimmed.starts_with(&format!("{reserved}/")) {
            return Err(err(field, format!("{reserved} belongs to Flint's own API")));
        }
    }
    Ok(())
}

impl FunctionSettings {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        fn within<T: PartialOrd + std::fmt::Display>(
            field: &str,
            value: T,
            range: RangeInclusive<T>,
        ) -> Result<(), SettingsError> {
            if range.contains(&value) {
                return Ok(());
            }
            let (lo, hi) = range.into_inner();
            Err(err(field, format!("must be between {lo} and {hi}")))
        }
        within("memory_limit_mb", self.memory_limit_mb, MEMORY_LIMIT_MB)?;
        within("timeout_ms", self.timeout_ms, TIMEOUT_MS)?;
        within("max_concurrency", self.max_concurrency, MAX_CONCURRENCY)?;
        within("kv_max_keys", self.kv_max_keys, KV_MAX_KEYS)?;
        within("kv_max_bytes", self.kv_max_bytes, KV_MAX_BYTES)?;
        within("max_output_bytes", self.max_output_bytes, MAX_OUTPUT_BYTES)?;
        if self.entry.is_empty() || self.entry.len() > 128 {
            return Err(err("entry", "must name an export (1-128 characters)"));
        }
        for (k, v) in &self.env {
            let valid = !k.is_empty()
                && k.len() <= 128
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && v.len() <= 4096
                && !v.contains('\0');
            if !valid {
                return Err(err(
                    format!("env.{k}"),
                    "names are A-Z, 0-9 and _; values up to 4096 bytes, no NUL",
                ));
            }
        }
        if self.args.len() > 64 || self.args.iter().any(|a| a.len() > 4096 || a.contains('\0')) {
            return Err(err(
                "args",
                "at most 64 arguments of up to 4096 bytes, no NUL",
            ));
        }
        if self.routes.len() > 16 {
            return Err(err("routes", "at most 16 routes"));
        }
        for (i, r) in self.routes.iter().enumerate() {
            validate_route(format!("routes[{i}]"), r)?;
        }
        within("scratch_max_mb", self.scratch_max_mb, SCRATCH_MAX_MB)?;
        within("outbound_timeout_ms", self.outbound_timeout_ms, TIMEOUT_MS)?;
        self.validate_mounts()?;
        if self.allowed_outbound_hosts.len() > MAX_OUTBOUND_HOSTS {
            let message = format!("at most {MAX_OUTBOUND_HOSTS} hosts");
            return Err(err("allowed_outbound_hosts", message));
        }
        for (i, h) in self.allowed_outbound_hosts.iter().enumerate() {
            crate::outbound::HostPattern::parse(h)
                .map_err(|m| err(format!("allowed_outbound_hosts[{i}]"), m))?;
        }
        Ok(())
    }

    fn validate_mounts(&self) -> Result<(), SettingsError> {
        if self.mounts.len() > MAX_MOUNTS {
            return Err(err("mounts", format!("at most {MAX_MOUNTS} mounts")));
        }
        for (i, m) in self.mounts.iter().enumerate() {
            if !is_clean_absolute(&m.path) {
                let message = "path must be absolute, without . or .. segments";
                return Err(err(format!("mounts[{i}].path"), message));
            }
            if !is_clean_absolute(&m.source) {
                let message = "source is a directory of the bundle: /, or /a/b, without . or ..";
                return Err(err(format!("mounts[{i}].source"), message));
            }
            if self.mounts[..i].iter().any(|o| o.path == m.path) {
                return Err(err(
                    format!("mounts[{i}].path"),
                    "another mount has this path",
                ));
            }
        }
        Ok(())
    }

    /// Checks that every mount's source is a directory of the bundle whose directories are
    /// `dirs` (clean relative paths).
    pub fn check_mounts(&self, dirs: &[String]) -> Result<(), SettingsError> {
        for (i, m) in self.mounts.iter().enumerate() {
            let source = m.source.trim_start_matches('/');
            if !source.is_empty() && !dirs.iter().any(|d| d == source) {
                let message = format!("{} is not a directory of the bundled files", m.source);
                return Err(err(format!("mounts[{i}].source"), message));
            }
        }
        Ok(())
    }

    /// The directories the module sees and the scratch limit (the bundle image is the
    /// version's, added where it is loaded).
    pub fn files(&self) -> flint_runtime::Files {
        use flint_abi::wasm::Mount;
        let mut mounts: Vec<Mount> = if self.mounts.is_empty() {
            vec![Mount::bundle_root()]
        } else {
            self.mounts
                .iter()
                .map(|m| Mount {
                    source: Some(m.source.clone()),
                    path: m.path.clone(),
                    writable: m.writable,
                })
                .collect()
        };
        if !mounts.iter().any(|m| m.path == "/tmp") {
            mounts.push(Mount::scratch());
        }
        flint_runtime::Files {
            image: Default::default(),
            mounts,
            scratch_max_bytes: self.scratch_max_mb << 20,
        }
    }

    /// Settings from JSON (a deploy's config part, or a stored version's), checked: the one
    /// parse of settings, with the same error wherever they come from.
    pub fn parse(json: &[u8]) -> Result<Self, SettingsError> {
        let settings: Self = serde_json::from_slice(json)
            .map_err(|e| err("config", format!("config is not valid JSON settings: {e}")))?;
        settings.validate()?;
        Ok(settings)
    }

    /// What the compiler checks a module of these settings against, on a server that accepts
    /// modules of up to `max_module_bytes`.
    pub fn module_limits(&self, max_module_bytes: usize) -> ModuleLimits {
        ModuleLimits {
            memory_limit_bytes: self.memory_limit_mb << 20,
            entry: self.entry.clone(),
            max_module_bytes,
        }
    }

    /// Checks that the micro-VM these settings call for fits the guest's address space with
    /// a compiled module of `module_bytes` on this server (`memory_limit_mb` is most of it),
    /// and names the largest limit that would.
    pub fn check_fits(
        &self,
        restore: RestoreStrategy,
        max_stdin_bytes: u64,
        module_bytes: usize,
    ) -> Result<(), SettingsError> {
        let fits = |mb: u64| {
            let s = Self {
                memory_limit_mb: mb,
                ..self.clone()
            };
            let config = s.function_config(restore, max_stdin_bytes);
            config.check_layout(module_bytes).is_ok()
        };
        if fits(self.memory_limit_mb) {
            return Ok(());
        }
        // The largest limit that fits, by bisection over the accepted range.
        let (mut lo, mut hi) = (0, self.memory_limit_mb);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) { lo = mid } else { hi = mid }
        }
        Err(err(
            "memory_limit_mb",
            format!(
                "{} MiB does not fit the guest's address space next to this server's buffers \
                 and this module; at most {lo} MiB",
                self.memory_limit_mb
            ),
        ))
    }

    /// The runtime configuration these settings call for, on a server that accepts request
    /// bodies of up to `max_stdin_bytes`.
    pub fn function_config(
        &self,
        restore: RestoreStrategy,
        max_stdin_bytes: u64,
    ) -> FunctionConfig {
        FunctionConfig {
            memory_limit_bytes: self.memory_limit_mb << 20,
            timeout: Duration::from_millis(self.timeout_ms),
            entry: self.entry.clone(),
            restore,
            max_stdin_bytes,
            stdout_limit_bytes: self.max_output_bytes,
            files: self.files(),
            ..FunctionConfig::default()
        }
    }
}

impl FunctionSettings {
    /// The key-value quota these settings set.
    pub fn kv_quota(&self) -> crate::store::KvQuota {
        crate::store::KvQuota {
            max_keys: self.kv_max_keys,
            max_bytes: self.kv_max_bytes,
        }
    }

    /// The request for one call of `version` of `function`: stdin, `argv` (the function's name,
    /// then the configured arguments) and the environment (configured, then the function's
    /// secrets, then Flint's, then what the HTTP request adds, in that order, so the request
    /// cannot hide Flint's).
    pub fn request(
        &self,
        function: &str,
        version: i64,
        stdin: Vec<u8>,
        secrets: &[String],
        request_env: Vec<String>,
    ) -> flint_runtime::Request {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(secrets.iter().cloned());
        env.push(format!("FLINT_FUNCTION={function}"));
        env.push(format!("FLINT_VERSION={version}"));
        env.extend(request_env);
        let mut args = vec![function.to_string()];
        args.extend(self.args.iter().cloned());
        flint_runtime::Request {
            stdin,
            args,
            env,
            http_request: Vec::new(),
        }
    }
}

impl VersionInfo {
    /// This version's settings, as stored.
    pub fn settings(&self) -> Result<FunctionSettings, SettingsError> {
        FunctionSettings::parse(self.config.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("hello").is_ok());
        assert!(validate_name("a-b_c9").is_ok());
        for bad in ["", "a/b", "..", "-x", "Hello", &"x".repeat(300), "a b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_errors_name_their_field() {
        let s = FunctionSettings {
            memory_limit_mb: 0,
            ..FunctionSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "memory_limit_mb");
        let s = FunctionSettings {
            routes: vec!["/ok".into(), "/functions/x".into()],
            ..FunctionSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "routes[1]");
        let s = FunctionSettings {
            routes: vec!["/a/../b".into()],
            ..FunctionSettings::default()
        };
        assert!(s.validate().is_err());
        let s = FunctionSettings {
            routes: vec!["//".into()],
            ..FunctionSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "routes[0]");
        assert!(FunctionSettings::default().validate().is_ok());
    }

    /// The README states the defaults defined here (a test, since prose cannot import them).
    #[test]
    fn the_readme_states_these_defaults() {
        let readme = include_str!("../../../README.md").replace('\n', " ");
        let stated = format!(
            "(`memory_limit_mb` {DEFAULT_MEMORY_LIMIT_MB}, `timeout_ms` {DEFAULT_TIMEOUT_MS}, \
             `max_concurrency` {DEFAULT_MAX_CONCURRENCY}, `entry` `{DEFAULT_ENTRY}`"
        );
        assert!(readme.contains(&stated), "README should say {stated}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<FunctionSettings, _> = serde_json::from_str(r#"{"memory": 5}"#);
        assert!(parsed.is_err());
        let parsed = FunctionSettings::parse(br#"{"public": true}"#).unwrap();
        assert!(parsed.public);
        assert_eq!(parsed.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(FunctionSettings::parse(b"{").unwrap_err().field, "config");
        let bounds = FunctionSettings::parse(br#"{"timeout_ms": 0}"#).unwrap_err();
        assert_eq!(bounds.field, "timeout_ms");
    }
}
