//! Operator endpoints, and the HTTP request counter.

use std::sync::atomic::Ordering;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SharedState;
use super::auth::{self, Need};
use super::error::ApiError;

/// `GET /metrics`: Prometheus text format (as the metrics listener serves it).
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /metrics` on the API's listener: needs a token with the `metrics` (or `admin`) scope,
/// since the series name every function.
pub async fn metrics_with_token(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Metrics).await?;
    Ok(metrics(State(state)).await)
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: ready for traffic: shutdown has not begun, and the node can serve, from
/// the database or from the functions it has warm. Answers within about a second either
/// way. A database outage alone does not take a node with warm functions out of its Service
/// (every replica would go at once while each could still serve); it shows as
/// `"database": false`.
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let accepting = state.ready.load(Ordering::SeqCst);
    let database = state.store.ping().await;
    state.metrics.ops.store_up.set(i64::from(database));
    let warm = state.scheduler.loaded_versions().len();
    let ready = accepting && (database || warm > 0);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let backend = match state.store.backend() {
        crate::store::Backend::Sqlite => "sqlite",
        crate::store::Backend::Postgres => "postgres",
    };
    let body = json!({
        "ready": ready,
        "database": database,
        "warm_functions": warm,
        "backend": backend,
        "accepting": accepting,
    });
    (status, axum::Json(body)).into_response()
}

/// Counts every request by matched route pattern and status, and writes its access-log line
/// (target `flint::access`, at info): method, path, status, duration and request id. An
/// answer that found the store unreachable tells the token checks (see `auth`).
pub async fn count_requests(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "routed".to_string(), |p| p.as_str().to_string());
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    if response
        .extensions()
        .get::<super::error::StoreUnreachable>()
        .is_some()
    {
        state.tokens.store_unreachable();
    }
    let request_id = response
        .headers()
        .get("x-flint-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info!(
        target: "flint::access",
        %method,
        %path,
        status = response.status().as_u16(),
        duration_us = started.elapsed().as_micros() as u64,
        request_id,
        "request"
    );
    state
        .metrics
        .http_requests
        .with_label_values(&[&route, response.status().as_str()])
        .inc();
    state
        .metrics
        .ops
        .http_duration
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    response
}
