//! Snapshots on disk, so a restarted node resumes functions without booting them again.
//!
//! ```text
//!  0        8          12         16                      data offset (page-aligned)
//!  ┌────────┬──────────┬──────────┬───────────────────────┬──────────────────────────────┐
//!  │FLINTSNP│ version  │ hdr len  │ header: layout, FPU,  │ the snapshot's own pages,    │
//!  │        │   u32    │   u32    │ cookie, page runs     │ packed in run order, no holes│
//!  └────────┴──────────┴──────────┴───────────────────────┴──────────────────────────────┘
//! ```
//!
//! Image runs name pages of the guest runtime image, which the reader has: they are checked to
//! be exactly the image's own runs, never read from the file.
//!
//! The file is node-local derived data: it is written to a temporary name and renamed into
//! place, and a file whose guest image, layout or format does not match is refused (the caller
//! then boots afresh), never trusted. It holds no privileged vCPU state: the special registers
//! (control registers, segments, descriptor tables) are rebuilt from code for every sandbox
//! (`cpu::sregs`), so a tampered file cannot change how the guest's CPU is set up. Callers that
//! keep files on disk also authenticate the bytes ([`Snapshot::to_file_bytes`] and
//! [`Snapshot::from_file_bytes`] are what they seal and open; the server uses an HMAC).

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use flint_abi::layout::{Layout, MemoryConfig, PAGE_SIZE};
use kvm_bindings::kvm_fpu;

use crate::image::GuestImage;
use crate::pages::PageStore;
use crate::snapshot::{CpuState, PageRun, Snapshot, SnapshotError, Source};

const MAGIC: &[u8; 8] = b"FLINTSNP";
const FORMAT: u32 = 3;
/// Longest header read back (about 2,500 runs).
const MAX_HEADER_BYTES: usize = 64 << 10;

const fn data_offset(header_len: usize) -> u64 {
    (16 + header_len as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE
}

fn invalid(what: &str) -> SnapshotError {
    SnapshotError::File(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        what.to_string(),
    ))
}

/// Little-endian field writer.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
}

/// Little-endian field reader over untrusted bytes.
struct In<'a>(&'a [u8]);

impl In<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| invalid("snapshot header is truncated"))?;
        self.0 = rest;
        Ok(*head)
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        self.take().map(u64::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        self.take().map(u32::from_le_bytes)
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        self.take().map(u16::from_le_bytes)
    }
}

fn write_header(s: &Snapshot, image_id: u64) -> Vec<u8> {
    let mut o = Out::default();
    o.u64(image_id);
    let c = &s.layout.config;
    for v in [
        c.input_size_bytes,
        c.output_size_bytes,
        c.module_size_bytes,
        c.heap_size_bytes,
        c.linear_memory_size_bytes,
        c.stack_size_bytes,
    ] {
        o.u64(v);
    }
    o.bytes(&s.cpu.cookie);
    o.u64(s.stack_low_water_gva);
    o.u64(s.own_bytes());
    o.u32(s.runs().len() as u32);
    for r in s.runs() {
        o.u64(r.gpa);
        o.u64(r.len);
        o.u64(r.offset);
        o.bytes(&[matches!(r.source, Source::Own) as u8]);
    }
    let f = &s.cpu.fpu;
    for reg in f.fpr.iter().chain(f.xmm.iter()) {
        o.bytes(reg);
    }
    o.u16(f.fcw);
    o.u16(f.fsw);
    o.bytes(&[f.ftwx]);
    o.u16(f.last_opcode);
    o.u64(f.last_ip);
    o.u64(f.last_dp);
    o.u32(f.mxcsr);
    o.0
}

impl Snapshot {
    /// The snapshot as a file's bytes: fixed prefix, header, then the own pages at the
    /// page-aligned data offset.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let header = write_header(self, self.image.id());
        let data = data_offset(header.len()) as usize;
        let own = self.own_store().bytes();
        let mut out = Vec::with_capacity(data + own.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.resize(data, 0);
        out.extend_from_slice(own);
        out
    }

    /// Writes the snapshot to `path` (atomically: a temporary file renamed into place).
    pub fn write_to(&self, path: &Path) -> Result<(), SnapshotError> {
        write_atomically(path, &self.to_file_bytes()).map_err(SnapshotError::File)
    }

