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

use core::arch::{asm, global_asm};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

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
#[derive(Debug)]
pub struct UserContext {
    frame: TrapFrame,
    fx: FxState,
    /// `IA32_FS_BASE` while this context runs (the kernel itself never uses FS).
    fs_base: u64,
    /// Names the contents of `fx`: a new value whenever they change other than by
    /// `fxsave64` (a copy, `set_fp_state`), so that [`FPU_HOLDS`] can tell whether the
    /// registers still hold them.
    fx_id: u64,
}

impl Clone for UserContext {
    fn clone(&self) -> Self {
        Self {
            frame: self.frame,
            fx: self.fx.clone(),
            fs_base: self.fs_base,
            fx_id: new_fx_id(),
        }
    }
}

/// The `fx_id` of the x87/SSE state the registers hold (0: none known). The kernel is
/// soft-float and never touches them, so after `fxsave64` they keep that context's state:
/// entering the same context again needs no `fxrstor64` (512 bytes, an emulator helper).
static FPU_HOLDS: AtomicU64 = AtomicU64::new(0);
/// The value `IA32_FS_BASE` holds (read back after every return from ring 3), so that
/// entering a context with the same base skips the `wrmsr`.
static FS_BASE_HOLDS: AtomicU64 = AtomicU64::new(u64::MAX);

fn new_fx_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

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
            fx: FxState::initial(),
            fs_base: 0,
            fx_id: new_fx_id(),
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
        let fx: *mut FxState = &mut self.fx;
        if FPU_HOLDS.swap(self.fx_id, Ordering::Relaxed) != self.fx_id {
            // SAFETY: `fx` is a 16-byte aligned 512-byte area holding a state built by
            // `FxState::initial` or saved by `fxsave64`, so `fxrstor64` cannot fault; the
            // kernel itself never uses x87/SSE registers (soft-float target).
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
        // SAFETY: `fx` is valid and 16-byte aligned; `fxsave64` only writes those 512 bytes.
        unsafe { asm!("fxsave64 [{}]", in(reg) fx, options(nostack, preserves_flags)) };
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
        self.fx.0
    }

    /// Sets the FP state from FXSAVE layout; `false` (nothing changes) for a wrong length.
    /// MXCSR keeps only its defined bits (a reserved bit would make `fxrstor64` fault).
    pub fn set_fp_state(&mut self, bytes: &[u8]) -> bool {
        let Ok(area) = <[u8; 512]>::try_from(bytes) else {
            return false;
        };
        self.fx.0 = area;
        self.fx_id = new_fx_id();
        let mut m = [0u8; 4];
        m.copy_from_slice(&area[24..28]);
        let mxcsr = u32::from_le_bytes(m) & 0xffff;
        self.fx.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
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
