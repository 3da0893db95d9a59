//! Real WebAssembly modules (C compiled with clang to wasm32-wasi, and WAT) in real micro-VMs.
//! Every result is asserted exactly.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use flint_abi::wasm::TrapKind;
use flint_compiler::ModuleLimits;
use flint_runtime::host::host_functions;
use flint_runtime::{
    FunctionConfig, InvokeError, MemoryKvStore, Request, Response, Runtime, invoke,
};
use flint_test_modules::c_module;
use flint_vmm::{CallError, FaultKind, ReadySandbox};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("these tests need /dev/kvm"))
}

fn boot_with(wasm: &[u8], config: &FunctionConfig) -> ReadySandbox {
    let rt = runtime();
    let limits = ModuleLimits {
        memory_limit_bytes: config.memory_limit_bytes,
        entry: config.entry.clone(),
        ..ModuleLimits::default()
    };
    let artifact = rt
        .compiler()
        .compile(wasm, &limits)
        .expect("module compiles");
    let host = host_functions(Arc::new(MemoryKvStore::default()));
    rt.boot(&artifact, config, host).expect("function boots")
}

fn boot(name: &str) -> (ReadySandbox, FunctionConfig) {
    let config = FunctionConfig {
        timeout: Duration::from_millis(500),
        ..FunctionConfig::default()
    };
    (boot_with(&c_module(name), &config), config)
}

fn run(sb: &mut ReadySandbox, config: &FunctionConfig, req: Request) -> Response {
    invoke(sb, config, &req).expect("invocation completes")
}

fn stdout(r: &Response) -> String {
    String::from_utf8_lossy(&r.result.stdout).into_owned()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hello_reads_stdin_and_environment() {
    let (mut sb, config) = boot("hello");
    let req = Request {
        stdin: b"hi there".to_vec(),
        args: args(&["hello"]),
        env: args(&["NAME=flint"]),
        ..Request::default()
    };
    let r = run(&mut sb, &config, req);
    assert_eq!(stdout(&r), "hello, flint! you said: hi there\n");
    assert_eq!((r.result.exit_code, r.result.trap), (0, None));
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(stdout(&r), "hello, stranger! you said: \n");
}

#[test]
fn args_are_passed_in_order() {
    let (mut sb, config) = boot("args");
    let req = Request {
        args: args(&["args", "a", "b c", ""]),
        ..Request::default()
    };
    assert_eq!(
        stdout(&run(&mut sb, &config, req)),
        "0:args\n1:a\n2:b c\n3:\n"
    );
}

#[test]
fn unreachable_is_a_trap() {
    let (mut sb, config) = boot("trap");
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(r.result.trap, Some(TrapKind::Unreachable));
    assert!(
        r.result.trap_message.contains("unreachable"),
        "{}",
        r.result.trap_message
    );
}

#[test]
fn division_by_zero_is_a_trap() {
    let (mut sb, config) = boot("divzero");
    let req = |d: &[u8]| Request {
        stdin: d.to_vec(),
        ..Request::default()
    };
    let r = run(&mut sb, &config, req(b"0"));
    assert_eq!(r.result.trap, Some(TrapKind::IntegerDivisionByZero));
    let r = run(&mut sb, &config, req(b"4"));
    assert_eq!((stdout(&r).as_str(), r.result.trap), ("25\n", None));
}

#[test]
fn an_endless_loop_times_out_and_the_function_recovers() {
    let (mut sb, config) = boot("loop");
    let started = Instant::now();
    let err = invoke(&mut sb, &config, &Request::default()).unwrap_err();
    let took = started.elapsed();
    match err {
        InvokeError::Call(CallError::Fault(f)) => assert_eq!(f.kind, FaultKind::Timeout),
        other => panic!("{other:?}"),
    }
    assert!(
        took >= config.timeout && took < config.timeout * 2,
        "{took:?}"
    );
    // The same sandbox times out again, cleanly, from its snapshot.
    assert!(invoke(&mut sb, &config, &Request::default()).is_err());
}

#[test]
fn memory_growth_stops_at_the_limit() {
    let config = FunctionConfig {
        memory_limit_bytes: 4 << 20,
        ..FunctionConfig::default()
    };
    let mut sb = boot_with(&c_module("grow"), &config);
    let r = run(&mut sb, &config, Request::default());
    let out = stdout(&r);
    assert!(out.starts_with("pages=64 grown="), "{out}");
    assert_eq!(r.result.trap, None);
}

#[test]
fn ten_mib_of_stdout_is_cut_at_the_limit_and_flagged() {
    let (mut sb, config) = boot("bigout");
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(r.result.stdout.len() as u64, config.stdout_limit_bytes);
    assert!(r.result.stdout.iter().all(|&b| b == b'x'));
    assert!(r.result.stdout_truncated);
    assert_eq!(r.result.stderr, b"wrote 10 MiB\n");
    assert!(!r.result.stderr_truncated);
    assert_eq!(r.result.exit_code, 0);
}

#[test]
fn random_bytes_differ_within_and_between_calls() {
    let (mut sb, config) = boot("random");
    let first = stdout(&run(&mut sb, &config, Request::default()));
    let second = stdout(&run(&mut sb, &config, Request::default()));
    let lines: Vec<&str> = first.lines().chain(second.lines()).collect();
    assert_eq!(lines.len(), 4, "{first}{second}");
    for (i, a) in lines.iter().enumerate() {
        assert_eq!(a.len(), 32, "{a}");
        for b in &lines[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn state_left_in_memory_is_gone_next_call() {
    let (mut sb, config) = boot("state");
    for _ in 0..3 {
        let r = run(&mut sb, &config, Request::default());
        assert_eq!(stdout(&r), "calls=1 note=first\n");
    }
}

#[test]
fn exit_code_and_stderr_are_reported() {
    let (mut sb, config) = boot("exit");
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(r.result.exit_code, 3);
    assert_eq!(r.result.stderr, b"something went wrong\n");
    assert_eq!(r.result.trap, None);
}

#[test]
fn key_value_store_and_logs_reach_the_host() {
    let (mut sb, config) = boot("kv");
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(stdout(&r), "visits=1\n");
    assert_eq!(r.logs.len(), 1);
    assert_eq!(r.logs[0].message, "visit number 1");
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(stdout(&r), "visits=2\n");
    assert_eq!(r.logs[0].message, "visit number 2");
}

#[test]
fn clocks_tell_the_time() {
    let (mut sb, config) = boot("clock");
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(stdout(&r), "realtime_ok=1 monotonic_advances=1\n");
}

#[test]
fn initialisation_runs_once_before_the_snapshot() {
    // `_initialize` stores 42 in a global; `_start` prints the global and then clobbers it.
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (global $g (mut i32) (i32.const 0))
        (func (export "_initialize") (global.set $g (i32.const 42)))
        (func (export "_start")
            (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.rem_u (global.get $g) (i32.const 10))))
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 1))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (global.set $g (i32.const 7))))"#;
    let config = FunctionConfig::default();
    let mut sb = boot_with(&wat::parse_str(wat).unwrap(), &config);
    for _ in 0..2 {
        assert_eq!(stdout(&run(&mut sb, &config, Request::default())), "2");
    }
}

