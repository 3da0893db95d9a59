//! wasmtime inside the guest: configuration, the code-memory hook, instantiation and runs.

use alloc::boxed::Box;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr::NonNull;

use flint_abi::message::{ErrorCode, GuestError, Message, Value};
use flint_abi::wasm::{TrapKind, WasmInit, WasmResult, WasmRun};
use flint_wasi::component::{HttpCtx, Serve, ServeView, Serving};
use flint_wasi::{Exit, WasiCtx, WasiView};
use wasmtime::{
    Config, CustomCodeMemory, Engine, Instance, Linker, Module, Precompiled, ResourceLimiter,
    Store, Trap,
};

use super::clock::TscClock;
use super::flint_host::DoorbellHost;
use crate::host;

/// The largest table a module may grow to.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The engine: the settings shared with the host's compiler, plus this guest's stack limit and
/// code-memory hook.
pub fn engine_config(max_wasm_stack_bytes: usize) -> Config {
    let mut config = Config::new();
    flint_wasi::shared_engine_settings(&mut config)
        .max_wasm_stack(max_wasm_stack_bytes)
        .with_custom_code_memory(Some(Arc::new(ModuleCode)))
        .with_host_memory(Arc::new(super::linear_memory::RegionCreator));
    config
}

/// wasmtime's "make this code executable" hook. The module region is already read + execute
/// (and never writable) in the guest's page tables, so publishing only checks that the code is
/// inside it.
struct ModuleCode;

impl ModuleCode {
    fn check(ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        let peb = host::peb();
        let (start, end) = (peb.gva_module, peb.gva_module + peb.module_len_bytes);
        let (p, e) = (ptr as u64, ptr as u64 + len as u64);
        if p >= start && e <= end {
            Ok(())
        } else {
            Err(wasmtime::Error::msg(
                "code to publish lies outside the module region",
            ))
        }
    }
}

impl CustomCodeMemory for ModuleCode {
    fn required_alignment(&self) -> usize {
        4096
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        Self::check(ptr, len)
    }

    fn unpublish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        Self::check(ptr, len)
    }
}

/// What a store carries: the current run's WASI context, a component's HTTP state, and the
/// limits.
pub(super) struct RunState {
    pub(super) wasi: WasiCtx,
    pub(super) http: HttpCtx,
    memory_limit_bytes: usize,
}

impl WasiView for RunState {
    fn wasi(&mut self) -> &mut WasiCtx {
        &mut self.wasi
    }
}

impl ServeView for RunState {
    fn serving(&mut self) -> Serving<'_> {
        Serving {
            wasi: &mut self.wasi,
            http: &mut self.http,
        }
    }
}

impl ResourceLimiter for RunState {
    fn memory_growing(
        &mut self,
        _: usize,
        desired: usize,
        _: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.memory_limit_bytes)
    }

    fn table_growing(
        &mut self,
        _: usize,
        desired: usize,
        _: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// What `wasm_init` loaded: a module or a component, instantiated in its store.
struct Loaded {
    store: Store<RunState>,
    entry: Entry,
}

enum Entry {
    Module(Instance),
    Component(Serve),
}

struct LoadedCell(UnsafeCell<Option<Loaded>>);

// SAFETY: one vCPU, no interrupts, no threads: the cell is only used from the guest functions
// below, which never run concurrently.
unsafe impl Sync for LoadedCell {}

static LOADED: LoadedCell = LoadedCell(UnsafeCell::new(None));

fn loaded() -> Option<&'static mut Loaded> {
    // SAFETY: see `LoadedCell`; each guest function takes this reference once and drops it
    // before returning, so no two live at the same time.
    unsafe { (*LOADED.0.get()).as_mut() }
}

pub(super) fn error(code: ErrorCode, e: impl core::fmt::Display) -> GuestError {
    GuestError {
        code,
        message: alloc::format!("{e}"),
    }
}

fn bytes_arg(args: &[Value]) -> Result<&[u8], GuestError> {
    match args {
        [Value::Bytes(b)] => Ok(b),
        _ => Err(error(
            ErrorCode::BadArguments,
            "expected one bytes argument",
        )),
    }
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (chunk, word) in seed.chunks_exact_mut(8).zip(host::peb().call_seed) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    seed
}

