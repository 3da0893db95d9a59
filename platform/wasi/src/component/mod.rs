//! WebAssembly components that serve HTTP: the `wasi:http/proxy` world (0.2.x) plus
//! `wasi:cli/environment`, implemented without `std` over the same [`WasiCtx`] as modules.
//!
//! One run serves one request. The host hands the request's head (see [`parse_head`]) and its
//! body; the component's `wasi:http/incoming-handler.handle` answers through its
//! `response-outparam`, and [`HttpCtx::answer`] turns that answer into the CGI form modules use
//! (`Status:` and header lines, a blank line, the body), so that the host applies the same
//! status, header and size rules to both. `wasi:cli` stdout and stderr go to the function's logs;
//! stdin is empty (the body is the request's). Outgoing requests go through the same
//! allow-listed host function as modules' `flint.http_request`, sent whole when the component
//! asks for the response.
//!
//! Everything is synchronous: bodies are in memory, so streams and pollables are always ready,
//! except clock pollables, which wait on the clock. Every handle the component passes is looked
//! up in the run's [`ResourceTable`]; a stale or foreign one traps.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use wasmtime::component::{HasData, ResourceTable};

use crate::ctx::{CappedBuffer, WasiCtx};

pub use flint_abi::http::{Head, encode_head, parse_head};

mod cli;
mod fields;
mod http;
mod io;
mod outgoing;
pub mod sockets;

pub use fields::Fields;
pub use http::{
    FutureIncomingResponse, FutureTrailers, IncomingBody, IncomingRequest, IncomingResponse,
    OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam,
};
pub use io::{InputStream, IoError, OutputStream, Pollable};

/// The bindings generated from `wit/` (the `flint:serve/serve` world).
#[allow(
    missing_docs,
    reason = "generated from the WIT files, which document them"
)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "flint:serve/serve",
        with: {
            "wasi:io/error.error": super::IoError,
            "wasi:io/poll.pollable": super::Pollable,
            "wasi:io/streams.input-stream": super::InputStream,
            "wasi:io/streams.output-stream": super::OutputStream,
            "wasi:http/types.fields": super::Fields,
            "wasi:http/types.incoming-request": super::IncomingRequest,
            "wasi:http/types.outgoing-request": super::OutgoingRequest,
            "wasi:http/types.request-options": super::RequestOptions,
            "wasi:http/types.response-outparam": super::ResponseOutparam,
            "wasi:http/types.incoming-response": super::IncomingResponse,
            "wasi:http/types.incoming-body": super::IncomingBody,
            "wasi:http/types.future-trailers": super::FutureTrailers,
            "wasi:http/types.outgoing-response": super::OutgoingResponse,
            "wasi:http/types.outgoing-body": super::OutgoingBody,
            "wasi:http/types.future-incoming-response": super::FutureIncomingResponse,
        },
        imports: { default: trappable },
    });
}

pub use bindings::*;

/// The export every served component must have.
pub const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

/// What the import functions work on: the run's WASI context (clock, random, environment,
/// logs, outbound HTTP) and its HTTP state.
pub struct Serving<'a> {
    /// Clock, random, environment, stderr (the logs) and the host.
    pub wasi: &'a mut WasiCtx,
    /// Resources and bodies of this run.
    pub http: &'a mut HttpCtx,
}

/// Access to a [`Serving`] inside a store's data.
pub trait ServeView {
    /// The run's context.
    fn serving(&mut self) -> Serving<'_>;
}

struct ServeData;

impl HasData for ServeData {
    type Data<'a> = Serving<'a>;
}

/// Defines every import of the `flint:serve/serve` world in `linker`.
pub fn add_to_linker<T: ServeView + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    let options = LinkOptions::default();
    Serve::add_to_linker::<T, ServeData>(linker, &options, T::serving)
}

/// Values keyed by small integers that resources point into.
#[derive(Debug)]
pub(crate) struct Arena<V> {
    items: BTreeMap<u32, V>,
    next: u32,
}

impl<V> Default for Arena<V> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<V> Arena<V> {
    pub(crate) fn insert(&mut self, v: V) -> u32 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.items.insert(id, v);
        id
    }

    pub(crate) fn get(&self, id: u32) -> wasmtime::Result<&V> {
        self.items.get(&id).ok_or_else(gone)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> wasmtime::Result<&mut V> {
        self.items.get_mut(&id).ok_or_else(gone)
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<V> {
        self.items.remove(&id)
    }
}

fn gone() -> wasmtime::Error {
    wasmtime::Error::msg("a resource was used after its parent was dropped")
}

/// A body being written: a response's or an outgoing request's.
#[derive(Debug)]
pub(crate) struct BodyBuf {
    pub(crate) bytes: CappedBuffer,
    pub(crate) finished: bool,
}

/// The answer the component gave through its `response-outparam`.
#[derive(Debug)]
enum Answer {
    Response {
        status: u16,
        headers: u32,
        body: u32,
    },
    Error(String),
}

/// The HTTP state of one run.
#[derive(Default)]
pub struct HttpCtx {
    /// Every resource handed to the component.
    pub table: ResourceTable,
    pub(crate) fields: Arena<fields::FieldList>,
    pub(crate) bodies: Arena<BodyBuf>,
    answer: Option<Answer>,
    /// The most bytes a body written by the component may hold.
    pub(crate) body_limit: usize,
}

impl HttpCtx {
    /// A context for one run whose bodies hold at most `body_limit` bytes.
    pub fn new(body_limit: usize) -> Self {
        Self {
            body_limit,
            ..Self::default()
        }
    }

    /// Hands the request to the table: the `incoming-request` and `response-outparam` to
    /// pass to the handler.
    pub fn begin(
        &mut self,
        head: Head,
        body: Vec<u8>,
    ) -> wasmtime::Result<(
        wasmtime::component::Resource<IncomingRequest>,
        wasmtime::component::Resource<ResponseOutparam>,
    )> {
        let headers = self
            .fields
            .insert(fields::FieldList::immutable(head.headers));
        let request = IncomingRequest {
            method: head.method,
            scheme: head.scheme,
            authority: head.authority,
            path_with_query: head.path_with_query,
            headers,
            body: Some(body),
        };
        let request = self.table.push(request)?;
        let out = self.table.push(ResponseOutparam)?;
        Ok((request, out))
    }

    /// The component's answer in CGI form (`Status: N`, the headers a CGI response could
    /// carry, a blank line, the body), or why there is none.
    pub fn answer(&mut self) -> Result<Vec<u8>, String> {
        match self.answer.take() {
            None => Err("the handler returned without setting a response".into()),
            Some(Answer::Error(e)) => Err(alloc::format!("the handler answered an error: {e}")),
            Some(Answer::Response {
                status,
                headers,
                body,
            }) => {
                let mut out = alloc::format!("Status: {status}\r\n").into_bytes();
                if let Ok(list) = self.fields.get(headers) {
                    list.write_cgi(&mut out);
                }
                out.extend_from_slice(b"\r\n");
                if let Some(b) = self.bodies.remove(body) {
                    out.extend_from_slice(&b.bytes.bytes);
                }
                Ok(out)
            }
        }
    }

    pub(crate) fn new_body(&mut self) -> u32 {
        self.bodies.insert(BodyBuf {
            bytes: CappedBuffer::new(self.body_limit),
            finished: false,
        })
    }
}
