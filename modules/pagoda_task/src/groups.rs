//! Process groups, sessions and the targets of `kill`.

use alloc::vec::Vec;

use axerrno::LinuxError;

use crate::signal::Signal;
use crate::tree::{Pid, Process, ProcessTree, is_live};

impl ProcessTree {
    /// `PR_SET_CHILD_SUBREAPER`: whether process `pid` adopts its orphaned descendants.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn set_subreaper(&mut self, pid: Pid, on: bool) -> Result<(), LinuxError> {
        self.proc_mut(pid)?.subreaper = on;
        Ok(())
    }

    /// `PR_GET_CHILD_SUBREAPER`.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn is_subreaper(&self, pid: Pid) -> Result<bool, LinuxError> {
        Ok(self.proc(pid)?.subreaper)
    }

    /// Who adopts the children of ending process `pid`: its nearest ancestor that is a
    /// live subreaper, else init (as Linux's `find_new_reaper`).
    pub(crate) fn reaper_for(&self, pid: Pid) -> Pid {
        let mut at = self.procs.get(&pid).map(|p| p.parent);
        // Bounded walk: parents form a tree rooted at init.
        for _ in 0..self.procs.len() {
            let Some(id) = at.filter(|id| *id != Pid::INIT) else {
                break;
            };
            let Some(p) = self.procs.get(&id) else { break };
            if p.subreaper && is_live(p) {
                return id;
            }
            at = Some(p.parent);
        }
        Pid::INIT
    }

    /// `getpgid(pid)` (0: the caller). `ESRCH` for an unknown process.
    pub fn getpgid(&self, tid: Pid, pid: u32) -> Result<Pid, LinuxError> {
        let target = if pid == 0 {
            self.tgid(tid)?
        } else {
            self.process_of(Pid::new(pid))?
        };
        Ok(self.proc(target)?.pgid)
    }

    /// `getsid(pid)` (0: the caller). `ESRCH` for an unknown process.
    pub fn getsid(&self, tid: Pid, pid: u32) -> Result<Pid, LinuxError> {
        let target = if pid == 0 {
            self.tgid(tid)?
        } else {
            self.process_of(Pid::new(pid))?
        };
        Ok(self.proc(target)?.sid)
    }

    /// `setpgid(pid, pgid)` by thread `tid`, with Linux's checks in Linux's order.
    ///
    /// # Errors
    /// `EINVAL`: `pgid < 0`, or `pid` names a thread that does not lead its process;
    /// `ESRCH`: `pid` is neither the caller nor its child; `EPERM`: a child in another
    /// session, a session leader, or `pgid` not a group of the caller's session; `EACCES`:
    /// the child has run `execve`. Nothing changes on error.
    pub fn setpgid(&mut self, tid: Pid, pid: i32, pgid: i32) -> Result<(), LinuxError> {
        let me = self.caller(tid)?;
        if pgid < 0 {
            return Err(LinuxError::EINVAL);
        }
        let pid = match pid {
            0 => me,
            p => Pid::new(u32::try_from(p).map_err(|_| LinuxError::ESRCH)?),
        };
        let pgid = if pgid == 0 {
            pid
        } else {
            Pid::new(pgid as u32)
        };
        let target_pid = self.tgid(pid)?;
        if target_pid != pid {
            return Err(LinuxError::EINVAL);
        }
        let target = self.proc(pid)?;
        let my_sid = self.proc(me)?.sid;
        if target.parent == me {
            if target.sid != my_sid {
                return Err(LinuxError::EPERM);
            }
            if target.execed {
                return Err(LinuxError::EACCES);
            }
        } else if pid != me {
            return Err(LinuxError::ESRCH);
        }
        if target.sid == pid {
            return Err(LinuxError::EPERM);
        }
        // A zombie still belongs to its group until it is reaped (as in Linux), so a
        // pipeline's second process may join the group of a first that already ended.
        if pgid != pid && self.member_session(pgid) != Some(my_sid) {
            return Err(LinuxError::EPERM);
        }
        let old = core::mem::replace(&mut self.proc_mut(pid)?.pgid, pgid);
        self.unname(old);
        self.name(pgid);
        Ok(())
    }

    /// The session of process group `pgrp`, as `TIOCSPGRP` finds it: a member's session
    /// (zombies count until reaped), else the session of the process whose id is `pgrp`,
    /// else `None` when the id is only some session's id.
    ///
    /// # Errors
    /// `ESRCH` when no thread, process, group or session uses the id.
    pub fn group_session(&self, pgrp: Pid) -> Result<Option<Pid>, LinuxError> {
        if !self.in_use(pgrp) {
            return Err(LinuxError::ESRCH);
        }
        let leader = || {
            let p = self.process_of(pgrp).ok()?;
            Some(self.proc(p).ok()?.sid)
        };
        Ok(self.member_session(pgrp).or_else(leader))
    }

    /// The session of a member of group `pgrp`, zombies included; `None` for no members.
    fn member_session(&self, pgrp: Pid) -> Option<Pid> {
        self.procs.values().find(|p| p.pgid == pgrp).map(|p| p.sid)
    }

    /// `setsid()` by thread `tid`: a new session and group led by the caller; returns its id.
    ///
    /// # Errors
    /// `EPERM` if a process group with the caller's id exists (it leads one).
    pub fn setsid(&mut self, tid: Pid) -> Result<Pid, LinuxError> {
        let me = self.caller(tid)?;
        if self.procs.values().any(|p| p.pgid == me) {
            return Err(LinuxError::EPERM);
        }
        let p = self.proc_mut(me)?;
        let old_sid = core::mem::replace(&mut p.sid, me);
        let old_pgid = core::mem::replace(&mut p.pgid, me);
        for old in [old_sid, old_pgid] {
            self.unname(old);
            self.name(me);
        }
        Ok(me)
    }

    /// The processes `kill(pid, sig)` by thread `tid` reaches, with kill(2)'s rules: `pid > 0`
    /// that process (a thread id names its process); `0` the caller's group; `-1` every
    /// process the caller may signal except init and itself; `< -1` the group `-pid`. Zombies
    /// count as found but are not returned (a signal to them has no effect). `SIGCONT` may
    /// always be sent within the caller's session.
    ///
    /// # Errors
    /// `ESRCH` when nothing matches; `EPERM` when matches exist but none may be signalled
    /// (for `-1`, Linux returns success then: so does this, with an empty list).
    pub fn kill_targets(
        &self,
        tid: Pid,
        pid: i32,
        sig: Option<Signal>,
    ) -> Result<Vec<Pid>, LinuxError> {
        let me = self.caller(tid)?;
        let mine = self.proc(me)?;
        let may = |p: &Process| {
            mine.creds.may_signal(&p.creds) || (sig == Some(Signal::SIGCONT) && p.sid == mine.sid)
        };
        let group = match pid {
            p if p > 0 => {
                let target = self.process_of(Pid::new(p as u32))?;
                let t = self.proc(target)?;
                if !may(t) {
                    return Err(LinuxError::EPERM);
                }
                return Ok(if is_live(t) {
                    alloc::vec![target]
                } else {
                    Vec::new()
                });
            }
            -1 => {
                let all = self
                    .procs
                    .iter()
                    .filter(|(id, _)| **id != Pid::INIT && **id != me);
                let mut found = false;
                let mut out = Vec::new();
                for (id, p) in all {
                    found = true;
                    if may(p) && is_live(p) {
                        out.push(*id);
                    }
                }
                return if found {
                    Ok(out)
                } else {
                    Err(LinuxError::ESRCH)
                };
            }
            0 => mine.pgid,
            i32::MIN => return Err(LinuxError::ESRCH),
            p => Pid::new(p.unsigned_abs()),
        };
        let members: Vec<(&Pid, &Process)> =
            self.procs.iter().filter(|(_, p)| p.pgid == group).collect();
        if members.is_empty() {
            return Err(LinuxError::ESRCH);
        }
        let allowed: Vec<Pid> = members
            .iter()
            .filter(|(_, p)| may(p))
            .map(|(id, _)| **id)
            .collect();
        if allowed.is_empty() {
            return Err(LinuxError::EPERM);
        }
        Ok(allowed
            .into_iter()
            .filter(|id| self.procs.get(id).is_some_and(is_live))
            .collect())
    }
}
