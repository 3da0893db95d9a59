//! The CGI side of path routes: the request's metadata as environment variables, and the
//! optional CGI headers (`Status:`, `Content-Type:`, ...) at the start of a function's stdout.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How far into stdout CGI headers may reach.
const HEAD_WINDOW_BYTES: usize = 16 << 10;

/// The CGI/1.1 environment of a request for `path` routed by `prefix` (never `/` itself: see
/// `settings::validate_route`). The `Authorization` header is never passed on.
pub fn environment(
    method: &str,
    prefix: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Vec<String> {
    let mut env = vec![
        "GATEWAY_INTERFACE=CGI/1.1".to_string(),
        format!("REQUEST_METHOD={method}"),
        format!("SCRIPT_NAME={prefix}"),
        format!("PATH_INFO={}", &path[prefix.len()..]),
        format!("QUERY_STRING={query}"),
        "SERVER_PROTOCOL=HTTP/1.1".to_string(),
    ];
    for (k, v) in headers {
        let Ok(v) = v.to_str() else { continue };
        let key = k.as_str().to_uppercase().replace('-', "_");
        match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => env.push(format!("{key}={v}")),
            "AUTHORIZATION" => {}
            _ => env.push(format!("HTTP_{key}={v}")),
        }
    }
    env
}

/// CGI header lines, in order.
type CgiHeaders = Vec<(String, String)>;

/// Splits CGI headers (`Name: value` lines ended by an empty line) off the start of `stdout`,
/// if it starts with them.
fn split_cgi(stdout: &[u8]) -> Option<(CgiHeaders, &[u8])> {
    let window = &stdout[..stdout.len().min(HEAD_WINDOW_BYTES)];
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

/// The answer of a call that exited 0: its stdout, after CGI headers where `cgi` allows them.
pub fn respond(stdout: &[u8], cgi: bool, truncated: bool) -> Response {
    let mut status = StatusCode::OK;
    let mut body = stdout;
    let mut extra = Vec::new();
    if cgi && let Some((headers, rest)) = split_cgi(stdout) {
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("status") {
                let code = v.split_whitespace().next().and_then(|c| c.parse().ok());
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
    if truncated {
        h.insert("x-flint-stdout-truncated", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_environment_splits_the_path_at_the_prefix_and_drops_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        headers.insert("x-trace", HeaderValue::from_static("7"));
        let env = environment("GET", "/app", "/app/a/b", "q=1", &headers);
        assert!(env.contains(&"SCRIPT_NAME=/app".to_string()));
        assert!(env.contains(&"PATH_INFO=/a/b".to_string()));
        assert!(env.contains(&"HTTP_X_TRACE=7".to_string()));
        assert!(!env.iter().any(|e| e.contains("Bearer")));
    }
}