#[test]
fn a_named_export_can_be_the_entry_point() {
    let wat = r#"(module (memory (export "memory") 1) (func (export "handle") unreachable))"#;
    let config = FunctionConfig {
        entry: "handle".into(),
        ..FunctionConfig::default()
    };
    let mut sb = boot_with(&wat::parse_str(wat).unwrap(), &config);
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(r.result.trap, Some(TrapKind::Unreachable));
}

#[test]
fn stdin_over_the_limit_is_refused_before_the_call() {
    let (mut sb, config) = boot("hello");
    let req = Request {
        stdin: vec![b'a'; config.max_stdin_bytes as usize + 1],
        ..Request::default()
    };
    assert!(matches!(
        invoke(&mut sb, &config, &req),
        Err(InvokeError::StdinTooLarge { .. })
    ));
}

#[test]
fn spawned_sandboxes_share_the_snapshot() {
    let (mut first, config) = boot("state");
    let snapshot = first.snapshot().clone();
    let module_bytes = (snapshot.layout.config.module_size_bytes) as usize;
    let host = host_functions(Arc::new(MemoryKvStore::default()));
    let mut second = runtime()
        .spawn(snapshot, &config, module_bytes, host)
        .unwrap();
    for sb in [&mut first, &mut second] {
        assert_eq!(
            stdout(&run(sb, &config, Request::default())),
            "calls=1 note=first\n"
        );
    }
}

#[test]
fn a_call_that_allocates_everything_finishes_and_leaves_nothing_behind() {
    let config = FunctionConfig {
        timeout: Duration::from_secs(20),
        ..FunctionConfig::default()
    };
    let mut sb = boot_with(&c_module("bomb"), &config);
    for _ in 0..2 {
        let r = run(&mut sb, &config, Request::default());
        let blocks: u64 = stdout(&r)
            .trim()
            .strip_prefix("blocks=")
            .and_then(|n| n.parse().ok())
            .expect("the bomb reports its blocks");
        assert!(
            blocks > 900,
            "{blocks} blocks of 64 KiB under a 64 MiB limit"
        );
        let stats = sb.restore().unwrap();
        assert!(stats.discarded, "{stats:?}");
        assert!(sb.private_bytes().unwrap() < 256 << 10);
        assert_eq!(sb.diff_from_snapshot(), Vec::<u64>::new(), "bit-identical");
    }
}

#[test]
fn random_get_past_linear_memory_is_efault_without_allocating() {
    // Asks for almost 4 GiB of random bytes into a 64 KiB memory, and exits with the errno.
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (call $r (i32.const 0) (i32.const -16)))))"#;
    let config = FunctionConfig::default();
    let mut sb = boot_with(&wat::parse_str(wat).unwrap(), &config);
    let r = run(&mut sb, &config, Request::default());
    assert_eq!(r.result.trap, None, "{}", r.result.trap_message);
    assert_eq!(r.result.exit_code, 21, "EFAULT");
}
