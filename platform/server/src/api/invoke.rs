//! Invoking functions: `POST /functions/{name}/invoke` (body to stdin, stdout to the body) and
//! path routes (any method on a configured prefix, CGI-style: request metadata in the
//! environment, optional CGI headers at the start of stdout).

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flint_abi::message::ErrorCode;
use flint_abi::wasm::WasmResult;
use flint_runtime::InvokeError;
use flint_vmm::{CallError, FaultKind};

use super::SharedState;
use super::auth::require_token;
use super::error::ApiError;
use crate::scheduler::{Failure, Invoked};
use crate::store::{InvocationRecord, LogRecord, now_ms};

/// Lines of stderr kept in the logs per invocation.
const STDERR_LOG_LINES: usize = 100;
/// Bytes of stderr returned in an error body.
const STDERR_TAIL_BYTES: usize = 2048;

/// What the request adds to a run.
struct Call {
    name: String,
    headers: HeaderMap,
    stdin: Bytes,
    env: Vec<String>,
    cgi: bool,
}

fn stderr_tail(result: &WasmResult) -> String {
    let s = &result.stderr;
    let from = s.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&s[from..]).into_owned()
}

fn header(name: &'static str, value: impl ToString) -> (HeaderName, HeaderValue) {
    let v = HeaderValue::from_str(&value.to_string()).unwrap_or(HeaderValue::from_static(""));
    (HeaderName::from_static(name), v)
}

/// Splits CGI headers (`Name: value` lines ended by an empty line) off the start of `stdout`.
/// CGI header lines, in order.
type CgiHeaders = Vec<(String, String)>;

fn split_cgi(stdout: &[u8]) -> Option<(CgiHeaders, &[u8])> {
    let window = &stdout[..stdout.len().min(16 << 10)];
    let text = std::str::from_utf8(window).ok().or_else(|| {
        let end = window.windows(2).position(|w| w == b"\n\n")? + 2;
        std::str::from_utf8(&window[..end]).ok()
    })?;
    let (head, sep) = [("\r\n\r\n", 4), ("\n\n", 2)]
        .iter()
        .filter_map(|(s, n)| text.find(s).map(|i| (i, *n)))
        .min_by_key(|(i, _)| *i)?;
    let mut headers = Vec::new();
    for line in text[..head].lines() {
        let (k, v) = line.split_once(':')?;
        let valid = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return None;
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Some((headers, &stdout[head + sep..]))
}

fn ok_response(call: &Call, inv: &Invoked) -> Response {
    let result = &inv.response.result;
    let mut status = StatusCode::OK;
    let mut body: &[u8] = &result.stdout;
    let mut extra = Vec::new();
    if call.cgi
        && let Some((headers, rest)) = split_cgi(&result.stdout)
    {
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("status") {
                let code = v
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u16>().ok());
                status = code
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(status);
            } else if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
                extra.push((k, v));
            }
        }
        body = rest;
    }
    let content_type = if std::str::from_utf8(body).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    let mut response = (status, Body::from(body.to_vec())).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (k, v) in extra {
        h.insert(k, v);
    }
    if result.stdout_truncated {
        h.insert("x-flint-stdout-truncated", HeaderValue::from_static("true"));
    }
    response
}

/// Metrics label of a fault.
fn fault_label(error: &CallError) -> &'static str {
    match error {
        CallError::Fault(f) => f.kind.as_str(),
        CallError::Guest(e) if e.code == ErrorCode::GuestPanic => "guest_panic",
        _ => FaultKind::Exception.as_str(),
    }
}

/// Counts and stores one finished invocation.
fn record(state: &SharedState, r: InvocationRecord) {
    let m = &state.metrics;
    m.invocations
        .with_label_values(&[&r.function_name, &r.outcome])
        .inc();
    m.invocation_duration
        .with_label_values(&[&r.function_name])
        .observe(r.duration_us as f64 / 1e6);
    state.recorder.invocation(r);
}

