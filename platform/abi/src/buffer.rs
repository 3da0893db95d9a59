//! The one push/pop of size-prefixed messages over an input or output buffer.
//!
//! A buffer is a stack:
//!
//! ```text
//!  0        8                                          top
//!  ┌────────┬──────────────────────────────┬───────────┬─── ... free ...
//!  │ top:u64│ len:u32 │ flatbuffer │ pad→8 │ start:u64 │
//!  └────────┴──────────────────────────────┴───────────┴───
//!           ^ start of the entry            back-pointer
//! ```
//!
//! `push` appends an entry and moves `top`; `pop` reads the back-pointer below `top`, checks that
//! the entry it points at is well-formed and ends exactly there, copies the bytes out, decodes
//! them and moves `top` back. Every number read from the buffer is checked before it is used, so
//! a hostile writer can make `pop` fail, but never read outside the buffer.

use alloc::vec::Vec;

use crate::message::{DecodeError, Message};

/// Size of the header (the `top` offset).
pub const HEADER_SIZE_BYTES: usize = 8;

/// Raw access to the memory of one buffer.
pub trait BufferMemory {
    /// Size of the buffer in bytes.
    fn size_bytes(&self) -> usize;
    /// Copies `out.len()` bytes at `offset` into `out`. The caller keeps the range inside
    /// `size_bytes()`; implementations may panic otherwise.
    fn read(&self, offset: usize, out: &mut [u8]);
    /// Copies `data` to `offset`. Same range rule as [`BufferMemory::read`].
    fn write(&mut self, offset: usize, data: &[u8]);
}

