//! Outbound HTTP from functions (`flint.http_request`).
//!
//! Which hosts a function may call: its `allowed_outbound_hosts`, as Spin writes them:
//! `[scheme://]host[:port]`, where the scheme may be `*`, the host may start with `*.` for any
//! subdomain and the port may be `*`. Without a scheme (or with `*`) both `http` and `https`
//! match; without a port, the
//! scheme's default port (80, 443). Redirects are not followed (a 3xx goes back to the
//! function, which may follow it if the new host is allowed too).
//!
//! A request runs on the async runtime; the vCPU thread only waits for the answer (its seccomp
//! filter allows no sockets), for at most the function's `outbound_timeout_ms` and never past
//! the call's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flint_abi::host_fn::HttpError;
use prometheus::{HistogramVec, IntCounterVec};

/// One allowed host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    /// `http`, `https`, or `None` for both.
    scheme: Option<String>,
    /// Lower-case host, or the suffix after `*.` when `subdomains` is set.
    host: String,
    /// Any subdomain of `host` (not `host` itself).
    subdomains: bool,
    /// A port, or `None` for any.
    port: Option<u16>,
    /// Whether a port was given (else the scheme's default).
    port_given: bool,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

impl HostPattern {
    /// Parses one entry of `allowed_outbound_hosts`; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{text:?}: {why} (expected [http[s]://]host[:port])");
        let (scheme, rest) = match text.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (Some(s.to_string()), rest),
            Some(("*", rest)) => (None, rest),
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => (None, text),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, Some(None)),
            Some((h, p)) => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| bad("the port must be 1-65535 or *"))?;
                if port == 0 {
                    return Err(bad("the port must be 1-65535 or *"));
                }
                (h, Some(Some(port)))
            }
            None => (rest, None),
        };
        let (subdomains, host) = match host.strip_prefix("*.") {
            Some(h) => (true, h),
            None => (false, host),
        };
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid {
            return Err(bad("the host must be a name or an IPv4 address"));
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            subdomains,
            port: port.flatten(),
            port_given: port.is_some(),
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let host_ok = if self.subdomains {
            host.strip_suffix(&self.host)
                .is_some_and(|head| head.ends_with('.') && head.len() > 1)
        } else {
            host == self.host
        };
        let port_ok = match (self.port_given, self.port) {
            (true, None) => true,
            (true, Some(p)) => p == port,
            (false, _) => port == default_port(scheme),
        };
        host_ok && port_ok
    }
}

/// Whether any of `patterns` allows `url`.
pub fn allowed(patterns: &[HostPattern], url: &reqwest::Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    patterns.iter().any(|p| p.allows(url.scheme(), host, port))
}

/// The `result` labels of `flint_outbound_requests_total`.
pub const RESULTS: [&str; 6] = [
    "ok",
    "not_allowed",
    "bad_request",
    "failed",
    "timeout",
    "too_large",
];

/// One function's outbound HTTP.
pub struct FunctionHttp {
    /// The function (metric label).
    pub function: String,
    /// Its allowed hosts.
    pub allowed: Vec<HostPattern>,
    /// The node's client.
    pub client: reqwest::Client,
    /// The async runtime requests run on.
    pub handle: tokio::runtime::Handle,
    /// Largest response (status, headers and body) handed to the guest.
    pub max_response_bytes: usize,
    /// Longest a request may take.
    pub timeout: Duration,
    /// `flint_outbound_requests_total`.
    pub requests: IntCounterVec,
    /// `flint_outbound_request_duration_seconds`.
    pub duration: HistogramVec,
}

/// A request as the guest wrote it.
struct Parsed {
    method: reqwest::Method,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

/// Splits `METHOD URL\r\nName: value\r\n...\r\n\r\nbody` (bare `\n` accepted too).
fn parse(request: &[u8]) -> Result<Parsed, HttpError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let (head, body) = split_head(request);
    let head = std::str::from_utf8(head).map_err(|_| HttpError::BadRequest)?;
    let mut lines = head.lines();
    let first = lines.next().ok_or(HttpError::BadRequest)?;
    let (method, url) = first.trim().split_once(' ').ok_or(HttpError::BadRequest)?;
    let method =
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::BadRequest)?;
    let url = reqwest::Url::parse(url.trim()).map_err(|_| HttpError::BadRequest)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::BadRequest);
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HttpError::BadRequest)?;
        let name =
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| HttpError::BadRequest)?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| HttpError::BadRequest)?;
        headers.append(name, value);
    }
    Ok(Parsed {
        method,
        url,
        headers,
        body: body.to_vec(),
    })
}

fn split_head(request: &[u8]) -> (&[u8], &[u8]) {
    match crate::api::cgi::head_end(request) {
        Some((at, sep)) => (&request[..at], &request[at + sep..]),
        None => (request, &[]),
    }
}

