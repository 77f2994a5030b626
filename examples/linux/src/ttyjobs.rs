//! Job control on the console: its session and foreground process group (`tcgetpgrp`,
//! `tcsetpgrp`, `TIOCSCTTY`, `TIOCGSID`, `TIOCNOTTY`) with Linux's checks, the signals
//! typed at it (`^C`, `^\`, `^Z`: `files/tty.rs`) sent to the foreground group, and the
//! background checks: a background process that reads the console gets `SIGTTIN`, one that
//! changes its settings (or writes, with `TOSTOP`) `SIGTTOU` (Linux's `tty_check_change`).
//!
//! The console is the controlling terminal of every process of its session (pid 1's at
//! boot); a process that left that session (`setsid`) has none.

use alloc::vec::Vec;

use pagoda::linux::Sysno;
use pagoda_task::{Handler, Pid, SigInfo, Signal};

use crate::files::Block;
use crate::files::tty::{self, req};
use crate::process::Kernel;
use crate::syscall::Outcome;
use crate::uaccess::{SysResult, get_array, put};
use pagoda::mm::LinuxError;

/// What the background check decided.
enum Check {
    /// Go on with the call.
    Pass,
    /// The call fails.
    Fail(LinuxError),
    /// The caller's group was sent the signal: execute the call again after it (Linux's
    /// `-ERESTARTSYS`).
    Again,
}

impl Kernel {
    /// The background checks of a console call (`read`, `readv`, `write`, `writev`, the
    /// `ioctl`s that change the terminal) and the job-control `ioctl`s; `None`: the call
    /// goes on to the file layer.
    pub fn console_call(
        &mut self,
        tid: Pid,
        me: Pid,
        sys: Sysno,
        a: [usize; 6],
    ) -> Option<Outcome> {
        let sig = match sys {
            Sysno::Read | Sysno::Readv => Signal::SIGTTIN,
            Sysno::Write | Sysno::Writev if tty::tostop() => Signal::SIGTTOU,
            Sysno::Ioctl
                if matches!(
                    a[1],
                    req::TIOCSPGRP
                        | req::TCSETS
                        | req::TCSETSW
                        | req::TCSETSF
                        | req::TCFLSH
                        | req::TCXONC
                        | req::TCSBRK
                        | req::TCSBRKP
                ) =>
            {
                Signal::SIGTTOU
            }
            Sysno::Ioctl => {
                return self
                    .console_job_ioctl(tid, me, a)
                    .map(|r| self.done(tid, r));
            }
            _ => return None,
        };
        if !self.threads.get(&tid)?.files.is_console(a[0]) {
            return None;
        }
        match self.check_background(tid, me, sig) {
            Check::Pass if sys == Sysno::Ioctl => self
                .console_job_ioctl(tid, me, a)
                .map(|r| self.done(tid, r)),
            Check::Pass => None,
            // TIOCSPGRP reports an orphaned group as "not a terminal".
            Check::Fail(_) if a[1] == req::TIOCSPGRP && sys == Sysno::Ioctl => {
                Some(self.done(tid, Err(LinuxError::ENOTTY)))
            }
            Check::Fail(e) => Some(self.done(tid, Err(e))),
            Check::Again => {
                // Again once the signal acted (it stops the group, or its handler runs and
                // the call restarts or fails with EINTR); a tick later at the latest, so a
                // group that ignores the stop (init) does not spin.
                let again = pagoda::time::monotonic_ns().saturating_add(crate::sched::TICK_NS);
                let b = Block {
                    keys: alloc::vec![tty::CONSOLE_KEY],
                    deadline: Some(again),
                    restart: true,
                    sigmask: None,
                };
                self.block_on_files(tid, b);
                Some(Outcome::Blocked)
            }
        }
    }

    /// A console call ends here with `r`.
    fn done(&mut self, tid: Pid, r: SysResult) -> Outcome {
        self.file_call_done(tid);
        Outcome::Ret(r)
    }

    /// Linux's `__tty_check_change(tty, sig)` for the caller.
    fn check_background(&mut self, tid: Pid, me: Pid, sig: Signal) -> Check {
        let (Ok(sid), Ok(pgid)) = (self.tree.getsid(tid, 0), self.tree.getpgid(tid, 0)) else {
            return Check::Pass;
        };
        let (session, fg) = tty::job_state();
        if session == 0 || session != sid.get() || fg == 0 || fg == pgid.get() {
            return Check::Pass;
        }
        let blocked = self
            .threads
            .get(&tid)
            .is_some_and(|t| t.sig.blocked.contains(sig));
        let ignored = self
            .procs
            .get(&me)
            .is_some_and(|p| p.signals.action(sig).handler == Handler::Ignore);
        if blocked || ignored {
            return match sig {
                Signal::SIGTTIN => Check::Fail(LinuxError::EIO),
                _ => Check::Pass,
            };
        }
        if self.orphaned(pgid.get(), sid.get()) {
            return Check::Fail(LinuxError::EIO);
        }
        self.signal_group(pgid.get(), sig);
        Check::Again
    }

