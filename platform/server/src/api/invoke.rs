//! Invoking functions: `POST /functions/{name}/invoke` (body to stdin, stdout to the body) and
//! path routes (any method on a configured prefix, CGI-style: see [`super::cgi`]).
//!
//! Both handlers read the request's head into a `Call` and hand it to `run`, which reads top
//! to bottom: decide from the headers whether the caller may call the function (before any
//! body is read or pool loaded), resolve its pool once, read the body within the limit,
//! build the request from the pool's settings, let the scheduler run it on that same pool,
//! and turn the [`Outcome`] into metrics, a record, logs and the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flint_abi::message::LogLevel;

use super::SharedState;
use super::auth::{self, Caller, Need};
use super::cgi;
use super::error::ApiError;
use crate::outcome::Outcome;
use crate::scheduler::Pool;
use crate::store::{LogRecord, LogStream, now_ms};

/// Lines of stderr kept in the logs per invocation.
const STDERR_LOG_LINES: usize = 100;
/// The level of stderr lines in the logs.
const STDERR_LEVEL: LogLevel = LogLevel::Warn;
/// The header that carries a call's request id, both ways.
const REQUEST_ID: &str = "x-flint-request-id";
/// What error messages call an invocation's body.
const BODY: &str = "the request body";

/// What the request adds to a run (its body aside).
struct Call {
    name: String,
    method: String,
    /// Path and query, as requested.
    target: String,
    headers: HeaderMap,
    env: Vec<String>,
    cgi: bool,
}

impl Call {
    /// The head a component's `incoming-request` is built from: the method, URL and headers as
    /// they reached Flint, without `Authorization` (Flint's credential, as for CGI).
    fn http_head(&self) -> Vec<u8> {
        let authority = self
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let headers = self
            .headers
            .iter()
            .filter(|(k, _)| *k != header::AUTHORIZATION)
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        flint_abi::http::encode_head(&flint_abi::http::Head {
            method: self.method.clone(),
            scheme: "http".into(),
            authority: authority.into(),
            path_with_query: self.target.clone(),
            headers,
        })
    }
}

/// Runs one call, start to finish.
async fn run(state: SharedState, call: Call, request: Request) -> Response {
    let started_at = now_ms();
    let started = Instant::now();
    let request_id = request_id(&call.headers);
    let pool = match admit(&state, &call).await {
        Ok(p) => p,
        Err(e) => return e.with("request_id", request_id.as_str()).into_response(),
    };
    let stdin = match read_body(&state, request).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // A traffic split sends this call's share to another version.
    let pool = match state.traffic.get(&call.name) {
        Some(split) => match split.pick(&request_id) {
            v if v == pool.version => pool,
            v => match state.scheduler.version_pool(&call.name, v).await {
                Ok(p) => p,
                Err(f) => return ApiError::from(f).into_response(),
            },
        },
        None => pool,
    };
    let secrets = match state.vault.env_for(&state.store, &call.name).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let version = pool.version;
    let sandbox = pool.settings.response_sandbox;
    // A component answers through `wasi:http` (in CGI form) and reads the request from its
    // head, not from CGI variables.
    let component = pool.component;
    let head = if component {
        call.http_head()
    } else {
        Vec::new()
    };
    let env = if component { Vec::new() } else { call.env };
    let mut request = pool
        .settings
        .request(&call.name, version, stdin.to_vec(), &secrets, env);
    request.http_request = head;
    let result = state.scheduler.invoke(pool.clone(), request).await;
    let outcome = Outcome::new(version, result);
    let duration = started.elapsed();
    let cgi = call.cgi || component;
    let response = answer(&outcome, cgi, sandbox, duration, &request_id);
    pool.record(&state.metrics, &outcome, duration);
    let duration_us = duration.as_micros() as i64;
    let status = response.status();
    let record = outcome.record(&call.name, started_at, duration_us, status, &request_id);
    state.recorder.invocation(record);
    record_logs(&state, &call.name, &outcome, &request_id);
    if let Outcome::Faulted { error, .. } = &outcome {
        let detail = match error {
            flint_vmm::CallError::Fault(f) => format!("{f} {f:?}"),
            other => super::error::error_chain(other),
        };
        tracing::warn!(function = %call.name, %request_id, %detail, "invocation failed");
    }
    response
}

