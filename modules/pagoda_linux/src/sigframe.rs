//! The Linux `rt_sigframe` a signal handler runs on, per architecture: where it goes on the
//! user stack, its bytes (return address or trampoline, `ucontext` with the interrupted
//! registers and mask, `siginfo`, FP state), the registers the handler starts with, and
//! reading it back for `rt_sigreturn`.
//!
//! - x86_64: `{ pretcode, ucontext (304 bytes: flags, link, stack_t, sigcontext, sigmask),
//!   siginfo }` below a 64-byte aligned FXSAVE area that `sigcontext.fpstate` points to; the
//!   128-byte red zone is skipped; the handler starts with `rsp % 16 == 8` (as after a call)
//!   and returns through `sa_restorer`, which x86_64 C libraries always set.
//! - riscv64: `{ siginfo, ucontext (960 bytes: flags, link, stack_t, sigmask, padding,
//!   sigcontext = pc and x1..x31, then the FP union) }`, 16-byte aligned; `ra` holds the
//!   kernel's `rt_sigreturn` trampoline.

use alloc::vec;
use alloc::vec::Vec;

use axerrno::LinuxError;

use crate::abi::Arch;

/// Bytes of FP state in a frame: FXSAVE on x86_64, the D extension's `f0..f31` + `fcsr` on
/// riscv64 (and the same for aarch64, which has no frame here yet).
pub const fn fp_size(arch: Arch) -> usize {
    match arch {
        Arch::X86_64 => 512,
        Arch::Riscv64 | Arch::Aarch64 => 32 * 8 + 4,
    }
}

/// `uc_stack`: the alternate signal stack as the interrupted code had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackInfo {
    /// `ss_sp`.
    pub sp: u64,
    /// `ss_flags` (`SS_ONSTACK`, `SS_DISABLE`, `SS_AUTODISARM`).
    pub flags: i32,
    /// `ss_size`.
    pub size: u64,
}

/// The interrupted user registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRegs {
    /// x86_64, in `struct sigcontext` order: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp,
    /// rip, eflags; then the fault's error code, trap number and `cr2`.
    X86_64 {
        /// The general registers, `rip` and `eflags`.
        gpr: [u64; 18],
        /// The selectors word: `cs | gs << 16 | fs << 32 | ss << 48`.
        segs: u64,
        /// `err`, `trapno`, `cr2`.
        fault: [u64; 3],
    },
    /// riscv64: `pc`, then `x1..x31` (`ra`, `sp`, `gp`, `tp`, `t0`, ...).
    Riscv64([u64; 32]),
}

/// Indexes into [`UserRegs::X86_64`]'s `gpr`.
pub mod x64 {
    #![allow(missing_docs)]
    pub const R8: usize = 0;
    pub const RDI: usize = 8;
    pub const RSI: usize = 9;
    pub const RBP: usize = 10;
    pub const RBX: usize = 11;
    pub const RDX: usize = 12;
    pub const RAX: usize = 13;
    pub const RCX: usize = 14;
    pub const RSP: usize = 15;
    pub const RIP: usize = 16;
    pub const EFLAGS: usize = 17;
}

/// Indexes into [`UserRegs::Riscv64`]'s array.
pub mod rv {
    #![allow(missing_docs)]
    pub const PC: usize = 0;
    pub const RA: usize = 1;
    pub const SP: usize = 2;
    pub const A0: usize = 10;
    pub const A1: usize = 11;
    pub const A2: usize = 12;
}

impl UserRegs {
    /// The architecture.
    pub const fn arch(&self) -> Arch {
        match self {
            UserRegs::X86_64 { .. } => Arch::X86_64,
            UserRegs::Riscv64(_) => Arch::Riscv64,
        }
    }

    /// The stack pointer.
    pub const fn sp(&self) -> u64 {
        match self {
            UserRegs::X86_64 { gpr, .. } => gpr[x64::RSP],
            UserRegs::Riscv64(x) => x[rv::SP],
        }
    }
}

/// What the handler needs besides the interrupted registers.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The signal number (first argument).
    pub signo: u32,
    /// The 128 bytes of `siginfo_t`.
    pub info: &'a [u8; 128],
    /// The mask to restore on return.
    pub saved_mask: u64,
    /// The handler's address.
    pub handler: u64,
    /// Where the handler returns: `sa_restorer` on x86_64, the kernel's trampoline on riscv64.
    pub restorer: Option<u64>,
    /// The thread's alternate stack as `sigaltstack` reports it now.
    pub altstack: StackInfo,
    /// `SA_ONSTACK`, and the alternate stack is enabled and not in use: switch to it.
    pub switch_to_altstack: bool,
}

/// A frame ready to be written to user memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Where `bytes` go.
    pub addr: u64,
    /// The frame (and on x86_64 the FP area above it).
    pub bytes: Vec<u8>,
    /// The registers the handler starts with.
    pub entry: UserRegs,
}

