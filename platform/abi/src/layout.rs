//! The guest memory map.
//!
//! Guest-physical and guest-virtual addresses are the same (identity paging), so every address
//! below is both a `gpa_` and a `gva_`. The low 8 MiB are fixed; the regions above them are sized
//! per sandbox from a [`MemoryConfig`] and placed by [`Layout::new`].
//!
//! ```text
//!  gva 0x0000_0000  ┌──────────────────────────────┐ not present (null page)
//!      0x0000_1000  │ GDT                          │ read-only, supervisor
//!      0x0000_2000  │ IDT                          │ read-only, supervisor
//!      0x0000_3000  │ TSS                          │ read-only, supervisor
//!      0x0000_4000  │ PEB (host-written)           │ read-only, NX
//!      0x0000_5000  │ status block (guest-written) │ read-write, NX
//!      0x0000_6000  │ IST guard                    │ not present
//!      0x0000_7000  │ IST exception stack (8 KiB)  │ read-write, NX, supervisor
//!      0x0000_9000  │                              │ not present
//!      0x0001_0000  │ host-function table (64 KiB) │ read-only, NX
//!      0x0002_0000  │                              │ not present
//!      0x0020_0000  │ guest runtime image          │ per ELF segment: RX / R+NX / RW+NX
//!      0x0080_0000  ├──────────────────────────────┤ GVA_DYNAMIC: sized by MemoryConfig
//!                   │ input buffer                 │ read-write, NX
//!                   │ output buffer                │ read-write, NX
//!                   │ module blob                  │ read + execute (written by the host only)
//!                   │ heap                         │ read-write, NX
//!                   │ linear memory                │ read-write, NX (WebAssembly memory 0)
//!                   │ stack guard page             │ not present
//!                   │ stack (cookie at its limit)  │ read-write, NX
//!                   │ page tables                  │ not mapped in the guest
//!      mem_size     ├──────────────────────────────┤ (rounded up to 2 MiB)
//!                   │                              │ nothing
//!  gpa 0x1_0000_0000│ doorbell (2 MiB, no memslot) │ MMIO: every write exits to the host
//!                   └──────────────────────────────┘
//! ```
//!
//! The exception entry stubs are the first bytes of the image's text segment
//! ([`GVA_EXCEPTION_STUBS`]); the host builds the IDT from that address.

use crate::doorbell::GPA_DOORBELL;

/// Size of a guest page (4 KiB leaves only).
pub const PAGE_SIZE: u64 = 0x1000;
/// Size of a large page; guest memory is a whole number of these.
pub const LARGE_PAGE_SIZE: u64 = 2 << 20;

/// Global descriptor table.
pub const GVA_GDT: u64 = 0x1000;
/// Interrupt descriptor table.
pub const GVA_IDT: u64 = 0x2000;
/// Task state segment (holds the IST1 stack pointer).
pub const GVA_TSS: u64 = 0x3000;
/// The process environment block: the [`crate::peb::Peb`] the host writes.
pub const GVA_PEB: u64 = 0x4000;
/// The [`crate::peb::StatusBlock`] the guest writes after each call.
pub const GVA_STATUS: u64 = 0x5000;
/// Not-present page below the exception stack.
pub const GVA_IST_GUARD: u64 = 0x6000;
/// Exception (IST1) stack, used by the CPL0 stubs.
pub const GVA_IST_STACK: u64 = 0x7000;
/// Size of the exception stack.
pub const IST_STACK_SIZE_BYTES: u64 = 0x2000;
/// Top (highest address, exclusive) of the exception stack.
pub const GVA_IST_STACK_TOP: u64 = GVA_IST_STACK + IST_STACK_SIZE_BYTES;
/// The read-only table of host-function definitions (a `HostFunctionDetails` flatbuffer).
pub const GVA_HOST_FUNCTIONS: u64 = 0x1_0000;
/// Size of the host-function table.
pub const HOST_FUNCTIONS_SIZE_BYTES: u64 = 0x1_0000;
/// Lowest address the guest runtime's ELF segments may occupy (its link base).
pub const GVA_IMAGE: u64 = 0x20_0000;
/// End (exclusive) of the window for the guest runtime's ELF segments.
pub const GVA_IMAGE_END: u64 = 0x80_0000;
/// The 32 exception entry stubs, [`EXCEPTION_STUB_STRIDE`] bytes apart, start the text segment.
pub const GVA_EXCEPTION_STUBS: u64 = GVA_IMAGE;
/// Distance between two exception stubs.
pub const EXCEPTION_STUB_STRIDE: u64 = 16;
/// Where the per-sandbox regions start.
pub const GVA_DYNAMIC: u64 = 0x80_0000;
/// Length of the random stack cookie at the stack limit.
pub const STACK_COOKIE_SIZE_BYTES: u64 = 16;
/// Guest RAM ends below the doorbell.
pub const MAX_MEMORY_BYTES: u64 = GPA_DOORBELL;

