//! Process attributes: credentials (`set*id`) and resource limits (`prlimit64`,
//! `getrlimit`, `setrlimit`).

use pagoda::linux::Sysno;
use pagoda::mm::LinuxError;
use pagoda_task::rlimit::{Limits, Rlimit, resource};
use pagoda_task::{Pid, Signal};

use crate::process::Kernel;
use crate::uaccess::{SysResult, get, get_array, put};

/// `RLIMIT_STACK`'s default soft limit (Linux's `_STK_LIM`, 8 MiB): how far the main
/// thread's stack may grow; `execve` reads the caller's soft limit.
pub const STACK_LIMIT: u64 = 8 << 20;

/// The limits of pid 1.
pub fn init_limits() -> Limits {
    use pagoda::fs::fd::{DEFAULT_NOFILE, NR_OPEN};
    Limits::new(STACK_LIMIT, DEFAULT_NOFILE as u64, NR_OPEN as u64)
}

/// The `set*id` calls with `Credentials`' rules (ids are `uid_t`: 32 bits, -1 keeps one).
pub fn set_ids(k: &mut Kernel, me: Pid, sys: Sysno, a: [usize; 6]) -> SysResult {
    let id = |i: usize| a[i] as u32;
    let c = k.tree.creds_mut(me)?;
    match sys {
        Sysno::Setuid => c.setuid(id(0)),
        Sysno::Setgid => c.setgid(id(0)),
        Sysno::Setreuid => c.setreuid(id(0), id(1)),
        Sysno::Setregid => c.setregid(id(0), id(1)),
        Sysno::Setresuid => c.setresuid(id(0), id(1), id(2)),
        _ => c.setresgid(id(0), id(1), id(2)),
    }
    .map(|()| 0)
}

/// `prctl` options.
const PR_SET_PDEATHSIG: usize = 1;
const PR_GET_PDEATHSIG: usize = 2;
const PR_SET_NAME: usize = 15;
const PR_GET_NAME: usize = 16;
const PR_SET_CHILD_SUBREAPER: usize = 36;
const PR_GET_CHILD_SUBREAPER: usize = 37;

impl Kernel {
    /// `prctl(option, arg2, ...)`: the parent-death signal, the name, the child subreaper
    /// flag (per process); the name (per thread). Other options are `EINVAL`, as Linux answers for options it does not know.
    pub fn sys_prctl(&mut self, tid: Pid, me: Pid, a: [usize; 6]) -> SysResult {
        match a[0] {
            PR_SET_PDEATHSIG => {
                let sig = match a[1] {
                    0 => None,
                    n => Some(Signal::new(n)?),
                };
                self.procs.get_mut(&me).ok_or(LinuxError::ESRCH)?.pdeathsig = sig;
                Ok(0)
            }
            PR_GET_PDEATHSIG => {
                let sig = self.procs.get(&me).ok_or(LinuxError::ESRCH)?.pdeathsig;
                let n = sig.map_or(0, |s| u32::from(s.num()));
                put(Some(a[1]), &n.to_le_bytes()).map(|()| 0)
            }
            PR_SET_NAME => {
                let name = get_cstr_upto(a[1], 15)?;
                let t = self.threads.get_mut(&tid).ok_or(LinuxError::ESRCH)?;
                t.comm = [0; 16];
                t.comm[..name.len()].copy_from_slice(&name);
                Ok(0)
            }
            PR_GET_NAME => {
                let comm = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.comm;
                put(Some(a[1]), &comm).map(|()| 0)
            }
            PR_SET_CHILD_SUBREAPER => self.tree.set_subreaper(me, a[1] != 0).map(|()| 0),
            PR_GET_CHILD_SUBREAPER => {
                let on = u32::from(self.tree.is_subreaper(me)?);
                put(Some(a[1]), &on.to_le_bytes()).map(|()| 0)
            }
            opt => (self
                .procs
                .get_mut(&me)
                .ok_or(LinuxError::ESRCH)?
                .memory
                .prctl(opt, a))
            .unwrap_or(Err(LinuxError::EINVAL)),
        }
    }

    /// `prlimit64(pid, resource, new, old)` (0: the caller; `getrlimit` / `setrlimit` are
    /// this with one of the pointers 0). Another process needs the same credentials or
    /// root, as on Linux. The old value is read before the new one is set.
    pub fn sys_prlimit(
        &mut self,
        me: Pid,
        pid: usize,
        resource: usize,
        new: usize,
        old: usize,
    ) -> SysResult {
        let target = match pid {
            0 => me,
            p => Pid::new(u32::try_from(p).map_err(|_| LinuxError::ESRCH)?),
        };
        if !self.procs.contains_key(&target) {
            return Err(LinuxError::ESRCH);
        }
        let mine = self.tree.creds(me)?;
        if target != me {
            let theirs = self.tree.creds(target)?;
            let same = [theirs.ruid, theirs.euid, theirs.suid]
                .iter()
                .all(|&u| u == mine.ruid)
                && [theirs.rgid, theirs.egid, theirs.sgid]
                    .iter()
                    .all(|&g| g == mine.rgid);
            if !same && mine.euid != 0 {
                return Err(LinuxError::EPERM);
            }
        }
        let new = match new {
            0 => None,
            at => Some(Rlimit::decode(&get_array::<16>(at)?)),
        };
        let p = self.procs.get_mut(&target).ok_or(LinuxError::ESRCH)?;
        let previous = match new {
            Some(limit) => {
                let was = p.limits.set(resource, limit, mine.euid == 0)?;
                if resource == resource::STACK {
                    // Linux checks the stack's growth against the limit at each fault.
                    let mm = p.mm;
                    let bytes = usize::try_from(limit.cur).unwrap_or(usize::MAX);
                    let _ = self.with_mm(mm, |s| {
                        s.set_stack_limit(bytes);
                        Ok(())
                    });
                }
                was
            }
            None => p.limits.get(resource)?,
        };
        if old != 0 {
            put(Some(old), &previous.encode())?;
        }
        Ok(0)
    }
}

/// Up to `max` bytes of the string at `at`, cut there (`PR_SET_NAME` truncates silently).
fn get_cstr_upto(at: usize, max: usize) -> Result<alloc::vec::Vec<u8>, LinuxError> {
    let mut out = alloc::vec::Vec::new();
    while out.len() < max {
        let mut b = [0u8; 1];
        get(at.checked_add(out.len()), &mut b)?;
        if b[0] == 0 {
            break;
        }
        out.push(b[0]);
    }
    Ok(out)
}
