//! `wasi:http/types`: requests, responses and bodies.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmtime::component::Resource;

use super::fields::{FieldList, Fields};
use super::io::{InputStream, IoError, OutputStream, Pollable};
use super::wasi::http::types::{
    self, ErrorCode, HostFutureIncomingResponse, HostFutureTrailers, HostIncomingBody,
    HostIncomingRequest, HostIncomingResponse, HostOutgoingBody, HostOutgoingRequest,
    HostOutgoingResponse, HostRequestOptions, HostResponseOutparam, Method, Scheme,
};
use super::{Answer, Serving};

/// The request being served.
#[derive(Debug)]
pub struct IncomingRequest {
    pub(crate) method: String,
    pub(crate) scheme: String,
    pub(crate) authority: String,
    pub(crate) path_with_query: String,
    pub(crate) headers: u32,
    pub(crate) body: Option<Vec<u8>>,
}

/// A request the component builds to send.
#[derive(Debug)]
pub struct OutgoingRequest {
    pub(crate) method: Method,
    pub(crate) scheme: Option<Scheme>,
    pub(crate) authority: Option<String>,
    pub(crate) path_with_query: Option<String>,
    pub(crate) headers: u32,
    pub(crate) body: u32,
    pub(crate) body_taken: bool,
}

/// Timeouts of an outgoing request (kept; the host's timeout and the call's deadline rule).
#[derive(Debug, Default)]
pub struct RequestOptions {
    connect: Option<u64>,
    first_byte: Option<u64>,
    between_bytes: Option<u64>,
}

/// Where the handler puts its answer.
#[derive(Debug)]
pub struct ResponseOutparam;

/// A response to an outgoing request.
#[derive(Debug)]
pub struct IncomingResponse {
    pub(crate) status: u16,
    pub(crate) headers: u32,
    pub(crate) body: Option<Vec<u8>>,
}

/// A body to read: the request's or a response's.
#[derive(Debug)]
pub struct IncomingBody {
    data: Option<Vec<u8>>,
}

/// Trailers of a read body (never any).
#[derive(Debug)]
pub struct FutureTrailers {
    taken: bool,
}

/// The handler's response.
#[derive(Debug)]
pub struct OutgoingResponse {
    status: u16,
    headers: u32,
    body: u32,
    body_taken: bool,
}

/// A body to write: the response's or an outgoing request's.
#[derive(Debug)]
pub struct OutgoingBody {
    pub(crate) id: u32,
}

/// The pending response of an outgoing request: sent when first asked for.
#[derive(Debug)]
pub struct FutureIncomingResponse {
    pub(crate) request: Option<OutgoingRequest>,
    pub(crate) taken: bool,
}

/// The method as the wire spells it.
pub(crate) fn method_name(m: &Method) -> &str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(s) => s,
    }
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

fn scheme(name: &str) -> Scheme {
    match name {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    }
}

/// A method token: RFC 9110 token characters.
fn valid_method(m: &Method) -> bool {
    let name = method_name(m);
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Serving<'_> {
    /// The `incoming-body` of a request or response whose body is `data`, unless it was
    /// consumed before (`None`).
    fn incoming_body(
        &mut self,
        data: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<Resource<IncomingBody>, ()>> {
        match data {
            None => Ok(Err(())),
            Some(data) => Ok(Ok(self
                .http
                .table
                .push(IncomingBody { data: Some(data) })?)),
        }
    }

    fn body_stream(&mut self, body: &Resource<IncomingBody>) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.http.table.get_mut(body)?.data.take())
    }
}

impl types::Host for Serving<'_> {
    fn http_error_code(&mut self, e: Resource<IoError>) -> wasmtime::Result<Option<ErrorCode>> {
        self.http.table.get(&e)?;
        Ok(None)
    }
}

impl HostIncomingRequest for Serving<'_> {
    fn method(&mut self, r: Resource<IncomingRequest>) -> wasmtime::Result<Method> {
        Ok(method(&self.http.table.get(&r)?.method))
    }

    fn path_with_query(
        &mut self,
        r: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        Ok(Some(self.http.table.get(&r)?.path_with_query.clone()))
    }

    fn scheme(&mut self, r: Resource<IncomingRequest>) -> wasmtime::Result<Option<Scheme>> {
        Ok(Some(scheme(&self.http.table.get(&r)?.scheme)))
    }

    fn authority(&mut self, r: Resource<IncomingRequest>) -> wasmtime::Result<Option<String>> {
        Ok(Some(self.http.table.get(&r)?.authority.clone()))
    }

    fn headers(&mut self, r: Resource<IncomingRequest>) -> wasmtime::Result<Resource<Fields>> {
        let id = self.http.table.get(&r)?.headers;
        self.view_fields(id)
    }

    fn consume(
        &mut self,
        r: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Result<Resource<IncomingBody>, ()>> {
        let body = self.http.table.get_mut(&r)?.body.take();
        self.incoming_body(body)
    }

    fn drop(&mut self, r: Resource<IncomingRequest>) -> wasmtime::Result<()> {
        let r = self.http.table.delete(r)?;
        self.http.fields.remove(r.headers);
        Ok(())
    }
}

