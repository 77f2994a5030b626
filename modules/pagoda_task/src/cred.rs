//! User and group ids of a process and the `set*id` rules of credentials(7).

use axerrno::LinuxError;

/// The ids a process runs with. Root (0) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Credentials {
    /// Real user id.
    pub ruid: u32,
    /// Effective user id (permission checks).
    pub euid: u32,
    /// Saved set-user-id.
    pub suid: u32,
    /// Real group id.
    pub rgid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
}

/// `-1` as an id argument: "leave unchanged".
const KEEP: u32 = u32::MAX;

/// The three ids of one kind (user or group) and whether the caller is privileged for them.
struct Triple<'a> {
    real: &'a mut u32,
    effective: &'a mut u32,
    saved: &'a mut u32,
    privileged: bool,
}

impl Triple<'_> {
    fn may_become(&self, id: u32) -> bool {
        self.privileged || id == *self.real || id == *self.effective || id == *self.saved
    }

    /// `setuid(id)`: privileged callers set all three; others only the effective id, to the
    /// real or saved one.
    fn set_id(self, id: u32) -> Result<(), LinuxError> {
        if id == KEEP {
            return Err(LinuxError::EINVAL);
        }
        if self.privileged {
            (*self.real, *self.effective, *self.saved) = (id, id, id);
        } else if id == *self.real || id == *self.saved {
            *self.effective = id;
        } else {
            return Err(LinuxError::EPERM);
        }
        Ok(())
    }

    /// `setresuid(r, e, s)`: each given id must be one of the current three unless privileged.
    fn set_res(self, r: u32, e: u32, s: u32) -> Result<(), LinuxError> {
        for id in [r, e, s] {
            if id != KEEP && !self.may_become(id) {
                return Err(LinuxError::EPERM);
            }
        }
        for (slot, id) in [(self.real, r), (self.effective, e), (self.saved, s)] {
            if id != KEEP {
                *slot = id;
            }
        }
        Ok(())
    }

    /// `setreuid(r, e)`: the real id may become the real or effective one, the effective
    /// id any of the three; the saved id follows the effective one when the real id is set or
    /// the effective id changes to something other than the old real id.
    fn set_re(self, r: u32, e: u32) -> Result<(), LinuxError> {
        let old_real = *self.real;
        let real_ok = r == KEEP || self.privileged || r == *self.real || r == *self.effective;
        if !real_ok || (e != KEEP && !self.may_become(e)) {
            return Err(LinuxError::EPERM);
        }
        if r != KEEP {
            *self.real = r;
        }
        if e != KEEP {
            *self.effective = e;
        }
        if r != KEEP || (e != KEEP && e != old_real) {
            *self.saved = *self.effective;
        }
        Ok(())
    }
}

impl Credentials {
    /// Root in every id.
    pub const ROOT: Credentials = Credentials {
        ruid: 0,
        euid: 0,
        suid: 0,
        rgid: 0,
        egid: 0,
        sgid: 0,
    };

    fn users(&mut self) -> Triple<'_> {
        let privileged = self.euid == 0;
        Triple {
            real: &mut self.ruid,
            effective: &mut self.euid,
            saved: &mut self.suid,
            privileged,
        }
    }

    fn groups(&mut self) -> Triple<'_> {
        let privileged = self.euid == 0;
        Triple {
            real: &mut self.rgid,
            effective: &mut self.egid,
            saved: &mut self.sgid,
            privileged,
        }
    }

    /// `setuid(uid)`. Errors (nothing changes): `EINVAL` for -1, `EPERM` when not allowed.
    pub fn setuid(&mut self, uid: u32) -> Result<(), LinuxError> {
        self.users().set_id(uid)
    }

    /// `setgid(gid)`. Errors as [`setuid`](Self::setuid).
    pub fn setgid(&mut self, gid: u32) -> Result<(), LinuxError> {
        self.groups().set_id(gid)
    }

    /// `setresuid(r, e, s)`, -1 keeping an id. `EPERM` when not allowed; nothing changes.
    pub fn setresuid(&mut self, r: u32, e: u32, s: u32) -> Result<(), LinuxError> {
        self.users().set_res(r, e, s)
    }

    /// `setresgid(r, e, s)`. Errors as [`setresuid`](Self::setresuid).
    pub fn setresgid(&mut self, r: u32, e: u32, s: u32) -> Result<(), LinuxError> {
        self.groups().set_res(r, e, s)
    }

    /// `setreuid(r, e)`. `EPERM` when not allowed; nothing changes.
    pub fn setreuid(&mut self, r: u32, e: u32) -> Result<(), LinuxError> {
        self.users().set_re(r, e)
    }

    /// `setregid(r, e)`. Errors as [`setreuid`](Self::setreuid).
    pub fn setregid(&mut self, r: u32, e: u32) -> Result<(), LinuxError> {
        self.groups().set_re(r, e)
    }

    /// Whether a process with these credentials may send a signal to one with `target`'s
    /// (kill(2): privileged, or the sender's real or effective uid is the target's real or
    /// saved uid).
    pub fn may_signal(&self, target: &Credentials) -> bool {
        self.euid == 0
            || [self.ruid, self.euid]
                .iter()
                .any(|id| *id == target.ruid || *id == target.suid)
    }
}
