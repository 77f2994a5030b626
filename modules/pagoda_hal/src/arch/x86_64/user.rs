//! User mode: [`UserContext::run`] enters ring 3 and returns at the next trap.
//!
//! The saved user registers are a [`TrapFrame`] at the start of the context. Before
//! entering ring 3, TSS.rsp0 is pointed at the end of that frame, so an exception from
//! ring 3 makes the CPU and the stubs write the frame straight into the context. The
//! `syscall` entry (LSTAR) builds the same frame by hand there. Both paths then reload the
//! kernel stack pointer saved by `__pagoda_enter_user` and return from it.
//!
//! The way back into ring 3 is `sysretq` after a `syscall` (the registers it clobbers, rcx
//! and r11, are the ones `syscall` clobbered), otherwise `iretq`.

use alloc::boxed::Box;
use core::arch::{asm, global_asm};
use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use memory_addr::VirtAddr;

use super::gdt::{self, CpuCell, KERNEL_CS, SYSRET_BASE, TSS, TSS_RSP0_OFFSET, USER_CS, USER_DS};
use super::trap::{PAGE_FAULT, TrapFrame, page_fault_access, pop_gprs, push_gprs};
use super::{USER_VA_END, rdmsr, timer, wrmsr};
use crate::trap::{Signal, UserTrap};

/// Pseudo vector recorded in [`TrapFrame::vector`] for a `syscall`.
pub(super) const SYSCALL_VECTOR: u64 = 0x100;

const IA32_EFER: u32 = 0xc000_0080;
const IA32_STAR: u32 = 0xc000_0081;
const IA32_LSTAR: u32 = 0xc000_0082;
const IA32_FMASK: u32 = 0xc000_0084;
const IA32_FS_BASE: u32 = 0xc000_0100;
const EFER_SCE: u64 = 1 << 0;

/// RFLAGS bits.
const RFLAGS_FIXED: u64 = 1 << 1; // always set
const RFLAGS_TF: u64 = 1 << 8;
const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_DF: u64 = 1 << 10;
const RFLAGS_NT: u64 = 1 << 14;
const RFLAGS_AC: u64 = 1 << 18;
/// Flags user code may own: CF PF AF ZF SF TF DF OF AC ID. IF, IOPL, NT, RF and VM are
/// never taken from a saved context: ring 3 always runs with IF = 1 (interrupts are taken
/// there; see `timer.rs`) and no port access.
const USER_RFLAGS: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | RFLAGS_TF | RFLAGS_DF | 0x800 | RFLAGS_AC | (1 << 21);
/// Flags cleared on `syscall` entry.
const SYSCALL_FMASK: u64 = RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_NT | RFLAGS_AC;

/// The first interrupt vector (below are exceptions).
const FIRST_INTERRUPT: u8 = 32;

/// #GP, reported for a context whose pc cannot be entered.
const GENERAL_PROTECTION: u64 = 13;

/// Whether `addr` is a canonical 48-bit virtual address (bits 63..47 all equal).
fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == (1 << 17) - 1
}

/// Kernel stack pointer saved by `__pagoda_enter_user` while ring 3 runs.
static KERNEL_RSP: CpuCell<u64> = CpuCell::new(0);
/// The user stack pointer, parked by the `syscall` entry while it switches stacks.
static SYSCALL_USER_RSP: CpuCell<u64> = CpuCell::new(0);
/// CR2 captured on every return from ring 3, before any kernel code could fault.
static USER_TRAP_CR2: CpuCell<u64> = CpuCell::new(0);

global_asm!(
    r#"
    .pushsection .text.pagoda_user, "ax"
    .balign 16
    .global __pagoda_enter_user
__pagoda_enter_user:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + {kernel_rsp}], rsp
    mov rsp, rdi
    test sil, sil
    jnz 1f
"#,
    pop_gprs!(),
    r#"
    add rsp, 16
    iretq
1:
"#,
    pop_gprs!(),
    r#"
    mov rcx, [rsp + 16]
    mov r11, [rsp + 32]
    mov rsp, [rsp + 40]
    sysretq

    .balign 16
    .global __pagoda_syscall_entry
