//! User mode: `UserContext::run` enters U-mode with `sret` and comes back at the next trap.

use core::arch::{asm, global_asm};
use core::mem::offset_of;

use memory_addr::VirtAddr;

use super::timer::acknowledge;
use super::trap::page_fault_access;
use crate::trap::{Signal, UserTrap};

const SSTATUS_SIE: usize = 1 << 1;
const SSTATUS_SPIE: usize = 1 << 5;
const SSTATUS_SPP: usize = 1 << 8;
const SCAUSE_ECALL_U: usize = 8;
const SCAUSE_INTERRUPT: usize = 1 << 63;

/// The registers of a user thread, plus the kernel registers saved while it runs.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct UserContext {
    /// x0..x31 (x2 = user sp).
    regs: [usize; 32],
    sepc: usize,
    sstatus: usize,
    fregs: [u64; 32],
    fcsr: usize,
    scause: usize,
    stval: usize,
    /// ra, sp, gp, tp, s0..s11 of the kernel inside `run`.
    kregs: [usize; 16],
    /// Kernel FP registers (only the callee-saved fs0..fs11 slots are used).
    kfregs: [u64; 32],
    kfcsr: usize,
}

pub(super) const OFF_SEPC: usize = offset_of!(UserContext, sepc);
pub(super) const OFF_SSTATUS: usize = offset_of!(UserContext, sstatus);
pub(super) const OFF_FREGS: usize = offset_of!(UserContext, fregs);
pub(super) const OFF_FCSR: usize = offset_of!(UserContext, fcsr);
pub(super) const OFF_SCAUSE: usize = offset_of!(UserContext, scause);
pub(super) const OFF_STVAL: usize = offset_of!(UserContext, stval);
pub(super) const OFF_KREGS: usize = offset_of!(UserContext, kregs);
pub(super) const OFF_KFREGS: usize = offset_of!(UserContext, kfregs);
pub(super) const OFF_KFCSR: usize = offset_of!(UserContext, kfcsr);

global_asm!(
    r#"
    .section .text.trap, "ax"
    .option push
    .option arch, +d
    .balign 4
    .global __pagoda_enter_user
__pagoda_enter_user:
    // a0 = &mut UserContext. Save the kernel's callee-saved state.
    sd ra, {kregs}+0*8(a0)
    sd sp, {kregs}+1*8(a0)
    sd gp, {kregs}+2*8(a0)
    sd tp, {kregs}+3*8(a0)
    sd s0, {kregs}+4*8(a0)
    sd s1, {kregs}+5*8(a0)
    .irp n, 2,3,4,5,6,7,8,9,10,11
    sd s\n, {kregs}+(4+\n)*8(a0)
    .endr
    .irp n, 8,9,18,19,20,21,22,23,24,25,26,27
    fsd f\n, {kfregs}+\n*8(a0)
    .endr
    frcsr t0
    sd t0, {kfcsr}(a0)
    // Load the user state.
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fld f\n, {fregs}+\n*8(a0)
    .endr
    ld t0, {fcsr}(a0)
    fscsr t0
    ld t0, {sepc}(a0)
    csrw sepc, t0
    ld t0, {sstatus}(a0)
    csrw sstatus, t0
    // From here a trap comes back through the user path of __pagoda_trap_entry.
    csrw sscratch, a0
    .irp n, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ld x\n, \n*8(a0)
    .endr
    ld a0, 10*8(a0)
    sret
    .option pop
    "#,
    kregs = const OFF_KREGS,
    kfregs = const OFF_KFREGS,
    kfcsr = const OFF_KFCSR,
    fregs = const OFF_FREGS,
    fcsr = const OFF_FCSR,
    sepc = const OFF_SEPC,
    sstatus = const OFF_SSTATUS,
);

unsafe extern "C" {
    /// Enters user mode with `ctx`; "returns" when the next user trap has saved into `ctx`.
    fn __pagoda_enter_user(ctx: *mut UserContext);
}

impl UserContext {
    /// A context that starts at `entry` with stack pointer `sp`, all other registers zero.
    pub fn new(entry: usize, sp: usize) -> Self {
        let mut regs = [0; 32];
        regs[2] = sp;
        Self {
            regs,
            sepc: entry,
            sstatus: 0,
            fregs: [0; 32],
            fcsr: 0,
            scause: 0,
            stval: 0,
            kregs: [0; 16],
            kfregs: [0; 32],
            kfcsr: 0,
        }
    }

    /// Runs the thread in user mode (with the active page table) until its next trap.
    /// Interrupts enabled in `sie` (the timer, once armed) are taken in user mode (S-mode
    /// interrupts are always enabled there) and stay disabled in the kernel: a timer
    /// interrupt returns [`UserTrap::Timer`] with the pc unchanged; any other interrupt is
    /// acknowledged and the user code resumes.
    pub fn run(&mut self) -> UserTrap {
        loop {
            self.enter();
            if self.scause & SCAUSE_INTERRUPT == 0 {
                break;
            }
            if acknowledge(self.scause & !SCAUSE_INTERRUPT) {
                return UserTrap::Timer;
            }
        }
        if self.scause == SCAUSE_ECALL_U {
            self.sepc += 4;
            return UserTrap::Syscall;
        }
        match page_fault_access(self.scause) {
            Some(access) => UserTrap::PageFault {
                addr: VirtAddr::from_usize(self.stval),
                access,
            },
            None => UserTrap::Exception {
                cause: self.scause,
                tval: self.stval,
            },
        }
    }

