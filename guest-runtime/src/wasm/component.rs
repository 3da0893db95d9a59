//! Components of the `wasi:http/proxy` world: instantiated once before the snapshot, then one
//! `wasi:http/incoming-handler.handle` per run, with the request the host sent in
//! `WasmRun::http_request` and the body as stdin. The answer goes back as stdout in CGI form
//! (`flint_wasi::component::HttpCtx::answer`); logs the component writes go to stderr.

use core::ptr::NonNull;

use flint_abi::message::{ErrorCode, GuestError};
use flint_abi::wasm::{TrapKind, WasmResult};
use flint_wasi::component::{HttpCtx, Serve, parse_head};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::engine::{RunState, error};

/// Loads the component artefact at `code` and instantiates it in `store`.
pub(super) fn instantiate(
    engine: &Engine,
    code: NonNull<[u8]>,
    store: &mut Store<RunState>,
) -> Result<Serve, GuestError> {
    // SAFETY: as for modules (`engine::instantiate_module`): the module region holds the
    // artefact the host compiled for this engine's settings, mapped read + execute and never
    // written for the life of the guest, and the component lives in `LOADED` for that long.
    let component = unsafe { Component::deserialize_raw(engine, code) }.map_err(|e| {
        error(
            ErrorCode::MalformedCall,
            alloc::format!("load component: {e}"),
        )
    })?;
    let mut linker = Linker::new(engine);
    flint_wasi::component::add_to_linker(&mut linker).map_err(|e| error(ErrorCode::Trap, e))?;
    flint_wasi::component::sockets::link_as_traps(&mut linker, &component)
        .map_err(|e| error(ErrorCode::Trap, e))?;
    Serve::instantiate(&mut *store, &component, &linker)
        .map_err(|e| error(ErrorCode::Trap, alloc::format!("instantiate: {e:?}")))
}

/// Serves the request whose head is `http_request` (its body is the run's stdin), with bodies
/// of at most `body_limit` bytes; a trap or host error comes back as `Err`, a handler that
/// answered nothing usable as a host error in `result`.
pub(super) fn serve(
    serve: &Serve,
    store: &mut Store<RunState>,
    http_request: &[u8],
    body_limit: usize,
    result: &mut WasmResult,
) -> wasmtime::Result<()> {
    let head = parse_head(http_request)
        .ok_or_else(|| wasmtime::Error::msg("the host sent no request head"))?;
    let state = store.data_mut();
    let body = core::mem::take(&mut state.wasi.stdin);
    state.http = HttpCtx::new(body_limit);
    let (request, out) = state.http.begin(head, body)?;
    serve
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, request, out)?;
    match store.data_mut().http.answer() {
        Ok(cgi) => result.stdout = cgi,
        Err(why) => {
            result.trap = Some(TrapKind::HostError);
            result.trap_message = why;
        }
    }
    Ok(())
}
