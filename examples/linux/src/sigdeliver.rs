//! Acting on signals on the way back to user mode: the thread's next signal is dequeued
//! (`ProcessSignals::dequeue`), a handler gets a Linux `rt_sigframe`
//! (`pagoda_linux::sigframe`), a default action terminates or stops the process; a wait
//! the signal interrupted returns `EINTR` or, with `SA_RESTART`, re-executes after the
//! handler. `rt_sigreturn` reads the frame back.

use alloc::vec;

use pagoda::linux::abi::{Arch, SiginfoFields, encode_siginfo};
use pagoda::linux::sigframe::{self, Delivery, StackInfo, UserRegs};
use pagoda::mm::{LinuxError, UserContext};
use pagoda_task::siginfo::code;
use pagoda_task::{
    AltStack, Disposition, ExitStatus, Handler, Pid, ProcState, SaFlags, SigAction, SigFields,
    SigInfo, SigSet, Signal,
};

use crate::process::{Kernel, Wait};
use crate::uaccess::{errno, get, put};

/// The riscv64 signal-return trampoline exec maps (`exec::map_trampoline`): `li a7, 139`
/// (`rt_sigreturn`); `ecall`.
pub const TRAMPOLINE_CODE: [u8; 8] = [0x93, 0x08, 0xb0, 0x08, 0x73, 0x00, 0x00, 0x00];

/// What the loop does with a thread after signals were acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run it.
    Run,
    /// It is gone, parked (stopped process) or waiting.
    Skip,
}

/// The `siginfo_t` fields of `info`.
fn fields(info: &SigInfo) -> SiginfoFields {
    match info.fields {
        SigFields::None => SiginfoFields::None,
        SigFields::Kill { pid, uid } => SiginfoFields::Kill {
            pid: pid as i32,
            uid,
        },
        SigFields::Queue { pid, uid, value } => SiginfoFields::Queue {
            pid: pid as i32,
            uid,
            value: value as u64,
        },
        SigFields::Fault { addr } => SiginfoFields::Fault { addr: addr as u64 },
        SigFields::Child { pid, uid, status } => SiginfoFields::Child {
            pid: pid as i32,
            uid,
            status,
            utime: 0,
            stime: 0,
        },
    }
}

/// The 128 bytes of `info` as a `siginfo_t`.
pub fn siginfo_bytes(info: &SigInfo) -> [u8; 128] {
    encode_siginfo(
        i32::from(info.signo.num()),
        info.errno,
        info.code,
        fields(info),
    )
}

/// The interrupted registers as the frame builder wants them.
fn user_regs(arch: Arch, ctx: &UserContext, info: &SigInfo) -> UserRegs {
    let raw = ctx.linux_regs();
    match arch {
        Arch::X86_64 => {
            let mut gpr = [0u64; 18];
            gpr.copy_from_slice(&raw[..18]);
            let fault = match info.fields {
                // trapno 14 (#PF) and cr2 for a page fault.
                SigFields::Fault { addr } if info.signo == Signal::SIGSEGV => [0, 14, addr as u64],
                _ => [0; 3],
            };
            // cs, gs, fs, ss as Linux reports them (__USER_CS, 0, 0, __USER_DS).
            UserRegs::X86_64 {
                gpr,
                segs: 0x33 | (0x2b << 48),
                fault,
            }
        }
        // riscv64; aarch64 has no frame yet (`sigframe::build` refuses it), so what it
        // gets here is never used.
        _ => {
            let mut x = [0u64; 32];
            let n = raw.len().min(32);
            x[..n].copy_from_slice(&raw[..n]);
            UserRegs::Riscv64(x)
        }
    }
}

fn set_regs(ctx: &mut UserContext, regs: &UserRegs) {
    let mut raw = ctx.linux_regs();
    let n = raw.len().min(32);
    match regs {
        UserRegs::X86_64 { gpr, .. } => raw[..18].copy_from_slice(gpr),
        UserRegs::Riscv64(x) => raw[..n].copy_from_slice(&x[..n]),
    }
    ctx.set_linux_regs(&raw);
}

