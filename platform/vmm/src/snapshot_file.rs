//! Snapshots on disk, so a restarted node resumes functions without booting them again.
//!
//! ```text
//!  0        8          12         16                      data offset (page-aligned)
//!  ┌────────┬──────────┬──────────┬───────────────────────┬──────────────────────────────┐
//!  │FLINTSNP│ version  │ hdr len  │ header: layout, vCPU, │ the snapshot's own pages,    │
//!  │        │   u32    │   u32    │ cookie, page runs     │ packed in run order, no holes│
//!  └────────┴──────────┴──────────┴───────────────────────┴──────────────────────────────┘
//! ```
//!
//! Image runs name pages of the guest runtime image, which the reader has: they are checked to
//! be exactly the image's own runs, never read from the file.
//!
//! The file is node-local derived data: it is written to a temporary name and renamed into
//! place, and a file whose guest image, layout or format does not match is refused (the caller
//! then boots afresh), never trusted.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use flint_abi::layout::{Layout, MemoryConfig, PAGE_SIZE};
use kvm_bindings::{kvm_dtable, kvm_fpu, kvm_segment, kvm_sregs};

use crate::image::GuestImage;
use crate::pages::PageStore;
use crate::snapshot::{CpuState, PageRun, Snapshot, SnapshotError, Source};

const MAGIC: &[u8; 8] = b"FLINTSNP";
const FORMAT: u32 = 2;
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
    fn segment(&mut self, s: &kvm_segment) {
        self.u64(s.base);
        self.u32(s.limit);
        self.u16(s.selector);
        self.bytes(&[
            s.type_, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable,
        ]);
    }
    fn dtable(&mut self, d: &kvm_dtable) {
        self.u64(d.base);
        self.u16(d.limit);
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
    fn segment(&mut self) -> Result<kvm_segment, SnapshotError> {
        let (base, limit, selector) = (self.u64()?, self.u32()?, self.u16()?);
        let [type_, present, dpl, db, s, l, g, avl, unusable] = self.take::<9>()?;
        Ok(kvm_segment {
            base,
            limit,
            selector,
            type_,
            present,
            dpl,
            db,
            s,
            l,
            g,
            avl,
            unusable,
            padding: 0,
        })
    }
    fn dtable(&mut self) -> Result<kvm_dtable, SnapshotError> {
        Ok(kvm_dtable {
            base: self.u64()?,
            limit: self.u16()?,
            padding: [0; 3],
        })
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
    let r = &s.cpu.sregs;
    for seg in [&r.cs, &r.ds, &r.es, &r.fs, &r.gs, &r.ss, &r.tr, &r.ldt] {
        o.segment(seg);
    }
    o.dtable(&r.gdt);
    o.dtable(&r.idt);
    for v in [r.cr0, r.cr2, r.cr3, r.cr4, r.cr8, r.efer, r.apic_base] {
        o.u64(v);
    }
    for v in r.interrupt_bitmap {
        o.u64(v);
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
    /// Writes the snapshot to `path` (atomically: a temporary file renamed into place).
    pub fn write_to(&self, path: &Path) -> Result<(), SnapshotError> {
        let header = write_header(self, self.image.id());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&FORMAT.to_le_bytes())?;
            f.write_all(&(header.len() as u32).to_le_bytes())?;
            f.write_all(&header)?;
            let data = data_offset(header.len());
            f.write_all_at(self.own_store().bytes(), data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(SnapshotError::File)
    }

    /// Reads a snapshot written by [`Snapshot::write_to`] for `image`.
    pub fn read_from(path: &Path, image: Arc<GuestImage>) -> Result<Self, SnapshotError> {
        let mut f = std::fs::File::open(path).map_err(SnapshotError::File)?;
        let mut fixed = [0u8; 16];
        f.read_exact(&mut fixed).map_err(SnapshotError::File)?;
        let (magic, rest) = fixed.split_at(8);
        if magic != MAGIC || rest[..4] != FORMAT.to_le_bytes() {
            return Err(invalid("not a Flint snapshot of this format"));
        }
        let header_len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if header_len > MAX_HEADER_BYTES {
            return Err(invalid("snapshot header too long"));
        }
        let mut header = vec![0u8; header_len];
        f.read_exact(&mut header).map_err(SnapshotError::File)?;
        let mut h = In(&header);
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
        let mut sregs = kvm_sregs::default();
        for seg in [
            &mut sregs.cs,
            &mut sregs.ds,
            &mut sregs.es,
            &mut sregs.fs,
            &mut sregs.gs,
            &mut sregs.ss,
            &mut sregs.tr,
            &mut sregs.ldt,
        ] {
            *seg = h.segment()?;
        }
        sregs.gdt = h.dtable()?;
        sregs.idt = h.dtable()?;
        for v in [
            &mut sregs.cr0,
            &mut sregs.cr2,
            &mut sregs.cr3,
            &mut sregs.cr4,
            &mut sregs.cr8,
            &mut sregs.efer,
            &mut sregs.apic_base,
        ] {
            *v = h.u64()?;
        }
        for v in &mut sregs.interrupt_bitmap {
            *v = h.u64()?;
        }
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
        let data = data_offset(header_len);
        let size = f.metadata().map_err(SnapshotError::File)?.len();
        if Some(size) != data.checked_add(own_bytes) || !own_bytes.is_multiple_of(PAGE_SIZE) {
            return Err(invalid("snapshot data has the wrong size"));
        }
        let own = PageStore::build(own_bytes, |memfd| {
            let mut buf = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < own_bytes {
                let n = buf.len().min((own_bytes - at) as usize);
                f.read_exact_at(&mut buf[..n], data + at)?;
                memfd.write_all_at(&buf[..n], at)?;
                at += n as u64;
            }
            Ok(())
        })
        .map_err(SnapshotError::File)?;
        let cpu = CpuState { sregs, fpu, cookie };
        Snapshot::assemble((layout, image, cpu), own, runs, stack_low_water_gva).map_err(invalid)
    }
}
