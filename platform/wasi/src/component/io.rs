//! `wasi:io` (errors, pollables, streams), `wasi:clocks`, `wasi:random` and `wasi:cli`
//! (stdin, stdout, stderr, environment) for served components.

use alloc::string::String;
use alloc::vec::Vec;

use rand_chacha::rand_core::RngCore;
use wasmtime::component::Resource;

use super::Serving;
use super::wasi::cli::{environment, stderr, stdin, stdout};
use super::wasi::clocks::{monotonic_clock, wall_clock};
use super::wasi::io::streams::StreamError;
use super::wasi::io::{error, poll, streams};
use super::wasi::random::random;
use crate::ctx::ClockId;

/// The most bytes one `get-random-bytes` or stream read hands over.
const MAX_CHUNK: u64 = 16 << 20;

/// A `wasi:io/error.error`.
#[derive(Debug)]
pub struct IoError(pub(crate) String);

/// A `wasi:io/poll.pollable`: ready now, or at a monotonic time.
#[derive(Debug)]
pub struct Pollable {
    pub(crate) ready_at_ns: Option<u64>,
}

/// A `wasi:io/streams.input-stream`: bytes in memory.
#[derive(Debug)]
pub struct InputStream {
    pub(crate) data: Vec<u8>,
    pub(crate) pos: usize,
}

/// A `wasi:io/streams.output-stream`.
#[derive(Debug)]
pub enum OutputStream {
    /// `wasi:cli` stdout or stderr: the function's logs.
    Log,
    /// A body being written (an arena id).
    Body(u32),
}

impl Serving<'_> {
    fn now(&mut self) -> u64 {
        self.wasi.clock.now_ns(ClockId::Monotonic)
    }

    fn pollable(&mut self, ready_at_ns: Option<u64>) -> wasmtime::Result<Resource<Pollable>> {
        Ok(self.http.table.push(Pollable { ready_at_ns })?)
    }

    /// A pollable that is ready now.
    pub(crate) fn ready(&mut self) -> wasmtime::Result<Resource<Pollable>> {
        self.pollable(None)
    }

    fn is_ready(&mut self, p: &Resource<Pollable>) -> wasmtime::Result<bool> {
        let at = self.http.table.get(p)?.ready_at_ns;
        Ok(at.is_none_or(|t| self.now() >= t))
    }

    fn wait(&mut self, p: &Resource<Pollable>) -> wasmtime::Result<()> {
        // Nothing else runs in a sandbox while it waits; the call's deadline still stops it.
        while !self.is_ready(p)? {
            core::hint::spin_loop();
        }
        Ok(())
    }

    fn stream_error(&mut self, message: String) -> wasmtime::Result<StreamError> {
        Ok(StreamError::LastOperationFailed(
            self.http.table.push(IoError(message))?,
        ))
    }

    /// Writes `bytes` to `stream`.
    fn write(
        &mut self,
        stream: &Resource<OutputStream>,
        bytes: &[u8],
    ) -> wasmtime::Result<Result<(), StreamError>> {
        match *self.http.table.get(stream)? {
            OutputStream::Log => {
                self.wasi.stderr.write(bytes);
                Ok(Ok(()))
            }
            OutputStream::Body(id) => {
                let body = self.http.bodies.get_mut(id)?;
                let room = body.bytes.limit - body.bytes.bytes.len();
                if body.finished {
                    Ok(Err(StreamError::Closed))
                } else if bytes.len() > room {
                    let limit = body.bytes.limit;
                    self.stream_error(alloc::format!("the body exceeds {limit} bytes"))
                        .map(Err)
                } else {
                    body.bytes.write(bytes);
                    Ok(Ok(()))
                }
            }
        }
    }

    fn room(
        &mut self,
        stream: &Resource<OutputStream>,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        Ok(match *self.http.table.get(stream)? {
            OutputStream::Log => Ok(1 << 20),
            OutputStream::Body(id) => {
                let body = self.http.bodies.get(id)?;
                if body.finished {
                    Err(StreamError::Closed)
                } else {
                    Ok((body.bytes.limit - body.bytes.bytes.len()).min(1 << 20) as u64)
                }
            }
        })
    }

    fn read(
        &mut self,
        stream: &Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, StreamError>> {
        let s = self.http.table.get_mut(stream)?;
        if s.pos >= s.data.len() {
            return Ok(Err(StreamError::Closed));
        }
        let n = (s.data.len() - s.pos).min(len.min(MAX_CHUNK) as usize);
        let out = s.data[s.pos..s.pos + n].to_vec();
        s.pos += n;
        Ok(Ok(out))
    }
}

impl error::Host for Serving<'_> {}

impl error::HostError for Serving<'_> {
    fn to_debug_string(&mut self, e: Resource<IoError>) -> wasmtime::Result<String> {
        Ok(self.http.table.get(&e)?.0.clone())
    }

    fn drop(&mut self, e: Resource<IoError>) -> wasmtime::Result<()> {
        self.http.table.delete(e)?;
        Ok(())
    }
}

impl poll::Host for Serving<'_> {
    fn poll(&mut self, list: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        if list.is_empty() {
            return Err(wasmtime::Error::msg("poll: an empty list"));
        }
        loop {
            let mut ready = Vec::new();
            for (i, p) in list.iter().enumerate() {
                if self.is_ready(p)? {
                    ready.push(i as u32);
                }
            }
            if !ready.is_empty() {
                return Ok(ready);
            }
            core::hint::spin_loop();
        }
    }
}