__pagoda_syscall_entry:
    mov [rip + {user_rsp}], rsp
    mov rsp, [rip + {tss} + {rsp0}]
    push {user_ds}
    push qword ptr [rip + {user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
"#,
    push_gprs!(),
    r#"
    .global __pagoda_user_trap_exit
__pagoda_user_trap_exit:
    mov rax, cr2
    mov [rip + {user_cr2}], rax
    mov rsp, [rip + {kernel_rsp}]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
    .popsection
"#,
    kernel_rsp = sym KERNEL_RSP,
    user_rsp = sym SYSCALL_USER_RSP,
    user_cr2 = sym USER_TRAP_CR2,
    tss = sym TSS,
    rsp0 = const TSS_RSP0_OFFSET,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
);

unsafe extern "C" {
    /// Enters ring 3 with the registers in `frame` (`iretq`, or `sysretq` if `sysret`);
    /// returns when the next trap from ring 3 has been saved into `frame`.
    fn __pagoda_enter_user(frame: *mut TrapFrame, sysret: bool);
    fn __pagoda_syscall_entry();
}

/// Programs EFER.SCE, STAR, LSTAR and FMASK for `syscall`/`sysretq`.
pub(super) fn init_syscall() {
    let star = (u64::from(SYSRET_BASE) << 48) | (u64::from(KERNEL_CS) << 32);
    // SAFETY: these MSRs exist on every x86-64 CPU; the values enable `syscall` with the GDT
    // layout of `gdt.rs` and the entry point above, and mask IF/TF/DF/AC/NT on entry.
    unsafe {
        wrmsr(IA32_EFER, rdmsr(IA32_EFER) | EFER_SCE);
        wrmsr(IA32_STAR, star);
        wrmsr(IA32_LSTAR, __pagoda_syscall_entry as *const () as u64);
        wrmsr(IA32_FMASK, SYSCALL_FMASK);
    }
}

/// Legacy FXSAVE area: x87/SSE state of a user context.
#[repr(C, align(16))]
#[derive(Clone)]
struct FxState([u8; 512]);

impl fmt::Debug for FxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fcw = u16::from_le_bytes([self.0[0], self.0[1]]);
        let mxcsr = u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]]);
        f.debug_struct("FxState")
            .field("fcw", &format_args!("{fcw:#06x}"))
            .field("mxcsr", &format_args!("{mxcsr:#010x}"))
            .finish_non_exhaustive()
    }
}

impl FxState {
    /// The power-on state: FCW 0x037f (all x87 exceptions masked), MXCSR 0x1f80.
    fn initial() -> Self {
        let mut area = [0u8; 512];
        area[0..2].copy_from_slice(&0x037f_u16.to_le_bytes());
        area[24..28].copy_from_slice(&0x1f80_u32.to_le_bytes());
        Self(area)
    }
}

/// The saved state of a user thread: general registers, rip/rsp/rflags, the x87/SSE
/// state and the FS base (user TLS: `arch_prctl(ARCH_SET_FS)`). Not the GS base: the
/// kernel does not use `swapgs`, and Linux programs leave GS alone.
#[repr(C, align(16))]
pub struct UserContext {
    frame: TrapFrame,
    /// The x87/SSE state: a heap area this context owns (made by `Box::leak`, freed by
    /// `Drop`), reached only through this pointer and never through a reference that
    /// outlives a call, so that [`FPU_OWNER`] can name it wherever the context moves and
    /// another context's entry can save into it. Stale while this context owns the
    /// registers.
    fx: NonNull<FxState>,
    /// `IA32_FS_BASE` while this context runs (the kernel itself never uses FS).
    fs_base: u64,
}

// SAFETY: `fx` is owned exactly as a `Box` would be; besides this context's own methods,
// only another context's entry touches it (saving the registers into it), and that runs
// on the one CPU with interrupts off, never during a method of this context.
unsafe impl Send for UserContext {}
// SAFETY: as above; `&self` methods only read the area (or save the registers into a
// copy).
unsafe impl Sync for UserContext {}

impl fmt::Debug for UserContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserContext")
            .field("frame", &self.frame)
            .field("fx", &self.current_fx())
            .field("fs_base", &format_args!("{:#x}", self.fs_base))
            .finish()
    }
}