impl FunctionHttp {
    async fn send(client: reqwest::Client, p: Parsed, max: usize) -> Result<Vec<u8>, HttpError> {
        let mut response = client
            .request(p.method, p.url)
            .headers(p.headers)
            .body(p.body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    HttpError::Timeout
                } else {
                    HttpError::Failed
                }
            })?;
        let mut out = format!("{}\r\n", response.status().as_u16()).into_bytes();
        for (name, value) in response.headers() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        while let Some(chunk) = response.chunk().await.map_err(|_| HttpError::Failed)? {
            if out.len() + chunk.len() > max {
                return Err(HttpError::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        if out.len() > max {
            return Err(HttpError::TooLarge);
        }
        Ok(out)
    }

    fn perform(&self, request: &[u8], deadline: Option<Instant>) -> Result<Vec<u8>, HttpError> {
        let parsed = parse(request)?;
        if !allowed(&self.allowed, &parsed.url) {
            return Err(HttpError::NotAllowed);
        }
        let now = Instant::now();
        let limit = deadline.map_or(self.timeout, |d| {
            self.timeout.min(d.saturating_duration_since(now))
        });
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (client, max) = (self.client.clone(), self.max_response_bytes);
        self.handle.spawn(async move {
            let answer = tokio::time::timeout(limit, Self::send(client, parsed, max)).await;
            let _ = tx.send(answer.unwrap_or(Err(HttpError::Timeout)));
        });
        rx.recv().unwrap_or(Err(HttpError::Failed))
    }
}

impl flint_runtime::host::Outbound for FunctionHttp {
    fn request(&self, request: &[u8], deadline: Option<Instant>) -> Result<Vec<u8>, HttpError> {
        let started = Instant::now();
        let answer = self.perform(request, deadline);
        let result = answer.as_ref().map_or_else(|e| e.as_str(), |_| "ok");
        self.requests
            .with_label_values(&[&self.function, result])
            .inc();
        self.duration
            .with_label_values(&[&self.function])
            .observe(started.elapsed().as_secs_f64());
        answer
    }
}

/// The outbound HTTP of `function` with `settings`, or none if it may call no host.
pub fn for_function(
    function: &str,
    settings: &crate::settings::FunctionSettings,
    client: &reqwest::Client,
    metrics: &crate::metrics::Metrics,
    max_response_bytes: usize,
) -> Arc<dyn flint_runtime::host::Outbound> {
    let allowed: Vec<HostPattern> = settings
        .allowed_outbound_hosts
        .iter()
        .filter_map(|h| HostPattern::parse(h).ok())
        .collect();
    if allowed.is_empty() {
        return Arc::new(flint_runtime::host::NoOutbound);
    }
    Arc::new(FunctionHttp {
        function: function.to_string(),
        allowed,
        client: client.clone(),
        handle: tokio::runtime::Handle::current(),
        max_response_bytes,
        timeout: Duration::from_millis(settings.outbound_timeout_ms),
        requests: metrics.outbound_requests.clone(),
        duration: metrics.outbound_duration.clone(),
    })
}

/// The node's client for outbound requests: no redirects, rustls with the system's roots.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flint/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_crlf_or_lf_and_refuse_junk() {
        let p = parse(b"POST http://h/x?q=1\r\nA: 1\r\nB: two\r\n\r\nbody").unwrap();
        assert_eq!(
            (p.method.as_str(), p.url.as_str()),
            ("POST", "http://h/x?q=1")
        );
        assert_eq!(p.headers["b"], "two");
        assert_eq!(p.body, b"body");
        let p = parse(b"GET https://h/\n\n").unwrap();
        assert!(p.body.is_empty());
        // The head ends at the first blank line, whichever line ending the body uses.
        let p = parse(b"PUT http://h/\nA: 1\n\nline\r\n\r\nmore").unwrap();
        assert_eq!(p.body, b"line\r\n\r\nmore");
        for bad in [
            &b""[..],
            b"GET",
            b"GET ftp://h/",
            b"G(T http://h/",
            b"GET http://h/\nno colon\n\n",
            b"\xff http://h/",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    fn ok(pattern: &str, url: &str) -> bool {
        let p = HostPattern::parse(pattern).unwrap();
        allowed(&[p], &reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn patterns_match_as_spin_writes_them() {
        assert!(ok("example.com", "https://example.com/x"));
        assert!(ok("example.com", "http://EXAMPLE.com/"));
        assert!(!ok("example.com", "https://example.com:8443/"));
        assert!(!ok("example.com", "https://api.example.com/"));
        assert!(ok("https://example.com", "https://example.com/"));
        assert!(!ok("https://example.com", "http://example.com/"));
        assert!(ok("*.example.com", "https://api.example.com/"));
        assert!(!ok("*.example.com", "https://example.com/"));
        assert!(!ok("*.example.com", "https://evilexample.com/"));
        assert!(ok("127.0.0.1:8080", "http://127.0.0.1:8080/a"));
        assert!(!ok("127.0.0.1:8080", "http://127.0.0.1:8081/a"));
        assert!(ok("localhost:*", "http://localhost:1234/"));
        assert!(ok("*://example.com:*", "https://example.com:8443/"));
        assert!(ok("*://example.com:*", "http://example.com/"));
    }

    #[test]
    fn bad_patterns_say_why() {
        for bad in [
            "", "ftp://x", "x:0", "x:99999", "a b", "*.", "http://", "x/y",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
