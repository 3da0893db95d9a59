//! The rest of what toolchains' runtimes import next to `wasi:http/proxy`: `wasi:cli/exit`,
//! the terminal interfaces (no terminal), `wasi:random/insecure*`, and `wasi:filesystem` with
//! no preopened directories, so that no descriptor ever exists and each descriptor method is
//! unreachable (a forged handle traps).

use alloc::string::String;
use alloc::vec::Vec;

use rand_chacha::rand_core::RngCore;
use wasmtime::component::Resource;

use super::Serving;
use super::wasi::cli::{
    exit, terminal_input, terminal_output, terminal_stderr, terminal_stdin, terminal_stdout,
};
use super::wasi::filesystem::preopens;
use super::wasi::filesystem::types::{
    self, Advice, Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry,
    DirectoryEntryStream, ErrorCode, MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};
use super::wasi::random::{insecure, insecure_seed};
use super::{InputStream, IoError, OutputStream};
use crate::Exit;

impl exit::Host for Serving<'_> {
    fn exit(&mut self, status: Result<(), ()>) -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(if status.is_ok() {
            0
        } else {
            1
        })))
    }

    fn exit_with_code(&mut self, code: u8) -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(i32::from(code))))
    }
}

impl terminal_input::Host for Serving<'_> {}
impl terminal_output::Host for Serving<'_> {}

impl terminal_input::HostTerminalInput for Serving<'_> {
    fn drop(&mut self, t: Resource<terminal_input::TerminalInput>) -> wasmtime::Result<()> {
        Err(no_terminal(t.rep()))
    }
}

impl terminal_output::HostTerminalOutput for Serving<'_> {
    fn drop(&mut self, t: Resource<terminal_output::TerminalOutput>) -> wasmtime::Result<()> {
        Err(no_terminal(t.rep()))
    }
}

fn no_terminal(rep: u32) -> wasmtime::Error {
    wasmtime::Error::msg(alloc::format!("terminal {rep}: there are no terminals"))
}

impl terminal_stdin::Host for Serving<'_> {
    fn get_terminal_stdin(
        &mut self,
    ) -> wasmtime::Result<Option<Resource<terminal_input::TerminalInput>>> {
        Ok(None)
    }
}

impl terminal_stdout::Host for Serving<'_> {
    fn get_terminal_stdout(
        &mut self,
    ) -> wasmtime::Result<Option<Resource<terminal_output::TerminalOutput>>> {
        Ok(None)
    }
}

impl terminal_stderr::Host for Serving<'_> {
    fn get_terminal_stderr(
        &mut self,
    ) -> wasmtime::Result<Option<Resource<terminal_output::TerminalOutput>>> {
        Ok(None)
    }
}

impl insecure::Host for Serving<'_> {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        super::wasi::random::random::Host::get_random_bytes(self, len)
    }

    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.wasi.rng.next_u64())
    }
}

impl insecure_seed::Host for Serving<'_> {
    fn insecure_seed(&mut self) -> wasmtime::Result<(u64, u64)> {
        Ok((self.wasi.rng.next_u64(), self.wasi.rng.next_u64()))
    }
}

impl preopens::Host for Serving<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        Ok(Vec::new())
    }
}

/// What every descriptor method answers: no descriptor can exist.
fn none<T>(rep: u32) -> wasmtime::Result<T> {
    Err(wasmtime::Error::msg(alloc::format!(
        "descriptor {rep}: there are no preopened directories"
    )))
}

/// A result of a descriptor method.
type Fs<T> = wasmtime::Result<Result<T, ErrorCode>>;

impl types::Host for Serving<'_> {
    fn filesystem_error_code(
        &mut self,
        e: Resource<IoError>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        self.http.table.get(&e)?;
        Ok(None)
    }
}

impl types::HostDirectoryEntryStream for Serving<'_> {
    fn read_directory_entry(
        &mut self,
        s: Resource<DirectoryEntryStream>,
    ) -> Fs<Option<DirectoryEntry>> {
        none(s.rep())
    }

    fn drop(&mut self, s: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        none(s.rep())
    }
}

