//! `stvec` entry for kernel and user traps, and the kernel-mode trap handler.
//!
//! `sscratch` tells the entry where it came from: 0 while in the kernel, the address of the
//! running `UserContext` while in user mode (see `user.rs`).

use core::arch::{asm, global_asm};

use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

use super::uaccess;
use super::user;
use crate::trap::FATAL_TRAP_EXIT_CODE;

/// Registers saved on the kernel stack by a trap taken in S-mode. FP registers are saved too:
/// a resolved fault resumes compiled code that may hold live caller-saved FP registers.
#[repr(C, align(16))]
pub(super) struct TrapFrame {
    /// x0..x31 (x0 unused; x2 is the interrupted `sp`).
    regs: [usize; 32],
    sepc: usize,
    sstatus: usize,
    fregs: [u64; 32],
    fcsr: usize,
}

const TRAP_FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const TF_FREGS: usize = core::mem::offset_of!(TrapFrame, fregs);
const TF_FCSR: usize = core::mem::offset_of!(TrapFrame, fcsr);
const SSTATUS_SUM: usize = 1 << 18;
const SCAUSE_INTERRUPT: usize = 1 << 63;
/// log2 of the guard page size. A kernel trap whose `sp` lies inside the guard page is a
/// stack overflow. (A trap just above it whose frame reaches into the guard faults again
/// on the first save, with `sp` inside the guard: caught then.)
const GUARD_PAGE_SHIFT: usize = 12;
const _: () = assert!(1 << GUARD_PAGE_SHIFT == super::boot::GUARD_PAGE_SIZE);

/// The stack the stack-overflow report runs on (the boot stack is unusable then).
#[repr(C, align(16))]
struct EmergencyStack([u8; EMERGENCY_STACK_SIZE]);
const EMERGENCY_STACK_SIZE: usize = 16 * 1024;
#[unsafe(link_section = ".bss.stack")]
static mut EMERGENCY_STACK: EmergencyStack = EmergencyStack([0; EMERGENCY_STACK_SIZE]);

global_asm!(
    r#"
    .section .text.trap, "ax"
    .option push
    .option arch, +d
    .balign 4
    .global __pagoda_trap_entry
__pagoda_trap_entry:
    csrrw sp, sscratch, sp
    bnez sp, .Lfrom_user
    csrrw sp, sscratch, sp
    // Kernel stack overflow: the frame would reach the guard page below the boot stack.
    // t0 is parked in sscratch (0 in the kernel) for the check.
    csrw sscratch, t0
    lla t0, {guard}
    sub t0, sp, t0
    srli t0, t0, {page_shift}
    beqz t0, .Lstack_overflow
    csrrw t0, sscratch, zero
    addi sp, sp, -{tf_size}
    .irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd x\n, \n*8(sp)
    .endr
    sd zero, 0(sp)
    addi t0, sp, {tf_size}
    sd t0, 2*8(sp)
    csrr t0, sepc
    sd t0, 32*8(sp)
    csrr t0, sstatus
    sd t0, 33*8(sp)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\n, {tf_fregs}+\n*8(sp)
    .endr
    frcsr t0
    sd t0, {tf_fcsr}(sp)
    mv a0, sp
    call {kernel_trap}
    ld t0, {tf_fcsr}(sp)
    fscsr t0
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fld f\n, {tf_fregs}+\n*8(sp)
    .endr
    ld t0, 32*8(sp)
    csrw sepc, t0
    ld t0, 33*8(sp)
    csrw sstatus, t0
    .irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ld x\n, \n*8(sp)
    .endr
    ld sp, 2*8(sp)
    sret

.Lstack_overflow:
    mv a0, sp
    lla sp, {emergency}
    li t0, {emergency_size}
    add sp, sp, t0
    csrr a1, sepc
    csrr a2, stval
    call {overflow}

.Lfrom_user:
    // sp = &mut UserContext, sscratch = user sp.
    .irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd x\n, \n*8(sp)
    .endr
    sd zero, 0(sp)
    csrr t0, sscratch
    sd t0, 2*8(sp)
    csrw sscratch, zero
    csrr t0, sepc
    sd t0, {sepc}(sp)
    csrr t0, sstatus
    sd t0, {sstatus}(sp)
    csrr t0, scause
    sd t0, {scause}(sp)
    csrr t0, stval
    sd t0, {stval}(sp)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\n, {fregs}+\n*8(sp)
    .endr
    frcsr t0
    sd t0, {fcsr}(sp)
    // Back to the kernel context saved by __pagoda_enter_user, which then returns.
    mv t0, sp
    ld t1, {kfcsr}(t0)
    fscsr t1
    .irp n, 8,9,18,19,20,21,22,23,24,25,26,27
    fld f\n, {kfregs}+\n*8(t0)
    .endr
    ld ra, {kregs}+0*8(t0)
    ld sp, {kregs}+1*8(t0)
    ld gp, {kregs}+2*8(t0)
    ld tp, {kregs}+3*8(t0)
    ld s0, {kregs}+4*8(t0)
    ld s1, {kregs}+5*8(t0)
    .irp n, 2,3,4,5,6,7,8,9,10,11
    ld s\n, {kregs}+(4+\n)*8(t0)
    .endr
    ret
    .option pop
    "#,
    tf_size = const TRAP_FRAME_SIZE,
    tf_fregs = const TF_FREGS,
    tf_fcsr = const TF_FCSR,
    kernel_trap = sym kernel_trap,
    guard = sym super::boot::BOOT_STACK,
    page_shift = const GUARD_PAGE_SHIFT,
    emergency = sym EMERGENCY_STACK,
    emergency_size = const EMERGENCY_STACK_SIZE,
    overflow = sym kernel_stack_overflow,
    sepc = const user::OFF_SEPC,
    sstatus = const user::OFF_SSTATUS,
    scause = const user::OFF_SCAUSE,
    stval = const user::OFF_STVAL,
    fregs = const user::OFF_FREGS,
    fcsr = const user::OFF_FCSR,
    kregs = const user::OFF_KREGS,
    kfregs = const user::OFF_KFREGS,
    kfcsr = const user::OFF_KFCSR,
);

