//! Every guest message decoder, and the files image: the first byte picks the message type,
//! the rest is the message.
//! A message that decodes must re-encode to bytes that decode to the same message. "The same"
//! is compared on the encodings, bit for bit: a float NaN is not equal to itself as a value.
//! (The first long run's 15 "crashes" were exactly that, in this property, not the decoders.)

use flint_abi::message::{
    FunctionCall, GuestError, GuestLogData, HostFunctionDetails, Message, ReturnValue,
};
use flint_abi::wasm::{WasmInit, WasmResult, WasmRun};

fn round_trip<M: Message>(bytes: &[u8]) {
    if let Ok(m) = M::decode(bytes) {
        let encoded = m.encode();
        let again = M::decode(&encoded).expect("a decoded message re-encodes validly");
        assert_eq!(again.encode(), encoded, "a message round-trips");
    }
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&which, bytes)) = data.split_first() else {
            return;
        };
        match which % 9 {
            0 => round_trip::<FunctionCall>(bytes),
            1 => round_trip::<ReturnValue>(bytes),
            2 => round_trip::<GuestError>(bytes),
            3 => round_trip::<GuestLogData>(bytes),
            4 => round_trip::<HostFunctionDetails>(bytes),
            5 => round_trip::<WasmInit>(bytes),
            6 => round_trip::<WasmRun>(bytes),
            7 => round_trip::<WasmResult>(bytes),
            _ => {
                // A function's file image: what decodes re-encodes to the same bytes.
                if let Ok(entries) = flint_abi::files::decode(bytes) {
                    assert_eq!(
                        flint_abi::files::encode(&entries),
                        bytes,
                        "an image round-trips"
                    );
                }
            }
        }
    });
}