fn record_logs(state: &SharedState, name: &str, inv: &Invoked) {
    let at = now_ms();
    for log in &inv.response.logs {
        state.recorder.log(LogRecord {
            function_name: name.to_string(),
            version: inv.version,
            at,
            level: format!("{:?}", log.level).to_lowercase(),
            stream: "log".into(),
            message: log.message.clone(),
        });
    }
    let stderr = String::from_utf8_lossy(&inv.response.result.stderr);
    for line in stderr.lines().take(STDERR_LOG_LINES) {
        state.recorder.log(LogRecord {
            function_name: name.to_string(),
            version: inv.version,
            at,
            level: "warn".into(),
            stream: "stderr".into(),
            message: line.to_string(),
        });
    }
}

fn with_headers(
    mut response: Response,
    exit: i64,
    duration_us: i64,
    version: Option<i64>,
) -> Response {
    let h = response.headers_mut();
    for (k, v) in [
        header("x-flint-exit-code", exit),
        header("x-flint-duration-us", duration_us),
        header(
            "x-flint-version",
            version.map_or(String::new(), |v| v.to_string()),
        ),
    ] {
        h.insert(k, v);
    }
    response
}

async fn run(state: SharedState, call: Call) -> Response {
    let started_at = now_ms();
    let started = std::time::Instant::now();
    let pool = match state.scheduler.pool(&call.name).await {
        Ok(p) => p,
        Err(f) => return ApiError::from_failure(&call.name, f).into_response(),
    };
    if !pool.settings.public
        && let Err(e) = require_token(&state, &call.headers).await
    {
        return e.into_response();
    }
    let limit = pool.config().max_stdin_bytes;
    if call.stdin.len() as u64 > limit {
        return ApiError::too_large("the request body", limit).into_response();
    }
    let mut env: Vec<String> = pool
        .settings
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("FLINT_FUNCTION={}", call.name));
    env.push(format!("FLINT_VERSION={}", pool.version));
    env.extend(call.env.iter().cloned());
    let mut args = vec![call.name.clone()];
    args.extend(pool.settings.args.iter().cloned());
    let request = flint_runtime::Request {
        stdin: call.stdin.to_vec(),
        args,
        env,
    };
    let version = pool.version;
    drop(pool);
    let outcome = state.scheduler.invoke(&call.name, request).await;
    let duration_us = started.elapsed().as_micros() as i64;
    let finish = |version: i64, response: &Response, outcome: &str, exit_code: Option<i64>| {
        record(
            &state,
            InvocationRecord {
                function_name: call.name.clone(),
                version,
                started_at,
                duration_us,
                status: i64::from(response.status().as_u16()),
                outcome: outcome.into(),
                exit_code,
            },
        );
    };
    match outcome {
        Ok(inv) => {
            record_logs(&state, &call.name, &inv);
            let r = &inv.response.result;
            let exit = i64::from(r.exit_code);
            let (response, label) = if let Some(trap) = r.trap {
                state
                    .metrics
                    .guest_faults
                    .with_label_values(&[&call.name, trap.as_str()])
                    .inc();
                let e = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "trap",
                    format!("the function trapped: {}", r.trap_message),
                )
                .with("trap", trap.as_str())
                .with("stderr", stderr_tail(r));
                (e.into_response(), "trap")
            } else if r.exit_code != 0 {
                let e = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exit_nonzero",
                    format!("the function exited with code {}", r.exit_code),
                )
                .with("exit_code", r.exit_code)
                .with("stderr", stderr_tail(r));
                (e.into_response(), "exit_nonzero")
            } else {
                (ok_response(&call, &inv), "ok")
            };
            let exit_header = if r.trap.is_some() { -1 } else { exit };
            finish(
                inv.version,
                &response,
                label,
                r.trap.is_none().then_some(exit),
            );
            with_headers(response, exit_header, duration_us, Some(inv.version))
        }
        Err(Failure::Invoke(InvokeError::Call(error))) => {
            let kind = fault_label(&error);
            state
                .metrics
                .guest_faults
                .with_label_values(&[&call.name, kind])
                .inc();
            if kind == FaultKind::StackGuard.as_str() {
                state
                    .metrics
                    .stack_guard_violations
                    .with_label_values(&[&call.name])
                    .inc();
            }
            let timeout = matches!(&error, CallError::Fault(f) if f.kind == FaultKind::Timeout);
            tracing::warn!(function = %call.name, %error, "invocation failed");
            let (e, label) = if timeout {
                (
                    ApiError::new(
                        StatusCode::GATEWAY_TIMEOUT,
                        "timeout",
                        "the function ran past its timeout",
                    ),
                    "timeout",
                )
            } else {
                let message = match &error {
                    CallError::Fault(f) => format!("the function's sandbox faulted: {f}"),
                    other => format!("the function's sandbox failed: {other}"),
                };
                (
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "guest_fault", message)
                        .with("kind", kind),
                    "fault",
                )
            };
            let response = e.into_response();
            finish(version, &response, label, None);
            with_headers(response, -1, duration_us, Some(version))
        }
        Err(Failure::Invoke(InvokeError::StdinTooLarge { limit_bytes, .. })) => {
            ApiError::too_large("the request body", limit_bytes).into_response()
        }
        Err(f) => {
            let label = if matches!(f, Failure::Overloaded { .. } | Failure::MemoryExhausted) {
                "overloaded"
            } else {
                "error"
            };
            let response = ApiError::from_failure(&call.name, f).into_response();
            if response.status() != StatusCode::NOT_FOUND {
                finish(version, &response, label, None);
            }
            with_headers(response, -1, duration_us, Some(version))
        }
    }
}

