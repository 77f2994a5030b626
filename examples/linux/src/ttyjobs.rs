//! Job control on the console: its session and foreground process group (`tcgetpgrp`,
//! `tcsetpgrp`, `TIOCSCTTY`, `TIOCGSID`, `TIOCNOTTY`) with Linux's checks, and the signals
//! typed at it (`^C`, `^\`, `^Z`: `files/tty.rs`) sent to the foreground group.
//!
//! The console is the controlling terminal of every process of its session (pid 1's at
//! boot); a process that left that session (`setsid`) has none.

use alloc::vec::Vec;

use pagoda_task::{Pid, SigInfo, Signal};

use crate::files::tty::{self, req};
use crate::process::Kernel;
use crate::uaccess::{SysResult, get_array, put};
use pagoda::mm::LinuxError;

impl Kernel {
    /// The job-control `ioctl(fd, req, arg)`s when `fd` is the console; `None` for every
    /// other call (the file layer serves them).
    pub fn console_job_ioctl(&mut self, tid: Pid, me: Pid, a: [usize; 6]) -> Option<SysResult> {
        let (fd, request, arg) = (a[0], a[1], a[2]);
        if !matches!(
            request,
            req::TIOCGPGRP | req::TIOCSPGRP | req::TIOCSCTTY | req::TIOCGSID | req::TIOCNOTTY
        ) {
            return None;
        }
        if !self.procs.get(&me)?.files.is_console(fd) {
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
                let members = self.group_members(want as u32);
                let first = members.first().ok_or(LinuxError::ESRCH)?;
                if self.tree.getsid(tid, first.get())?.get() != sid {
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
