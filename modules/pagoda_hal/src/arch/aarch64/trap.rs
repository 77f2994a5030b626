//! The `VBAR_EL1` vector table, the trap frame and kernel-mode trap handling.
//!
//! Each vector slot records which of the 16 vectors fired (`kind`: 0 sync, 1 IRQ, 2 FIQ,
//! 3 SError; +4 from AArch32) and continues in a common path. Traps from EL1 save a
//! [`TrapFrame`] on the kernel stack and go to [`kernel_trap`]; traps from EL0 find
//! `SP_EL1` pointing at the running `UserContext` (set by `__pagoda_enter_user`, see
//! `user.rs`), save the user state there and return to the kernel code that entered EL0.

use core::arch::{asm, global_asm};
use core::mem::{offset_of, size_of};

use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

use super::uaccess;
use crate::trap::FATAL_TRAP_EXIT_CODE;

/// Registers saved on every trap. The same layout starts a `UserContext`, so both entry
/// paths share the offsets below.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TrapFrame {
    /// x0..x30.
    pub regs: [u64; 31],
    /// The interrupted stack pointer (`SP_EL0` for user traps).
    pub sp: u64,
    /// `ELR_EL1`: where the trap returns to.
    pub pc: u64,
    /// `SPSR_EL1`.
    pub pstate: u64,
    /// `ESR_EL1` and `FAR_EL1`, captured before any kernel code can fault.
    pub esr: u64,
    pub far: u64,
    /// Which vector fired (see the module docs).
    pub kind: u64,
    /// `TPIDR_EL0` (user traps only: the user's thread pointer).
    pub tpidr: u64,
    /// q0..q31: resolved kernel faults resume compiled code that may hold live SIMD values.
    pub fregs: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

pub(super) const FRAME_SIZE: usize = size_of::<TrapFrame>();
pub(super) const OFF_SP: usize = offset_of!(TrapFrame, sp);
pub(super) const OFF_PC: usize = offset_of!(TrapFrame, pc);
pub(super) const OFF_ESR: usize = offset_of!(TrapFrame, esr);
pub(super) const OFF_KIND: usize = offset_of!(TrapFrame, kind);
pub(super) const OFF_FREGS: usize = offset_of!(TrapFrame, fregs);
pub(super) const OFF_FPCR: usize = offset_of!(TrapFrame, fpcr);
// The assembly stores pairs: pc/pstate, esr/far, kind/tpidr, fpcr/fpsr.
const _: () = assert!(
    offset_of!(TrapFrame, pstate) == OFF_PC + 8
        && offset_of!(TrapFrame, far) == OFF_ESR + 8
        && offset_of!(TrapFrame, tpidr) == OFF_KIND + 8
        && offset_of!(TrapFrame, fpsr) == OFF_FPCR + 8
        && OFF_SP == 31 * 8
        && FRAME_SIZE.is_multiple_of(16)
);

/// Vector kinds.
pub(super) const KIND_SYNC: u64 = 0;
/// An IRQ (from AArch64 code).
pub(super) const KIND_IRQ: u64 = 1;

/// `ESR_EL1` exception classes used here.
pub(super) const EC_SVC64: u64 = 0x15;
pub(super) const EC_IABT_LOWER: u64 = 0x20;
const EC_IABT_CUR: u64 = 0x21;
pub(super) const EC_DABT_LOWER: u64 = 0x24;
const EC_DABT_CUR: u64 = 0x25;
/// Data abort ISS: write not read, cache maintenance, FAR not valid.
const ISS_WNR: u64 = 1 << 6;
const ISS_CM: u64 = 1 << 8;
const ISS_FNV: u64 = 1 << 10;

