//! The HTTP API (axum), one handler module per concern; the README's "HTTP API" table is the
//! contract.
//!
//! - [`functions`]: deploy, list, show, delete, rollback, logs, invocation records.
//! - [`invoke`]: `POST /functions/{name}/invoke` and CGI-style path routes ([`cgi`]).
//! - [`meta`]: `/api/meta`, the labels and defaults clients show.
//! - [`ops`]: `/metrics`, `/healthz`, `/readyz`, and the per-request HTTP metrics.
//! - [`error`]: the one error boundary ([`error::ApiError`]).
//! - [`auth`]: bearer tokens.
//! - [`dashboard`]: the embedded web dashboard at `/`.

pub mod auth;
pub mod cgi;
pub mod dashboard;
pub mod drain;
pub mod error;
pub mod functions;
pub mod invoke;
pub mod meta;
pub mod ops;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
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
    /// Largest invocation body.
    pub max_body_bytes: usize,
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
    /// Verified tokens.
    pub tokens: auth::TokenCache,
    /// Validates uploads.
    pub compiler: Compiler,
    /// Size limits.
    pub limits: HttpLimits,
    /// False once shutdown has begun.
    pub ready: AtomicBool,
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

/// The whole API.
pub fn router(state: SharedState) -> Router {
    let body_limit = state
        .limits
        .max_module_bytes
        .max(state.limits.max_body_bytes)
        + (64 << 10);
    Router::new()
        .route("/functions", get(functions::list))
        .route(
            "/functions/{name}",
            get(functions::show)
                .put(functions::deploy)
                .delete(functions::delete),
        )
        .route("/functions/{name}/rollback", post(functions::rollback))
        .route("/functions/{name}/logs", get(functions::logs))
        .route("/functions/{name}/invocations", get(functions::invocations))
        .route("/functions/{name}/invoke", post(invoke::invoke))
        .route("/api/meta", get(meta::meta))
        .route("/", get(dashboard::index))
        .route("/assets/{*path}", get(dashboard::assets))
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(invoke::routed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_requests,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(drain::drain_unread))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