fn new_ctx(run: Option<&WasmRun>) -> WasiCtx {
    let clock = match run {
        Some(r) => TscClock::new(r.realtime_ns, r.monotonic_ns, r.tsc_khz),
        None => TscClock::new(0, 0, 0),
    };
    WasiCtx::new(seed(), Box::new(clock), Box::new(DoorbellHost))
}

/// The bundled files' image: `files_len` bytes at `files_offset` in the module region.
fn files(init: &WasmInit) -> Result<&'static [u8], GuestError> {
    if init.files_len == 0 {
        return Ok(&[]);
    }
    let peb = host::peb();
    let end = init.files_offset.checked_add(init.files_len);
    if end.is_none_or(|e| e > peb.module_len_bytes) {
        return Err(error(
            ErrorCode::MalformedCall,
            "files lie outside the module region",
        ));
    }
    let start = (peb.gva_module + init.files_offset) as *const u8;
    // SAFETY: the range was just checked to lie inside the module region, which stays mapped
    // (read-only to the guest, never written by it) for the life of the guest.
    Ok(unsafe { core::slice::from_raw_parts(start, init.files_len as usize) })
}

/// `wasm_init(WasmInit)`: loads the module from the module region, instantiates it and runs
/// `_initialize` if it exports one.
pub fn init(args: &[Value]) -> Result<Value, GuestError> {
    let init =
        WasmInit::decode(bytes_arg(args)?).map_err(|e| error(ErrorCode::MalformedCall, e))?;
    if loaded().is_some() {
        return Err(error(
            ErrorCode::MalformedCall,
            "module already initialised",
        ));
    }
    let peb = host::peb();
    if peb.module_len_bytes == 0 {
        return Err(error(ErrorCode::MalformedCall, "no module loaded"));
    }
    let engine = Engine::new(&engine_config(init.max_wasm_stack_bytes as usize))
        .map_err(|e| error(ErrorCode::Trap, e))?;
    let code =
        core::ptr::slice_from_raw_parts(peb.gva_module as *const u8, peb.module_len_bytes as usize);
    let code = NonNull::new(code.cast_mut())
        .ok_or_else(|| error(ErrorCode::MalformedCall, "null module"))?;
    let mut wasi = new_ctx(None);
    wasi.fs = flint_wasi::fs::Fs::new(files(&init)?, &init.mounts, init.scratch_max_bytes, 0)
        .map_err(|e| error(ErrorCode::MalformedCall, alloc::format!("files: {e}")))?;
    let state = RunState {
        wasi,
        http: HttpCtx::default(),
        memory_limit_bytes: init.memory_limit_bytes as usize,
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| s as &mut dyn ResourceLimiter);
    // SAFETY: the module region is mapped, readable and never written for the life of the
    // guest (see `code` above); detection only reads the artefact's header.
    let kind = Engine::detect_precompiled(unsafe { code.as_ref() });
    let entry = if kind == Some(Precompiled::Component) {
        Entry::Component(super::component::instantiate(&engine, code, &mut store)?)
    } else {
        Entry::Module(instantiate_module(&engine, code, &mut store)?)
    };
    // SAFETY: see `LoadedCell`; nothing else holds a reference into it now.
    unsafe { *LOADED.0.get() = Some(Loaded { store, entry }) };
    Ok(Value::Void)
}

/// Loads the module artefact at `code`, instantiates it and runs `_initialize` if it exports
/// one.
fn instantiate_module(
    engine: &Engine,
    code: NonNull<[u8]>,
    store: &mut Store<RunState>,
) -> Result<Instance, GuestError> {
    // SAFETY: the module region holds the artefact the host compiled with this engine's
    // settings (wasmtime checks the header and settings, and rejects anything else), it stays
    // mapped and unmodified for the life of the guest (read + execute, never writable), and
    // `Module` lives in `LOADED` for the rest of the guest's life.
    let module = unsafe { Module::deserialize_raw(engine, code) }
        .map_err(|e| error(ErrorCode::MalformedCall, alloc::format!("load module: {e}")))?;
    let mut linker = Linker::new(engine);
    flint_wasi::add_to_linker(&mut linker).map_err(|e| error(ErrorCode::Trap, e))?;
    let instance = linker
        .instantiate(&mut *store, &module)
        .map_err(|e| error(ErrorCode::Trap, alloc::format!("instantiate: {e}")))?;
    if let Ok(initialize) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
        initialize
            .call(&mut *store, ())
            .map_err(|e| error(ErrorCode::Trap, alloc::format!("_initialize: {e}")))?;
    }
    Ok(instance)
}