/// `uc_flags` on x86_64: the `ss` in `sigcontext` is valid and restored strictly.
const UC_SIGCONTEXT_SS: u64 = 0x2;
const UC_STRICT_RESTORE_SS: u64 = 0x4;
const X86_RED_ZONE: u64 = 128;
const X86_FRAME: u64 = 8 + 304 + 128;
const X86_UC: usize = 8;
const X86_MCONTEXT: usize = X86_UC + 40;
const X86_SIGMASK: usize = X86_UC + 296;
const X86_INFO: usize = X86_UC + 304;
const RV_FRAME: u64 = 128 + 960;
const RV_UC: usize = 128;
const RV_SIGMASK: usize = RV_UC + 40;
const RV_MCONTEXT: usize = RV_UC + 176;
const RV_FP: usize = RV_MCONTEXT + 256;
/// eflags bits `rt_sigreturn` lets user code set (AC OF DF TF SF ZF AF PF CF RF).
const X86_USER_FLAGS: u64 =
    0x4_0000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x1_0000;

fn put(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn put_stack(bytes: &mut [u8], at: usize, s: StackInfo) {
    put(bytes, at, s.sp);
    bytes[at + 8..at + 12].copy_from_slice(&s.flags.to_le_bytes());
    put(bytes, at + 16, s.size);
}

fn get_stack(bytes: &[u8], at: usize) -> StackInfo {
    let mut f = [0; 4];
    f.copy_from_slice(&bytes[at + 8..at + 12]);
    StackInfo {
        sp: get(bytes, at),
        flags: i32::from_le_bytes(f),
        size: get(bytes, at + 16),
    }
}

/// Builds the frame for delivering a signal to a thread interrupted with `regs` and FP state
/// `fp` ([`fp_size`] bytes).
///
/// # Errors
/// `EFAULT` (the kernel then forces `SIGSEGV`, as Linux does) when x86_64 has no
/// `sa_restorer` or riscv64 no trampoline, the stack pointer would wrap, or `fp` has the
/// wrong size.
pub fn build(regs: &UserRegs, fp: &[u8], d: &Delivery) -> Result<Frame, LinuxError> {
    let arch = regs.arch();
    if fp.len() != fp_size(arch) {
        return Err(LinuxError::EFAULT);
    }
    let restorer = d.restorer.ok_or(LinuxError::EFAULT)?;
    let top = if d.switch_to_altstack {
        d.altstack
            .sp
            .checked_add(d.altstack.size)
            .ok_or(LinuxError::EFAULT)?
    } else {
        match arch {
            Arch::X86_64 => regs
                .sp()
                .checked_sub(X86_RED_ZONE)
                .ok_or(LinuxError::EFAULT)?,
            _ => regs.sp(),
        }
    };
    match *regs {
        UserRegs::X86_64 { gpr, segs, fault } => {
            let fp_addr = top.checked_sub(512).ok_or(LinuxError::EFAULT)? & !63;
            let addr =
                (fp_addr.checked_sub(X86_FRAME).ok_or(LinuxError::EFAULT)? & !15).wrapping_sub(8);
            let mut bytes = vec![0u8; (fp_addr + 512 - addr) as usize];
            put(&mut bytes, 0, restorer);
            put(&mut bytes, X86_UC, UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
            put_stack(&mut bytes, X86_UC + 16, d.altstack);
            for (i, v) in gpr.iter().enumerate() {
                put(&mut bytes, X86_MCONTEXT + 8 * i, *v);
            }
            put(&mut bytes, X86_MCONTEXT + 144, segs);
            put(&mut bytes, X86_MCONTEXT + 152, fault[0]);
            put(&mut bytes, X86_MCONTEXT + 160, fault[1]);
            put(&mut bytes, X86_MCONTEXT + 168, d.saved_mask);
            put(&mut bytes, X86_MCONTEXT + 176, fault[2]);
            put(&mut bytes, X86_MCONTEXT + 184, fp_addr);
            put(&mut bytes, X86_SIGMASK, d.saved_mask);
            bytes[X86_INFO..X86_INFO + 128].copy_from_slice(d.info);
            let fp_at = (fp_addr - addr) as usize;
            bytes[fp_at..fp_at + 512].copy_from_slice(fp);
            let mut entry = gpr;
            entry[x64::RSP] = addr;
            entry[x64::RIP] = d.handler;
            entry[x64::RDI] = u64::from(d.signo);
            entry[x64::RSI] = addr + X86_INFO as u64;
            entry[x64::RDX] = addr + X86_UC as u64;
            entry[x64::RAX] = 0;
            // Handlers start with the direction, trap and resume flags clear.
            entry[x64::EFLAGS] &= !(0x400 | 0x100 | 0x1_0000);
            Ok(Frame {
                addr,
                bytes,
                entry: UserRegs::X86_64 {
                    gpr: entry,
                    segs,
                    fault,
                },
            })
        }
        UserRegs::Riscv64(x) => {
            let addr = top.checked_sub(RV_FRAME).ok_or(LinuxError::EFAULT)? & !15;
            let mut bytes = vec![0u8; RV_FRAME as usize];
            bytes[..128].copy_from_slice(d.info);
            put_stack(&mut bytes, RV_UC + 16, d.altstack);
            put(&mut bytes, RV_SIGMASK, d.saved_mask);
            for (i, v) in x.iter().enumerate() {
                put(&mut bytes, RV_MCONTEXT + 8 * i, *v);
            }
            bytes[RV_FP..RV_FP + fp.len()].copy_from_slice(fp);
            let mut entry = x;
            entry[rv::PC] = d.handler;
            entry[rv::RA] = restorer;
            entry[rv::SP] = addr;
            entry[rv::A0] = u64::from(d.signo);
            entry[rv::A1] = addr;
            entry[rv::A2] = addr + RV_UC as u64;
            Ok(Frame {
                addr,
                bytes,
                entry: UserRegs::Riscv64(entry),
            })
        }
    }
}

/// Where `rt_sigreturn` finds the frame, given the stack pointer at the call: on x86_64 the
/// handler's `ret` already popped the return address.
pub const fn frame_at_sigreturn(arch: Arch, sp: u64) -> u64 {
    match arch {
        Arch::X86_64 => sp.wrapping_sub(8),
        _ => sp,
    }
}

/// How many bytes of the frame `rt_sigreturn` reads (the x86_64 FP area is separate: its
/// address is [`Restored::fp_addr`]).
pub const fn frame_len(arch: Arch) -> usize {
    match arch {
        Arch::X86_64 => X86_FRAME as usize,
        _ => RV_FRAME as usize,
    }
}

/// What `rt_sigreturn` restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The registers to resume with (x86_64 `eflags` limited to the user-settable bits).
    pub regs: UserRegs,
    /// The signal mask to install (the caller drops `SIGKILL`/`SIGSTOP`).
    pub mask: u64,
    /// The alternate stack to install (`sigaltstack` semantics, errors ignored as Linux does).
    pub altstack: StackInfo,
    /// riscv64: the FP state from the frame. x86_64: empty; read [`fp_size`] bytes at
    /// `fp_addr` (0: no FP state, reset it).
    pub fp: Vec<u8>,
    /// x86_64: the FXSAVE area's address.
    pub fp_addr: u64,
}

/// Reads a frame of [`frame_len`] bytes back; `current_eflags` supplies the x86_64 flag bits
/// user code may not change.
///
/// # Errors
/// `EFAULT` if `bytes` is shorter than [`frame_len`]; `EINVAL` for aarch64, whose frame
/// Pagoda's Linux layer does not build yet.
pub fn restore(arch: Arch, bytes: &[u8], current_eflags: u64) -> Result<Restored, LinuxError> {
    if arch == Arch::Aarch64 {
        return Err(LinuxError::EINVAL);
    }
    if bytes.len() < frame_len(arch) {
        return Err(LinuxError::EFAULT);
    }
    Ok(match arch {
        Arch::X86_64 => {
            let mut gpr = [0u64; 18];
            for (i, v) in gpr.iter_mut().enumerate() {
                *v = get(bytes, X86_MCONTEXT + 8 * i);
            }
            gpr[x64::EFLAGS] =
                (current_eflags & !X86_USER_FLAGS) | (gpr[x64::EFLAGS] & X86_USER_FLAGS);
            let fault = [
                get(bytes, X86_MCONTEXT + 152),
                get(bytes, X86_MCONTEXT + 160),
                get(bytes, X86_MCONTEXT + 176),
            ];
            Restored {
                regs: UserRegs::X86_64 {
                    gpr,
                    segs: get(bytes, X86_MCONTEXT + 144),
                    fault,
                },
                mask: get(bytes, X86_SIGMASK),
                altstack: get_stack(bytes, X86_UC + 16),
                fp: Vec::new(),
                fp_addr: get(bytes, X86_MCONTEXT + 184),
            }
        }
        _ => {
            let mut x = [0u64; 32];
            for (i, v) in x.iter_mut().enumerate() {
                *v = get(bytes, RV_MCONTEXT + 8 * i);
            }
            Restored {
                regs: UserRegs::Riscv64(x),
                mask: get(bytes, RV_SIGMASK),
                altstack: get_stack(bytes, RV_UC + 16),
                fp: bytes[RV_FP..RV_FP + fp_size(arch)].to_vec(),
                fp_addr: 0,
            }
        }
    })
}