/// The function's pool, if the caller may call it. Decided from the headers alone, before
/// the body is read; a pool is loaded only for a caller who may call the function (a token
/// that covers it, or anyone if it is public).
async fn admit(state: &SharedState, call: &Call) -> Result<Arc<Pool>, ApiError> {
    let caller = auth::caller(state, &call.headers).await?;
    let trusted = caller.allows(Need::Invoke(&call.name));
    if !trusted && !is_public(state, &call.name).await? {
        return Err(hidden(&caller, &call.name));
    }
    check_declared_length(&call.headers, state.limits.max_body_bytes)?;
    let pool = state.scheduler.pool(&call.name).await?;
    // A deploy may have made it private since `is_public` looked.
    if !trusted && !pool.settings.public {
        return Err(hidden(&caller, &call.name));
    }
    Ok(pool)
}

/// Whether `name` is public, from a loaded pool or the store, without loading one.
async fn is_public(state: &SharedState, name: &str) -> Result<bool, ApiError> {
    if let Some(pool) = state.scheduler.loaded(name) {
        return Ok(pool.settings.public);
    }
    let active = state.store.active_version(name).await?;
    Ok(active.is_some_and(|v| v.settings().is_ok_and(|s| s.public)))
}

/// The one refusal for a function this caller may not call, the same whether it exists or
/// not: 404 without a token, 403 with a token that does not cover it.
fn hidden(caller: &Caller, name: &str) -> ApiError {
    match caller {
        Caller::Anonymous => ApiError::function_not_found(name),
        Caller::Token(_) => caller.refusal(Need::Invoke(name)),
    }
}

/// 413 for a body whose declared length is over `limit`, before reading any of it.
fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(BODY, limit as u64));
    }
    Ok(())
}

/// The request body as stdin, within the limit.
async fn read_body(state: &SharedState, request: Request) -> Result<Bytes, ApiError> {
    let limit = state.limits.max_body_bytes;
    body_or_error(Bytes::from_request(request, state).await, limit)
}

/// The caller's `x-flint-request-id` if it is a sane token (1-64 of `A-Za-z0-9._-`), else a
/// new random one: the id an error answer carries and the server's log lines are found by.
fn request_id(headers: &HeaderMap) -> String {
    let given = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
    if let Some(id) = given {
        return id.to_string();
    }
    fresh_request_id()
}

/// 24 random hex digits, from a per-thread generator seeded once from the OS (an id only
/// correlates logs and picks a traffic split's side: it needs to be unique and evenly spread,
/// not secret, and a system call per request is measurable on the hot path).
fn fresh_request_id() -> String {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            // Without OS randomness the thread's address still tells threads apart.
            if getrandom::fill(&mut seed).is_err() {
                seed = (&seed as *const _ as u64).to_le_bytes();
            }
            u64::from_le_bytes(seed)
        });
    }
    // SplitMix64: every seed gives a full-period sequence of well-mixed outputs.
    let next = || {
        STATE.with(|s| {
            let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.set(x);
            let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    };
    let (a, b) = (next(), next());
    format!("{a:016x}{:08x}", b as u32)
}

/// The HTTP answer of `outcome`, with Flint's headers; a function's own answer is hardened
/// (see [`cgi::harden`]).
fn answer(
    outcome: &Outcome,
    cgi: bool,
    sandbox: bool,
    duration: Duration,
    request_id: &str,
) -> Response {
    let output = outcome.answer().and_then(|r| cgi::respond(&r.stdout, cgi));
    let mut response = match output {
        Ok(mut r) => {
            cgi::harden(&mut r, sandbox);
            r
        }
        Err(e) => e.with("request_id", request_id).into_response(),
    };
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: i64| {
        h.insert(HeaderName::from_static(name), HeaderValue::from(value));
    };
    set("x-flint-exit-code", outcome.exit_header());
    set("x-flint-duration-us", duration.as_micros() as i64);
    set("x-flint-version", outcome.version());
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID, id);
    }
    response
}