impl BufferMemory for [u8] {
    fn size_bytes(&self) -> usize {
        self.len()
    }
    fn read(&self, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self[offset..offset + out.len()]);
    }
    fn write(&mut self, offset: usize, data: &[u8]) {
        self[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// Why a push or pop failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    /// The message does not fit in the space left.
    #[error("Buffer full: {needed_bytes} bytes needed, {free_bytes} free")]
    Full {
        /// Bytes the entry needs.
        needed_bytes: usize,
        /// Bytes left.
        free_bytes: usize,
    },
    /// There is nothing to pop.
    #[error("Buffer empty")]
    Empty,
    /// The buffer's bookkeeping is inconsistent.
    #[error("Buffer corrupt: {0}")]
    Corrupt(&'static str),
    /// The bytes to push are not a size-prefixed message.
    #[error("Not a size-prefixed message")]
    NotSizePrefixed,
    /// The entry is well-formed but its message is not.
    #[error("Decode message")]
    Decode(#[from] DecodeError),
}

const fn align8(x: usize) -> usize {
    (x + 7) & !7
}

fn read_u64<B: BufferMemory + ?Sized>(buf: &B, offset: usize) -> u64 {
    let mut b = [0u8; 8];
    buf.read(offset, &mut b);
    u64::from_le_bytes(b)
}

/// Empties the buffer.
pub fn reset<B: BufferMemory + ?Sized>(buf: &mut B) {
    buf.write(0, &(HEADER_SIZE_BYTES as u64).to_le_bytes());
}

/// The current `top`, validated: a multiple of 8 within `[HEADER_SIZE_BYTES, size]`.
pub fn top<B: BufferMemory + ?Sized>(buf: &B) -> Result<usize, BufferError> {
    if buf.size_bytes() < HEADER_SIZE_BYTES {
        return Err(BufferError::Corrupt("buffer smaller than its header"));
    }
    let top = read_u64(buf, 0);
    if top < HEADER_SIZE_BYTES as u64 || top > buf.size_bytes() as u64 || !top.is_multiple_of(8) {
        return Err(BufferError::Corrupt("top out of range"));
    }
    Ok(top as usize)
}

/// Pushes an already encoded, size-prefixed message.
pub fn push_bytes<B: BufferMemory + ?Sized>(buf: &mut B, msg: &[u8]) -> Result<(), BufferError> {
    let prefix = msg
        .get(..4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize);
    if prefix != Some(msg.len().wrapping_sub(4)) {
        return Err(BufferError::NotSizePrefixed);
    }
    let start = top(buf)?;
    let needed_bytes = align8(msg.len()) + 8;
    let free_bytes = buf.size_bytes() - start;
    if needed_bytes > free_bytes {
        return Err(BufferError::Full {
            needed_bytes,
            free_bytes,
        });
    }
    buf.write(start, msg);
    let pad = align8(msg.len()) - msg.len();
    buf.write(start + msg.len(), &[0u8; 8][..pad]);
    let back = start + align8(msg.len());
    buf.write(back, &(start as u64).to_le_bytes());
    buf.write(0, &((back + 8) as u64).to_le_bytes());
    Ok(())
}

/// Encodes `msg` and pushes it.
pub fn push<M: Message, B: BufferMemory + ?Sized>(buf: &mut B, msg: &M) -> Result<(), BufferError> {
    push_bytes(buf, &msg.encode())
}

/// Pops the top entry and returns its size-prefixed bytes, without decoding them.
pub fn pop_bytes<B: BufferMemory + ?Sized>(buf: &mut B) -> Result<Vec<u8>, BufferError> {
    let top = top(buf)?;
    if top == HEADER_SIZE_BYTES {
        return Err(BufferError::Empty);
    }
    if top < HEADER_SIZE_BYTES + 16 {
        return Err(BufferError::Corrupt("entry too short"));
    }
    let end = top - 8;
    let start = read_u64(buf, end);
    if start < HEADER_SIZE_BYTES as u64 || !start.is_multiple_of(8) || start + 4 > end as u64 {
        return Err(BufferError::Corrupt("back-pointer out of range"));
    }
    let start = start as usize;
    let mut prefix = [0u8; 4];
    buf.read(start, &mut prefix);
    let len = 4 + u32::from_le_bytes(prefix) as usize;
    // `len` is at most 2^32 + 4 and `start` below the buffer size: no overflow on 64-bit.
    if align8(start + len) != end {
        return Err(BufferError::Corrupt(
            "entry length does not match its back-pointer",
        ));
    }
    let mut bytes = alloc::vec![0u8; len];
    buf.read(start, &mut bytes);
    buf.write(0, &(start as u64).to_le_bytes());
    Ok(bytes)
}

/// Pops the top entry and decodes it as `M`.
pub fn pop<M: Message, B: BufferMemory + ?Sized>(buf: &mut B) -> Result<M, BufferError> {
    let bytes = pop_bytes(buf)?;
    Ok(M::decode(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{CallKind, ErrorCode, FunctionCall, GuestError, ReturnValue, Value};
    use alloc::string::ToString;
    use alloc::vec;

    fn call(n: i32) -> FunctionCall {
        FunctionCall {
            name: "f".to_string(),
            args: vec![Value::I32(n), Value::Bytes(vec![7; n as usize])],
            kind: CallKind::Guest,
        }
    }

    #[test]
    fn push_pop_is_last_in_first_out() {
        let mut mem = vec![0u8; 4096];
        let buf = mem.as_mut_slice();
        reset(buf);
        push(buf, &call(1)).unwrap();
        push(buf, &ReturnValue(Value::U64(9))).unwrap();
        assert_eq!(
            pop::<ReturnValue, _>(buf).unwrap(),
            ReturnValue(Value::U64(9))
        );
        assert_eq!(pop::<FunctionCall, _>(buf).unwrap(), call(1));
        assert_eq!(pop::<FunctionCall, _>(buf), Err(BufferError::Empty));
        assert_eq!(top(buf).unwrap(), HEADER_SIZE_BYTES);
    }

    #[test]
    fn full_buffer_is_an_error_and_keeps_its_content() {
        let mut mem = vec![0u8; 256];
        let buf = mem.as_mut_slice();
        reset(buf);
        push(buf, &call(4)).unwrap();
        let err = push(buf, &call(200)).unwrap_err();
        assert!(matches!(err, BufferError::Full { .. }), "{err:?}");
        assert_eq!(pop::<FunctionCall, _>(buf).unwrap(), call(4));
    }

    #[test]
    fn hostile_bookkeeping_is_rejected() {
        let mut mem = vec![0u8; 512];
        let buf = mem.as_mut_slice();
        reset(buf);
        push(buf, &call(3)).unwrap();
        let top_now = top(buf).unwrap();
        // top past the end, unaligned, below the header
        for bad in [4096u64, 13, 0, u64::MAX] {
            buf[..8].copy_from_slice(&bad.to_le_bytes());
            assert!(
                matches!(pop_bytes(buf), Err(BufferError::Corrupt(_))),
                "top {bad}"
            );
        }
        buf[..8].copy_from_slice(&(top_now as u64).to_le_bytes());
        // back-pointer pointing at itself, past the end, into the header
        for bad in [top_now as u64 - 8, 1 << 40, 0] {
            buf[top_now - 8..top_now].copy_from_slice(&bad.to_le_bytes());
            assert!(
                matches!(pop_bytes(buf), Err(BufferError::Corrupt(_))),
                "back {bad}"
            );
        }
        // a length prefix that claims more than the entry holds
        buf[top_now - 8..top_now].copy_from_slice(&8u64.to_le_bytes());
        buf[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(matches!(pop_bytes(buf), Err(BufferError::Corrupt(_))));
    }

    #[test]
    fn garbage_message_in_a_well_formed_entry_is_a_decode_error() {
        let mut mem = vec![0u8; 512];
        let buf = mem.as_mut_slice();
        reset(buf);
        push_bytes(buf, &[12, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).unwrap();
        assert!(matches!(
            pop::<GuestError, _>(buf),
            Err(BufferError::Decode(_))
        ));
        push(
            buf,
            &GuestError {
                code: ErrorCode::Trap,
                message: "t".to_string(),
            },
        )
        .unwrap();
        assert!(pop::<GuestError, _>(buf).is_ok());
    }

    #[test]
    fn push_rejects_bytes_without_a_matching_size_prefix() {
        let mut mem = vec![0u8; 512];
        let buf = mem.as_mut_slice();
        reset(buf);
        assert_eq!(push_bytes(buf, &[1, 2]), Err(BufferError::NotSizePrefixed));
        assert_eq!(
            push_bytes(buf, &[9, 0, 0, 0, 1]),
            Err(BufferError::NotSizePrefixed)
        );
    }
}
