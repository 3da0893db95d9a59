//! Real micro-VMs on real `/dev/kvm`: calls, host functions, logs, every hostile guest, timeouts
//! and restore. These tests fail (never skip) where KVM is missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flint_vmm::call::ProtocolError;
use flint_vmm::{
    CallError, ErrorCode, FaultKind, GuestImage, HostCallError, HostFunctionError, HostFunctions,
    Hypervisor, ReadySandbox, RestoreStrategy, SandboxConfig, UninitSandbox, Value, ValueType,
};

fn hypervisor() -> Arc<Hypervisor> {
    Hypervisor::new().expect("these tests need a working /dev/kvm")
}

fn host_functions() -> HostFunctions {
    HostFunctions::builder()
        .register(
            "double",
            &[ValueType::I64],
            ValueType::I64,
            |args| match args {
                [Value::I64(x)] => Ok(Value::I64(x.wrapping_mul(2))),
                _ => Err(HostFunctionError("checked by the registry".into())),
            },
        )
        .register(
            "greet",
            &[ValueType::String],
            ValueType::String,
            |args| match args {
                [Value::String(name)] => Ok(Value::String(format!("hello, {name}"))),
                _ => Err(HostFunctionError("checked by the registry".into())),
            },
        )
        .register("fail", &[], ValueType::Void, |_| {
            Err(HostFunctionError("host function says no".into()))
        })
        .build()
}

fn config(restore: RestoreStrategy) -> SandboxConfig {
    SandboxConfig {
        restore,
        call_timeout: Duration::from_millis(300),
        memory: flint_vmm::MemoryConfig {
            linear_memory_size_bytes: 1 << 20,
            ..flint_vmm::MemoryConfig::default()
        },
        ..SandboxConfig::default()
    }
}

fn sandbox_with(restore: RestoreStrategy) -> ReadySandbox {
    let image = Arc::new(GuestImage::hostile().unwrap());
    UninitSandbox::new(&hypervisor(), image, config(restore), host_functions())
        .unwrap()
        .boot()
        .unwrap()
}

fn sandbox() -> ReadySandbox {
    sandbox_with(RestoreStrategy::default())
}

/// After a failed call, the same sandbox must serve a normal call correctly.
fn assert_recovers(sb: &mut ReadySandbox) {
    let v = sb.call("add", &[Value::I32(40), Value::I32(2)]).unwrap();
    assert_eq!(v, Value::I32(42));
    assert!(
        sb.diff_from_snapshot().len() < 64,
        "a normal call dirties little"
    );
    sb.restore().unwrap();
    assert_eq!(sb.diff_from_snapshot(), Vec::<u64>::new());
}

fn fault_of(result: Result<Value, CallError>) -> flint_vmm::Fault {
    match result {
        Err(CallError::Fault(f)) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn echo_round_trips_every_value_type() {
    let mut sb = sandbox();
    let values = [
        Value::Void,
        Value::I32(-5),
        Value::I64(i64::MAX),
        Value::U32(7),
        Value::U64(u64::MAX),
        Value::F32(0.5),
        Value::F64(-1e300),
        Value::Bool(false),
        Value::String("ünïcode".into()),
        Value::Bytes((0..=255).collect()),
    ];
    for v in values {
        assert_eq!(sb.call("echo", std::slice::from_ref(&v)).unwrap(), v);
    }
    assert_eq!(
        sb.call("add", &[Value::I32(i32::MAX), Value::I32(1)])
            .unwrap(),
        Value::I32(i32::MIN)
    );
}

#[test]
fn guest_calls_host_functions_with_typed_values() {
    let mut sb = sandbox();
    let args = [Value::String("double".into()), Value::I64(21)];
    assert_eq!(sb.call("call_host", &args).unwrap(), Value::I64(42));
    let args = [Value::String("greet".into()), Value::String("flint".into())];
    assert_eq!(
        sb.call("call_host", &args).unwrap(),
        Value::String("hello, flint".into())
    );
}

#[test]
fn host_function_failure_is_a_typed_error() {
    let mut sb = sandbox();
    let err = sb
        .call("call_host", &[Value::String("fail".into())])
        .unwrap_err();
    assert!(
        matches!(err, CallError::HostCall(HostCallError::Failed { ref name, .. }) if name == "fail"),
        "{err:?}"
    );
    assert_recovers(&mut sb);
}

#[test]
fn guest_logs_reach_the_host() {
    let mut sb = sandbox();
    sb.call("log", &[Value::U32(3), Value::String("careful".into())])
        .unwrap();
    let (logs, dropped) = sb.logs();
    assert_eq!(dropped, 0);
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].message, "careful");
    assert_eq!(logs[0].level, flint_vmm::LogLevel::Warn);
    assert!(logs[0].source.ends_with("builtins.rs"));
}

