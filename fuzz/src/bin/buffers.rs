//! The input/output buffer bookkeeping the guest writes: pop from a buffer of arbitrary bytes
//! until it is empty or refuses; every pop is a message or a typed error, and never reads past
//! the buffer.

use flint_abi::buffer;
use flint_abi::message::FunctionCall;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut memory = data.to_vec();
        let buf: &mut [u8] = &mut memory;
        for _ in 0..64 {
            match buffer::pop::<FunctionCall, _>(buf) {
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let mut memory = data.to_vec();
        let buf: &mut [u8] = &mut memory;
        let _ = buffer::pop_bytes(buf);
        let _ = buffer::top(buf);
    });
}