impl HostOutgoingRequest for Serving<'_> {
    fn new(&mut self, headers: Resource<Fields>) -> wasmtime::Result<Resource<OutgoingRequest>> {
        let headers = self.take_fields(headers)?;
        let body = self.http.new_body();
        Ok(self.http.table.push(OutgoingRequest {
            method: Method::Get,
            scheme: None,
            authority: None,
            path_with_query: None,
            headers,
            body,
            body_taken: false,
        })?)
    }

    fn body(
        &mut self,
        r: Resource<OutgoingRequest>,
    ) -> wasmtime::Result<Result<Resource<OutgoingBody>, ()>> {
        let r = self.http.table.get_mut(&r)?;
        if core::mem::replace(&mut r.body_taken, true) {
            return Ok(Err(()));
        }
        let id = r.body;
        Ok(Ok(self.http.table.push(OutgoingBody { id })?))
    }

    fn method(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Method> {
        Ok(self.http.table.get(&r)?.method.clone())
    }

    fn set_method(
        &mut self,
        r: Resource<OutgoingRequest>,
        m: Method,
    ) -> wasmtime::Result<Result<(), ()>> {
        if !valid_method(&m) {
            return Ok(Err(()));
        }
        self.http.table.get_mut(&r)?.method = m;
        Ok(Ok(()))
    }

    fn path_with_query(
        &mut self,
        r: Resource<OutgoingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.http.table.get(&r)?.path_with_query.clone())
    }

    fn set_path_with_query(
        &mut self,
        r: Resource<OutgoingRequest>,
        p: Option<String>,
    ) -> wasmtime::Result<Result<(), ()>> {
        if p.as_deref().is_some_and(|p| {
            p.bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        }) {
            return Ok(Err(()));
        }
        self.http.table.get_mut(&r)?.path_with_query = p;
        Ok(Ok(()))
    }

    fn scheme(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Option<Scheme>> {
        Ok(self.http.table.get(&r)?.scheme.clone())
    }

    fn set_scheme(
        &mut self,
        r: Resource<OutgoingRequest>,
        s: Option<Scheme>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.http.table.get_mut(&r)?.scheme = s;
        Ok(Ok(()))
    }

    fn authority(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Option<String>> {
        Ok(self.http.table.get(&r)?.authority.clone())
    }

    fn set_authority(
        &mut self,
        r: Resource<OutgoingRequest>,
        a: Option<String>,
    ) -> wasmtime::Result<Result<(), ()>> {
        let bad = |a: &str| {
            a.is_empty()
                || a.bytes()
                    .any(|b| b"/?#@ ".contains(&b) || b.is_ascii_control())
        };
        if a.as_deref().is_some_and(bad) {
            return Ok(Err(()));
        }
        self.http.table.get_mut(&r)?.authority = a;
        Ok(Ok(()))
    }

    fn headers(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<Resource<Fields>> {
        let id = self.http.table.get(&r)?.headers;
        self.view_fields(id)
    }

    fn drop(&mut self, r: Resource<OutgoingRequest>) -> wasmtime::Result<()> {
        let r = self.http.table.delete(r)?;
        self.http.fields.remove(r.headers);
        Ok(())
    }
}

impl HostRequestOptions for Serving<'_> {
    fn new(&mut self) -> wasmtime::Result<Resource<RequestOptions>> {
        Ok(self.http.table.push(RequestOptions::default())?)
    }

    fn connect_timeout(&mut self, o: Resource<RequestOptions>) -> wasmtime::Result<Option<u64>> {
        Ok(self.http.table.get(&o)?.connect)
    }

    fn set_connect_timeout(
        &mut self,
        o: Resource<RequestOptions>,
        d: Option<u64>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.http.table.get_mut(&o)?.connect = d;
        Ok(Ok(()))
    }

    fn first_byte_timeout(&mut self, o: Resource<RequestOptions>) -> wasmtime::Result<Option<u64>> {
        Ok(self.http.table.get(&o)?.first_byte)
    }

    fn set_first_byte_timeout(
        &mut self,
        o: Resource<RequestOptions>,
        d: Option<u64>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.http.table.get_mut(&o)?.first_byte = d;
        Ok(Ok(()))
    }

    fn between_bytes_timeout(
        &mut self,
        o: Resource<RequestOptions>,
    ) -> wasmtime::Result<Option<u64>> {
        Ok(self.http.table.get(&o)?.between_bytes)
    }

    fn set_between_bytes_timeout(
        &mut self,
        o: Resource<RequestOptions>,
        d: Option<u64>,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.http.table.get_mut(&o)?.between_bytes = d;
        Ok(Ok(()))
    }

    fn drop(&mut self, o: Resource<RequestOptions>) -> wasmtime::Result<()> {
        self.http.table.delete(o)?;
        Ok(())
    }
}

impl HostResponseOutparam for Serving<'_> {
    fn send_informational(
        &mut self,
        param: Resource<ResponseOutparam>,
        _status: u16,
        headers: Resource<Fields>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        // Unstable in WASI 0.2 and not linked (the default `LinkOptions`): never called.
        self.http.table.get(&param)?;
        self.http.table.delete(headers)?;
        Ok(Err(ErrorCode::InternalError(None)))
    }

    fn set(
        &mut self,
        param: Resource<ResponseOutparam>,
        response: Result<Resource<OutgoingResponse>, ErrorCode>,
    ) -> wasmtime::Result<()> {
        self.http.table.delete(param)?;
        let answer = match response {
            Ok(r) => {
                let r = self.http.table.delete(r)?;
                Answer::Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                }
            }
            Err(e) => Answer::Error(alloc::format!("{e:?}")),
        };
        self.http.answer = Some(answer);
        Ok(())
    }

    fn drop(&mut self, param: Resource<ResponseOutparam>) -> wasmtime::Result<()> {
        self.http.table.delete(param)?;
        Ok(())
    }
}