/// The exception class of an `ESR_EL1` value.
pub(super) fn exception_class(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

/// The access kind of an instruction or data abort that is a translation, access-flag or
/// permission fault with a valid `FAR_EL1`, or `None` for anything else (other classes,
/// alignment, external and address-size faults).
pub(super) fn page_fault_access(esr: u64) -> Option<MappingFlags> {
    let ec = exception_class(esr);
    let fsc = esr & 0x3f;
    let is_page_fault = (0x04..=0x0f).contains(&fsc) && esr & ISS_FNV == 0;
    match ec {
        EC_IABT_LOWER | EC_IABT_CUR if is_page_fault => Some(MappingFlags::EXECUTE),
        EC_DABT_LOWER | EC_DABT_CUR if is_page_fault => {
            if esr & ISS_WNR != 0 && esr & ISS_CM == 0 {
                Some(MappingFlags::WRITE)
            } else {
                Some(MappingFlags::READ)
            }
        }
        _ => None,
    }
}

global_asm!(
    r#"
    .macro PAGODA_VEC_EL1 kind
    .balign 0x80
    // Kernel stack overflow: sp inside the guard page below the boot stack (x0 is parked
    // in TPIDR_EL1, unused otherwise, for the check).
    msr tpidr_el1, x0
    adrp x0, {guard}
    add x0, x0, :lo12:{guard}
    sub x0, sp, x0
    lsr x0, x0, #12
    cbz x0, __pagoda_kstack_overflow
    mrs x0, tpidr_el1
    sub sp, sp, #{frame_size}
    stp x0, x1, [sp]
    mov x0, #\kind
    b __pagoda_kernel_trap
    .endm
    .macro PAGODA_VEC_EL0 kind
    .balign 0x80
    stp x0, x1, [sp]
    mov x0, #\kind
    b __pagoda_user_trap
    .endm

    .pushsection .text.pagoda_vectors, "ax"
    .balign 0x800
    .global __pagoda_vectors
__pagoda_vectors:
    .irp kind, 0,1,2,3
    PAGODA_VEC_EL1 \kind
    .endr
    .irp kind, 0,1,2,3
    PAGODA_VEC_EL1 \kind
    .endr
    .irp kind, 0,1,2,3,4,5,6,7
    PAGODA_VEC_EL0 \kind
    .endr
    .purgem PAGODA_VEC_EL1
    .purgem PAGODA_VEC_EL0

__pagoda_kstack_overflow:
    mov x1, sp
    adrp x0, {emergency}
    add x0, x0, :lo12:{emergency}
    add x0, x0, #{emergency_size}
    mov sp, x0
    mov x0, x1
    mrs x1, elr_el1
    mrs x2, far_el1
    bl {overflow}

__pagoda_kernel_trap:
    .irp n, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    str x\n, [sp, #\n*8]
    .endr
    add x9, sp, #{frame_size}
    str x9, [sp, #31*8]
    mrs x9, elr_el1
    mrs x10, spsr_el1
    stp x9, x10, [sp, #{pc}]
    mrs x9, esr_el1
    mrs x10, far_el1
    stp x9, x10, [sp, #{esr}]
    str x0, [sp, #{kind}]
    add x9, sp, #{fregs}
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    str q\n, [x9, #\n*16]
    .endr
    add x9, sp, #{fpcr}
    mrs x10, fpcr
    mrs x11, fpsr
    stp x10, x11, [x9]
    mov x0, sp
    bl {kernel_trap}
    add x9, sp, #{fpcr}
    ldp x10, x11, [x9]
    msr fpcr, x10
    msr fpsr, x11
    add x9, sp, #{fregs}
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ldr q\n, [x9, #\n*16]
    .endr
    ldp x9, x10, [sp, #{pc}]
    msr elr_el1, x9
    msr spsr_el1, x10
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    ldr x\n, [sp, #\n*8]
    .endr
    add sp, sp, #{frame_size}
    eret
    .popsection
    "#,
    frame_size = const FRAME_SIZE,
    pc = const OFF_PC,
    esr = const OFF_ESR,
    kind = const OFF_KIND,
    fregs = const OFF_FREGS,
    fpcr = const OFF_FPCR,
    kernel_trap = sym kernel_trap,
    guard = sym super::boot::BOOT_STACK,
    emergency = sym EMERGENCY_STACK,
    emergency_size = const EMERGENCY_STACK_SIZE,
    overflow = sym kernel_stack_overflow,
);

/// The stack the stack-overflow report runs on (the boot stack is unusable then).
#[repr(C, align(16))]
struct EmergencyStack([u8; EMERGENCY_STACK_SIZE]);
/// At most 4095 (one `add` immediate).
const EMERGENCY_STACK_SIZE: usize = 4080;
#[unsafe(link_section = ".bss.stack")]
static mut EMERGENCY_STACK: EmergencyStack = EmergencyStack([0; EMERGENCY_STACK_SIZE]);
const _: () = assert!(super::boot::GUARD_PAGE_SIZE == 1 << 12);

/// The EL1 vector found `sp` inside the guard page: report on the emergency stack, exit.
extern "C" fn kernel_stack_overflow(sp: usize, elr: usize, far: usize) -> ! {
    let guard = super::boot::stack_guard_page();
    crate::console::print_unlocked(format_args!(
        "\nFATAL: kernel stack overflow\n  sp {sp:#x} in the guard page {:#x}..{:#x}, ELR {elr:#x}, FAR {far:#x}\n",
        guard.start.as_usize(),
        guard.end.as_usize(),
    ));
    super::exit(false, FATAL_TRAP_EXIT_CODE)
}

unsafe extern "C" {
    fn __pagoda_vectors();
}

/// Installs the vector table (`VBAR_EL1`). Idempotent.
pub fn init_traps() {
    let vectors = __pagoda_vectors as *const () as usize;
    // SAFETY: `__pagoda_vectors` is the 2 KiB-aligned table above, which handles every
    // exception; writing VBAR_EL1 changes nothing else.
    unsafe { asm!("msr vbar_el1, {0}", "isb", in(reg) vectors, options(nostack)) };
    super::timer::init();
}

/// A trap taken at EL1.
///
/// A page fault first goes to the registered handler (`true` = resolved, retry); if it stays
/// unresolved inside a uaccess probe, execution resumes at the probe's fixup, which returns
/// an error. IRQs (only inside `wait_for_interrupt`) are acknowledged. Anything else is fatal: registers are printed and QEMU exits with
/// `FATAL_TRAP_EXIT_CODE`.
extern "C" fn kernel_trap(tf: &mut TrapFrame) {
    if tf.kind == KIND_IRQ {
        // Only inside `wait_for_interrupt`: acknowledging is all there is to do.
        super::timer::acknowledge();
        return;
    }
    if tf.kind == KIND_SYNC
        && let Some(access) = page_fault_access(tf.esr)
    {
        let addr = VirtAddr::from_usize(tf.far as usize);
        if crate::trap::handle_kernel_page_fault(addr, access) {
            return;
        }
        if let Some(fixup) = uaccess::fixup(tf.pc as usize) {
            tf.pc = fixup as u64;
            return;
        }
    }
    fatal(tf)
}

/// A short name of an exception class.
pub(super) fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "FP/SIMD access",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x18 => "trapped MSR/MRS/system instruction",
        0x20 | 0x21 => "instruction abort",
        0x22 => "PC alignment",
        0x24 | 0x25 => "data abort",
        0x26 => "SP alignment",
        0x2c => "FP exception",
        0x2f => "SError",
        0x30..=0x35 => "debug (breakpoint, step, watchpoint)",
        0x3c => "BRK",
        _ => "other",
    }
}

/// Reports an unexpected kernel trap with all registers and exits with failure.
fn fatal(tf: &TrapFrame) -> ! {
    let p = crate::console::print_unlocked;
    let ec = exception_class(tf.esr);
    p(format_args!(
        "\nFATAL: unhandled kernel trap: vector kind {}, ESR {:#x} (EC {ec:#x}: {}), FAR {:#x}, ELR {:#x}, SPSR {:#x}, sp {:#x}\n",
        tf.kind,
        tf.esr,
        class_name(ec),
        tf.far,
        tf.pc,
        tf.pstate,
        tf.sp,
    ));
    for (i, chunk) in tf.regs.chunks(4).enumerate() {
        for (j, v) in chunk.iter().enumerate() {
            p(format_args!("x{:<3} {v:#018x}  ", i * 4 + j));
        }
        p(format_args!("\n"));
    }
    super::exit(false, FATAL_TRAP_EXIT_CODE)
}