    /// Reads a snapshot written by [`Snapshot::write_to`] for `image`.
    pub fn read_from(path: &Path, image: Arc<GuestImage>) -> Result<Self, SnapshotError> {
        let bytes = std::fs::read(path).map_err(SnapshotError::File)?;
        Self::from_file_bytes(&bytes, image)
    }

    /// Parses [`Snapshot::to_file_bytes`] for `image`, checking everything.
    pub fn from_file_bytes(bytes: &[u8], image: Arc<GuestImage>) -> Result<Self, SnapshotError> {
        let (fixed, rest) = bytes
            .split_first_chunk::<16>()
            .ok_or_else(|| invalid("snapshot file is truncated"))?;
        let (magic, version) = fixed.split_at(8);
        if magic != MAGIC || version[..4] != FORMAT.to_le_bytes() {
            return Err(invalid("not a Flint snapshot of this format"));
        }
        let header_len = u32::from_le_bytes([version[4], version[5], version[6], version[7]]);
        let header_len = header_len as usize;
        if header_len > MAX_HEADER_BYTES || header_len > rest.len() {
            return Err(invalid("snapshot header too long"));
        }
        let mut h = In(&rest[..header_len]);
        if h.u64()? != image.id() {
            return Err(invalid("snapshot of another guest runtime build"));
        }
        let config = MemoryConfig {
            input_size_bytes: h.u64()?,
            output_size_bytes: h.u64()?,
            module_size_bytes: h.u64()?,
            heap_size_bytes: h.u64()?,
            linear_memory_size_bytes: h.u64()?,
            stack_size_bytes: h.u64()?,
        };
        let layout = Layout::new(config).map_err(|_| invalid("snapshot layout is invalid"))?;
        let cookie = h.take::<16>()?;
        let stack_low_water_gva = h.u64()?;
        let own_bytes = h.u64()?;
        let runs = read_runs(&mut h)?;
        let fpu = read_fpu(&mut h)?;
        if !h.0.is_empty() {
            return Err(invalid("snapshot header has trailing bytes"));
        }
        let data = data_offset(header_len);
        let padding = bytes.get(16 + header_len..data as usize).unwrap_or(&[]);
        if padding.iter().any(|&b| b != 0) {
            return Err(invalid("snapshot header padding is not zero"));
        }
        if Some(bytes.len() as u64) != data.checked_add(own_bytes)
            || !own_bytes.is_multiple_of(PAGE_SIZE)
        {
            return Err(invalid("snapshot data has the wrong size"));
        }
        let own = PageStore::build(own_bytes, |memfd| {
            memfd.write_all_at(&bytes[data as usize..], 0)
        })
        .map_err(SnapshotError::File)?;
        let cpu = CpuState { fpu, cookie };
        Snapshot::assemble((layout, image, cpu), own, runs, stack_low_water_gva).map_err(invalid)
    }
}

fn read_runs(h: &mut In<'_>) -> Result<Vec<PageRun>, SnapshotError> {
    let run_count = h.u32()? as usize;
    if run_count > MAX_HEADER_BYTES / 25 {
        return Err(invalid("snapshot has too many runs"));
    }
    let mut runs = Vec::with_capacity(run_count);
    for _ in 0..run_count {
        let (gpa, len, offset) = (h.u64()?, h.u64()?, h.u64()?);
        let source = match h.take::<1>()? {
            [0] => Source::Image,
            [1] => Source::Own,
            _ => return Err(invalid("snapshot run has an unknown source")),
        };
        runs.push(PageRun {
            gpa,
            len,
            source,
            offset,
        });
    }
    Ok(runs)
}

fn read_fpu(h: &mut In<'_>) -> Result<kvm_fpu, SnapshotError> {
    let mut fpu = kvm_fpu::default();
    for reg in fpu.fpr.iter_mut().chain(fpu.xmm.iter_mut()) {
        *reg = h.take::<16>()?;
    }
    fpu.fcw = h.u16()?;
    fpu.fsw = h.u16()?;
    fpu.ftwx = h.take::<1>()?[0];
    fpu.last_opcode = h.u16()?;
    fpu.last_ip = h.u64()?;
    fpu.last_dp = h.u64()?;
    fpu.mxcsr = h.u32()?;
    Ok(fpu)
}

/// Writes `bytes` to `path` through a temporary file renamed into place, synced first.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