impl HostIncomingResponse for Serving<'_> {
    fn status(&mut self, r: Resource<IncomingResponse>) -> wasmtime::Result<u16> {
        Ok(self.http.table.get(&r)?.status)
    }

    fn headers(&mut self, r: Resource<IncomingResponse>) -> wasmtime::Result<Resource<Fields>> {
        let id = self.http.table.get(&r)?.headers;
        self.view_fields(id)
    }

    fn consume(
        &mut self,
        r: Resource<IncomingResponse>,
    ) -> wasmtime::Result<Result<Resource<IncomingBody>, ()>> {
        let body = self.http.table.get_mut(&r)?.body.take();
        self.incoming_body(body)
    }

    fn drop(&mut self, r: Resource<IncomingResponse>) -> wasmtime::Result<()> {
        let r = self.http.table.delete(r)?;
        self.http.fields.remove(r.headers);
        Ok(())
    }
}

impl HostIncomingBody for Serving<'_> {
    fn stream(
        &mut self,
        b: Resource<IncomingBody>,
    ) -> wasmtime::Result<Result<Resource<InputStream>, ()>> {
        match self.body_stream(&b)? {
            None => Ok(Err(())),
            Some(data) => Ok(Ok(self.http.table.push(InputStream { data, pos: 0 })?)),
        }
    }

    fn finish(&mut self, b: Resource<IncomingBody>) -> wasmtime::Result<Resource<FutureTrailers>> {
        self.http.table.delete(b)?;
        Ok(self.http.table.push(FutureTrailers { taken: false })?)
    }

    fn drop(&mut self, b: Resource<IncomingBody>) -> wasmtime::Result<()> {
        self.http.table.delete(b)?;
        Ok(())
    }
}

/// What `future-trailers.get` returns.
type TrailersResult = Option<Result<Result<Option<Resource<Fields>>, ErrorCode>, ()>>;

impl HostFutureTrailers for Serving<'_> {
    fn subscribe(&mut self, t: Resource<FutureTrailers>) -> wasmtime::Result<Resource<Pollable>> {
        self.http.table.get(&t)?;
        self.ready()
    }

    fn get(&mut self, t: Resource<FutureTrailers>) -> wasmtime::Result<TrailersResult> {
        let t = self.http.table.get_mut(&t)?;
        Ok(Some(if core::mem::replace(&mut t.taken, true) {
            Err(())
        } else {
            Ok(Ok(None))
        }))
    }

    fn drop(&mut self, t: Resource<FutureTrailers>) -> wasmtime::Result<()> {
        self.http.table.delete(t)?;
        Ok(())
    }
}

