//! The CPU-facing part of the guest: exception entry stubs and the doorbell.
//!
//! The host puts the guest in 64-bit mode at CPL3 before the first instruction (GDT, TSS, IDT
//! and page tables are host-built and read-only or unmapped here). What the guest owns is the
//! code the IDT points at: 32 stubs at `flint_exception_stubs`, which the linker script places at
//! `GVA_EXCEPTION_STUBS`. They run at CPL0 on the IST1 stack, push the vector (and a zero error
//! code where the CPU pushes none), and execute `hlt`. The host reads the frame from the top of
//! the exception stack. `hlt` cannot be reached from CPL3 (it raises #GP there), so an exit on
//! `hlt` is always a real exception.

use core::arch::{asm, global_asm};

use flint_abi::doorbell::Doorbell;

global_asm!(
    r#"
.section .text.flint_exception_stubs,"ax",@progbits
.global flint_exception_stubs
.balign 16
flint_exception_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
.balign 16
.if (\v == 8) || (\v == 10) || (\v == 11) || (\v == 12) || (\v == 13) || (\v == 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    push \v
.else
    push 0
    push \v
.endif
    jmp flint_exception_halt
.endr
flint_exception_halt:
    hlt
    jmp flint_exception_halt
"#
);

/// Rings a doorbell: a write to an unbacked guest-physical page, which exits to the host.
///
/// The asm has no `nomem` option, so the compiler finishes every earlier memory write (the
/// message the host is about to read) before it, and reloads memory after it.
pub fn ring(doorbell: Doorbell, value: u64) {
    // SAFETY: `doorbell.gpa()` is inside the doorbell page, which the host maps for the guest
    // and backs with no memory; the store never reaches RAM, it exits to the host.
    unsafe {
        asm!("mov qword ptr [{addr}], {value}",
             addr = in(reg) doorbell.gpa(), value = in(reg) value,
             options(nostack, preserves_flags));
    }
}

/// Stops for good after the final doorbell of a call. The host never resumes a vCPU after
/// `CallDone` or `Abort`; if it ever did, `ud2` turns that into a visible fault.
pub fn stop() -> ! {
    loop {
        // SAFETY: `ud2` only raises #UD; it touches no memory.
        unsafe { asm!("ud2", options(nomem, nostack)) };
    }
}

/// The current stack pointer.
pub fn stack_pointer() -> u64 {
    let rsp: u64;
    // SAFETY: reads a register, nothing else.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    rsp
}