// The fixed regions do not overlap each other or the image window.
const _: () = assert!(GVA_IST_STACK_TOP <= GVA_HOST_FUNCTIONS);
const _: () = assert!(GVA_HOST_FUNCTIONS + HOST_FUNCTIONS_SIZE_BYTES <= GVA_IMAGE);
const _: () = assert!(GVA_IMAGE_END == GVA_DYNAMIC);

/// Sizes of the per-sandbox regions. Every size is a whole number of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Host-to-guest buffer (function calls, host-call results).
    pub input_size_bytes: u64,
    /// Guest-to-host buffer (results, errors, logs, host calls).
    pub output_size_bytes: u64,
    /// Room for a compiled module, mapped read + execute. May be zero.
    pub module_size_bytes: u64,
    /// Runtime heap (the guest runtime's and wasmtime's own data).
    pub heap_size_bytes: u64,
    /// WebAssembly linear memory: the first memory grows in place up to this size, so growth
    /// never copies and untouched capacity costs nothing. May be zero.
    pub linear_memory_size_bytes: u64,
    /// The guest's one stack.
    pub stack_size_bytes: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            input_size_bytes: 256 << 10,
            output_size_bytes: 256 << 10,
            module_size_bytes: 0,
            heap_size_bytes: 8 << 20,
            linear_memory_size_bytes: 0,
            stack_size_bytes: 256 << 10,
        }
    }
}

/// Why a [`MemoryConfig`] cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A region size is not a whole number of pages.
    #[error("{region} size {size_bytes:#x} is not a multiple of the page size")]
    Unaligned {
        /// The region.
        region: &'static str,
        /// Its requested size.
        size_bytes: u64,
    },
    /// A region that must exist has size zero.
    #[error("{region} must not be empty")]
    Empty {
        /// The region.
        region: &'static str,
    },
    /// The whole does not fit below the doorbell.
    #[error("guest memory of {size_bytes:#x} bytes exceeds the maximum of {MAX_MEMORY_BYTES:#x}")]
    TooLarge {
        /// The size it would need.
        size_bytes: u64,
    },
}

/// How the guest may use a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Not present: any access faults.
    None,
    /// Present, read-only, not executable.
    Read,
    /// Present, writable, not executable.
    ReadWrite,
    /// Present, executable, not writable.
    ReadExecute,
}

/// Which privilege level may use a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// CPL3 code (the guest runtime) and CPL0 alike.
    User,
    /// Only the CPL0 exception stubs (and the CPU itself).
    Supervisor,
}

/// One region of the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Name, for error messages and fault reports.
    pub name: &'static str,
    /// First address.
    pub gva: u64,
    /// Length.
    pub size_bytes: u64,
    /// Page permissions.
    pub access: Access,
    /// Who may use it.
    pub privilege: Privilege,
}

impl Region {
    /// End address (exclusive).
    pub const fn end(&self) -> u64 {
        self.gva + self.size_bytes
    }

    /// Whether `gva` falls inside the region.
    pub const fn contains(&self, gva: u64) -> bool {
        gva >= self.gva && gva < self.end()
    }
}

/// The placed memory map of one sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The sizes it was built from.
    pub config: MemoryConfig,
    /// Input buffer.
    pub gva_input: u64,
    /// Output buffer.
    pub gva_output: u64,
    /// Module blob.
    pub gva_module: u64,
    /// Heap.
    pub gva_heap: u64,
    /// Linear memory.
    pub gva_linear_memory: u64,
    /// Not-present guard page below the stack.
    pub gva_stack_guard: u64,
    /// Lowest stack address; the stack cookie lives here.
    pub gva_stack_limit: u64,
    /// One past the highest stack address; the initial stack pointer.
    pub gva_stack_top: u64,
    /// Page tables (PML4 first); not mapped in the guest.
    pub gpa_page_tables: u64,
    /// Size of the page-table region.
    pub page_tables_size_bytes: u64,
    /// Size of guest RAM (one memory slot from address 0).
    pub mem_size_bytes: u64,
}

const fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Number of page-table pages needed to map `mem_size_bytes` with 4 KiB leaves, plus the
/// doorbell: PML4, PDPT, one PD per GiB of RAM, one PT per 2 MiB, and the doorbell's PD.
pub const fn page_table_pages(mem_size_bytes: u64) -> u64 {
    let pds = mem_size_bytes.div_ceil(1 << 30);
    let pts = mem_size_bytes.div_ceil(LARGE_PAGE_SIZE);
    2 + pds + pts + 1
}

impl Layout {
    /// Places the regions of `config` above [`GVA_DYNAMIC`].
    pub fn new(config: MemoryConfig) -> Result<Self, LayoutError> {
        let sizes = [
            ("input buffer", config.input_size_bytes, true),
            ("output buffer", config.output_size_bytes, true),
            ("module blob", config.module_size_bytes, false),
            ("heap", config.heap_size_bytes, true),
            ("linear memory", config.linear_memory_size_bytes, false),
            ("stack", config.stack_size_bytes, true),
        ];
        for (region, size_bytes, required) in sizes {
            if !size_bytes.is_multiple_of(PAGE_SIZE) {
                return Err(LayoutError::Unaligned { region, size_bytes });
            }
            if required && size_bytes == 0 {
                return Err(LayoutError::Empty { region });
            }
            // Each size below the maximum keeps the sums below from overflowing.
            if size_bytes > MAX_MEMORY_BYTES {
                return Err(LayoutError::TooLarge { size_bytes });
            }
        }
        let too_large = |size_bytes| LayoutError::TooLarge { size_bytes };
        let gva_input = GVA_DYNAMIC;
        let gva_output = gva_input + config.input_size_bytes;
        let gva_module = gva_output + config.output_size_bytes;
        let gva_heap = gva_module + config.module_size_bytes;
        let gva_linear_memory = gva_heap + config.heap_size_bytes;
        let gva_stack_guard = gva_linear_memory + config.linear_memory_size_bytes;
        let gva_stack_limit = gva_stack_guard + PAGE_SIZE;
        let gva_stack_top = gva_stack_limit + config.stack_size_bytes;
        if gva_stack_top > MAX_MEMORY_BYTES {
            return Err(too_large(gva_stack_top));
        }
        let gpa_page_tables = gva_stack_top;
        // The page tables map themselves too; grow until the count is stable.
        let mut pages = page_table_pages(gpa_page_tables);
        loop {
            let end = align_up(gpa_page_tables + pages * PAGE_SIZE, LARGE_PAGE_SIZE);
            let needed = page_table_pages(end);
            if needed <= pages {
                break;
            }
            pages = needed;
        }
        let page_tables_size_bytes = pages * PAGE_SIZE;
        let mem_size_bytes = align_up(gpa_page_tables + page_tables_size_bytes, LARGE_PAGE_SIZE);
        if mem_size_bytes > MAX_MEMORY_BYTES {
            return Err(too_large(mem_size_bytes));
        }
        Ok(Self {
            config,
            gva_input,
            gva_output,
            gva_module,
            gva_heap,
            gva_linear_memory,
            gva_stack_guard,
            gva_stack_limit,
            gva_stack_top,
            gpa_page_tables,
            page_tables_size_bytes,
            mem_size_bytes,
        })
    }

    /// Every region except the guest runtime image (whose permissions come from its ELF
    /// segments), in address order. Pages in no region are not present.
    pub fn regions(&self) -> [Region; 15] {
        use Access::*;
        use Privilege::*;
        let r = |name, gva, size_bytes, access, privilege| Region {
            name,
            gva,
            size_bytes,
            access,
            privilege,
        };
        let c = &self.config;
        [
            r("null page", 0, PAGE_SIZE, None, User),
            r("GDT", GVA_GDT, PAGE_SIZE, Read, Supervisor),
            r("IDT", GVA_IDT, PAGE_SIZE, Read, Supervisor),
            r("TSS", GVA_TSS, PAGE_SIZE, Read, Supervisor),
            r("PEB", GVA_PEB, PAGE_SIZE, Read, User),
            r("status block", GVA_STATUS, PAGE_SIZE, ReadWrite, User),
            r(
                "exception stack",
                GVA_IST_STACK,
                IST_STACK_SIZE_BYTES,
                ReadWrite,
                Supervisor,
            ),
            r(
                "host-function table",
                GVA_HOST_FUNCTIONS,
                HOST_FUNCTIONS_SIZE_BYTES,
                Read,
                User,
            ),
            r(
                "input buffer",
                self.gva_input,
                c.input_size_bytes,
                ReadWrite,
                User,
            ),
            r(
                "output buffer",
                self.gva_output,
                c.output_size_bytes,
                ReadWrite,
                User,
            ),
            r(
                "module blob",
                self.gva_module,
                c.module_size_bytes,
                ReadExecute,
                User,
            ),
            r("heap", self.gva_heap, c.heap_size_bytes, ReadWrite, User),
            r(
                "linear memory",
                self.gva_linear_memory,
                c.linear_memory_size_bytes,
                ReadWrite,
                User,
            ),
            r(
                "stack guard page",
                self.gva_stack_guard,
                PAGE_SIZE,
                None,
                User,
            ),
            r(
                "stack",
                self.gva_stack_limit,
                c.stack_size_bytes,
                ReadWrite,
                User,
            ),
        ]
    }

