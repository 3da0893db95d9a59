//! Mutation tests of every decoder of guest-written bytes: thousands of corrupted, truncated
//! and extended encodings of valid messages, and random buffer bookkeeping. A decoder may
//! refuse any of them; it may never panic or read outside its input.
//!
//! The coverage-guided fuzz targets (`fuzz/`, see `docs/SECURITY.md`) cover the same decoders
//! for longer; these run in every test run.

use alloc::vec;
use alloc::vec::Vec;

use crate::buffer::{self, BufferMemory};
use crate::fb;
use crate::message::{
    CallKind, DecodeError, ErrorCode, FunctionCall, GuestError, GuestLogData,
    HostFunctionDefinition, HostFunctionDetails, LogLevel, Message, ReturnValue, Value, ValueType,
};
use crate::peb::{STATUS_WORDS, StatusBlock};
use crate::wasm::{TrapKind, WasmInit, WasmResult, WasmRun};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut b = good.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
        }
        1 => b.truncate(rng.below(b.len())),
        2 => b.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
        _ => {
            // Keep the size prefix consistent so the verifier, not the prefix check, decides.
            let i = 4 + rng.below(b.len().saturating_sub(4));
            if i < b.len() {
                b[i] ^= 1 << rng.below(8);
            }
        }
    }
    b
}

/// Whether bytes decode as some message type.
type Decoder = fn(&[u8]) -> bool;

fn samples() -> Vec<(Decoder, Vec<u8>)> {
    fn ok<M: Message>(b: &[u8]) -> bool {
        M::decode(b).is_ok()
    }
    vec![
        (
            ok::<FunctionCall> as Decoder,
            FunctionCall {
                name: "f".into(),
                args: vec![
                    Value::I64(-1),
                    Value::String("s".into()),
                    Value::Bytes(vec![1, 2]),
                ],
                kind: CallKind::Host,
            }
            .encode(),
        ),
        (ok::<ReturnValue>, ReturnValue(Value::F64(1.5)).encode()),
        (
            ok::<GuestError>,
            GuestError {
                code: ErrorCode::Trap,
                message: "m".into(),
            }
            .encode(),
        ),
        (
            ok::<GuestLogData>,
            GuestLogData {
                level: LogLevel::Warn,
                message: "x".into(),
                source: "y".into(),
                line: 3,
            }
            .encode(),
        ),
        (
            ok::<HostFunctionDetails>,
            HostFunctionDetails {
                functions: vec![HostFunctionDefinition {
                    name: "h".into(),
                    params: vec![ValueType::Bytes],
                    ret: ValueType::Bool,
                }],
            }
            .encode(),
        ),
        (
            ok::<WasmInit>,
            WasmInit {
                memory_limit_bytes: 1,
                max_wasm_stack_bytes: 2,
                ..WasmInit::default()
            }
            .encode(),
        ),
        (
            ok::<WasmRun>,
            WasmRun {
                export: "_start".into(),
                stdin: vec![1; 9],
                args: vec!["a".into()],
                env: vec!["K=V".into()],
                ..WasmRun::default()
            }
            .encode(),
        ),
        (
            ok::<WasmResult>,
            WasmResult {
                trap: Some(TrapKind::Unreachable),
                stdout: vec![7; 5],
                ..WasmResult::default()
            }
            .encode(),
        ),
    ]
}

#[test]
fn mutated_messages_never_panic_a_decoder() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (decode, good) in samples() {
        assert!(decode(&good), "the unmutated sample decodes");
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..4000 {
            if decode(&mutate(&mut rng, &good)) {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            refused > 1000,
            "mutations are mostly refused ({accepted} accepted)"
        );
    }
}