fn trap_kind(trap: Trap) -> TrapKind {
    match trap {
        Trap::UnreachableCodeReached => TrapKind::Unreachable,
        Trap::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        Trap::IntegerOverflow => TrapKind::IntegerOverflow,
        Trap::BadConversionToInteger => TrapKind::BadConversionToInteger,
        Trap::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        Trap::TableOutOfBounds => TrapKind::TableOutOfBounds,
        Trap::IndirectCallToNull => TrapKind::IndirectCallToNull,
        Trap::BadSignature => TrapKind::BadSignature,
        Trap::StackOverflow => TrapKind::StackOverflow,
        Trap::AllocationTooLarge => TrapKind::OutOfMemory,
        _ => TrapKind::Other,
    }
}

/// Records how a run that returned `e` ended: an exit code, a trap, or a host error.
fn record_failure(e: wasmtime::Error, result: &mut WasmResult) {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        result.exit_code = exit.0;
    } else if let Some(trap) = e.downcast_ref::<Trap>() {
        result.trap = Some(trap_kind(*trap));
        result.trap_message = trap.to_string();
    } else {
        result.trap = Some(TrapKind::HostError);
        result.trap_message = alloc::format!("{e}");
    }
}

/// `wasm_run(WasmRun) -> WasmResult`: one run of the module with fresh WASI state.
pub fn run(args: &[Value]) -> Result<Value, GuestError> {
    let run = WasmRun::decode(bytes_arg(args)?).map_err(|e| error(ErrorCode::MalformedCall, e))?;
    let loaded =
        loaded().ok_or_else(|| error(ErrorCode::MalformedCall, "module not initialised"))?;
    let mut ctx = new_ctx(Some(&run));
    ctx.stdout = flint_wasi::ctx::CappedBuffer::new(run.stdout_limit_bytes as usize);
    ctx.stderr = flint_wasi::ctx::CappedBuffer::new(run.stderr_limit_bytes as usize);
    ctx.args = run.args;
    ctx.env = run.env;
    ctx.stdin = run.stdin;
    // The filesystem as the snapshot holds it: what the previous run changed was undone by the
    // restore that came before this call.
    ctx.fs = core::mem::take(&mut loaded.store.data_mut().wasi.fs);
    loaded.store.data_mut().wasi = ctx;
    let mut result = WasmResult::default();
    let outcome = match &loaded.entry {
        Entry::Module(instance) => {
            match instance.get_typed_func::<(), ()>(&mut loaded.store, &run.export) {
                Err(e) => {
                    result.trap = Some(TrapKind::Other);
                    result.trap_message = alloc::format!("export {:?}: {e}", run.export);
                    Ok(())
                }
                Ok(func) => func.call(&mut loaded.store, ()),
            }
        }
        Entry::Component(serve) => {
            let limit = run.stdout_limit_bytes as usize;
            super::component::serve(
                serve,
                &mut loaded.store,
                &run.http_request,
                limit,
                &mut result,
            )
        }
    };
    if let Err(e) = outcome {
        record_failure(e, &mut result);
    }
    let ctx = &mut loaded.store.data_mut().wasi;
    if result.stdout.is_empty() {
        result.stdout = core::mem::take(&mut ctx.stdout.bytes);
    }
    result.stderr = core::mem::take(&mut ctx.stderr.bytes);
    result.stdout_truncated = ctx.stdout.truncated;
    result.stderr_truncated = ctx.stderr.truncated;
    let bytes: Vec<u8> = result.encode();
    Ok(Value::Bytes(bytes))
}
