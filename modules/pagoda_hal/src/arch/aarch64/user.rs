//! User mode: `UserContext::run` enters EL0 with `eret` and comes back at the next trap.
//!
//! `__pagoda_enter_user` saves the kernel's callee-saved state into the context, points
//! `SP_EL1` at the context itself and `eret`s. EL0 cannot change `SP_EL1`, so the next
//! exception from EL0 finds the context there: `__pagoda_user_trap` stores the user state
//! into it, reloads the kernel state and returns from `__pagoda_enter_user`.

use core::arch::global_asm;
use core::mem::offset_of;

use memory_addr::VirtAddr;

use super::trap::{
    EC_SVC64, FRAME_SIZE, KIND_IRQ, KIND_SYNC, OFF_FPCR, OFF_FREGS, OFF_KIND, OFF_PC, OFF_SP,
    TrapFrame, exception_class, page_fault_access,
};
use crate::trap::{Signal, UserTrap};

/// `SPSR_EL1` bits user code owns: the condition flags N, Z, C, V.
const PSTATE_NZCV: u64 = 0xf << 28;
/// D, A, F masked, IRQs taken (the timer); M = EL0t (0).
const PSTATE_EL0_MASKED: u64 = 0x340;
/// `UserTrap::Exception::cause` of an IRQ, FIQ or SError taken from EL0 (masked there, so
/// not expected): this base plus the vector kind (1 IRQ, 2 FIQ, 3 SError, +4 AArch32). Above
/// every 32-bit `ESR_EL1` value, so it cannot be mistaken for one.
const ASYNC_CAUSE_BASE: usize = 1 << 32;

/// The registers of a user thread (a `TrapFrame`: x0..x30, `SP_EL0`, pc, `SPSR`, the
/// syndrome of its last trap, `TPIDR_EL0`, q0..q31, FPCR/FPSR), plus the kernel registers
/// saved while it runs.
#[repr(C, align(16))]
#[derive(Clone, Debug)]
pub struct UserContext {
    frame: TrapFrame,
    /// x18..x30 and sp of the kernel inside `run`.
    kregs: [u64; 14],
    /// d8..d15 (the callee-saved low halves of v8..v15) of the kernel.
    kfregs: [u64; 8],
}

const OFF_KREGS: usize = offset_of!(UserContext, kregs);
const OFF_KFREGS: usize = offset_of!(UserContext, kfregs);
const OFF_TPIDR: usize = offset_of!(TrapFrame, tpidr);
const OFF_ESR: usize = offset_of!(TrapFrame, esr);
const _: () = assert!(offset_of!(UserContext, frame) == 0 && FRAME_SIZE <= OFF_KREGS);

