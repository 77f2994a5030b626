//! Exit statuses, the status words of `wait4`, and the arguments of `wait4` / `waitid`.

use axerrno::LinuxError;
use bitflags::bitflags;

use crate::siginfo::code;
use crate::signal::Signal;
use crate::tree::Pid;

/// How a process ended (or changed state), as its parent's `wait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// `exit(code)`: only the low 8 bits of the code survive.
    Exited(u8),
    /// Killed by a signal; `core`: the default action dumps core.
    Signaled {
        /// The fatal signal.
        sig: Signal,
        /// The core-dump flag of the status word.
        core: bool,
    },
}

impl ExitStatus {
    /// The status of `exit(code)` / `exit_group(code)`: Linux keeps `code & 0xff`.
    pub const fn from_exit_code(code: i32) -> Self {
        ExitStatus::Exited(code as u8)
    }

    /// The `wstatus` word of `wait4`: `code << 8` for an exit, the signal in the low 7 bits
    /// (and `0x80` for a core dump) for a kill.
    pub const fn wstatus(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => (code as i32) << 8,
            ExitStatus::Signaled { sig, core } => sig.num() as i32 | if core { 0x80 } else { 0 },
        }
    }

    /// `si_code` and `si_status` of the `SIGCHLD` / `waitid` report.
    pub const fn child_code(self) -> (i32, i32) {
        match self {
            ExitStatus::Exited(c) => (code::CLD_EXITED, c as i32),
            ExitStatus::Signaled { sig, core: false } => (code::CLD_KILLED, sig.num() as i32),
            ExitStatus::Signaled { sig, core: true } => (code::CLD_DUMPED, sig.num() as i32),
        }
    }
}

/// The status word of a child stopped by `sig` (`WIFSTOPPED`).
pub const fn stopped_wstatus(sig: Signal) -> i32 {
    ((sig.num() as i32) << 8) | 0x7f
}

/// The status word of a continued child (`WIFCONTINUED`).
pub const CONTINUED_WSTATUS: i32 = 0xffff;

bitflags! {
    /// Options of `wait4` and `waitid`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct WaitOptions: u32 {
        /// Return at once if no child is ready.
        const WNOHANG = 0x1;
        /// Report stopped children (`WUNTRACED` in `wait4`).
        const WSTOPPED = 0x2;
        /// Report children that exited (implied by `wait4`).
        const WEXITED = 0x4;
        /// Report children continued by `SIGCONT`.
        const WCONTINUED = 0x8;
        /// Leave the child waitable (`waitid` only).
        const WNOWAIT = 0x0100_0000;
        /// Wait for children of this thread only (Pagoda: every thread's, see `wait`).
        const WNOTHREAD = 0x2000_0000;
        /// Wait for all children, whatever their exit signal.
        const WALL = 0x4000_0000;
        /// Wait for "clone" children only (exit signal other than `SIGCHLD`).
        const WCLONE = 0x8000_0000;
    }
}

impl WaitOptions {
    const COMMON: Self = Self::WNOHANG
        .union(Self::WNOTHREAD)
        .union(Self::WALL)
        .union(Self::WCLONE);

    /// The options of `wait4(pid, status, options)`: `WEXITED` is implied.
    ///
    /// # Errors
    /// `EINVAL` for bits other than `WNOHANG`, `WUNTRACED`, `WCONTINUED`, `__WNOTHREAD`,
    /// `__WALL`, `__WCLONE`.
    pub fn for_wait4(raw: u32) -> Result<Self, LinuxError> {
        let allowed = Self::COMMON.union(Self::WSTOPPED).union(Self::WCONTINUED);
        let opts = Self::from_bits(raw)
            .filter(|o| allowed.contains(*o))
            .ok_or(LinuxError::EINVAL)?;
        Ok(opts | Self::WEXITED)
    }

    /// The options of `waitid(idtype, id, info, options)`.
    ///
    /// # Errors
    /// `EINVAL` for unknown bits or when none of `WEXITED`, `WSTOPPED`, `WCONTINUED` is set.
    pub fn for_waitid(raw: u32) -> Result<Self, LinuxError> {
        let events = Self::WEXITED.union(Self::WSTOPPED).union(Self::WCONTINUED);
        let allowed = Self::COMMON.union(events).union(Self::WNOWAIT);
        let opts = Self::from_bits(raw)
            .filter(|o| allowed.contains(*o))
            .ok_or(LinuxError::EINVAL)?;
        if !opts.intersects(events) {
            return Err(LinuxError::EINVAL);
        }
        Ok(opts)
    }
}

/// Which children a wait accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitTarget {
    /// Any child (`pid == -1`, `P_ALL`).
    Any,
    /// The child with this pid (`pid > 0`, `P_PID`).
    Pid(Pid),
    /// Any child in this process group (`pid < -1`, `P_PGID`).
    Pgid(Pid),
    /// Any child in the caller's process group (`pid == 0`, `P_PGID` with id 0).
    OwnGroup,
}

impl WaitTarget {
    /// The target of `wait4`'s `pid` argument.
    ///
    /// # Errors
    /// `ESRCH` for `i32::MIN`, whose negation does not exist (Linux's answer).
    pub fn for_wait4(pid: i32) -> Result<Self, LinuxError> {
        Ok(match pid {
            -1 => WaitTarget::Any,
            0 => WaitTarget::OwnGroup,
            i32::MIN => return Err(LinuxError::ESRCH),
            p if p < 0 => WaitTarget::Pgid(Pid::new(p.unsigned_abs())),
            p => WaitTarget::Pid(Pid::new(p as u32)),
        })
    }

    /// The target of `waitid(idtype, id)`: `P_ALL` 0, `P_PID` 1, `P_PGID` 2.
    ///
    /// # Errors
    /// `EINVAL` for another `idtype` (`P_PIDFD`: Pagoda has no pidfds) or a `P_PID` of 0.
    pub fn for_waitid(idtype: u32, id: u32) -> Result<Self, LinuxError> {
        match (idtype, id) {
            (0, _) => Ok(WaitTarget::Any),
            (1, 0) => Err(LinuxError::EINVAL),
            (1, id) if id <= i32::MAX as u32 => Ok(WaitTarget::Pid(Pid::new(id))),
            (2, 0) => Ok(WaitTarget::OwnGroup),
            (2, id) if id <= i32::MAX as u32 => Ok(WaitTarget::Pgid(Pid::new(id))),
            _ => Err(LinuxError::EINVAL),
        }
    }
}