impl HostOutgoingResponse for Serving<'_> {
    fn new(&mut self, headers: Resource<Fields>) -> wasmtime::Result<Resource<OutgoingResponse>> {
        let headers = self.take_fields(headers)?;
        let body = self.http.new_body();
        Ok(self.http.table.push(OutgoingResponse {
            status: 200,
            headers,
            body,
            body_taken: false,
        })?)
    }

    fn status_code(&mut self, r: Resource<OutgoingResponse>) -> wasmtime::Result<u16> {
        Ok(self.http.table.get(&r)?.status)
    }

    fn set_status_code(
        &mut self,
        r: Resource<OutgoingResponse>,
        status: u16,
    ) -> wasmtime::Result<Result<(), ()>> {
        if !(100..=999).contains(&status) {
            return Ok(Err(()));
        }
        self.http.table.get_mut(&r)?.status = status;
        Ok(Ok(()))
    }

    fn headers(&mut self, r: Resource<OutgoingResponse>) -> wasmtime::Result<Resource<Fields>> {
        let id = self.http.table.get(&r)?.headers;
        self.view_fields(id)
    }

    fn body(
        &mut self,
        r: Resource<OutgoingResponse>,
    ) -> wasmtime::Result<Result<Resource<OutgoingBody>, ()>> {
        let r = self.http.table.get_mut(&r)?;
        if core::mem::replace(&mut r.body_taken, true) {
            return Ok(Err(()));
        }
        let id = r.body;
        Ok(Ok(self.http.table.push(OutgoingBody { id })?))
    }

    fn drop(&mut self, r: Resource<OutgoingResponse>) -> wasmtime::Result<()> {
        let r = self.http.table.delete(r)?;
        self.http.fields.remove(r.headers);
        self.http.bodies.remove(r.body);
        Ok(())
    }
}

impl HostOutgoingBody for Serving<'_> {
    fn write(
        &mut self,
        b: Resource<OutgoingBody>,
    ) -> wasmtime::Result<Result<Resource<OutputStream>, ()>> {
        let id = self.http.table.get(&b)?.id;
        Ok(Ok(self.http.table.push(OutputStream::Body(id))?))
    }

    fn finish(
        &mut self,
        b: Resource<OutgoingBody>,
        trailers: Option<Resource<Fields>>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let id = self.http.table.delete(b)?.id;
        if let Some(t) = trailers {
            // Trailers are not sent (CGI answers and the outbound host call have none).
            let t = self.take_fields(t)?;
            self.http.fields.remove(t);
        }
        if let Ok(body) = self.http.bodies.get_mut(id) {
            body.finished = true;
        }
        Ok(Ok(()))
    }

    fn drop(&mut self, b: Resource<OutgoingBody>) -> wasmtime::Result<()> {
        self.http.table.delete(b)?;
        Ok(())
    }
}

/// What `future-incoming-response.get` returns.
type ResponseResult = Option<Result<Result<Resource<IncomingResponse>, ErrorCode>, ()>>;

impl HostFutureIncomingResponse for Serving<'_> {
    fn subscribe(
        &mut self,
        f: Resource<FutureIncomingResponse>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        self.http.table.get(&f)?;
        self.ready()
    }

    fn get(&mut self, f: Resource<FutureIncomingResponse>) -> wasmtime::Result<ResponseResult> {
        let future = self.http.table.get_mut(&f)?;
        if core::mem::replace(&mut future.taken, true) {
            return Ok(Some(Err(())));
        }
        let Some(request) = future.request.take() else {
            return Ok(Some(Err(())));
        };
        let response = match self.send(request)? {
            Ok((status, headers, body)) => {
                let headers = self.http.fields.insert(FieldList::immutable(headers));
                let response = IncomingResponse {
                    status,
                    headers,
                    body: Some(body),
                };
                Ok(self.http.table.push(response)?)
            }
            Err(e) => Err(e),
        };
        Ok(Some(Ok(response)))
    }

    fn drop(&mut self, f: Resource<FutureIncomingResponse>) -> wasmtime::Result<()> {
        let f = self.http.table.delete(f)?;
        if let Some(r) = f.request {
            self.http.fields.remove(r.headers);
            self.http.bodies.remove(r.body);
        }
        Ok(())
    }
}