fn body_or_error(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body", limit as u64)
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
        }
    })?;
    if body.len() > limit {
        return Err(ApiError::too_large("the request body", limit as u64));
    }
    Ok(body)
}

/// `POST /functions/{name}/invoke`.
pub async fn invoke(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if crate::settings::validate_name(&name).is_err() {
        return ApiError::function_not_found(&name).into_response();
    }
    let stdin = match body_or_error(body, state.limits.max_body_bytes) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let call = Call {
        name,
        headers,
        stdin,
        env: vec!["REQUEST_METHOD=POST".into()],
        cgi: false,
    };
    run(state, call).await
}

/// Any request that matched no API route: a path route to a function, or 404.
pub async fn routed(State(state): State<SharedState>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some((name, prefix)) = state.routes.lookup(&path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("nothing is served at {path}"),
        )
        .into_response();
    };
    let method = request.method().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let headers = request.headers().clone();
    let mut env = vec![
        "GATEWAY_INTERFACE=CGI/1.1".to_string(),
        format!("REQUEST_METHOD={method}"),
        format!("SCRIPT_NAME={}", if prefix == "/" { "" } else { &prefix }),
        format!(
            "PATH_INFO={}",
            &path[if prefix == "/" { 0 } else { prefix.len() }..]
        ),
        format!("QUERY_STRING={query}"),
        "SERVER_PROTOCOL=HTTP/1.1".to_string(),
    ];
    for (k, v) in &headers {
        let Ok(v) = v.to_str() else { continue };
        let key = k.as_str().to_uppercase().replace('-', "_");
        match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => env.push(format!("{key}={v}")),
            "AUTHORIZATION" => {}
            _ => env.push(format!("HTTP_{key}={v}")),
        }
    }
    let limit = state.limits.max_body_bytes;
    let body = Bytes::from_request(request, &state).await;
    let stdin = match body_or_error(body, limit) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let call = Call {
        name,
        headers,
        stdin,
        env,
        cgi: true,
    };
    run(state, call).await
}

#[cfg(test)]
mod tests {
    use super::split_cgi;

    #[test]
    fn cgi_headers_are_split_off_when_present() {
        let (h, body) =
            split_cgi(b"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n<b>x</b>").unwrap();
        assert_eq!(h[0], ("Status".into(), "404 Not Found".into()));
        assert_eq!(h[1].1, "text/html");
        assert_eq!(body, b"<b>x</b>");
        assert!(split_cgi(b"just text\n\nmore").is_none());
        assert!(split_cgi(b"no blank line: here").is_none());
        let (h, body) = split_cgi(b"X-A: 1\n\n").unwrap();
        assert_eq!((h.len(), body.len()), (1, 0));
    }
}