    /// The region holding `gva`, if any (the image is not a region here).
    pub fn region_of(&self, gva: u64) -> Option<Region> {
        self.regions().into_iter().find(|r| r.contains(gva))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn check(layout: &Layout) {
        let mut regions: Vec<Region> = layout.regions().to_vec();
        regions.push(Region {
            name: "image",
            gva: GVA_IMAGE,
            size_bytes: GVA_IMAGE_END - GVA_IMAGE,
            access: Access::ReadExecute,
            privilege: Privilege::User,
        });
        regions.push(Region {
            name: "page tables",
            gva: layout.gpa_page_tables,
            size_bytes: layout.page_tables_size_bytes,
            access: Access::None,
            privilege: Privilege::Supervisor,
        });
        regions.sort_by_key(|r| r.gva);
        for r in &regions {
            assert_eq!(r.gva % PAGE_SIZE, 0, "{} unaligned", r.name);
            assert_eq!(r.size_bytes % PAGE_SIZE, 0, "{} size unaligned", r.name);
            assert!(r.end() <= layout.mem_size_bytes, "{} outside RAM", r.name);
        }
        for w in regions.windows(2) {
            assert!(
                w[0].end() <= w[1].gva,
                "{} overlaps {}",
                w[0].name,
                w[1].name
            );
        }
        assert_eq!(layout.mem_size_bytes % LARGE_PAGE_SIZE, 0);
        assert!(layout.mem_size_bytes <= GPA_DOORBELL);
        let pages = layout.page_tables_size_bytes / PAGE_SIZE;
        assert!(pages >= page_table_pages(layout.mem_size_bytes));
    }

    #[test]
    fn default_layout_is_aligned_and_disjoint() {
        check(&Layout::new(MemoryConfig::default()).unwrap());
    }

    #[test]
    fn large_layouts_fit_their_page_tables() {
        for heap_mib in [1u64, 63, 64, 511, 1024, 3000] {
            let config = MemoryConfig {
                heap_size_bytes: heap_mib << 20,
                linear_memory_size_bytes: heap_mib.min(512) << 20,
                module_size_bytes: 4 << 20,
                ..MemoryConfig::default()
            };
            check(&Layout::new(config).unwrap());
        }
    }

    #[test]
    fn rejects_bad_configs() {
        let base = MemoryConfig::default();
        let odd = MemoryConfig {
            heap_size_bytes: 4097,
            ..base
        };
        assert!(matches!(
            Layout::new(odd),
            Err(LayoutError::Unaligned { region: "heap", .. })
        ));
        let empty = MemoryConfig {
            stack_size_bytes: 0,
            ..base
        };
        assert_eq!(
            Layout::new(empty),
            Err(LayoutError::Empty { region: "stack" })
        );
        let huge = MemoryConfig {
            heap_size_bytes: 4 << 30,
            ..base
        };
        assert!(matches!(
            Layout::new(huge),
            Err(LayoutError::TooLarge { .. })
        ));
    }

    #[test]
    fn region_of_names_the_region() {
        let l = Layout::new(MemoryConfig::default()).unwrap();
        assert_eq!(
            l.region_of(GVA_HOST_FUNCTIONS + 8).unwrap().name,
            "host-function table"
        );
        assert_eq!(
            l.region_of(l.gva_stack_guard).unwrap().name,
            "stack guard page"
        );
        assert_eq!(l.region_of(l.gva_heap).unwrap().access, Access::ReadWrite);
        assert!(l.region_of(GVA_IMAGE).is_none());
    }
}