#[test]
fn unknown_guest_function_is_a_guest_error() {
    let mut sb = sandbox();
    match sb.call("no_such_function", &[]) {
        Err(CallError::Guest(e)) => assert_eq!(e.code, ErrorCode::UnknownFunction),
        other => panic!("{other:?}"),
    }
    assert_recovers(&mut sb);
}

#[test]
fn write_to_host_function_table_is_a_read_only_violation() {
    let mut sb = sandbox();
    let f = fault_of(sb.call("write_host_table", &[]));
    assert_eq!(f.kind, FaultKind::ReadOnlyViolation);
    assert_eq!(f.gva, Some(flint_abi::layout::GVA_HOST_FUNCTIONS));
    assert_eq!(f.region, Some("host-function table"));
    assert!(f.rip.is_some_and(|rip| rip >= flint_abi::layout::GVA_IMAGE));
    assert_recovers(&mut sb);
}

#[test]
fn jump_into_the_heap_is_an_nx_violation() {
    let mut sb = sandbox();
    let f = fault_of(sb.call("exec_heap", &[]));
    assert_eq!(f.kind, FaultKind::NxViolation);
    assert_eq!(f.region, Some("heap"));
    assert_eq!(f.rip, f.gva, "the fetch itself faults");
    assert_recovers(&mut sb);
}

#[test]
fn unbounded_recursion_hits_the_stack_guard_page() {
    let mut sb = sandbox();
    let f = fault_of(sb.call("recurse", &[Value::U32(u32::MAX)]));
    assert_eq!(f.kind, FaultKind::StackGuard);
    assert_eq!(f.region, Some("stack guard page"));
    assert_recovers(&mut sb);
    // A bounded recursion is fine.
    assert!(sb.call("recurse", &[Value::U32(100)]).is_ok());
}

#[test]
fn overwriting_the_stack_cookie_is_detected() {
    let mut sb = sandbox();
    let f = fault_of(sb.call("smash_cookie", &[]));
    assert_eq!(f.kind, FaultKind::StackCookie);
    assert_eq!(f.region, Some("stack"));
    assert_recovers(&mut sb);
}

#[test]
fn infinite_loop_times_out_at_the_deadline() {
    let mut sb = sandbox();
    let timeout = sb.config().call_timeout;
    let started = Instant::now();
    let f = fault_of(sb.call("spin", &[]));
    let took = started.elapsed();
    assert_eq!(f.kind, FaultKind::Timeout);
    assert!(took >= timeout, "stopped early: {took:?}");
    assert!(took < timeout * 2, "stopped late: {took:?}");
    assert_recovers(&mut sb);
}

#[test]
fn malformed_output_is_a_decode_error() {
    let mut sb = sandbox();
    for mode in 0..4u32 {
        match sb.call("bad_output", &[Value::U32(mode)]) {
            Err(CallError::Protocol(ProtocolError::Output { .. })) => {}
            other => panic!("mode {mode}: {other:?}"),
        }
        assert_recovers(&mut sb);
    }
}

