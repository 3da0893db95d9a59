//! Four-level identity page tables, written by the host into the page-table region (which the
//! guest cannot see: it is not mapped).
//!
//! Every page of guest RAM gets the permissions of its region
//! ([`flint_abi::layout::Layout::regions`]) or image segment; pages in neither are not present.
//! A 2 MiB stretch whose pages all share one permission is one large leaf (or no entry, if not
//! present), so the big uniform regions (heap, linear memory) need no page-table pages: the
//! tables of a function with a 64 MiB memory limit take a few pages, not one per 2 MiB.
//! The doorbell is one 2 MiB leaf at [`GPA_DOORBELL`]. Accessed (and, for writable pages, dirty)
//! bits are preset, so the CPU never writes to the tables.

use flint_abi::doorbell::GPA_DOORBELL;
use flint_abi::layout::{Access, LARGE_PAGE_SIZE, Layout, PAGE_SIZE, Privilege};

use crate::image::GuestImage;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const LARGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
/// Upper levels allow everything; the leaf decides.
const TABLE: u64 = PRESENT | WRITABLE | USER | ACCESSED;

/// Permissions of one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagePermission {
    /// How it may be used.
    pub access: Access,
    /// By whom.
    pub privilege: Privilege,
}

const NOT_PRESENT: PagePermission = PagePermission {
    access: Access::None,
    privilege: Privilege::Supervisor,
};

/// The permission of every page of guest RAM.
pub fn page_permissions(layout: &Layout, image: &GuestImage) -> Vec<PagePermission> {
    let mut pages = vec![NOT_PRESENT; (layout.mem_size_bytes / PAGE_SIZE) as usize];
    let mut set = |gva: u64, size_bytes: u64, perm: PagePermission| {
        let first = (gva / PAGE_SIZE) as usize;
        let count = size_bytes.div_ceil(PAGE_SIZE) as usize;
        pages[first..first + count].fill(perm);
    };
    for r in layout.regions() {
        set(
            r.gva,
            r.size_bytes,
            PagePermission {
                access: r.access,
                privilege: r.privilege,
            },
        );
    }
    for s in &image.segments {
        let perm = PagePermission {
            access: s.access,
            privilege: Privilege::User,
        };
        set(s.gva, s.size_bytes, perm);
    }
    pages
}

fn leaf(gpa: u64, perm: PagePermission) -> u64 {
    let user = match perm.privilege {
        Privilege::User => USER,
        Privilege::Supervisor => 0,
    };
    let bits = match perm.access {
        Access::None => return 0,
        Access::Read => PRESENT | ACCESSED | NO_EXECUTE,
        Access::ReadWrite => PRESENT | WRITABLE | ACCESSED | DIRTY | NO_EXECUTE,
        Access::ReadExecute => PRESENT | ACCESSED,
    };
    gpa | bits | user
}

