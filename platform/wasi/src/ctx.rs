//! The per-run state the imports work on.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use flint_abi::host_fn::{HttpError, KvError};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// WASI clock ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockId {
    /// Wall-clock time since the Unix epoch.
    Realtime,
    /// Time that only moves forward.
    Monotonic,
}

/// Where time comes from.
pub trait Clock: Send {
    /// Nanoseconds on `id`.
    fn now_ns(&mut self, id: ClockId) -> u64;
    /// Resolution of `id` in nanoseconds.
    fn resolution_ns(&self, id: ClockId) -> u64;
}

/// Where Flint's own imports go: logs and the function's key-value store.
pub trait FlintHost: Send {
    /// A log line from the module (`level`: 0 trace ... 4 error).
    fn log(&mut self, level: u32, message: &str);
    /// The value stored under `key`.
    fn kv_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Stores `value` under `key`.
    fn kv_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError>;
    /// Deletes `key`; whether it existed.
    fn kv_delete(&mut self, key: &[u8]) -> Result<bool, KvError>;
    /// Sends an outbound HTTP request (`METHOD URL\r\nheaders\r\n\r\nbody`); the response
    /// (`STATUS\r\nheaders\r\n\r\nbody`).
    fn http_request(&mut self, _request: &[u8]) -> Result<Vec<u8>, HttpError> {
        Err(HttpError::NotAllowed)
    }
}

/// A byte sink that keeps at most `limit` bytes and remembers whether it cut anything.
#[derive(Debug, Default)]
pub struct CappedBuffer {
    /// What was kept.
    pub bytes: Vec<u8>,
    /// The most it keeps.
    pub limit: usize,
    /// Whether anything was cut.
    pub truncated: bool,
}

impl CappedBuffer {
    /// An empty buffer keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            truncated: false,
        }
    }

    /// Appends what fits. Every byte counts as written for the module, kept or not.
    pub fn write(&mut self, data: &[u8]) {
        let room = self.limit.saturating_sub(self.bytes.len());
        let keep = data.len().min(room);
        self.bytes.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }
}

/// What `proc_exit` raises to end the run with a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit(pub i32);

impl core::fmt::Display for Exit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "exit with code {}", self.0)
    }
}

impl core::error::Error for Exit {}

/// Everything one run of a module sees.
pub struct WasiCtx {
    /// `argv`.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// What `fd_read(0)` returns.
    pub stdin: Vec<u8>,
    /// How much of `stdin` was read.
    pub stdin_pos: usize,
    /// `fd_write(1)`.
    pub stdout: CappedBuffer,
    /// `fd_write(2)`.
    pub stderr: CappedBuffer,
    /// Source of `random_get`, seeded per run.
    pub rng: ChaCha20Rng,
    /// Source of `clock_time_get`.
    pub clock: Box<dyn Clock>,
    /// Logs and key-value store.
    pub host: Box<dyn FlintHost>,
    /// Preopened directories and open files (descriptors from 3).
    pub fs: crate::fs::Fs,
}

impl WasiCtx {
    /// A context for one run.
    pub fn new(seed: [u8; 32], clock: Box<dyn Clock>, host: Box<dyn FlintHost>) -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            stdin: Vec::new(),
            stdin_pos: 0,
            stdout: CappedBuffer::new(0),
            stderr: CappedBuffer::new(0),
            rng: ChaCha20Rng::from_seed(seed),
            clock,
            host,
            fs: crate::fs::Fs::default(),
        }
    }
}

/// Access to the [`WasiCtx`] inside a store's data.
pub trait WasiView {
    /// The context of the current run.
    fn wasi(&mut self) -> &mut WasiCtx;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_buffer_cuts_and_flags() {
        let mut b = CappedBuffer::new(5);
        b.write(b"abc");
        assert!(!b.truncated);
        b.write(b"defg");
        assert_eq!(b.bytes, b"abcde");
        assert!(b.truncated);
    }
}
