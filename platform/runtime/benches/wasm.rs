//! WebAssembly in the micro-VM against wasmtime in-process on the host, side by side in one run.
//!
//! Run: `cargo bench -p flint-runtime --bench wasm` (`-- --quick` for fewer iterations).
//!
//! Rows: CPU-bound work (recursive fib(27), 100 passes of a checksum over 1 MiB) and the
//! per-call overhead (an empty `_start`). Columns: Flint (restore + call in a micro-VM);
//! wasmtime in-process with the guest's exact engine settings and the same compiled artefact
//! (the no-isolation floor: same code, no VM); wasmtime in-process with its default settings
//! (guard pages and signal-based traps instead of explicit bounds checks).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flint_compiler::ModuleLimits;
use flint_runtime::host::host_functions;
use flint_runtime::{FunctionConfig, MemoryKvStore, Request, Runtime, invoke};
use flint_wasi::{Clock, ClockId, FlintHost, WasiCtx, WasiView};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};

const EMPTY: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

struct HostClock(Instant);

impl Clock for HostClock {
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

struct NoHost;

impl FlintHost for NoHost {
    fn log(&mut self, _: u32, _: &str) {}
    fn kv_get(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn kv_set(&mut self, _: &[u8], _: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn kv_delete(&mut self, _: &[u8]) -> Result<bool, String> {
        Ok(false)
    }
}

struct State(WasiCtx);

impl WasiView for State {
    fn wasi(&mut self) -> &mut WasiCtx {
        &mut self.0
    }
}

/// wasmtime in-process: a fresh instance per request, as a server without isolation would.
struct InProcess {
    engine: Engine,
    pre: InstancePre<State>,
}

impl InProcess {
    fn new(engine: Engine, module: Module) -> Self {
        let mut linker = Linker::new(&engine);
        flint_wasi::add_to_linker(&mut linker).expect("define imports");
        let pre = linker.instantiate_pre(&module).expect("pre-instantiate");
        Self { engine, pre }
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let mut ctx = WasiCtx::new(
            [7; 32],
            Box::new(HostClock(Instant::now())),
            Box::new(NoHost),
        );
        ctx.args = args.iter().map(|s| s.to_string()).collect();
        ctx.stdout = flint_wasi::ctx::CappedBuffer::new(1 << 20);
        let mut store = Store::new(&self.engine, State(ctx));
        let instance = self.pre.instantiate(&mut store).expect("instantiate");
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .expect("_start");
        start.call(&mut store, ()).expect("run");
        std::mem::take(&mut store.data_mut().0.stdout.bytes)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let samples: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(samples)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_compute, n_call) = if quick { (5, 200) } else { (21, 2000) };
    let rt = Runtime::new().expect("the benchmark needs /dev/kvm");
    let limits = ModuleLimits::default();
    let compute = flint_test_modules::c_module("compute");
    let empty = wat::parse_str(EMPTY).expect("WAT");
    let config = FunctionConfig {
        timeout: Duration::from_secs(60),
        ..FunctionConfig::default()
    };

    let guest_engine =
        Engine::new(&flint_compiler::engine_config().expect("config")).expect("engine");
    let default_engine = Engine::new(&Config::new()).expect("engine");

    println!(
        "| workload | Flint micro-VM (us) | in-process, guest settings (us) | in-process, wasmtime defaults (us) | Flint / in-process |"
    );
    println!("|---|---:|---:|---:|---:|");
    let cases: [(&str, &[u8], &[&str], usize); 3] = [
        ("fib(27)", &compute, &["compute", "fib", "27"], n_compute),
        (
            "checksum 100 x 1 MiB",
            &compute,
            &["compute", "sum"],
            n_compute,
        ),
        (
            "empty _start (per-call overhead)",
            &empty,
            &["empty"],
            n_call,
        ),
    ];
    for (name, wasm, args, n) in cases {
        let artifact = rt.compiler().compile(wasm, &limits).expect("compile");
        let mut sb = rt
            .boot(
                &artifact,
                &config,
                host_functions(Arc::new(MemoryKvStore::default())),
            )
            .expect("boot");
        let request = Request {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Request::default()
        };
        let expected = invoke(&mut sb, &config, &request)
            .expect("invoke")
            .result
            .stdout;
        let vm = time(n, || {
            let r = invoke(&mut sb, &config, &request).expect("invoke");
            assert_eq!(r.result.stdout, expected);
        });
        // SAFETY: the artefact was just produced by wasmtime 48 with these exact settings.
        let module = unsafe { Module::deserialize(&guest_engine, &artifact.bytes) }.expect("load");
        let same = InProcess::new(guest_engine.clone(), module);
        assert_eq!(same.run(args), expected);
        let in_process = time(n, || {
            same.run(args);
        });
        let module = Module::new(&default_engine, wasm).expect("compile natively");
        let defaults = InProcess::new(default_engine.clone(), module);
        let in_process_defaults = time(n, || {
            defaults.run(args);
        });
        println!(
            "| {name} | {vm:.1} | {in_process:.1} | {in_process_defaults:.1} | {:.2}x |",
            vm / in_process
        );
    }
}