impl Kernel {
    /// Acts on thread `tid`'s pending signals before it runs.
    pub fn deliver(&mut self, tid: Pid) -> Next {
        loop {
            let Some(t) = self.threads.get_mut(&tid) else {
                return Next::Skip;
            };
            let pid = t.tgid;
            if matches!(self.tree.state(pid), Ok(ProcState::Stopped(_))) {
                t.parked = true;
                self.rq.remove(tid);
                return Next::Skip;
            }
            let Some(p) = self.procs.get_mut(&pid) else {
                return Next::Skip;
            };
            // rt_sigtimedwait takes the signals it waits for itself, before any handler.
            let pending = t.sig.pending.set().union(p.signals.shared.set());
            if t.interrupted == Some(Wait::Signal) && !pending.intersection(t.sigwait).is_empty() {
                t.interrupted = None;
                return Next::Run;
            }
            let Some(d) = p.signals.dequeue(&mut t.sig) else {
                // Nothing to act on (an ignored signal ended the wait): the call re-executes.
                t.interrupted = None;
                return Next::Run;
            };
            match d {
                Disposition::Handle {
                    info,
                    action,
                    saved_mask,
                    ..
                } => {
                    if let Some(w) = t.interrupted.take() {
                        // Waits for signals end with EINTR, whatever SA_RESTART says.
                        let restart = !matches!(
                            w,
                            Wait::Suspend | Wait::Signal | Wait::File { restart: false }
                        ) && action.flags.contains(SaFlags::RESTART);
                        if !restart {
                            self.fail_interrupted(tid, w);
                        }
                    }
                    let saved = self
                        .threads
                        .get_mut(&tid)
                        .and_then(|t| t.suspend_mask.take())
                        .unwrap_or(saved_mask);
                    return self.handle(tid, info, action, saved);
                }
                Disposition::Terminate { info, core } => {
                    let status = ExitStatus::Signaled {
                        sig: info.signo,
                        core,
                    };
                    self.kill_process(pid, status);
                    return Next::Skip;
                }
                Disposition::Stop(sig) => self.stop_process(pid, sig),
            }
        }
    }

    /// A wait a handler interrupted returns `EINTR` (a sleep reports the time left).
    fn fail_interrupted(&mut self, tid: Pid, w: Wait) {
        let now = pagoda::time::monotonic_ns();
        let arch = self.arch;
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        if w == Wait::Sleep
            && let Some(deadline) = t.sleep_deadline.take()
        {
            let a = t.ctx.syscall_args();
            let rem = crate::time::remaining_pointer(arch, t.ctx.syscall_number(), &a);
            if let Some(rem) = rem {
                let left = pagoda::linux::abi::Timespec::from_ns(deadline.saturating_sub(now));
                let _ = put(Some(rem), &left.encode());
            }
        }
        t.sleep_deadline = None;
        t.sigwait = SigSet::EMPTY;
        let pc = t.ctx.pc();
        t.ctx.set_pc(pc.wrapping_add(UserContext::SYSCALL_INSN_LEN));
        t.ctx.set_syscall_return(errno(LinuxError::EINTR));
    }

    /// Runs the handler of `action` for `info`; a frame that cannot be written kills the
    /// process with `SIGSEGV`, as Linux does.
    fn handle(&mut self, tid: Pid, info: SigInfo, action: SigAction, saved: SigSet) -> Next {
        match self.setup_frame(tid, &info, &action, saved) {
            Ok(()) => Next::Run,
            Err(_) => {
                if let Some(pid) = self.threads.get(&tid).map(|t| t.tgid) {
                    let sig = Signal::SIGSEGV;
                    self.kill_process(pid, ExitStatus::Signaled { sig, core: true });
                }
                Next::Skip
            }
        }
    }

