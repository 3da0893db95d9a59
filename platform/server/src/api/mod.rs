//! The HTTP API (axum), one handler module per concern; the README's "HTTP API" table is the
//! contract.
//!
//! - [`functions`]: deploy, list, show, delete, rollback, logs, invocation records;
//!   [`config`]: config changes without a new module.
//! - [`traffic`]: traffic splits between versions.
//! - [`logs`]: log lines, paged or followed live (server-sent events).
//! - [`invoke`]: `POST /functions/{name}/invoke` and CGI-style path routes ([`cgi`]).
//! - [`meta`]: `/api/meta`, the labels and defaults clients show.
//! - [`ops`]: `/metrics`, `/healthz`, `/readyz`, and the per-request HTTP metrics.
//! - [`error`]: the one error boundary ([`error::ApiError`]).
//! - [`secrets`]: a function's secrets (names only ever shown).
//! - [`auth`]: callers, tokens and their scopes; [`tokens`]: creating, listing, revoking them.
//! - [`drain`]: early answers that do not cut clients off.
//! - [`dashboard`]: the embedded web dashboard at `/`.

pub mod auth;
pub mod cgi;
pub mod config;
pub mod dashboard;
pub mod drain;
pub mod error;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod meta;
pub mod ops;
pub mod secrets;
pub mod tokens;
pub mod traffic;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{delete, get, patch, post};
use flint_compiler::Compiler;

use crate::metrics::Metrics;
use crate::recorder::Recorder;
use crate::routes::RouteTable;
use crate::scheduler::Scheduler;
use crate::store::Store;

/// Size limits of the HTTP API.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Largest module upload.
    pub max_module_bytes: usize,
    /// Largest bundle of files (the tar archive, and what it holds).
    pub max_files_bytes: usize,
    /// Largest invocation body.
    pub max_body_bytes: usize,
    /// Whether `/metrics` is served on its own listener (and not on the API's).
    pub metrics_elsewhere: bool,
}

/// Everything the handlers share.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The scheduler.
    pub scheduler: Arc<Scheduler>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Background writer of records and logs.
    pub recorder: Recorder,
    /// Path routes.
    pub routes: RouteTable,
    /// Traffic splits.
    pub traffic: crate::traffic::TrafficTable,
    /// Verified tokens.
    pub tokens: auth::TokenCache,
    /// Validates uploads.
    pub compiler: Compiler,
    /// Size limits.
    pub limits: HttpLimits,
    /// False once shutdown has begun.
    pub ready: AtomicBool,
    /// The secrets key ring and opened secrets.
    pub vault: crate::secrets::Vault,
    /// Log followers being served.
    pub followers: logs::Followers,
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

/// Largest body of the JSON management calls (rollback, token creation).
const JSON_BODY_LIMIT: usize = 64 << 10;

/// The whole API. Each route reads at most its own body limit: the module limit for deploys,
/// `--max-body-bytes` for invocations (checked after the caller is known), 64 KiB for the rest.
pub fn router(state: SharedState) -> Router {
    let upload_limit = DefaultBodyLimit::max(
        state.limits.max_module_bytes + state.limits.max_files_bytes + (64 << 10),
    );
    let invoke_limit = DefaultBodyLimit::max(state.limits.max_body_bytes);
    let mut router = Router::new()
        .route("/functions", get(functions::list))
        .route(
            "/functions/{name}",
            get(functions::show)
                .put(functions::deploy)
                .layer(upload_limit)
                .delete(functions::delete),
        )
        .route("/functions/{name}/rollback", post(functions::rollback))
        .route("/functions/{name}/config", patch(config::patch))
        .route(
            "/functions/{name}/traffic",
            axum::routing::put(traffic::set).delete(traffic::clear),
        )
        .route("/functions/{name}/logs", get(logs::logs))
        .route("/functions/{name}/invocations", get(functions::invocations))
        .route(
            "/functions/{name}/invoke",
            post(invoke::invoke).layer(invoke_limit),
        )
        .route("/functions/{name}/secrets", get(secrets::list))
        .route(
            "/functions/{name}/secrets/{secret}",
            axum::routing::put(secrets::set).delete(secrets::delete),
        )
        .route("/secrets/reseal", post(secrets::reseal))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/api/meta", get(meta::meta))
        .route("/", get(dashboard::index))
        .route("/assets/{*path}", get(dashboard::assets))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz));
    if !state.limits.metrics_elsewhere {
        router = router.route("/metrics", get(ops::metrics_with_token));
    }
    router
        .fallback(invoke::routed.layer(invoke_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_requests,
        ))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(drain::drain_unread))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The separate metrics listener's router (`--metrics-listen`): `/metrics` only, without a
/// token, for a network only the scraper reaches.
pub fn metrics_router(state: SharedState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}
