//! `wasi:http/outgoing-handler`: requests sent through the host's allow-listed
//! `http_request` call ([`crate::FlintHost::http_request`]), the same as modules'.

use alloc::string::String;
use alloc::vec::Vec;

use flint_abi::host_fn::HttpError;
use wasmtime::component::Resource;

use super::Serving;
use super::http::{FutureIncomingResponse, OutgoingRequest, RequestOptions, method_name};
use super::wasi::http::outgoing_handler;
use super::wasi::http::types::{ErrorCode, Scheme};

/// A response: status, headers (names lower case), body.
pub(crate) type Received = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

impl outgoing_handler::Host for Serving<'_> {
    fn handle(
        &mut self,
        request: Resource<OutgoingRequest>,
        options: Option<Resource<RequestOptions>>,
    ) -> wasmtime::Result<Result<Resource<FutureIncomingResponse>, ErrorCode>> {
        let request = self.http.table.delete(request)?;
        if let Some(o) = options {
            self.http.table.delete(o)?;
        }
        if request.authority.is_none() {
            self.http.fields.remove(request.headers);
            self.http.bodies.remove(request.body);
            return Ok(Err(ErrorCode::HttpRequestUriInvalid));
        }
        let future = FutureIncomingResponse {
            request: Some(request),
            taken: false,
        };
        Ok(Ok(self.http.table.push(future)?))
    }
}

impl Serving<'_> {
    /// Sends `request` with the body written so far, and waits for the answer.
    pub(crate) fn send(
        &mut self,
        request: OutgoingRequest,
    ) -> wasmtime::Result<Result<Received, ErrorCode>> {
        let scheme = match &request.scheme {
            Some(Scheme::Http) => "http",
            Some(Scheme::Https) | None => "https",
            Some(Scheme::Other(s)) => s.as_str(),
        };
        // The host call reads the same head format the host writes for incoming requests.
        let headers = self
            .http
            .fields
            .remove(request.headers)
            .map(|list| list.entries)
            .unwrap_or_default();
        let mut wire = flint_abi::http::encode_head(&flint_abi::http::Head {
            method: method_name(&request.method).into(),
            scheme: scheme.into(),
            authority: request.authority.clone().unwrap_or_default(),
            path_with_query: request
                .path_with_query
                .clone()
                .unwrap_or_else(|| "/".into()),
            headers,
        });
        if let Some(body) = self.http.bodies.remove(request.body) {
            wire.extend_from_slice(&body.bytes.bytes);
        }
        Ok(match self.wasi.host.http_request(&wire) {
            Ok(answer) => parse_response(&answer).ok_or(ErrorCode::HttpProtocolError),
            Err(e) => Err(error_code(e)),
        })
    }
}

/// The `error-code` a component sees for a failed host call.
fn error_code(e: HttpError) -> ErrorCode {
    match e {
        HttpError::NotAllowed => ErrorCode::HttpRequestDenied,
        HttpError::BadRequest => ErrorCode::HttpRequestUriInvalid,
        HttpError::Failed => ErrorCode::ConnectionRefused,
        HttpError::Timeout => ErrorCode::ConnectionTimeout,
        HttpError::TooLarge => ErrorCode::HttpResponseBodySize(None),
    }
}

/// Reads the host's `STATUS\r\nheaders\r\n\r\nbody`.
pub(crate) fn parse_response(answer: &[u8]) -> Option<Received> {
    let mut rest = answer;
    let mut line = || {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let l = &rest[..end];
        rest = &rest[end + 1..];
        Some(l.strip_suffix(b"\r").unwrap_or(l))
    };
    let status = core::str::from_utf8(line()?).ok()?.trim().parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let l = line()?;
        if l.is_empty() {
            break;
        }
        let colon = l.iter().position(|&b| b == b':')?;
        let name = core::str::from_utf8(&l[..colon]).ok()?.to_ascii_lowercase();
        headers.push((name, l[colon + 1..].trim_ascii().to_vec()));
    }
    Some((status, headers, rest.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read() {
        let (status, headers, body) =
            parse_response(b"201\r\nContent-Type: text/plain\r\nx-a: 1\r\n\r\nhi\r\n\r\nthere")
                .unwrap();
        assert_eq!(status, 201);
        assert_eq!(headers[0], ("content-type".into(), b"text/plain".to_vec()));
        assert_eq!(body, b"hi\r\n\r\nthere");
        assert!(parse_response(b"abc\r\n\r\n").is_none());
        assert!(parse_response(b"200\r\nno-end").is_none());
    }
}