/// The function's log records and the first lines of its stderr, into its logs.
fn record_logs(state: &SharedState, name: &str, outcome: &Outcome, request_id: &str) {
    let Outcome::Ran(inv) = outcome else { return };
    let at = now_ms();
    let line = |level: LogLevel, stream: LogStream, message: String| LogRecord {
        id: 0,
        request_id: Some(request_id.to_string()),
        function_name: name.to_string(),
        version: inv.version,
        at,
        level: level.as_str().to_string(),
        stream: stream.as_str().to_string(),
        message,
    };
    for log in &inv.response.logs {
        let record = line(log.level, LogStream::Log, log.message.clone());
        state.recorder.log(record);
    }
    let result = &inv.response.result;
    if let Some(trap) = result.trap {
        let text = format!("trap ({}): {}", trap.as_str(), result.trap_message);
        state
            .recorder
            .log(line(LogLevel::Error, LogStream::Log, text));
    }
    let stderr = String::from_utf8_lossy(&result.stderr);
    let lines = stderr.lines().count();
    for text in stderr.lines().take(STDERR_LOG_LINES) {
        let record = line(STDERR_LEVEL, LogStream::Stderr, text.into());
        state.recorder.log(record);
    }
    // Say where stderr was cut, rather than let the logs look complete.
    let mut cut = Vec::new();
    if lines > STDERR_LOG_LINES {
        cut.push(format!("{} more lines", lines - STDERR_LOG_LINES));
    }
    if result.stderr_truncated {
        cut.push(format!("stderr past {} bytes", result.stderr.len()));
    }
    if !cut.is_empty() {
        let text = format!("[stderr cut: {} not kept]", cut.join(" and "));
        state
            .recorder
            .log(line(STDERR_LEVEL, LogStream::Stderr, text));
    }
}

/// The body, or the one answer for a body that could not be read or is over `limit`.
fn body_or_error(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    let body =
        body.map_err(|e| ApiError::unreadable_body(BODY, limit, e.status(), e.body_text()))?;
    if body.len() > limit {
        return Err(ApiError::too_large(BODY, limit as u64));
    }
    Ok(body)
}

/// The request's path and query.
fn target(request: &Request) -> String {
    request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string())
}

/// `POST /functions/{name}/invoke`.
pub async fn invoke(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    if crate::settings::validate_name(&name).is_err() {
        return ApiError::function_not_found(&name).into_response();
    }
    let call = Call {
        name,
        method: "POST".into(),
        target: target(&request),
        headers: request.headers().clone(),
        env: vec!["REQUEST_METHOD=POST".into()],
        cgi: false,
    };
    run(state, call, request).await
}

/// Any request that matched no API route: a path route to a function, or 404.
pub async fn routed(State(state): State<SharedState>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some((name, prefix)) = state.routes.lookup(&path) else {
        let message = format!("nothing is served at {path}");
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", message).into_response();
    };
    let query = request.uri().query().unwrap_or("");
    let headers = request.headers().clone();
    let env = cgi::environment(request.method().as_str(), &prefix, &path, query, &headers);
    let call = Call {
        name,
        method: request.method().as_str().to_string(),
        target: target(&request),
        headers,
        env,
        cgi: true,
    };
    run(state, call, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_request_ids_are_24_hex_digits_and_distinct() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| fresh_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        let other = std::thread::spawn(fresh_request_id).join().expect("thread");
        assert!(!ids.contains(&other));
    }

    #[test]
    fn a_sane_caller_id_is_kept_and_junk_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-1.2_3"));
        assert_eq!(request_id(&headers), "abc-1.2_3");
        headers.insert(REQUEST_ID, HeaderValue::from_static("no spaces"));
        assert_eq!(request_id(&headers).len(), 24);
    }
}
