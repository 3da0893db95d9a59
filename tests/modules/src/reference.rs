//! The reference for Flint's WASI filesystem: a module run by wasmtime's own WASI preview 1
//! (`wasmtime-wasi`) over real directories, as `wasmtime run --dir` would run it.

use std::path::Path;

use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// A host directory the module sees at a guest path.
pub struct Preopen<'a> {
    /// The host directory.
    pub host: &'a Path,
    /// Where the module sees it.
    pub guest: &'a str,
    /// Whether the module may change it.
    pub writable: bool,
}

/// Runs `_start` of `wasm` with `args` and the preopens (descriptors 3, 4, ... in order);
/// returns stdout and the exit code.
pub fn run(wasm: &[u8], args: &[&str], preopens: &[Preopen<'_>]) -> (Vec<u8>, i32) {
    let engine = Engine::default();
    let module = Module::new(&engine, wasm).expect("compile");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |t| t).expect("link WASI");
    let stdout = MemoryOutputPipe::new(1 << 20);
    let mut builder = WasiCtxBuilder::new();
    builder.args(args).stdout(stdout.clone());
    for p in preopens {
        let perms = if p.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(p.host, p.guest, perms)
            .expect("preopen");
    }
    let mut store = Store::new(&engine, builder.build_p1());
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .expect("_start");
    let code = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => e.downcast_ref::<I32Exit>().map(|e| e.0).expect("exit"),
    };
    drop(store);
    (stdout.contents().to_vec(), code)
}