global_asm!(
    r#"
    .pushsection .text.pagoda_user, "ax"
    .balign 4
    .global __pagoda_enter_user
__pagoda_enter_user:
    // x0 = &mut UserContext. Save the kernel's callee-saved state.
    add x9, x0, #{kregs}
    stp x18, x19, [x9, #0]
    stp x20, x21, [x9, #16]
    stp x22, x23, [x9, #32]
    stp x24, x25, [x9, #48]
    stp x26, x27, [x9, #64]
    stp x28, x29, [x9, #80]
    mov x10, sp
    stp x30, x10, [x9, #96]
    add x9, x0, #{kfregs}
    stp d8, d9, [x9, #0]
    stp d10, d11, [x9, #16]
    stp d12, d13, [x9, #32]
    stp d14, d15, [x9, #48]
    // Load the user state.
    add x9, x0, #{fregs}
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ldr q\n, [x9, #\n*16]
    .endr
    add x9, x0, #{fpcr}
    ldp x10, x11, [x9]
    msr fpcr, x10
    msr fpsr, x11
    ldr x10, [x0, #{sp}]
    msr sp_el0, x10
    ldp x10, x11, [x0, #{pc}]
    msr elr_el1, x10
    msr spsr_el1, x11
    ldr x10, [x0, #{tpidr}]
    msr tpidr_el0, x10
    // From here a trap from EL0 comes back through __pagoda_user_trap with sp = x0.
    mov sp, x0
    .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    ldr x\n, [x0, #\n*8]
    .endr
    ldr x0, [x0]
    eret

    // A trap from EL0: sp = &mut UserContext, user x0/x1 saved at [sp], x0 = vector kind.
    .global __pagoda_user_trap
__pagoda_user_trap:
    .irp n, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    str x\n, [sp, #\n*8]
    .endr
    mrs x9, sp_el0
    str x9, [sp, #{sp}]
    mrs x9, elr_el1
    mrs x10, spsr_el1
    stp x9, x10, [sp, #{pc}]
    mrs x9, esr_el1
    mrs x10, far_el1
    stp x9, x10, [sp, #{esr}]
    mrs x9, tpidr_el0
    stp x0, x9, [sp, #{kind}]
    add x9, sp, #{fregs}
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    str q\n, [x9, #\n*16]
    .endr
    add x9, sp, #{fpcr}
    mrs x10, fpcr
    mrs x11, fpsr
    stp x10, x11, [x9]
    // Back to the kernel state saved by __pagoda_enter_user, which then returns.
    mov x0, sp
    add x9, x0, #{kfregs}
    ldp d8, d9, [x9, #0]
    ldp d10, d11, [x9, #16]
    ldp d12, d13, [x9, #32]
    ldp d14, d15, [x9, #48]
    add x9, x0, #{kregs}
    ldp x18, x19, [x9, #0]
    ldp x20, x21, [x9, #16]
    ldp x22, x23, [x9, #32]
    ldp x24, x25, [x9, #48]
    ldp x26, x27, [x9, #64]
    ldp x28, x29, [x9, #80]
    ldp x30, x10, [x9, #96]
    mov sp, x10
    ret
    .popsection
    "#,
    kregs = const OFF_KREGS,
    kfregs = const OFF_KFREGS,
    fregs = const OFF_FREGS,
    fpcr = const OFF_FPCR,
    sp = const OFF_SP,
    pc = const OFF_PC,
    esr = const OFF_ESR,
    kind = const OFF_KIND,
    tpidr = const OFF_TPIDR,
);

unsafe extern "C" {
    /// Enters EL0 with `ctx`; "returns" when the next trap from EL0 has saved into `ctx`.
    fn __pagoda_enter_user(ctx: *mut UserContext);
}

impl UserContext {
    /// A context that starts at `entry` with stack pointer `sp`, all other registers zero.
    pub fn new(entry: usize, sp: usize) -> Self {
        let frame = TrapFrame {
            sp: sp as u64,
            pc: entry as u64,
            pstate: PSTATE_EL0_MASKED,
            ..TrapFrame::default()
        };
        Self {
            frame,
            kregs: [0; 14],
            kfregs: [0; 8],
        }
    }

    /// Runs the thread at EL0 (with the active page table) until its next trap.
    /// IRQs are unmasked at EL0 (D, A, F stay masked); only the condition flags come from
    /// the saved `SPSR`. A timer interrupt returns [`UserTrap::Timer`] with the pc
    /// unchanged; any other IRQ is acknowledged and EL0 resumes.
    ///
    /// Page faults (translation, access-flag and permission faults) report `FAR_EL1` and
    /// the access kind; other exceptions report `cause` = `ESR_EL1` and `tval` = `FAR_EL1`
    /// for the classes that define it (aborts, PC alignment, watchpoints; else 0), or
    /// `cause` = `1 << 32` + vector kind for an FIQ or SError (masked at EL0).
    pub fn run(&mut self) -> UserTrap {
        loop {
            self.frame.pstate = (self.frame.pstate & PSTATE_NZCV) | PSTATE_EL0_MASKED;
            // SAFETY: the context lives across the call (`&mut self`) and is 16-byte aligned
            // (it becomes SP_EL1); user code runs at EL0 and can only come back through the
            // EL0 vectors (IRQs included), which save its registers here and restore every
            // kernel callee-saved register and `sp` before returning.
            unsafe { __pagoda_enter_user(self) };
            if self.frame.kind != KIND_IRQ {
                break;
            }
            if super::timer::acknowledge() {
                return UserTrap::Timer;
            }
        }
        let f = &self.frame;
        if f.kind != KIND_SYNC {
            return UserTrap::Exception {
                cause: ASYNC_CAUSE_BASE + f.kind as usize,
                tval: 0,
            };
        }
        if exception_class(f.esr) == EC_SVC64 {
            // ELR_EL1 of an SVC already points past it.
            return UserTrap::Syscall;
        }
        match page_fault_access(f.esr) {
            Some(access) => UserTrap::PageFault {
                addr: VirtAddr::from_usize(f.far as usize),
                access,
            },
            None => UserTrap::Exception {
                cause: f.esr as usize,
                tval: if far_is_valid(f.esr) {
                    f.far as usize
                } else {
                    0
                },
            },
        }
    }

    /// Sets the user thread pointer (`TPIDR_EL0`, restored on every entry to EL0): where
    /// the thread's TLS block is (`CLONE_SETTLS`). Any value is accepted (`true`).
    pub fn set_thread_pointer(&mut self, value: usize) -> bool {
        self.frame.tpidr = value as u64;
        true
    }

    /// The system-call number (x8).
    pub fn syscall_number(&self) -> usize {
        self.frame.regs[8] as usize
    }

    /// The six system-call arguments (x0..x5).
    pub fn syscall_args(&self) -> [usize; 6] {
        let mut args = [0; 6];
        for (arg, reg) in args.iter_mut().zip(&self.frame.regs[..6]) {
            *arg = *reg as usize;
        }
        args
    }

    /// Sets the system-call return value (x0).
    pub fn set_syscall_return(&mut self, value: usize) {
        self.frame.regs[0] = value as u64;
    }

    /// Bytes of the `svc` instruction: after [`UserTrap::Syscall`] the pc is this far past
    /// it (a kernel that re-executes a waiting call moves the pc back by this much).
    pub const SYSCALL_INSN_LEN: usize = 4;

    /// The user pc (`ELR_EL1`).
    pub fn pc(&self) -> usize {
        self.frame.pc as usize
    }

    /// Sets the user pc.
    pub fn set_pc(&mut self, pc: usize) {
        self.frame.pc = pc as u64;
    }

    /// The user stack pointer (`SP_EL0`).
    pub fn sp(&self) -> usize {
        self.frame.sp as usize
    }

    /// Sets the user stack pointer.
    pub fn set_sp(&mut self, sp: usize) {
        self.frame.sp = sp as u64;
    }
    /// The registers in Linux's `struct sigcontext` order (after `fault_address`):
    /// `x0..x30`, `sp`, `pc`, `pstate`.
    pub fn linux_regs(&self) -> [u64; 34] {
        let mut out = [0u64; 34];
        out[..31].copy_from_slice(&self.frame.regs);
        out[31] = self.frame.sp;
        out[32] = self.frame.pc;
        out[33] = self.frame.pstate;
        out
    }

    /// Sets every register from [`linux_regs`](Self::linux_regs) order. Of `pstate` only
    /// the condition flags (NZCV) are taken: the exception level, masks and the rest stay
    /// what user mode must have (as Linux's `valid_user_regs` insists).
    pub fn set_linux_regs(&mut self, regs: &[u64; 34]) {
        const NZCV: u64 = 0xf << 28;
        self.frame.regs.copy_from_slice(&regs[..31]);
        self.frame.sp = regs[31];
        self.frame.pc = regs[32];
        self.frame.pstate = (self.frame.pstate & !NZCV) | (regs[33] & NZCV);
    }

    /// Bytes of FP/SIMD state: `v0..v31` (16 bytes each), then `fpsr` and `fpcr` (4 each),
    /// the fields of Linux's `fpsimd_context`.
    pub const FP_STATE_LEN: usize = 32 * 16 + 8;

    /// The FP/SIMD state in that layout ([`FP_STATE_LEN`](Self::FP_STATE_LEN) bytes).
    pub fn fp_state(&self) -> [u8; Self::FP_STATE_LEN] {
        let mut out = [0u8; Self::FP_STATE_LEN];
        for (chunk, v) in out.chunks_exact_mut(16).zip(&self.frame.fregs) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out[512..516].copy_from_slice(&(self.frame.fpsr as u32).to_le_bytes());
        out[516..].copy_from_slice(&(self.frame.fpcr as u32).to_le_bytes());
        out
    }

    /// Sets the FP/SIMD state from that layout; `false` (nothing changes) for a wrong
    /// length.
    pub fn set_fp_state(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() != Self::FP_STATE_LEN {
            return false;
        }
        for (v, chunk) in self.frame.fregs.iter_mut().zip(bytes.chunks_exact(16)) {
            let mut b = [0u8; 16];
            b.copy_from_slice(chunk);
            *v = u128::from_le_bytes(b);
        }
        let word = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u64::from(u32::from_le_bytes(b))
        };
        self.frame.fpsr = word(512);
        self.frame.fpcr = word(516);
        true
    }
}

/// Whether `FAR_EL1` holds the faulting address for this syndrome: instruction and data
/// aborts (unless FnV), PC alignment and watchpoints.
fn far_is_valid(esr: u64) -> bool {
    match exception_class(esr) {
        0x20 | 0x21 | 0x24 | 0x25 => esr & (1 << 10) == 0,
        0x22 | 0x34 | 0x35 => true,
        _ => false,
    }
}

/// The signal Linux sends for a user exception with this `cause` (`ESR_EL1`).
pub fn exception_signal(cause: usize) -> Signal {
    if cause >= ASYNC_CAUSE_BASE {
        return Signal::Kill;
    }
    let esr = cause as u64;
    match exception_class(esr) {
        // Undefined instruction, trapped WFx, FP access, illegal state, trapped system register.
        0x00 | 0x01 | 0x07 | 0x0e | 0x18 => Signal::Ill,
        // PC or SP alignment.
        0x22 | 0x26 => Signal::Bus,
        // Data aborts: alignment and synchronous external aborts are bus errors.
        0x24 | 0x25 if matches!(esr & 0x3f, 0x21 | 0x10..=0x1f) => Signal::Bus,
        0x2c => Signal::Fpe,
        // Breakpoints, single step, watchpoints, BRK.
        0x30..=0x35 | 0x3c => Signal::Trap,
        _ => Signal::Segv,
    }
}
