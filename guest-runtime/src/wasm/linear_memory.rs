//! WebAssembly linear memory in its own region of the micro-VM.
//!
//! wasmtime's default linear memory lives on the heap and is reallocated (old and new copies at
//! once) every time it grows. Here the first memory of the module is the layout's
//! linear-memory region instead (the PEB gives it): its capacity is the function's memory
//! limit, growth only moves the accessible length, and capacity the module never touches costs
//! the host nothing. Any further memory (a module with several) falls back to the heap.
//!
//! Zeroed on growth without writing: the region is all zeros beyond the memory's size when the
//! host snapshots the guest, and the host's restore brings every written page back to the
//! snapshot before each call, so bytes past the current size are zero whenever it grows.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

use crate::host;

/// Whether the region has been handed out (to the module's first memory).
static REGION_TAKEN: AtomicBool = AtomicBool::new(false);
/// One past the end of the region memory's current size (for the status block).
static HIGH_WATER: AtomicU64 = AtomicU64::new(0);

/// One past the last byte of the region-backed memory's current size (0 if none).
pub fn high_water() -> u64 {
    HIGH_WATER.load(Ordering::Relaxed)
}

/// Hands out the region, then heap memory.
pub struct RegionCreator;

// SAFETY: the region memory is page-aligned guest RAM, read-write, used by nothing else (the PEB
// gives it to this runtime alone, and `REGION_TAKEN` hands it out once), zero beyond its size
// (see the module docs), and never moves; the heap fallback is a zeroed `Vec`. The engine is
// configured with no guard region, so no memory needs one.
unsafe impl MemoryCreator for RegionCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        _reserved_size_in_bytes: Option<usize>,
        _guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let peb = host::peb();
        let capacity = peb.linear_memory_size_bytes as usize;
        let capacity = maximum.map_or(capacity, |m| m.min(capacity));
        if capacity > 0 && minimum <= capacity && !REGION_TAKEN.swap(true, Ordering::Relaxed) {
            let memory = RegionMemory {
                base: peb.gva_linear_memory as usize,
                size: minimum,
                capacity,
            };
            memory.publish();
            return Ok(Box::new(memory));
        }
        Ok(Box::new(HeapMemory {
            bytes: alloc::vec![0; minimum],
        }))
    }
}

/// Linear memory in the region.
struct RegionMemory {
    base: usize,
    size: usize,
    capacity: usize,
}

impl RegionMemory {
    fn publish(&self) {
        HIGH_WATER.store((self.base + self.size) as u64, Ordering::Relaxed);
    }
}

// SAFETY: `base..base+capacity` is the linear-memory region (see `RegionCreator`); growth stays
// within it and never moves the base.
unsafe impl LinearMemory for RegionMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            return Err(wasmtime::Error::msg("linear memory region is full"));
        }
        self.size = new_size;
        self.publish();
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base as *mut u8
    }
}

/// A further memory, on the heap (reallocated on growth, like wasmtime's own).
struct HeapMemory {
    bytes: Vec<u8>,
}

// SAFETY: the `Vec` owns its allocation; `as_ptr` is re-read by wasmtime after every growth.
unsafe impl LinearMemory for HeapMemory {
    fn byte_size(&self) -> usize {
        self.bytes.len()
    }

    fn byte_capacity(&self) -> usize {
        self.bytes.capacity()
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let more = new_size.saturating_sub(self.bytes.len());
        self.bytes
            .try_reserve_exact(more)
            .map_err(|_| wasmtime::Error::msg("heap exhausted"))?;
        self.bytes.resize(new_size, 0);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.bytes.as_ptr().cast_mut()
    }
}