#[test]
fn unknown_host_function_and_bad_arguments_are_typed_errors() {
    let mut sb = sandbox();
    // The guest runtime's own check refuses first...
    match sb.call("call_host", &[Value::String("nope".into())]) {
        Err(CallError::Guest(e)) => assert_eq!(e.code, ErrorCode::HostCallFailed),
        other => panic!("{other:?}"),
    }
    // ...and the host refuses on its own when the guest skips that check.
    match sb.call("call_host_unchecked", &[Value::String("nope".into())]) {
        Err(CallError::HostCall(HostCallError::UnknownFunction { name })) => {
            assert_eq!(name, "nope")
        }
        other => panic!("{other:?}"),
    }
    assert_recovers(&mut sb);
    let args = [Value::String("double".into()), Value::Bool(true)];
    match sb.call("call_host_unchecked", &args) {
        Err(CallError::HostCall(HostCallError::BadArguments { expected, got, .. })) => {
            assert_eq!(expected, vec![ValueType::I64]);
            assert_eq!(got, vec![ValueType::Bool]);
        }
        other => panic!("{other:?}"),
    }
    assert_recovers(&mut sb);
}

/// The guest Flint ships has none of the hostile functions: they exist only in the test build.
#[test]
fn the_shipped_guest_has_no_hostile_functions() {
    let image = Arc::new(GuestImage::builtin().unwrap());
    let mut sb = UninitSandbox::new(
        &hypervisor(),
        image,
        config(RestoreStrategy::default()),
        host_functions(),
    )
    .unwrap()
    .boot()
    .unwrap();
    for name in [
        "plant",
        "peek",
        "smash_cookie",
        "exec_heap",
        "write_host_table",
        "panic",
    ] {
        match sb.call(name, &[]) {
            Err(CallError::Guest(e)) => {
                assert_eq!(e.code, ErrorCode::UnknownFunction, "{name}: {}", e.message)
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_recovers(&mut sb);
    for name in ["plant", "smash_cookie"] {
        assert!(
            !contains(flint_vmm::GUEST_ELF, name.as_bytes()),
            "{name} in the shipped guest"
        );
        assert!(contains(flint_vmm::HOSTILE_GUEST_ELF, name.as_bytes()));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn guest_panic_message_reaches_the_host() {
    let mut sb = sandbox();
    match sb.call("panic", &[Value::String("it hurts".into())]) {
        Err(CallError::Guest(e)) => {
            assert_eq!(e.code, ErrorCode::GuestPanic);
            assert!(e.message.starts_with("it hurts at "), "{}", e.message);
            assert!(e.message.contains("hostile.rs"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    assert_recovers(&mut sb);
}

#[test]
fn a_call_too_large_for_the_input_buffer_is_refused() {
    let mut sb = sandbox();
    let big = Value::Bytes(vec![1; 1 << 20]);
    assert!(matches!(sb.call("echo", &[big]), Err(CallError::Input(_))));
    assert_recovers(&mut sb);
}

#[test]
fn every_call_sees_a_fresh_seed() {
    let mut sb = sandbox();
    let a = sb.call("seed", &[]).unwrap();
    let b = sb.call("seed", &[]).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, Value::Bytes(vec![0; 32]));
}

fn restore_is_bit_identical(strategy: RestoreStrategy) {
    let mut sb = sandbox_with(strategy);
    // 1024 pages is past the discard threshold (512): those are handed back, not copied.
    for pages in [1u32, 16, 256, 1024] {
        let v = sb.call("scribble", &[Value::U32(pages)]).unwrap();
        assert!(matches!(v, Value::U64(_)));
        let dirty = sb.diff_from_snapshot();
        assert!(dirty.len() >= pages as usize, "scribble dirtied {dirty:?}");
        let stats = sb.restore().unwrap();
        assert_eq!(stats.strategy, strategy);
        assert_eq!(sb.diff_from_snapshot(), Vec::<u64>::new(), "{strategy:?}");
        let private = sb.private_bytes().unwrap();
        if pages == 1024 {
            assert!(stats.discarded, "{strategy}: {stats:?}");
            assert!(
                private < 64 << 10,
                "{strategy}: {private} bytes kept after a big call"
            );
        }
    }
    // And after a fault (which `runtime-ranges` does not trust), too.
    fault_of(sb.call("recurse", &[Value::U32(u32::MAX)]));
    assert!(!sb.diff_from_snapshot().is_empty());
    let after_fault = match strategy {
        RestoreStrategy::RuntimeRanges => RestoreStrategy::Pagemap,
        other => other,
    };
    assert_eq!(sb.restore().unwrap().strategy, after_fault);
    assert_eq!(sb.diff_from_snapshot(), Vec::<u64>::new());
}

#[test]
fn restore_pagemap_is_bit_identical() {
    restore_is_bit_identical(RestoreStrategy::Pagemap);
}

#[test]
fn restore_full_reset_is_bit_identical() {
    restore_is_bit_identical(RestoreStrategy::FullReset);
}

#[test]
fn restore_dirty_log_is_bit_identical() {
    restore_is_bit_identical(RestoreStrategy::DirtyLog);
}

#[test]
fn restore_runtime_ranges_is_bit_identical() {
    restore_is_bit_identical(RestoreStrategy::RuntimeRanges);
}

/// A guest that lies: it hides a secret beyond every mark it reports (heap, linear memory, I/O
/// buffers, deep stack) and claims it used nothing. The next call must not find it.
fn liar_keeps_nothing(strategy: RestoreStrategy) -> bool {
    let mut sb = sandbox_with(strategy);
    let secret = 0x5EC2_E7F1_1A7E_0001u64;
    assert_eq!(
        sb.call("plant", &[Value::U64(secret)]).unwrap(),
        Value::Void
    );
    let Value::Bytes(words) = sb.call("peek", &[]).unwrap() else {
        panic!("peek returns bytes")
    };
    assert_eq!(words.len(), 5 * 8);
    !words
        .chunks(8)
        .any(|w| u64::from_le_bytes(w.try_into().unwrap()) == secret)
}

#[test]
fn trust_free_strategies_keep_nothing_from_a_lying_guest() {
    for strategy in RestoreStrategy::ALL {
        let kept_nothing = liar_keeps_nothing(strategy);
        assert_eq!(
            kept_nothing,
            !strategy.trusts_guest(),
            "{strategy}: a trust-free strategy must keep nothing; the trusting one is fooled \
             (which is why it is opt-in)"
        );
    }
    assert!(!RestoreStrategy::default().trusts_guest());
}

#[test]
fn sandboxes_from_a_snapshot_are_independent() {
    let hv = hypervisor();
    let mut first = sandbox();
    let snapshot = first.snapshot().clone();
    let cfg = config(RestoreStrategy::default());
    let mut second =
        ReadySandbox::from_snapshot(&hv, snapshot.clone(), cfg.clone(), host_functions()).unwrap();
    second.call("scribble", &[Value::U32(4)]).unwrap();
    assert_eq!(first.diff_from_snapshot(), Vec::<u64>::new());
    assert_eq!(
        first.call("add", &[Value::I32(1), Value::I32(2)]).unwrap(),
        Value::I32(3)
    );
    second.restore().unwrap();
    assert_eq!(second.diff_from_snapshot(), Vec::<u64>::new());
    let other_host = HostFunctions::builder().build();
    assert!(matches!(
        ReadySandbox::from_snapshot(&hv, snapshot, cfg, other_host),
        Err(flint_vmm::BuildError::HostFunctionsMismatch)
    ));
}

#[test]
fn snapshots_survive_a_round_trip_through_a_file() {
    let hv = hypervisor();
    let mut first = sandbox();
    first.call("scribble", &[Value::U32(2)]).unwrap();
    first.restore().unwrap();
    let dir = std::env::temp_dir().join(format!("flint-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.snap");
    first.snapshot().write_to(&path).unwrap();
    let image = first.snapshot().image.clone();
    let loaded = Arc::new(flint_vmm::Snapshot::read_from(&path, image.clone()).unwrap());
    let original = first.snapshot();
    assert_eq!(loaded.runs(), original.runs(), "same runs");
    let size = original.layout.mem_size_bytes;
    let (mut a, mut b) = (vec![0u8; size as usize], vec![0u8; size as usize]);
    loaded.read(0, &mut a);
    original.read(0, &mut b);
    assert!(a == b, "same memory");
    assert_eq!(loaded.cpu.cookie, original.cpu.cookie);
    let cfg = config(RestoreStrategy::default());
    let mut second = ReadySandbox::from_snapshot(&hv, loaded, cfg, host_functions()).unwrap();
    let args = [Value::String("double".into()), Value::I64(4)];
    assert_eq!(second.call("call_host", &args).unwrap(), Value::I64(8));
    assert!(matches!(
        fault_of(second.call("smash_cookie", &[])).kind,
        FaultKind::StackCookie
    ));
    second.restore().unwrap();
    assert_eq!(second.diff_from_snapshot(), Vec::<u64>::new());

    // Every file that parses writes back byte for byte: no byte is ignored. (Regression, found
    // by the snapshot_file fuzz target: a header length one byte short, or junk in the padding
    // after the header, used to parse.)
    let good = std::fs::read(&path).unwrap();
    assert_eq!(original.to_file_bytes(), good);
    let mut shorter = good.clone();
    let len = u32::from_le_bytes(shorter[12..16].try_into().unwrap());
    shorter[12..16].copy_from_slice(&(len - 1).to_le_bytes());
    assert!(flint_vmm::Snapshot::from_file_bytes(&shorter, image.clone()).is_err());
    let mut padded = good.clone();
    padded[16 + len as usize] = 1;
    assert!(flint_vmm::Snapshot::from_file_bytes(&padded, image.clone()).is_err());

    // A damaged or foreign file is refused, not trusted.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(flint_vmm::Snapshot::read_from(&path, image.clone()).is_err());
    std::fs::write(&path, b"FLINTSNP").unwrap();
    assert!(flint_vmm::Snapshot::read_from(&path, image).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sealed_and_scanned_ranges_split_guest_ram_by_who_can_write() {
    let sb = sandbox();
    let snapshot = sb.snapshot();
    let (sealed, scanned) = (snapshot.sealed(), snapshot.scanned());
    let mut all: Vec<(u64, u64)> = sealed.iter().chain(scanned).copied().collect();
    all.sort_unstable();
    let mut at = 0;
    for (gpa, len) in all {
        assert_eq!(gpa, at, "a gap or an overlap at {gpa:#x}");
        at = gpa + len;
    }
    assert_eq!(at, snapshot.layout.mem_size_bytes);
    let inside = |runs: &[(u64, u64)], gpa: u64| runs.iter().any(|&(g, l)| g <= gpa && gpa < g + l);
    let l = &snapshot.layout;
    // Read-only to the guest and written by no one after boot.
    for gpa in [
        0x1000,
        flint_abi::layout::GVA_HOST_FUNCTIONS,
        flint_abi::layout::GVA_IMAGE,
    ] {
        assert!(inside(sealed, gpa), "{gpa:#x} is not sealed");
    }
    // Written by the guest or the host on every call.
    for gpa in [
        flint_abi::layout::GVA_PEB,
        flint_abi::layout::GVA_STATUS,
        l.gva_input,
        l.gva_output,
        l.gva_heap,
        l.gva_stack_limit,
        l.gpa_page_tables,
    ] {
        assert!(inside(scanned, gpa), "{gpa:#x} is not scanned");
    }
    let writable = snapshot
        .image
        .segments
        .iter()
        .filter(|s| s.access == flint_abi::layout::Access::ReadWrite);
    for s in writable {
        assert!(
            inside(scanned, s.gva),
            "image data at {:#x} is not scanned",
            s.gva
        );
    }
}
