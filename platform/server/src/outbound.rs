//! Which hosts a function may call over HTTP: its `allowed_outbound_hosts`, as Spin writes
//! them: `[scheme://]host[:port]`, where the host may start with `*.` for any subdomain and the
//! port may be `*`. Without a scheme both `http` and `https` match; without a port, the
//! scheme's default port (80, 443).

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
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => (None, text),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, Some(None)),
            Some((h, p)) => {
                let port: u16 = p.parse().map_err(|_| bad("the port must be 1-65535 or *"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn bad_patterns_say_why() {
        for bad in ["", "ftp://x", "x:0", "x:99999", "a b", "*.", "http://", "x/y"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
