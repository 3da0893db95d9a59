//! The head of an HTTP request as the host hands it to a component: `METHOD URL\r\n`, then
//! `name: value\r\n` lines, then `\r\n`, with an absolute URL (`scheme://authority/path?query`).
//! It travels in `WasmRun::http_request`; the request's body travels as stdin.

use alloc::string::String;
use alloc::vec::Vec;

/// A request's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The method, as sent.
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// Path and query.
    pub path_with_query: String,
    /// Header lines in order; names lower case.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Encodes `head` as [`parse_head`] reads it.
pub fn encode_head(head: &Head) -> Vec<u8> {
    let mut out = Vec::new();
    let first = alloc::format!(
        "{} {}://{}{}\r\n",
        head.method,
        head.scheme,
        head.authority,
        head.path_with_query
    );
    out.extend_from_slice(first.as_bytes());
    for (name, value) in &head.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Reads a head written by [`encode_head`]; `None` if it is not one.
pub fn parse_head(bytes: &[u8]) -> Option<Head> {
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = core::str::from_utf8(lines.next()?).ok()?;
    let (method, url) = first.split_once(' ')?;
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let name = core::str::from_utf8(&line[..colon])
            .ok()?
            .to_ascii_lowercase();
        let value = line[colon + 1..].trim_ascii().to_vec();
        headers.push((name, value));
    }
    Some(Head {
        method: method.into(),
        scheme: scheme.into(),
        authority: authority.into(),
        path_with_query: path.into(),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip() {
        let head = Head {
            method: "PATCH".into(),
            scheme: "http".into(),
            authority: "example.com:8080".into(),
            path_with_query: "/a/b?c=d".into(),
            headers: alloc::vec![
                ("x-one".into(), b"1".to_vec()),
                ("accept".into(), b"*/*".to_vec())
            ],
        };
        assert_eq!(parse_head(&encode_head(&head)), Some(head));
    }

    #[test]
    fn a_head_without_a_path_asks_for_the_root() {
        let head = parse_head(b"GET http://h\r\n\r\n").unwrap();
        assert_eq!(head.path_with_query, "/");
        assert!(parse_head(b"GET nowhere\r\n\r\n").is_none());
        assert!(parse_head(b"GET http://h\r\nno colon\r\n\r\n").is_none());
    }
}