unsafe extern "C" {
    fn __pagoda_trap_entry();
}

/// Installs the trap vector, marks "in kernel" in `sscratch` and lets S-mode touch user pages
/// (`sstatus.SUM`). Idempotent.
pub fn init_traps() {
    let entry = __pagoda_trap_entry as *const () as usize;
    // SAFETY: `__pagoda_trap_entry` is 4-byte aligned (direct mode) and handles every trap;
    // `sscratch = 0` is the kernel-mode marker it expects; SUM only widens S-mode access.
    unsafe {
        asm!(
            "csrw stvec, {entry}",
            "csrw sscratch, zero",
            "csrs sstatus, {sum}",
            entry = in(reg) entry,
            sum = in(reg) SSTATUS_SUM,
        );
    }
}

/// The access kind of a page-fault `scause`, or `None` for other causes.
pub(super) fn page_fault_access(scause: usize) -> Option<MappingFlags> {
    match scause {
        12 => Some(MappingFlags::EXECUTE),
        13 => Some(MappingFlags::READ),
        15 => Some(MappingFlags::WRITE),
        _ => None,
    }
}

/// A trap taken in S-mode.
extern "C" fn kernel_trap(tf: &mut TrapFrame) {
    let (scause, stval): (usize, usize);
    // SAFETY: reading trap CSRs has no side effects.
    unsafe { asm!("csrr {0}, scause", "csrr {1}, stval", out(reg) scause, out(reg) stval) };
    if scause & SCAUSE_INTERRUPT != 0 {
        // Only inside `wait_for_interrupt`: acknowledging is all there is to do.
        super::timer::acknowledge(scause & !SCAUSE_INTERRUPT);
        return;
    }
    if let Some(access) = page_fault_access(scause) {
        let addr = VirtAddr::from_usize(stval);
        if crate::trap::handle_kernel_page_fault(addr, access) {
            return;
        }
        if let Some(fixup) = uaccess::fixup(tf.sepc) {
            tf.sepc = fixup;
            return;
        }
    }
    fatal(tf, scause, stval)
}

const REG_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

fn cause_name(scause: usize) -> &'static str {
    if scause & SCAUSE_INTERRUPT != 0 {
        return "interrupt";
    }
    match scause {
        0 => "instruction address misaligned",
        1 => "instruction access fault",
        2 => "illegal instruction",
        3 => "breakpoint",
        4 => "load address misaligned",
        5 => "load access fault",
        6 => "store address misaligned",
        7 => "store access fault",
        8 => "ecall from U-mode",
        9 => "ecall from S-mode",
        12 => "instruction page fault",
        13 => "load page fault",
        15 => "store page fault",
        _ => "unknown",
    }
}

/// The trap entry found `sp` inside the guard page: report on the emergency stack and exit.
extern "C" fn kernel_stack_overflow(sp: usize, sepc: usize, stval: usize) -> ! {
    let guard = super::boot::stack_guard_page();
    crate::console::print_unlocked(format_args!(
        "\nFATAL: kernel stack overflow\n  sp {sp:#x} in the guard page {:#x}..{:#x}, sepc {sepc:#x}, stval {stval:#x}\n",
        guard.start.as_usize(),
        guard.end.as_usize(),
    ));
    super::exit(false, FATAL_TRAP_EXIT_CODE)
}

/// Reports an unexpected kernel trap with all registers and exits with failure.
fn fatal(tf: &TrapFrame, scause: usize, stval: usize) -> ! {
    let p = crate::console::print_unlocked;
    p(format_args!(
        "\nFATAL: unhandled kernel trap: scause {scause:#x} ({}), stval {stval:#x}, sepc {:#x}, sstatus {:#x}\n",
        cause_name(scause),
        tf.sepc,
        tf.sstatus
    ));
    for (i, chunk) in tf.regs.chunks(4).enumerate() {
        for (j, v) in chunk.iter().enumerate() {
            p(format_args!("{:>4} {v:#018x}  ", REG_NAMES[i * 4 + j]));
        }
        p(format_args!("\n"));
    }
    super::exit(false, FATAL_TRAP_EXIT_CODE)
}