#[test]
fn random_buffers_never_panic_pop() {
    let mut rng = Rng(42);
    let good = ReturnValue(Value::U32(7)).encode();
    let mut popped = 0;
    for round in 0..20_000 {
        let mut mem = vec![0u8; 64 + rng.below(256)];
        let buf = mem.as_mut_slice();
        buffer::reset(buf);
        if round % 2 == 0 {
            let _ = buffer::push_bytes(buf, &good);
        }
        for _ in 0..rng.below(6) {
            let i = rng.below(buf.size_bytes());
            buf[i] = rng.next() as u8;
        }
        if buffer::pop::<ReturnValue, _>(buf).is_ok() {
            popped += 1;
        }
    }
    assert!(popped > 0, "untouched buffers still pop");
}

#[test]
fn any_status_block_bytes_decode() {
    let mut rng = Rng(7);
    for _ in 0..1000 {
        let mut b = [0u8; STATUS_WORDS * 8];
        for x in &mut b {
            *x = rng.next() as u8;
        }
        let _ = StatusBlock::from_bytes(&b);
    }
}

fn peak_rss_kib() -> u64 {
    extern crate std;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A ~1 MiB host call whose parameter vector repeats one offset to a 256 KiB byte vector
/// 4,000 times would expand to ~1 GiB of copies: it is refused by the verifier, typed, before
/// anything is copied, and the process's peak memory does not move.
#[test]
fn shared_offsets_cannot_expand_a_message() {
    use flatbuffers::FlatBufferBuilder;
    let mut fbb = FlatBufferBuilder::new();
    let big = fbb.create_vector(&vec![7u8; 256 << 10]);
    let value = fb::BytesValue::create(&mut fbb, &fb::BytesValueArgs { value: Some(big) });
    let param = fb::Parameter::create(
        &mut fbb,
        &fb::ParameterArgs {
            value_type: fb::Value::BytesValue,
            value: Some(value.as_union_value()),
        },
    );
    let params = fbb.create_vector(&vec![param; 4000]);
    let name = fbb.create_string("kv_set");
    let root = fb::FunctionCall::create(
        &mut fbb,
        &fb::FunctionCallArgs {
            function_name: Some(name),
            parameters: Some(params),
            kind: fb::CallKind::Host,
        },
    );
    fbb.finish_size_prefixed(root, None);
    let bytes = fbb.finished_data().to_vec();
    assert!(bytes.len() < 2 << 20, "{}", bytes.len());
    let before = peak_rss_kib();
    let err = FunctionCall::decode(&bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::Flatbuffer(_)),
        "expected the verifier to refuse it: {err:?}"
    );
    assert!(peak_rss_kib() < before + (32 << 10), "peak RSS moved");
}

/// A call with more arguments than any function takes is refused, typed.
#[test]
fn argument_count_is_capped() {
    let call = FunctionCall {
        name: "f".into(),
        args: vec![Value::U32(1); crate::message::MAX_ARGS + 1],
        kind: CallKind::Host,
    };
    assert!(matches!(
        FunctionCall::decode(&call.encode()),
        Err(DecodeError::TooMany { .. })
    ));
    let ok = FunctionCall {
        args: vec![Value::Bytes(vec![1; 1000]); crate::message::MAX_ARGS],
        ..call
    };
    assert_eq!(FunctionCall::decode(&ok.encode()).unwrap(), ok);
}

/// Regression from the `messages` fuzz target: NaN floats (any payload) decode and re-encode
/// bit for bit (the target compared values, and NaN is not equal to itself).
#[test]
fn nan_values_round_trip_bit_for_bit() {
    let call = FunctionCall {
        name: "f".into(),
        args: vec![
            Value::F64(f64::from_bits(0x7ff8_0000_dead_beef)),
            Value::F32(f32::from_bits(0x7fc0_1234)),
        ],
        kind: CallKind::Host,
    };
    let bytes = call.encode();
    let again = FunctionCall::decode(&bytes).unwrap();
    assert_eq!(again.encode(), bytes);
    match again.args[0] {
        Value::F64(x) => assert_eq!(x.to_bits(), 0x7ff8_0000_dead_beef),
        ref other => panic!("{other:?}"),
    }
}