    /// Enters U-mode once; returns when the next trap has been saved into `self`.
    fn enter(&mut self) {
        let sstatus: usize;
        // SAFETY: reading `sstatus` has no side effects.
        unsafe { asm!("csrr {0}, sstatus", out(reg) sstatus) };
        // Return to U-mode (SPP = 0) with interrupts off afterwards (SPIE = 0); SUM and FS
        // are kept.
        self.sstatus = sstatus & !(SSTATUS_SPP | SSTATUS_SPIE | SSTATUS_SIE);
        // SAFETY: the context lives across the call (`&mut self`); user code runs in U-mode
        // and can only come back through the trap entry, which saves its registers here and
        // restores every kernel callee-saved register, `sp`, `gp` and `tp` before returning.
        unsafe { __pagoda_enter_user(self) };
    }

    /// Sets the user thread pointer (`tp`, x4): where the thread's TLS block is
    /// (`CLONE_SETTLS`; riscv64 programs set `tp` themselves at start-up). Any value is
    /// accepted (`true`): `tp` is a plain register.
    pub fn set_thread_pointer(&mut self, value: usize) -> bool {
        self.regs[4] = value;
        true
    }

    /// The system-call number (a7).
    pub fn syscall_number(&self) -> usize {
        self.regs[17]
    }

    /// The six system-call arguments (a0..a5).
    pub fn syscall_args(&self) -> [usize; 6] {
        let mut args = [0; 6];
        args.copy_from_slice(&self.regs[10..16]);
        args
    }

    /// Sets the system-call return value (a0).
    pub fn set_syscall_return(&mut self, value: usize) {
        self.regs[10] = value;
    }

    /// Bytes of the `ecall` instruction: after [`UserTrap::Syscall`] the pc is this far past
    /// it (a kernel that re-executes a waiting call moves the pc back by this much).
    pub const SYSCALL_INSN_LEN: usize = 4;

    /// The user pc (`sepc`).
    pub fn pc(&self) -> usize {
        self.sepc
    }

    /// Sets the user pc.
    pub fn set_pc(&mut self, pc: usize) {
        self.sepc = pc;
    }

    /// The user stack pointer (x2).
    pub fn sp(&self) -> usize {
        self.regs[2]
    }

    /// Sets the user stack pointer.
    pub fn set_sp(&mut self, sp: usize) {
        self.regs[2] = sp;
    }

    /// The registers in Linux's `struct sigcontext` order: `pc`, then `x1..x31`.
    pub fn linux_regs(&self) -> [u64; 32] {
        let mut out = [0u64; 32];
        out[0] = self.sepc as u64;
        for (o, r) in out[1..].iter_mut().zip(&self.regs[1..]) {
            *o = *r as u64;
        }
        out
    }

    /// Sets every register from [`linux_regs`](Self::linux_regs) order (`x0` stays 0).
    pub fn set_linux_regs(&mut self, regs: &[u64; 32]) {
        self.sepc = regs[0] as usize;
        for (r, v) in self.regs[1..].iter_mut().zip(&regs[1..]) {
            *r = *v as usize;
        }
    }

    /// Bytes of FP state: `f0..f31` (8 bytes each) and `fcsr` (4), as a Linux signal frame
    /// holds them.
    pub const FP_STATE_LEN: usize = 32 * 8 + 4;

    /// The FP state in signal-frame layout ([`FP_STATE_LEN`](Self::FP_STATE_LEN) bytes).
    pub fn fp_state(&self) -> [u8; Self::FP_STATE_LEN] {
        let mut out = [0u8; Self::FP_STATE_LEN];
        for (chunk, f) in out.chunks_exact_mut(8).zip(&self.fregs) {
            chunk.copy_from_slice(&f.to_le_bytes());
        }
        out[256..].copy_from_slice(&(self.fcsr as u32).to_le_bytes());
        out
    }

    /// Sets the FP state from signal-frame layout; `false` (nothing changes) for a wrong
    /// length. Only `fcsr`'s defined bits (frm, fflags) are kept.
    pub fn set_fp_state(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() != Self::FP_STATE_LEN {
            return false;
        }
        for (f, chunk) in self.fregs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *f = u64::from_le_bytes(b);
        }
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[256..]);
        self.fcsr = (u32::from_le_bytes(b) & 0xff) as usize;
        true
    }
}

/// The signal Linux sends for a user exception with this `scause`.
pub fn exception_signal(cause: usize) -> Signal {
    match cause {
        0 | 4 | 6 => Signal::Bus, // misaligned fetch, load, store
        2 => Signal::Ill,
        3 => Signal::Trap,
        _ => Signal::Segv, // access faults, page faults, anything unexpected
    }
}