/// The bytes of the page-table region: PML4, PDPT, the doorbell's PD, one PD per GiB of RAM,
/// then room for one PT per 2 MiB, used only where a 2 MiB stretch mixes permissions (the rest
/// stays zero, and costs nothing in a snapshot).
pub fn build(layout: &Layout, perms: &[PagePermission]) -> Vec<u8> {
    let base = layout.gpa_page_tables;
    let mem = layout.mem_size_bytes;
    let pds = mem.div_ceil(1 << 30);
    let pml4 = base;
    let pdpt = base + PAGE_SIZE;
    let doorbell_pd = base + 2 * PAGE_SIZE;
    let pd = |i: u64| base + (3 + i) * PAGE_SIZE;
    let pt = |i: u64| base + (3 + pds + i) * PAGE_SIZE;

    let mut bytes = vec![0u8; layout.page_tables_size_bytes as usize];
    let mut put = |gpa: u64, entry: u64| {
        let off = (gpa - base) as usize;
        bytes[off..off + 8].copy_from_slice(&entry.to_le_bytes());
    };
    put(pml4, pdpt | TABLE);
    for i in 0..pds {
        put(pdpt + i * 8, pd(i) | TABLE);
    }
    let per_pt = (LARGE_PAGE_SIZE / PAGE_SIZE) as usize;
    for (i, chunk) in perms.chunks(per_pt).enumerate() {
        let i = i as u64;
        let gpa = i * LARGE_PAGE_SIZE;
        if chunk.len() == per_pt && chunk.iter().all(|p| *p == chunk[0]) {
            let entry = leaf(gpa, chunk[0]);
            put(pd(0) + i * 8, if entry == 0 { 0 } else { entry | LARGE });
            continue;
        }
        put(pd(0) + i * 8, pt(i) | TABLE);
        for (j, perm) in chunk.iter().enumerate() {
            let page = gpa + j as u64 * PAGE_SIZE;
            put(pt(i) + j as u64 * 8, leaf(page, *perm));
        }
    }
    let doorbell_gib = GPA_DOORBELL >> 30;
    put(pdpt + doorbell_gib * 8, doorbell_pd | TABLE);
    put(
        doorbell_pd,
        GPA_DOORBELL | PRESENT | WRITABLE | USER | ACCESSED | DIRTY | LARGE | NO_EXECUTE,
    );
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use flint_abi::layout::{GVA_HOST_FUNCTIONS, MemoryConfig};

    fn entry(tables: &[u8], layout: &Layout, gpa: u64) -> u64 {
        let off = (gpa - layout.gpa_page_tables) as usize;
        u64::from_le_bytes(tables[off..off + 8].try_into().unwrap())
    }

    /// Walks the tables like the MMU does and returns the leaf for `gva`.
    fn walk(tables: &[u8], layout: &Layout, gva: u64) -> u64 {
        let mask = 0x000f_ffff_ffff_f000;
        let l4 = entry(
            tables,
            layout,
            layout.gpa_page_tables + ((gva >> 39) & 511) * 8,
        );
        let l3 = entry(tables, layout, (l4 & mask) + ((gva >> 30) & 511) * 8);
        if l3 & LARGE != 0 {
            return l3;
        }
        let l2 = entry(tables, layout, (l3 & mask) + ((gva >> 21) & 511) * 8);
        if l2 & LARGE != 0 || l2 & PRESENT == 0 {
            return l2;
        }
        entry(tables, layout, (l2 & mask) + ((gva >> 12) & 511) * 8)
    }

    #[test]
    fn uniform_stretches_take_large_leaves() {
        let config = MemoryConfig {
            heap_size_bytes: 32 << 20,
            linear_memory_size_bytes: 64 << 20,
            ..MemoryConfig::default()
        };
        let layout = Layout::new(config).unwrap();
        let image = GuestImage::builtin().unwrap();
        let perms = page_permissions(&layout, &image);
        let t = build(&layout, &perms);
        let middle = layout.gva_linear_memory + (32 << 20);
        let leaf = walk(&t, &layout, middle + 0x1234);
        assert_ne!(leaf & LARGE, 0);
        assert_eq!(leaf & NO_EXECUTE, NO_EXECUTE);
        // Every page still resolves to itself with its own permission.
        for page in (0..layout.mem_size_bytes).step_by(PAGE_SIZE as usize) {
            let e = walk(&t, &layout, page);
            let perm = perms[(page / PAGE_SIZE) as usize];
            assert_eq!(e & PRESENT != 0, perm.access != Access::None, "{page:#x}");
            if e & PRESENT != 0 {
                let mask = if e & LARGE != 0 {
                    !(LARGE_PAGE_SIZE - 1)
                } else {
                    !(PAGE_SIZE - 1)
                };
                assert_eq!(e & 0x000f_ffff_ffff_f000 & mask, page & mask, "{page:#x}");
                assert_eq!(
                    e & WRITABLE != 0,
                    perm.access == Access::ReadWrite,
                    "{page:#x}"
                );
            }
        }
        let used = t
            .chunks(PAGE_SIZE as usize)
            .filter(|p| p.iter().any(|&b| b != 0))
            .count();
        assert!(used <= 12, "{used} page-table pages in use");
    }

    #[test]
    fn leaves_carry_region_permissions() {
        let layout = Layout::new(MemoryConfig::default()).unwrap();
        let image = GuestImage::builtin().unwrap();
        let t = build(&layout, &page_permissions(&layout, &image));
        assert_eq!(walk(&t, &layout, 0), 0, "null page not present");
        let hostfn = walk(&t, &layout, GVA_HOST_FUNCTIONS);
        assert_eq!(
            hostfn & (PRESENT | WRITABLE | NO_EXECUTE),
            PRESENT | NO_EXECUTE
        );
        let heap = walk(&t, &layout, layout.gva_heap + 5 * PAGE_SIZE);
        assert_eq!(
            heap & !0x000f_ffff_ffff_f000 & !LARGE,
            PRESENT | WRITABLE | USER | ACCESSED | DIRTY | NO_EXECUTE
        );
        let frame = if heap & LARGE != 0 {
            (layout.gva_heap + 5 * PAGE_SIZE) & !(LARGE_PAGE_SIZE - 1)
        } else {
            layout.gva_heap + 5 * PAGE_SIZE
        };
        assert_eq!(heap & 0x000f_ffff_ffff_f000, frame);
        assert_eq!(walk(&t, &layout, layout.gva_stack_guard), 0);
        let text = walk(&t, &layout, image.entry_gva);
        assert_eq!(text & (WRITABLE | NO_EXECUTE), 0);
        assert_ne!(text & PRESENT, 0);
        assert_eq!(
            walk(&t, &layout, layout.gpa_page_tables),
            0,
            "tables unmapped"
        );
        let stack = walk(&t, &layout, layout.gva_stack_limit);
        assert_eq!(
            stack & (PRESENT | LARGE),
            PRESENT,
            "the stack's edge needs 4 KiB leaves"
        );
        let doorbell = walk(&t, &layout, GPA_DOORBELL + 16);
        assert_eq!(doorbell & 0x000f_ffff_ffe0_0000, GPA_DOORBELL);
        assert_ne!(doorbell & LARGE, 0);
    }
}
