//! The CGI side of path routes: the request's metadata as environment variables, and the
//! optional CGI headers (`Status:`, `Content-Type:`, ...) at the start of a function's stdout.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

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

/// Where a head of header lines ends in `bytes`: the index of the earliest blank line
/// (`\r\n\r\n` or `\n\n`) and its length.
pub(crate) fn head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|s| {
            bytes
                .windows(s.len())
                .position(|w| w == *s)
                .map(|i| (i, s.len()))
        })
        .min_by_key(|(i, _)| *i)
}

/// Splits CGI headers (`Name: value` lines ended by an empty line) off the start of `stdout`,
/// if it starts with them.
fn split_cgi(stdout: &[u8]) -> Option<(CgiHeaders, &[u8])> {
    let window = &stdout[..stdout.len().min(HEAD_WINDOW_BYTES)];
    let text = std::str::from_utf8(window).ok().or_else(|| {
        let end = window.windows(2).position(|w| w == b"\n\n")? + 2;
        std::str::from_utf8(&window[..end]).ok()
    })?;
    let (head, sep) = head_end(text.as_bytes())?;
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

/// Response headers a function may set (besides `x-` headers): content metadata, caching,
/// redirects, cookies, CORS and links. Everything else (hop-by-hop and framing headers,
/// `strict-transport-security`, `x-flint-*`, ...) is dropped.
pub const ALLOWED_HEADERS: &[&str] = &[
    "content-type",
    "content-language",
    "content-disposition",
    "content-encoding",
    "content-security-policy",
    "cache-control",
    "expires",
    "etag",
    "last-modified",
    "vary",
    "location",
    "set-cookie",
    "link",
    "retry-after",
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-max-age",
];

/// Statuses a function may answer with.
pub const ALLOWED_STATUS: std::ops::RangeInclusive<u16> = 200..=599;

/// Whether a function may set response header `name` (lower case).
pub fn header_allowed(name: &str) -> bool {
    ALLOWED_HEADERS.contains(&name) || (name.starts_with("x-") && !name.starts_with("x-flint-"))
}

/// The answer of a call that exited 0: its stdout, after CGI headers where `cgi` allows them,
/// or 502 `bad_function_response` for a `Status:` outside [`ALLOWED_STATUS`].
pub fn respond(stdout: &[u8], cgi: bool) -> Result<Response, ApiError> {
    let mut status = None;
    let mut body = stdout;
    let mut extra = Vec::new();
    if cgi && let Some((headers, rest)) = split_cgi(stdout) {
        for (k, v) in headers {
            let k = k.to_ascii_lowercase();
            if k == "status" {
                status = Some(cgi_status(&v)?);
            } else if header_allowed(&k)
                && let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v))
            {
                extra.push((k, v));
            }
        }
        body = rest;
    }
    let redirect = extra.iter().any(|(k, _)| k == header::LOCATION);
    let status = status.unwrap_or(if redirect {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    let content_type = if std::str::from_utf8(body).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    let mut response = (status, Body::from(body.to_vec())).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut set = std::collections::HashSet::new();
    for (k, v) in extra {
        // The first line of each name replaces Flint's default; later ones add to it (every
        // `Set-Cookie` is sent).
        if set.insert(k.clone()) {
            h.insert(k, v);
        } else {
            h.append(k, v);
        }
    }
    Ok(response)
}

/// The status of a CGI `Status:` line, if it is one a function may send.
fn cgi_status(value: &str) -> Result<StatusCode, ApiError> {
    let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
    code.filter(|c| ALLOWED_STATUS.contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| {
            let (lo, hi) = ALLOWED_STATUS.into_inner();
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad_function_response",
                format!("the function answered with status {value:?}; statuses {lo}-{hi} only"),
            )
        })
}

/// Headers that keep a function's answer from acting on Flint's origin: no content sniffing,
/// and (unless `sandbox` is off in the function's config) a CSP sandbox, so that HTML a
/// function returns runs as an opaque origin, without access to the dashboard's storage.
pub fn harden(response: &mut Response, sandbox: bool) {
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if sandbox {
        h.append(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
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

    fn cgi(stdout: &str) -> Result<Response, ApiError> {
        respond(stdout.as_bytes(), true)
    }

    #[test]
    fn functions_cannot_set_framing_hop_by_hop_or_flint_headers() {
        let r = cgi(
            "Content-Length: 1\nTransfer-Encoding: chunked\nConnection: close\n\
                     Strict-Transport-Security: max-age=1\nX-Flint-Version: 9\n\
                     Upgrade: websocket\nX-Mine: 1\nCache-Control: no-store\n\nhello",
        )
        .unwrap();
        let h = r.headers();
        for gone in [
            "transfer-encoding",
            "connection",
            "strict-transport-security",
            "x-flint-version",
            "upgrade",
        ] {
            assert!(h.get(gone).is_none(), "{gone}");
        }
        assert_eq!(h["x-mine"], "1");
        assert_eq!(h["cache-control"], "no-store");
    }

    #[test]
    fn statuses_outside_200_599_are_refused() {
        for bad in ["101", "199", "600", "999", "abc", ""] {
            let e = cgi(&format!("Status: {bad}\n\nx")).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_GATEWAY, "{bad}");
        }
        assert_eq!(cgi("Status: 599\n\n").unwrap().status(), 599);
    }

    #[test]
    fn every_cookie_is_sent_and_location_alone_redirects() {
        let r = cgi("Set-Cookie: a=1\nSet-Cookie: b=2\nLocation: /x\n\n").unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        let r = cgi("Status: 301\nLocation: /y\n\n").unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    }

    #[test]
    fn hardened_answers_are_sandboxed_unless_opted_out() {
        let mut r = cgi("Content-Type: text/html\n\n<script>x</script>").unwrap();
        harden(&mut r, true);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["content-security-policy"], "sandbox");
        let mut r = cgi("\n\n").unwrap();
        harden(&mut r, false);
        assert!(r.headers().get("content-security-policy").is_none());
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
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
