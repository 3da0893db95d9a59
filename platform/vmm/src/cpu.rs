//! The x86-64 state the host gives the guest: descriptor tables in guest memory, and the
//! special and general registers of the vCPU.
//!
//! The guest starts in 64-bit mode at CPL3 (user code and data segments). The only way to CPL0
//! is an exception, which enters a stub through a 64-bit interrupt gate on the IST1 stack.

use flint_abi::layout::{
    EXCEPTION_STUB_STRIDE, GVA_EXCEPTION_STUBS, GVA_GDT, GVA_IDT, GVA_IST_STACK_TOP, GVA_TSS,
    Layout,
};
use kvm_bindings::{kvm_dtable, kvm_regs, kvm_segment, kvm_sregs};

const KERNEL_CODE: u16 = 0x08;
const TSS_SELECTOR: u16 = 0x18;
const USER_CODE: u16 = 0x28 | 3;
const USER_DATA: u16 = 0x30 | 3;
const GDT_ENTRIES: usize = 7;
const TSS_LIMIT: u64 = 0x67;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
/// Reserved bit 1 only: interrupts off, IOPL 0.
const RFLAGS_DEFAULT: u64 = 0x2;

/// The GDT: null, kernel code, kernel data, the 16-byte TSS descriptor, user code, user data.
/// Accessed bits (and the TSS busy bit) are preset because the GDT page is read-only.
pub fn gdt() -> Vec<u8> {
    let base = GVA_TSS;
    let tss_low = (TSS_LIMIT & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x8b << 40)
        | (((TSS_LIMIT >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    let entries: [u64; GDT_ENTRIES] = [
        0,
        0x00af_9b00_0000_ffff,
        0x00cf_9300_0000_ffff,
        tss_low,
        base >> 32,
        0x00af_fb00_0000_ffff,
        0x00cf_f300_0000_ffff,
    ];
    entries.iter().flat_map(|e| e.to_le_bytes()).collect()
}

/// The TSS: RSP0 and IST1 point at the top of the exception stack; no I/O bitmap.
pub fn tss() -> Vec<u8> {
    let mut t = vec![0u8; TSS_LIMIT as usize + 1];
    t[4..12].copy_from_slice(&GVA_IST_STACK_TOP.to_le_bytes());
    t[0x24..0x2c].copy_from_slice(&GVA_IST_STACK_TOP.to_le_bytes());
    t[0x66..0x68].copy_from_slice(&((TSS_LIMIT + 1) as u16).to_le_bytes());
    t
}

/// The IDT: vectors 0-31 go to their stub through an interrupt gate on IST1.
pub fn idt() -> Vec<u8> {
    let mut t = Vec::with_capacity(32 * 16);
    for vector in 0..32u64 {
        let offset = GVA_EXCEPTION_STUBS + vector * EXCEPTION_STUB_STRIDE;
        let low = (offset & 0xffff)
            | (u64::from(KERNEL_CODE) << 16)
            | (1 << 32)
            | (0x8e << 40)
            | (((offset >> 16) & 0xffff) << 48);
        t.extend_from_slice(&low.to_le_bytes());
        t.extend_from_slice(&(offset >> 32).to_le_bytes());
    }
    t
}

fn segment(selector: u16, type_: u8, long: u8, db: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: (selector & 3) as u8,
        db,
        s: 1,
        l: long,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Long mode with paging rooted at the layout's page tables, CPL3 segments, SSE enabled.
pub fn sregs(mut s: kvm_sregs, layout: &Layout) -> kvm_sregs {
    let data = segment(USER_DATA, 0x3, 0, 1);
    s.cs = segment(USER_CODE, 0xb, 1, 0);
    s.ds = data;
    s.es = data;
    s.fs = data;
    s.gs = data;
    s.ss = data;
    s.tr = kvm_segment {
        base: GVA_TSS,
        limit: TSS_LIMIT as u32,
        selector: TSS_SELECTOR,
        type_: 0xb,
        present: 1,
        ..Default::default()
    };
    s.gdt = kvm_dtable {
        base: GVA_GDT,
        limit: (GDT_ENTRIES * 8 - 1) as u16,
        padding: [0; 3],
    };
    s.idt = kvm_dtable {
        base: GVA_IDT,
        limit: 32 * 16 - 1,
        padding: [0; 3],
    };
    s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    s.cr3 = layout.gpa_page_tables;
    s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    s.efer = EFER_LME | EFER_LMA | EFER_NXE;
    s
}

/// General registers for entering the guest at `rip` on a fresh stack: every other register
/// is zero, so nothing of an earlier call survives in them.
pub fn regs(rip: u64, layout: &Layout) -> kvm_regs {
    kvm_regs {
        rip,
        // As if `call` had pushed a return address: RSP + 8 is 16-byte aligned.
        rsp: layout.gva_stack_top - 8,
        rflags: RFLAGS_DEFAULT,
        ..Default::default()
    }
}

/// The frame an exception stub leaves at the top of the exception stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExceptionFrame {
    /// Exception vector.
    pub vector: u64,
    /// Error code (0 where the CPU pushes none).
    pub error_code: u64,
    /// Instruction that faulted.
    pub rip: u64,
    /// Code segment at the fault (CPL in the low bits).
    pub cs: u64,
    /// Stack pointer at the fault.
    pub rsp: u64,
}

/// Offsets below the top of the exception stack, in the order the CPU and the stub push.
pub mod frame_offset {
    use super::GVA_IST_STACK_TOP;
    /// Saved RSP.
    pub const RSP: u64 = GVA_IST_STACK_TOP - 16;
    /// Saved CS.
    pub const CS: u64 = GVA_IST_STACK_TOP - 32;
    /// Saved RIP.
    pub const RIP: u64 = GVA_IST_STACK_TOP - 40;
    /// Error code.
    pub const ERROR_CODE: u64 = GVA_IST_STACK_TOP - 48;
    /// Vector.
    pub const VECTOR: u64 = GVA_IST_STACK_TOP - 56;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_expected_sizes() {
        assert_eq!(gdt().len(), GDT_ENTRIES * 8);
        assert_eq!(tss().len(), 0x68);
        assert_eq!(idt().len(), 32 * 16);
    }

    #[test]
    fn idt_gate_points_at_its_stub() {
        let t = idt();
        let gate = |v: usize| u64::from_le_bytes(t[v * 16..v * 16 + 8].try_into().unwrap());
        let offset = |g: u64| (g & 0xffff) | ((g >> 32) & 0xffff_0000);
        assert_eq!(offset(gate(0)), GVA_EXCEPTION_STUBS);
        assert_eq!(offset(gate(14)), GVA_EXCEPTION_STUBS + 14 * 16);
        assert_eq!((gate(14) >> 32) & 7, 1, "IST1");
    }
}