    /// Whether group `pgrp` is orphaned: no member has a parent in another group of the
    /// same session (no shell left to continue it).
    fn orphaned(&self, pgrp: u32, sid: u32) -> bool {
        !self.group_members(pgrp).into_iter().any(|m| {
            self.tree.parent(m).is_ok_and(|p| {
                let g = self.tree.getpgid(Pid::INIT, p.get()).map(|g| g.get());
                let s = self.tree.getsid(Pid::INIT, p.get()).map(|s| s.get());
                g.is_ok_and(|g| g != pgrp) && s == Ok(sid)
            })
        })
    }

    /// The job-control `ioctl(fd, req, arg)`s when `fd` is the console; `None` for every
    /// other call (the file layer serves them).
    fn console_job_ioctl(&mut self, tid: Pid, me: Pid, a: [usize; 6]) -> Option<SysResult> {
        let (fd, request, arg) = (a[0], a[1], a[2]);
        if !matches!(
            request,
            req::TIOCGPGRP | req::TIOCSPGRP | req::TIOCSCTTY | req::TIOCGSID | req::TIOCNOTTY
        ) {
            return None;
        }
        if !self.threads.get(&tid)?.files.is_console(fd) {
            return None;
        }
        Some(self.job_ioctl(tid, me, request, arg))
    }

    fn job_ioctl(&mut self, tid: Pid, me: Pid, request: usize, arg: usize) -> SysResult {
        let sid = self.tree.getsid(tid, 0)?.get();
        let pgid = self.tree.getpgid(tid, 0)?.get();
        let (session, fg) = tty::job_state();
        let mine = session != 0 && session == sid;
        match request {
            req::TIOCGPGRP | req::TIOCGSID if !mine => Err(LinuxError::ENOTTY),
            req::TIOCGPGRP => put(Some(arg), &fg.to_le_bytes()).map(|()| 0),
            req::TIOCGSID => put(Some(arg), &session.to_le_bytes()).map(|()| 0),
            req::TIOCSPGRP => {
                if !mine {
                    return Err(LinuxError::ENOTTY);
                }
                let want = i32::from_le_bytes(get_array::<4>(arg)?);
                if want < 0 {
                    return Err(LinuxError::EINVAL);
                }
                let group = Pid::new(want as u32);
                if self.tree.group_session(group)?.map(Pid::get) != Some(sid) {
                    return Err(LinuxError::EPERM);
                }
                tty::set_job_state(session, want as u32);
                Ok(0)
            }
            req::TIOCSCTTY => {
                let leader = sid == me.get();
                if leader && mine {
                    return Ok(0);
                }
                if !leader {
                    return Err(LinuxError::EPERM);
                }
                // Another session's terminal: only root may steal it (argument 1).
                let root = self.tree.creds(me)?.euid == 0;
                if session != 0 && self.session_alive(session) && !(arg == 1 && root) {
                    return Err(LinuxError::EPERM);
                }
                tty::set_job_state(sid, pgid);
                Ok(0)
            }
            // TIOCNOTTY
            _ if !mine => Err(LinuxError::ENOTTY),
            _ => {
                if sid == me.get() {
                    // The session leader gives it up: the foreground group hears of it.
                    tty::set_job_state(0, 0);
                    self.signal_group(fg, Signal::SIGHUP);
                    self.signal_group(fg, Signal::SIGCONT);
                }
                Ok(0)
            }
        }
    }

    /// Process `pid` ended: if it led the console's session, the console has none now and
    /// its foreground group gets SIGHUP (Linux's `disassociate_ctty(1)`).
    pub fn console_leader_exit(&mut self, pid: Pid) {
        let (session, fg) = tty::job_state();
        if session == 0 || session != pid.get() {
            return;
        }
        tty::set_job_state(0, 0);
        self.signal_group(fg, Signal::SIGHUP);
    }

    /// Whether session `sid` still has a live process.
    fn session_alive(&self, sid: u32) -> bool {
        self.procs.keys().any(|&p| {
            self.tree
                .getsid(Pid::INIT, p.get())
                .is_ok_and(|s| s.get() == sid)
        })
    }

    /// The processes of group `pgrp`.
    fn group_members(&self, pgrp: u32) -> Vec<Pid> {
        self.procs
            .keys()
            .copied()
            .filter(|&p| {
                self.tree
                    .getpgid(Pid::INIT, p.get())
                    .is_ok_and(|g| g.get() == pgrp)
            })
            .collect()
    }

    /// Sends `sig` from the kernel to every process of group `pgrp` (0: none).
    fn signal_group(&mut self, pgrp: u32, sig: Signal) {
        if pgrp == 0 {
            return;
        }
        for t in self.group_members(pgrp) {
            self.send_process(t, SigInfo::kernel(sig));
        }
    }

    /// Reads the console's input and sends the signals typed at it to its foreground group.
    pub fn console_input(&mut self) {
        tty::poll_input();
        let (signals, pgrp) = tty::take_signals();
        if signals == 0 {
            return;
        }
        for n in 1..64 {
            if signals & (1 << n) != 0
                && let Ok(sig) = Signal::new(n)
            {
                self.signal_group(pgrp, sig);
            }
        }
    }
}
