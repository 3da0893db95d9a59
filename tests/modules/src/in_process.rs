//! The no-isolation baseline of the benchmarks: a module run by wasmtime in the calling process,
//! a fresh instance per run, with the same WASI implementation the guest runtime uses.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use flint_wasi::{Clock, ClockId, FlintHost, KvError, WasiCtx, WasiView};
use wasmtime::{Engine, InstancePre, Linker, Module, Store};

/// The filesystem a module sees in process: `image` (a `flint_abi::files` image) with
/// `mounts`. The filesystem reads the image in place, so this copy of it is leaked: it lives
/// as long as the test or benchmark process.
pub fn leaked_fs(
    image: &[u8],
    mounts: &[flint_abi::wasm::Mount],
    scratch_max_bytes: u64,
) -> flint_wasi::fs::Fs {
    let image: &'static [u8] = Box::leak(image.to_vec().into_boxed_slice());
    flint_wasi::fs::Fs::new(image, mounts, scratch_max_bytes, 0).expect("filesystem")
}

/// Host clocks for WASI.
pub struct SystemClock(Instant);

impl Clock for SystemClock {
    fn now_ns(&mut self, id: ClockId) -> u64 {
        match id {
            ClockId::Realtime => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            ClockId::Monotonic => self.0.elapsed().as_nanos() as u64,
        }
    }
    fn resolution_ns(&self, _: ClockId) -> u64 {
        1
    }
}

/// Flint imports that do nothing (no logs kept, an always-empty store).
pub struct NullHost;

impl FlintHost for NullHost {
    fn log(&mut self, _: u32, _: &str) {}
    fn kv_get(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(None)
    }
    fn kv_set(&mut self, _: &[u8], _: &[u8]) -> Result<(), KvError> {
        Ok(())
    }
    fn kv_delete(&mut self, _: &[u8]) -> Result<bool, KvError> {
        Ok(false)
    }
}

/// A store's data: the run's WASI context.
pub struct Ctx(WasiCtx);

impl WasiView for Ctx {
    fn wasi(&mut self) -> &mut WasiCtx {
        &mut self.0
    }
}

/// A module ready to run in this process.
pub struct InProcess {
    engine: Engine,
    pre: InstancePre<Ctx>,
    /// The filesystem each run starts from (a copy per run, as the restore gives the guest).
    fs: flint_wasi::fs::Fs,
}

impl InProcess {
    /// Links `module` against Flint's WASI.
    pub fn new(engine: &Engine, module: &Module) -> Self {
        let mut linker = Linker::new(engine);
        flint_wasi::add_to_linker(&mut linker).expect("define imports");
        let pre = linker.instantiate_pre(module).expect("pre-instantiate");
        Self {
            engine: engine.clone(),
            pre,
            fs: flint_wasi::fs::Fs::default(),
        }
    }

    /// Gives every run a copy of `fs`.
    pub fn with_fs(mut self, fs: flint_wasi::fs::Fs) -> Self {
        self.fs = fs;
        self
    }

    /// Loads a precompiled artefact (made by `flint-compiler` or this engine) and links it.
    pub fn precompiled(engine: &Engine, cwasm: &[u8]) -> Self {
        // SAFETY: callers pass artefacts produced by wasmtime 48 for `engine`'s settings in the
        // same test or benchmark run; wasmtime checks the header and settings anyway.
        let module = unsafe { Module::deserialize(engine, cwasm) }.expect("load module");
        Self::new(engine, &module)
    }

    /// Runs `_start` in a fresh instance with `args` and `stdin`; returns stdout.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let (out, code) = self.run_code(args, stdin);
        assert_eq!(code, 0, "the module exited with {code}");
        out
    }

    /// Runs `_start` in a fresh instance with `args` and `stdin`; returns stdout and the exit
    /// code.
    pub fn run_code(&self, args: &[&str], stdin: &[u8]) -> (Vec<u8>, i32) {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("random seed");
        let mut ctx = WasiCtx::new(
            seed,
            Box::new(SystemClock(Instant::now())),
            Box::new(NullHost),
        );
        ctx.args = args.iter().map(|s| s.to_string()).collect();
        ctx.stdin = stdin.to_vec();
        ctx.stdout = flint_wasi::ctx::CappedBuffer::new(1 << 20);
        ctx.fs = self.fs.clone();
        let mut store = Store::new(&self.engine, Ctx(ctx));
        let instance = self.pre.instantiate(&mut store).expect("instantiate");
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .expect("_start");
        let code = match start.call(&mut store, ()) {
            Ok(()) => 0,
            Err(e) => {
                e.downcast_ref::<flint_wasi::Exit>()
                    .expect("the run ends or exits")
                    .0
            }
        };
        (std::mem::take(&mut store.data_mut().0.stdout.bytes), code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every import Flint declares (WASI's and its own `flint.*`, from `flint_abi::host_fn`)
    /// links against what `flint_wasi::add_to_linker` defines, with the declared signature:
    /// instantiation type-checks each import, so a disagreement fails here.
    #[test]
    fn the_linker_defines_every_declared_import_with_its_signature() {
        let engine = Engine::default();
        let ty = |ts: &[flint_wasi::imports::Ty]| -> String {
            ts.iter().map(|t| format!(" {}", t.as_str())).collect()
        };
        let mut wat = String::from("(module\n");
        for i in flint_wasi::imports::all() {
            wat += &format!(
                "  (import \"{}\" \"{}\" (func (param{}) (result{})))\n",
                i.module,
                i.name,
                ty(i.params),
                ty(i.results)
            );
        }
        wat += "  (memory (export \"memory\") 1)\n  (func (export \"_start\")))";
        let module = Module::new(&engine, wat::parse_str(&wat).expect("parse")).expect("compile");
        let flint_imports = module.imports().filter(|i| i.module() == "flint").count();
        assert_eq!(flint_imports, flint_abi::host_fn::HOST_FUNCTIONS.len());
        InProcess::new(&engine, &module).run(&["x"], b"");
    }
}
