//! What the host reads from guest memory after a run: the status block (clamped to its
//! regions), the doorbell address, and the exception frame with CR2 (classified into a fault).

use flint_abi::doorbell::Doorbell;
use flint_abi::layout::{Layout, MemoryConfig};
use flint_abi::peb::{STATUS_WORDS, StatusBlock};
use flint_vmm::cpu::ExceptionFrame;

fn word(data: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    for (k, b) in w.iter_mut().enumerate() {
        *b = data.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(w)
}

fn main() {
    let layout = Layout::new(MemoryConfig::default()).expect("the default layout");
    let image = flint_fuzz::image();
    afl::fuzz!(|data: &[u8]| {
        let mut status = [0u8; STATUS_WORDS * 8];
        for (d, s) in status.iter_mut().zip(data) {
            *d = *s;
        }
        let _ = StatusBlock::from_bytes(&status);
        let _ = Doorbell::from_gpa(word(data, 0));
        let frame = ExceptionFrame {
            vector: word(data, 1),
            error_code: word(data, 2),
            rip: word(data, 3),
            cs: word(data, 4),
            rsp: word(data, 5),
        };
        let fault = flint_vmm::fault::classify(&frame, word(data, 6), &layout, image);
        let _ = fault.to_string();
    });
}
