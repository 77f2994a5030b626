//! The signal system calls: actions, masks, pending sets, waiting for a signal, the
//! alternate stack, and sending (kill, tgkill, tkill).

use pagoda::linux::abi::{KernelSigaction, StackT};
use pagoda::mm::LinuxError;
use pagoda_task::siginfo::code;
use pagoda_task::{Handler, Pid, SaFlags, SigAction, SigFields, SigInfo, SigSet, Signal};

use crate::process::{Kernel, Wait};
use crate::syscall::Outcome;
use crate::uaccess::{SysResult, get, get_array, get_u64, put, put_u64};

/// The kernel's `sigset_t` size, which every call checks.
const SIGSET_SIZE: usize = 8;

impl Kernel {
    /// `rt_sigaction(sig, act, oact, sigsetsize)`.
    pub fn sys_sigaction(&mut self, tid: Pid, a: [usize; 6]) -> SysResult {
        if a[3] != SIGSET_SIZE {
            return Err(LinuxError::EINVAL);
        }
        let sig = Signal::new(a[0])?;
        let size = KernelSigaction::size(self.arch);
        let new = if a[1] != 0 {
            let mut raw = [0u8; 32];
            get(Some(a[1]), &mut raw[..size])?;
            let k = KernelSigaction::decode(self.arch, &raw);
            Some(SigAction {
                handler: Handler::from_raw(k.handler),
                flags: SaFlags::from_bits_retain(k.flags),
                mask: SigSet::from_bits(k.mask),
                restorer: k.restorer,
            })
        } else {
            None
        };
        let pid = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.tgid;
        let Self { procs, threads, .. } = self;
        let p = procs.get_mut(&pid).ok_or(LinuxError::ESRCH)?;
        let mine = threads
            .values_mut()
            .filter(|t| t.tgid == pid)
            .map(|t| &mut t.sig);
        let old = p.signals.set_action(sig, new, mine)?;
        if let Some(new) = new
            && sig == Signal::SIGCHLD
        {
            let reap = new.handler == Handler::Ignore || new.flags.contains(SaFlags::NOCLDWAIT);
            self.tree.set_autoreap(pid, reap)?;
        }
        if a[2] != 0 {
            let k = KernelSigaction {
                handler: old.handler.raw(),
                flags: old.flags.bits(),
                restorer: old.restorer,
                mask: old.mask.bits(),
            };
            put(Some(a[2]), &k.encode(self.arch)[..size])?;
        }
        Ok(0)
    }

    /// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
    pub fn sys_sigprocmask(&mut self, tid: Pid, a: [usize; 6]) -> SysResult {
        if a[3] != SIGSET_SIZE {
            return Err(LinuxError::EINVAL);
        }
        let set = match a[1] {
            0 => None,
            at => Some(SigSet::from_bits(get_u64(at)?)),
        };
        let t = self.threads.get_mut(&tid).ok_or(LinuxError::ESRCH)?;
        let old = t.sig.sigprocmask(a[0], set)?;
        if a[2] != 0 {
            put_u64(a[2], old.bits())?;
        }
        Ok(0)
    }

    /// `rt_sigpending(set, sigsetsize)`: blocked signals waiting for the thread or the
    /// process.
    pub fn sys_sigpending(&mut self, tid: Pid, a: [usize; 6]) -> SysResult {
        if a[1] > SIGSET_SIZE {
            return Err(LinuxError::EINVAL);
        }
        let t = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?;
        let shared = self
            .procs
            .get(&t.tgid)
            .map_or(SigSet::EMPTY, |p| p.signals.shared.set());
        let pending = t
            .sig
            .pending
            .set()
            .union(shared)
            .intersection(t.sig.blocked);
        put(Some(a[0]), &pending.bits().to_le_bytes()[..a[1]])?;
        Ok(0)
    }