impl Clone for UserContext {
    fn clone(&self) -> Self {
        Self {
            frame: self.frame,
            fx: new_fx_area(self.current_fx()),
            fs_base: self.fs_base,
        }
    }
}

impl Drop for UserContext {
    fn drop(&mut self) {
        // The registers' state dies with its context: nothing may save into the freed area.
        disown_fpu(self.fx);
        // SAFETY: `fx` came from `Box::leak` in `new_fx_area` and is freed only here.
        drop(unsafe { Box::from_raw(self.fx.as_ptr()) });
    }
}

/// A new heap area holding `state`, owned by the caller (see `UserContext::fx`).
fn new_fx_area(state: FxState) -> NonNull<FxState> {
    NonNull::from(Box::leak(Box::new(state)))
}

/// If the registers hold `fx`'s state, forgets that (it is replaced or freed).
fn disown_fpu(fx: NonNull<FxState>) {
    let _ = FPU_OWNER.compare_exchange(
        fx.as_ptr(),
        ptr::null_mut(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
}

/// The area of the context whose x87/SSE state the registers hold, newer than the area
/// itself (null: none). The kernel is soft-float and never touches these registers, so
/// they keep a context's state from one trap to its next entry: a context that enters
/// again needs neither `fxsave64` nor `fxrstor64` (512 bytes each, emulator helpers), and
/// the state is written back only when another context enters or someone reads it
/// (`fp_state`, `clone`). Points into a live box: `Drop` clears it (single CPU, interrupts
/// off in the kernel, so no access races).
static FPU_OWNER: AtomicPtr<FxState> = AtomicPtr::new(ptr::null_mut());
/// The value `IA32_FS_BASE` holds (read back after every return from ring 3), so that
/// entering a context with the same base skips the `wrmsr`.
static FS_BASE_HOLDS: AtomicU64 = AtomicU64::new(u64::MAX);

impl UserContext {
    /// A context that starts at `entry` with stack pointer `sp`, all other registers zero,
    /// interrupts off.
    pub fn new(entry: usize, sp: usize) -> Self {
        let frame = TrapFrame {
            rip: entry as u64,
            rsp: sp as u64,
            cs: u64::from(USER_CS),
            ss: u64::from(USER_DS),
            rflags: RFLAGS_FIXED,
            ..TrapFrame::default()
        };
        Self {
            frame,
            fx: new_fx_area(FxState::initial()),
            fs_base: 0,
        }
    }

    /// Runs the context in ring 3 until the next trap and reports it.
    ///
    /// A timer interrupt whose deadline passed returns [`UserTrap::Timer`] with rip
    /// unchanged (the interrupted instruction runs next); other interrupts are acknowledged
    /// and ring 3 resumes.
    ///
    /// On [`UserTrap::Syscall`] the saved rip already points past the `syscall`
    /// instruction. Page faults report CR2 and the access kind; other exceptions report
    /// `cause` = vector and `tval` = the CPU's error code (0 when it pushes none). A
    /// non-canonical pc is reported as #GP (`cause` 13) without entering ring 3, as the CPU
    /// would report a jump there (`iretq` itself would fault in ring 0).
    pub fn run(&mut self) -> UserTrap {
        loop {
            if let Some(trap) = self.enter() {
                return trap;
            }
            if timer::acknowledge(self.frame.vector) {
                return UserTrap::Timer;
            }
        }
    }

    /// Enters ring 3 once; returns the trap, or `None` for an interrupt.
    fn enter(&mut self) -> Option<UserTrap> {
        let frame = &mut self.frame;
        if !is_canonical(frame.rip) {
            frame.vector = GENERAL_PROTECTION;
            frame.error_code = 0;
            return Some(UserTrap::Exception {
                cause: GENERAL_PROTECTION as usize,
                tval: 0,
            });
        }
        frame.rflags = (frame.rflags & USER_RFLAGS) | RFLAGS_FIXED | RFLAGS_IF;
        frame.cs = u64::from(USER_CS);
        frame.ss = u64::from(USER_DS);
        // `sysretq` to a non-canonical rip would fault in ring 0 on the user stack.
        let sysret = frame.vector == SYSCALL_VECTOR && (frame.rip as usize) < USER_VA_END;
        let frame_ptr: *mut TrapFrame = frame;
        gdt::set_user_trap_stack(frame_ptr as u64 + size_of::<TrapFrame>() as u64);
        let fx = self.fx.as_ptr();
        let owner = FPU_OWNER.swap(fx, Ordering::Relaxed);
        if owner != fx {
            if !owner.is_null() {
                // SAFETY: `owner` is the live area of the context the registers belong to
                // (`Drop` clears it first; not this one), 16-byte aligned, 512 bytes:
                // `fxsave64` writes just those, and nothing else uses the area now.
                unsafe { asm!("fxsave64 [{}]", in(reg) owner, options(nostack, preserves_flags)) };
            }
            // SAFETY: `fx` is a 16-byte aligned 512-byte area holding a state built by
            // `FxState::initial`, saved by `fxsave64` or sanitised by `set_fp_state`, so
            // `fxrstor64` cannot fault; the kernel itself never uses x87/SSE registers
            // (soft-float target).
            unsafe { asm!("fxrstor64 [{}]", in(reg) fx, options(nostack, preserves_flags)) };
        }
        if FS_BASE_HOLDS.load(Ordering::Relaxed) != self.fs_base {
            // SAFETY: IA32_FS_BASE exists on every x86-64 CPU; `fs_base` is canonical
            // (checked by `set_thread_pointer`), so `wrmsr` cannot #GP; the kernel never
            // addresses through FS.
            unsafe { wrmsr(IA32_FS_BASE, self.fs_base) };
        }
        // SAFETY: `frame_ptr` is a valid, 16-byte aligned frame holding user selectors and
        // sanitised rflags, so the CPU enters ring 3 and cannot gain privileges; TSS.rsp0 was
        // just set to the frame's end, so the next trap saves the user state into it, and the
        // exit path restores the callee-saved registers and stack pushed by the entry.
        unsafe { __pagoda_enter_user(frame_ptr, sysret) };
        // SAFETY: IA32_FS_BASE exists; reading it back keeps what ring 3 did to FS (loading
        // a selector into FS resets the base).
        self.fs_base = unsafe { rdmsr(IA32_FS_BASE) };
        FS_BASE_HOLDS.store(self.fs_base, Ordering::Relaxed);
        // SAFETY: plain read of a cell only the user-trap exit path writes, and that path
        // cannot run while the kernel executes here (single CPU, interrupts off).
        let cr2 = unsafe { *USER_TRAP_CR2.get() };
        Some(match self.frame.vector {
            SYSCALL_VECTOR => UserTrap::Syscall,
            vector if (u64::from(FIRST_INTERRUPT)..SYSCALL_VECTOR).contains(&vector) => {
                return None;
            }
            PAGE_FAULT => UserTrap::PageFault {
                addr: VirtAddr::from_usize(cr2 as usize),
                access: page_fault_access(self.frame.error_code),
            },
            vector => UserTrap::Exception {
                cause: vector as usize,
                tval: self.frame.error_code as usize,
            },
        })
    }

    /// Sets the user thread pointer: the FS base (`arch_prctl(ARCH_SET_FS)`,
    /// `CLONE_SETTLS`). Returns `false` and changes nothing for a non-canonical address
    /// (Linux answers `EPERM` there); user addresses are what Linux accepts.
    pub fn set_thread_pointer(&mut self, value: usize) -> bool {
        if !is_canonical(value as u64) || value >= USER_VA_END {
            return false;
        }
        self.fs_base = value as u64;
        true
    }

    /// The syscall number (rax).
    pub fn syscall_number(&self) -> usize {
        self.frame.rax as usize
    }

    /// The six syscall arguments: rdi, rsi, rdx, r10, r8, r9.
    pub fn syscall_args(&self) -> [usize; 6] {
        let f = &self.frame;
        [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9].map(|r| r as usize)
    }

    /// Sets the syscall return value (rax). The rip already points past `syscall`.
    pub fn set_syscall_return(&mut self, value: usize) {
        self.frame.rax = value as u64;
    }

    /// Bytes of the `syscall` instruction: after [`UserTrap::Syscall`] the pc is this far
    /// past it (a kernel that re-executes a waiting call moves the pc back by this much).
    pub const SYSCALL_INSN_LEN: usize = 2;

    /// The user pc (rip).
    pub fn pc(&self) -> usize {
        self.frame.rip as usize
    }

    /// Sets the user pc. Returning through `iretq` then (the registers `sysretq` clobbers
    /// may matter to the code resumed there).
    pub fn set_pc(&mut self, pc: usize) {
        self.frame.rip = pc as u64;
        self.frame.vector = 0;
    }

    /// The user stack pointer (rsp).
    pub fn sp(&self) -> usize {
        self.frame.rsp as usize
    }

    /// Sets the user stack pointer.
    pub fn set_sp(&mut self, sp: usize) {
        self.frame.rsp = sp as u64;
    }

    /// The registers in Linux's `struct sigcontext` order: r8..r15, rdi, rsi, rbp, rbx, rdx,
    /// rax, rcx, rsp, rip, eflags (the rest of the array is 0).
    pub fn linux_regs(&self) -> [u64; 32] {
        let f = &self.frame;
        let mut out = [0u64; 32];
        out[..18].copy_from_slice(&[
            f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx,
            f.rdx, f.rax, f.rcx, f.rsp, f.rip, f.rflags,
        ]);
        out
    }

    /// Sets the registers from [`linux_regs`](Self::linux_regs) order; rflags keeps only the
    /// user-owned bits (as every entry to ring 3 does). The next entry uses `iretq`, so rcx
    /// and r11 are restored too.
    pub fn set_linux_regs(&mut self, regs: &[u64; 32]) {
        let f = &mut self.frame;
        [
            f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx,
            f.rdx, f.rax, f.rcx, f.rsp, f.rip,
        ] = [
            regs[0], regs[1], regs[2], regs[3], regs[4], regs[5], regs[6], regs[7], regs[8],
            regs[9], regs[10], regs[11], regs[12], regs[13], regs[14], regs[15], regs[16],
        ];
        f.rflags = (regs[17] & USER_RFLAGS) | RFLAGS_FIXED;
        f.vector = 0;
    }

    /// Bytes of FP state: the FXSAVE area a Linux signal frame holds.
    pub const FP_STATE_LEN: usize = 512;

    /// The FP state (FXSAVE layout).
    pub fn fp_state(&self) -> [u8; Self::FP_STATE_LEN] {
        self.current_fx().0
    }

    /// The x87/SSE state: the registers' if this context owns them, else its area's.
    fn current_fx(&self) -> FxState {
        if FPU_OWNER.load(Ordering::Relaxed) != self.fx.as_ptr() {
            // SAFETY: `fx` is this context's live area; nothing writes it during this call.
            return unsafe { self.fx.as_ptr().read() };
        }
        let mut live = FxState([0; 512]);
        // SAFETY: `live` is a 16-byte aligned 512-byte area; `fxsave64` writes just those
        // and leaves the registers as they are.
        unsafe { asm!("fxsave64 [{}]", in(reg) &raw mut live, options(nostack, preserves_flags)) };
        live
    }

    /// Sets the FP state from FXSAVE layout; `false` (nothing changes) for a wrong length.
    /// MXCSR keeps only its defined bits (a reserved bit would make `fxrstor64` fault).
    pub fn set_fp_state(&mut self, bytes: &[u8]) -> bool {
        let Ok(area) = <[u8; 512]>::try_from(bytes) else {
            return false;
        };
        // The registers' state, if they hold this context's, is replaced: entering loads
        // the area again.
        disown_fpu(self.fx);
        // SAFETY: `fx` is this context's live area, and `&mut self` keeps every other use
        // of it (ours, or a save by another context's entry) out during this call.
        let fx = unsafe { &mut *self.fx.as_ptr() };
        fx.0 = area;
        let mut m = [0u8; 4];
        m.copy_from_slice(&area[24..28]);
        let mxcsr = u32::from_le_bytes(m) & 0xffff;
        fx.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        true
    }
}

/// The signal Linux sends for a user exception with this vector.
pub fn exception_signal(cause: usize) -> Signal {
    match cause {
        0 | 7 | 16 | 19 => Signal::Fpe, // #DE, #NM, #MF, #XM
        1 | 3 => Signal::Trap,          // #DB, #BP
        6 => Signal::Ill,               // #UD
        17 => Signal::Bus,              // #AC
        _ => Signal::Segv,              // #GP, #PF, #SS, bound, overflow, unexpected
    }
}