impl types::HostDescriptor for Serving<'_> {
    fn read_via_stream(&mut self, d: Resource<Descriptor>, _: u64) -> Fs<Resource<InputStream>> {
        none(d.rep())
    }

    fn write_via_stream(&mut self, d: Resource<Descriptor>, _: u64) -> Fs<Resource<OutputStream>> {
        none(d.rep())
    }

    fn append_via_stream(&mut self, d: Resource<Descriptor>) -> Fs<Resource<OutputStream>> {
        none(d.rep())
    }

    fn advise(&mut self, d: Resource<Descriptor>, _: u64, _: u64, _: Advice) -> Fs<()> {
        none(d.rep())
    }

    fn sync_data(&mut self, d: Resource<Descriptor>) -> Fs<()> {
        none(d.rep())
    }

    fn get_flags(&mut self, d: Resource<Descriptor>) -> Fs<DescriptorFlags> {
        none(d.rep())
    }

    fn get_type(&mut self, d: Resource<Descriptor>) -> Fs<DescriptorType> {
        none(d.rep())
    }

    fn set_size(&mut self, d: Resource<Descriptor>, _: u64) -> Fs<()> {
        none(d.rep())
    }

    fn set_times(&mut self, d: Resource<Descriptor>, _: NewTimestamp, _: NewTimestamp) -> Fs<()> {
        none(d.rep())
    }

    fn read(&mut self, d: Resource<Descriptor>, _: u64, _: u64) -> Fs<(Vec<u8>, bool)> {
        none(d.rep())
    }

    fn write(&mut self, d: Resource<Descriptor>, _: Vec<u8>, _: u64) -> Fs<u64> {
        none(d.rep())
    }

    fn read_directory(&mut self, d: Resource<Descriptor>) -> Fs<Resource<DirectoryEntryStream>> {
        none(d.rep())
    }

    fn sync(&mut self, d: Resource<Descriptor>) -> Fs<()> {
        none(d.rep())
    }

    fn create_directory_at(&mut self, d: Resource<Descriptor>, _: String) -> Fs<()> {
        none(d.rep())
    }

    fn stat(&mut self, d: Resource<Descriptor>) -> Fs<DescriptorStat> {
        none(d.rep())
    }

    fn stat_at(&mut self, d: Resource<Descriptor>, _: PathFlags, _: String) -> Fs<DescriptorStat> {
        none(d.rep())
    }

    fn set_times_at(
        &mut self,
        d: Resource<Descriptor>,
        _: PathFlags,
        _: String,
        _: NewTimestamp,
        _: NewTimestamp,
    ) -> Fs<()> {
        none(d.rep())
    }

    fn link_at(
        &mut self,
        d: Resource<Descriptor>,
        _: PathFlags,
        _: String,
        _: Resource<Descriptor>,
        _: String,
    ) -> Fs<()> {
        none(d.rep())
    }

    fn open_at(
        &mut self,
        d: Resource<Descriptor>,
        _: PathFlags,
        _: String,
        _: OpenFlags,
        _: DescriptorFlags,
    ) -> Fs<Resource<Descriptor>> {
        none(d.rep())
    }

    fn readlink_at(&mut self, d: Resource<Descriptor>, _: String) -> Fs<String> {
        none(d.rep())
    }

    fn remove_directory_at(&mut self, d: Resource<Descriptor>, _: String) -> Fs<()> {
        none(d.rep())
    }

    fn rename_at(
        &mut self,
        d: Resource<Descriptor>,
        _: String,
        _: Resource<Descriptor>,
        _: String,
    ) -> Fs<()> {
        none(d.rep())
    }

    fn symlink_at(&mut self, d: Resource<Descriptor>, _: String, _: String) -> Fs<()> {
        none(d.rep())
    }

    fn unlink_file_at(&mut self, d: Resource<Descriptor>, _: String) -> Fs<()> {
        none(d.rep())
    }

    fn is_same_object(
        &mut self,
        d: Resource<Descriptor>,
        _: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        none(d.rep())
    }

    fn metadata_hash(&mut self, d: Resource<Descriptor>) -> Fs<MetadataHashValue> {
        none(d.rep())
    }

    fn metadata_hash_at(
        &mut self,
        d: Resource<Descriptor>,
        _: PathFlags,
        _: String,
    ) -> Fs<MetadataHashValue> {
        none(d.rep())
    }

    fn drop(&mut self, d: Resource<Descriptor>) -> wasmtime::Result<()> {
        none(d.rep())
    }
}