impl poll::HostPollable for Serving<'_> {
    fn ready(&mut self, p: Resource<Pollable>) -> wasmtime::Result<bool> {
        self.is_ready(&p)
    }

    fn block(&mut self, p: Resource<Pollable>) -> wasmtime::Result<()> {
        self.wait(&p)
    }

    fn drop(&mut self, p: Resource<Pollable>) -> wasmtime::Result<()> {
        self.http.table.delete(p)?;
        Ok(())
    }
}

impl streams::Host for Serving<'_> {}

impl streams::HostInputStream for Serving<'_> {
    fn read(
        &mut self,
        s: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, StreamError>> {
        Serving::read(self, &s, len)
    }

    fn blocking_read(
        &mut self,
        s: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, StreamError>> {
        Serving::read(self, &s, len)
    }

    fn skip(
        &mut self,
        s: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        Ok(Serving::read(self, &s, len)?.map(|b| b.len() as u64))
    }

    fn blocking_skip(
        &mut self,
        s: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        Ok(Serving::read(self, &s, len)?.map(|b| b.len() as u64))
    }

    fn subscribe(&mut self, s: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        self.http.table.get(&s)?;
        self.ready()
    }

    fn drop(&mut self, s: Resource<InputStream>) -> wasmtime::Result<()> {
        self.http.table.delete(s)?;
        Ok(())
    }
}

impl streams::HostOutputStream for Serving<'_> {
    fn check_write(
        &mut self,
        s: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        self.room(&s)
    }

    fn write(
        &mut self,
        s: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        Serving::write(self, &s, &contents)
    }

    fn blocking_write_and_flush(
        &mut self,
        s: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        Serving::write(self, &s, &contents)
    }

    fn flush(&mut self, s: Resource<OutputStream>) -> wasmtime::Result<Result<(), StreamError>> {
        Ok(self.room(&s)?.map(drop))
    }

    fn blocking_flush(
        &mut self,
        s: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        Ok(self.room(&s)?.map(drop))
    }

    fn subscribe(&mut self, s: Resource<OutputStream>) -> wasmtime::Result<Resource<Pollable>> {
        self.http.table.get(&s)?;
        self.ready()
    }

    fn write_zeroes(
        &mut self,
        s: Resource<OutputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        let zeroes = alloc::vec![0u8; len.min(MAX_CHUNK) as usize];
        Serving::write(self, &s, &zeroes)
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        s: Resource<OutputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        streams::HostOutputStream::write_zeroes(self, s, len)
    }

    fn splice(
        &mut self,
        s: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        let room = match self.room(&s)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let bytes = match Serving::read(self, &src, len.min(room)) {
            Ok(Ok(b)) => b,
            other => return other.map(|r| r.map(|b| b.len() as u64)),
        };
        Ok(Serving::write(self, &s, &bytes)?.map(|()| bytes.len() as u64))
    }

    fn blocking_splice(
        &mut self,
        s: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        streams::HostOutputStream::splice(self, s, src, len)
    }

    fn drop(&mut self, s: Resource<OutputStream>) -> wasmtime::Result<()> {
        self.http.table.delete(s)?;
        Ok(())
    }
}

impl monotonic_clock::Host for Serving<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(Serving::now(self))
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(self.wasi.clock.resolution_ns(ClockId::Monotonic))
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<Pollable>> {
        self.pollable(Some(when))
    }

    fn subscribe_duration(&mut self, after: u64) -> wasmtime::Result<Resource<Pollable>> {
        let at = Serving::now(self).saturating_add(after);
        self.pollable(Some(at))
    }
}

impl wall_clock::Host for Serving<'_> {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let ns = self.wasi.clock.now_ns(ClockId::Realtime);
        Ok(wall_clock::Datetime {
            seconds: ns / 1_000_000_000,
            nanoseconds: (ns % 1_000_000_000) as u32,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let ns = self.wasi.clock.resolution_ns(ClockId::Realtime);
        Ok(wall_clock::Datetime {
            seconds: ns / 1_000_000_000,
            nanoseconds: (ns % 1_000_000_000) as u32,
        })
    }
}

impl random::Host for Serving<'_> {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_CHUNK {
            return Err(wasmtime::Error::msg(
                "get-random-bytes: more than 16 MiB asked",
            ));
        }
        let mut out = alloc::vec![0u8; len as usize];
        self.wasi.rng.fill_bytes(&mut out);
        Ok(out)
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.wasi.rng.next_u64())
    }
}

impl stdin::Host for Serving<'_> {
    fn get_stdin(&mut self) -> wasmtime::Result<Resource<InputStream>> {
        Ok(self.http.table.push(InputStream {
            data: Vec::new(),
            pos: 0,
        })?)
    }
}

impl stdout::Host for Serving<'_> {
    fn get_stdout(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        Ok(self.http.table.push(OutputStream::Log)?)
    }
}

impl stderr::Host for Serving<'_> {
    fn get_stderr(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        Ok(self.http.table.push(OutputStream::Log)?)
    }
}

impl environment::Host for Serving<'_> {
    fn get_environment(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .wasi
            .env
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    fn get_arguments(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.wasi.args.clone())
    }

    fn initial_cwd(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
}
