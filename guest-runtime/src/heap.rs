//! The guest's global allocator: a first-fit heap over the heap region, which also records the
//! highest address it has ever handed out. The host uses that high-water mark to restore only
//! the part of the heap a call could have written (see `StatusBlock`).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{NonNull, null_mut};
use core::sync::atomic::{AtomicU64, Ordering};

use linked_list_allocator::Heap;

/// The allocator. One instance, [`HEAP`].
pub struct GuestHeap {
    heap: UnsafeCell<Heap>,
    high_water: AtomicU64,
}

// SAFETY: the guest has one vCPU and takes no interrupts, so no two allocator calls ever run at
// the same time; `heap` is only touched inside those calls.
unsafe impl Sync for GuestHeap {}

#[global_allocator]
pub static HEAP: GuestHeap = GuestHeap {
    heap: UnsafeCell::new(Heap::empty()),
    high_water: AtomicU64::new(0),
};

impl GuestHeap {
    /// Hands the heap region to the allocator.
    ///
    /// # Safety
    /// Called once, before any allocation; `base..base+size` is RAM the guest may write and
    /// nothing else uses.
    pub unsafe fn init(&self, base: u64, size: u64) {
        // SAFETY: the caller guarantees the region; no allocation is in progress (see `Sync`).
        unsafe { (*self.heap.get()).init(base as *mut u8, size as usize) };
        self.high_water.store(base, Ordering::Relaxed);
    }

    /// One past the highest byte ever allocated.
    pub fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }
}

// SAFETY: allocations come from `Heap`, which hands out disjoint blocks of the region given to
// `init`, each at least as large and aligned as requested.
unsafe impl GlobalAlloc for GuestHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: no other allocator call is running (see `Sync`).
        let heap = unsafe { &mut *self.heap.get() };
        match heap.allocate_first_fit(layout) {
            Ok(block) => {
                let end = block.as_ptr() as u64 + layout.size() as u64;
                self.high_water.fetch_max(end, Ordering::Relaxed);
                block.as_ptr()
            }
            Err(()) => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: no other allocator call is running; `ptr` came from `alloc` with `layout`
        // (the `GlobalAlloc` contract), so it is non-null.
        unsafe {
            (*self.heap.get()).deallocate(NonNull::new_unchecked(ptr), layout);
        }
    }
}