    /// `rt_sigsuspend(mask, sigsetsize)`: waits with `mask` until a handler ran (then
    /// `EINTR`, with the old mask back after the handler) or the process dies.
    pub fn sys_sigsuspend(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        if a[1] != SIGSET_SIZE {
            return Outcome::Ret(Err(LinuxError::EINVAL));
        }
        let mask = match get_u64(a[0]) {
            Ok(m) => SigSet::from_bits(m).as_mask(),
            Err(e) => return Outcome::Ret(Err(e)),
        };
        let Some(t) = self.threads.get_mut(&tid) else {
            return Outcome::NoReturn;
        };
        // A re-executed call (after a stop, or a signal that turned out ignored) keeps the
        // mask it saved first.
        if t.suspend_mask.is_none() {
            t.suspend_mask = Some(t.sig.blocked);
        }
        t.sig.blocked = mask;
        self.block(tid, Wait::Suspend);
        Outcome::Blocked
    }

    /// `rt_sigtimedwait(set, info, timeout, sigsetsize)`: takes a pending signal of `set`
    /// (the thread's own first, lowest number first) without running its handler; waits
    /// until one comes, the timeout passes (`EAGAIN`) or another signal's handler runs
    /// (`EINTR`).
    pub fn sys_sigtimedwait(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        match self.sigtimedwait(tid, a) {
            Ok(Some(v)) => Outcome::Ret(Ok(v)),
            Ok(None) => Outcome::Blocked,
            Err(e) => {
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.sigwait = SigSet::EMPTY;
                    t.sleep_deadline = None;
                }
                Outcome::Ret(Err(e))
            }
        }
    }

    fn sigtimedwait(&mut self, tid: Pid, a: [usize; 6]) -> Result<Option<usize>, LinuxError> {
        if a[3] != SIGSET_SIZE {
            return Err(LinuxError::EINVAL);
        }
        let set = SigSet::from_bits(get_u64(a[0])?).as_mask();
        let timeout = match a[2] {
            0 => None,
            at => Some(pagoda::linux::abi::Timespec::decode(&get_array::<16>(at)?)?.as_ns()),
        };
        let t = self.threads.get_mut(&tid).ok_or(LinuxError::ESRCH)?;
        let p = self.procs.get_mut(&t.tgid).ok_or(LinuxError::ESRCH)?;
        let mine = t.sig.pending.set().intersection(set);
        let taken = match mine.first() {
            Some(sig) => t.sig.pending.take(sig),
            None => p
                .signals
                .shared
                .set()
                .intersection(set)
                .first()
                .and_then(|sig| p.signals.shared.take(sig)),
        };
        if let Some(info) = taken {
            t.sigwait = SigSet::EMPTY;
            t.sleep_deadline = None;
            if a[1] != 0 {
                let bytes = crate::sigdeliver::siginfo_bytes(&info);
                put(Some(a[1]), &bytes)?;
            }
            return Ok(Some(usize::from(info.signo.num())));
        }
        let now = pagoda::time::monotonic_ns();
        // A re-executed call keeps its first deadline.
        let deadline = match (t.sleep_deadline, timeout) {
            (Some(d), _) => Some(d),
            (None, Some(ns)) => Some(now.saturating_add(ns)),
            (None, None) => None,
        };
        if deadline.is_some_and(|d| d <= now) {
            t.sleep_deadline = None;
            t.sigwait = SigSet::EMPTY;
            return Err(LinuxError::EAGAIN);
        }
        t.sleep_deadline = deadline;
        t.sigwait = set;
        if let Some(d) = deadline {
            self.timers.set(pagoda::time::TimerKind::Wake(tid), d, 0);
        }
        self.block(tid, Wait::Signal);
        Ok(None)
    }

    /// `sigaltstack(ss, old_ss)`.
    pub fn sys_sigaltstack(&mut self, tid: Pid, a: [usize; 6]) -> SysResult {
        let new = match a[0] {
            0 => None,
            at => Some(StackT::decode(&get_array::<24>(at)?)),
        };
        let min = self.arch.min_sigstack();
        let t = self.threads.get_mut(&tid).ok_or(LinuxError::ESRCH)?;
        let sp = t.ctx.sp();
        let old = t.sig.altstack;
        if let Some(ss) = new {
            t.sig
                .altstack
                .set(sp, ss.sp as usize, ss.size as usize, ss.flags, min)?;
        }
        if a[1] != 0 {
            let ss = StackT {
                sp: old.base as u64,
                flags: old.flags(sp),
                size: old.size as u64,
            };
            put(Some(a[1]), &ss.encode())?;
        }
        Ok(0)
    }

    /// `kill(pid, sig)`.
    pub fn sys_kill(&mut self, tid: Pid, pid: usize, sig: usize) -> SysResult {
        let sig = match sig {
            0 => None,
            n => Some(Signal::new(n)?),
        };
        let targets = self.tree.kill_targets(tid, pid as i32, sig)?;
        let me = self.tree.tgid(tid)?;
        let uid = self.tree.creds(me)?.ruid;
        if let Some(sig) = sig {
            for target in targets {
                self.send_process(target, SigInfo::user(sig, me.get(), uid));
            }
        }
        Ok(0)
    }

    /// `rt_sigqueueinfo(tgid, sig, info)` and `rt_tgsigqueueinfo(tgid, tid, sig, info)`:
    /// a signal with the caller's `siginfo_t` (its `si_code` must be negative, as from
    /// `sigqueue`, unless it signals itself; the sender fields are the kernel's).
    pub fn sys_sigqueueinfo(
        &mut self,
        tid: Pid,
        tgid: usize,
        target: Option<usize>,
        sig: usize,
        info: usize,
    ) -> SysResult {
        let raw = get_array::<128>(info)?;
        let word = |at: usize| i32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let code = word(8);
        let mut value = [0u8; 8];
        value.copy_from_slice(&raw[24..32]);
        let value = u64::from_le_bytes(value) as usize;
        let sig = Signal::new(sig)?;
        let tgid = i32::try_from(tgid)
            .ok()
            .filter(|&g| g > 0)
            .ok_or(LinuxError::EINVAL)?;
        let dest = Pid::new(tgid as u32);
        let me = self.tree.tgid(tid)?;
        if (code >= 0 || code == code::SI_TKILL) && dest != me {
            return Err(LinuxError::EPERM);
        }
        let uid = self.tree.creds(me)?.ruid;
        let info = SigInfo {
            signo: sig,
            errno: 0,
            code,
            fields: SigFields::Queue {
                pid: me.get(),
                uid,
                value,
            },
        };
        match target {
            None => {
                if self.tree.tgid(dest)? != dest || !self.procs.contains_key(&dest) {
                    return Err(LinuxError::ESRCH);
                }
                self.send_process(dest, info);
            }
            Some(t) => {
                let t = i32::try_from(t)
                    .ok()
                    .filter(|&t| t > 0)
                    .ok_or(LinuxError::EINVAL)?;
                let t = Pid::new(t as u32);
                if self.tree.tgid(t)? != dest || !self.threads.contains_key(&t) {
                    return Err(LinuxError::ESRCH);
                }
                self.send_thread(t, info);
            }
        }
        Ok(0)
    }

    /// `tgkill(tgid, tid, sig)`; `tkill(tid, sig)` passes `tgid = None`.
    pub fn sys_tgkill(
        &mut self,
        tid: Pid,
        tgid: Option<usize>,
        target: usize,
        sig: usize,
    ) -> SysResult {
        let target = i32::try_from(target).map_err(|_| LinuxError::EINVAL)?;
        if target <= 0 || tgid.is_some_and(|g| (g as i32) <= 0) {
            return Err(LinuxError::EINVAL);
        }
        let sig = match sig {
            0 => None,
            n => Some(Signal::new(n)?),
        };
        let target = Pid::new(target as u32);
        let owner = self.tree.tgid(target)?;
        if tgid.is_some_and(|g| g as u32 != owner.get()) || !self.threads.contains_key(&target) {
            return Err(LinuxError::ESRCH);
        }
        let me = self.tree.tgid(tid)?;
        let uid = self.tree.creds(me)?.ruid;
        if let Some(sig) = sig {
            self.send_thread(target, SigInfo::tkill(sig, me.get(), uid));
        }
        Ok(0)
    }
}
