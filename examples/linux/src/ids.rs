//! Process attributes: credentials (`set*id`) and resource limits (`prlimit64`,
//! `getrlimit`, `setrlimit`).

use pagoda::linux::Sysno;
use pagoda::mm::LinuxError;
use pagoda_task::Pid;
use pagoda_task::rlimit::{Limits, Rlimit};

use crate::process::Kernel;
use crate::uaccess::{SysResult, get_array, put};

/// The stack the ELF loader maps (`RLIMIT_STACK`'s soft limit; exec does not read it).
pub const STACK_LIMIT: u64 = 1 << 20;

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

impl Kernel {
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
            Some(limit) => p.limits.set(resource, limit, mine.euid == 0)?,
            None => p.limits.get(resource)?,
        };
        if old != 0 {
            put(Some(old), &previous.encode())?;
        }
        Ok(0)
    }
}