    fn setup_frame(
        &mut self,
        tid: Pid,
        info: &SigInfo,
        action: &SigAction,
        saved: SigSet,
    ) -> Result<(), LinuxError> {
        let arch = self.arch;
        let pid = self.tree.tgid(tid)?;
        let sigreturn = self.procs.get(&pid).map_or(0, |p| p.sigreturn);
        let t = self.threads.get_mut(&tid).ok_or(LinuxError::ESRCH)?;
        let Handler::User(handler) = action.handler else {
            return Err(LinuxError::EINVAL);
        };
        let regs = user_regs(arch, &t.ctx, info);
        let fp = t.ctx.fp_state();
        let bytes = siginfo_bytes(info);
        let sp = t.ctx.sp();
        let alt = t.sig.altstack;
        let switch = action.flags.contains(SaFlags::ONSTACK) && alt.size != 0 && !alt.contains(sp);
        let restorer = match arch {
            Arch::X86_64 => action
                .flags
                .contains(SaFlags::RESTORER)
                .then_some(action.restorer as u64),
            _ => Some(sigreturn).filter(|&va| va != 0),
        };
        let d = Delivery {
            signo: u32::from(info.signo.num()),
            info: &bytes,
            saved_mask: saved.bits(),
            handler: handler as u64,
            restorer,
            altstack: StackInfo {
                sp: alt.base as u64,
                flags: alt.flags(sp),
                size: alt.size as u64,
            },
            switch_to_altstack: switch,
        };
        let frame = sigframe::build(&regs, &fp, &d)?;
        put(Some(frame.addr as usize), &frame.bytes)?;
        set_regs(&mut t.ctx, &frame.entry);
        if switch && alt.autodisarm {
            t.sig.altstack = AltStack::default();
        }
        Ok(())
    }

    /// A fault thread `tid` raised itself (`SIGSEGV`, `SIGBUS`, `SIGILL`, ...): its handler
    /// runs now, or the process dies if it has none (or blocks or ignores it).
    pub fn force_fault(&mut self, tid: Pid, info: SigInfo) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        let pid = t.tgid;
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        match p.signals.force_fault(info, &mut t.sig) {
            Disposition::Handle {
                info,
                action,
                saved_mask,
                ..
            } => {
                self.handle(tid, info, action, saved_mask);
            }
            Disposition::Terminate { info, core } => {
                let status = ExitStatus::Signaled {
                    sig: info.signo,
                    core,
                };
                self.kill_process(pid, status);
            }
            Disposition::Stop(sig) => self.stop_process(pid, sig),
        }
    }

    /// `rt_sigreturn`: restores the registers, FP state, mask and alternate stack the
    /// frame at the stack pointer holds. A bad frame is fatal (`SIGSEGV`).
    pub fn sigreturn(&mut self, tid: Pid) {
        if self.try_sigreturn(tid).is_err() {
            let info = SigInfo {
                signo: Signal::SIGSEGV,
                errno: 0,
                code: code::SI_KERNEL,
                fields: SigFields::None,
            };
            self.force_fault(tid, info);
        }
    }

    fn try_sigreturn(&mut self, tid: Pid) -> Result<(), LinuxError> {
        let arch = self.arch;
        let t = self.threads.get_mut(&tid).ok_or(LinuxError::ESRCH)?;
        let at = sigframe::frame_at_sigreturn(arch, t.ctx.sp() as u64);
        let mut bytes = vec![0u8; sigframe::frame_len(arch)];
        get(Some(at as usize), &mut bytes)?;
        let eflags = t.ctx.linux_regs()[17];
        let restored = sigframe::restore(arch, &bytes, eflags)?;
        let fp = match arch {
            Arch::X86_64 if restored.fp_addr != 0 => {
                let mut area = vec![0u8; UserContext::FP_STATE_LEN];
                get(Some(restored.fp_addr as usize), &mut area)?;
                Some(area)
            }
            Arch::X86_64 => None,
            _ => Some(restored.fp),
        };
        set_regs(&mut t.ctx, &restored.regs);
        match fp {
            Some(area) => {
                t.ctx.set_fp_state(&area);
            }
            // No FP state saved: the power-on state.
            None => {
                t.ctx.set_fp_state(&UserContext::new(0, 0).fp_state());
            }
        }
        t.sig.blocked = SigSet::from_bits(restored.mask).as_mask();
        let s = restored.altstack;
        let sp = restored.regs.sp() as usize;
        // Errors are ignored, as Linux's restore_altstack does.
        let _ = t.sig.altstack.set(
            sp,
            s.sp as usize,
            s.size as usize,
            s.flags,
            arch.min_sigstack(),
        );
        Ok(())
    }
}
