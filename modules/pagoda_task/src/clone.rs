//! The flags of `clone(2)`: their values and the combination rules Linux checks before it
//! creates anything.

use axerrno::LinuxError;

use crate::signal::Signal;

/// `clone` flag bits.
pub mod flags {
    /// The exit signal sent to the parent (low byte).
    pub const CSIGNAL: usize = 0xff;
    /// Share the address space.
    pub const VM: usize = 0x100;
    /// Share the working directory, root and umask.
    pub const FS: usize = 0x200;
    /// Share the descriptor table.
    pub const FILES: usize = 0x400;
    /// Share signal actions.
    pub const SIGHAND: usize = 0x800;
    /// Return a pidfd (not supported).
    pub const PIDFD: usize = 0x1000;
    /// Continue tracing (ignored: no ptrace).
    pub const PTRACE: usize = 0x2000;
    /// The parent waits until the child execs or exits.
    pub const VFORK: usize = 0x4000;
    /// The child gets the caller's parent (not supported).
    pub const PARENT: usize = 0x8000;
    /// A thread of the caller's process.
    pub const THREAD: usize = 0x1_0000;
    /// Share System V semaphore undo lists (ignored: no semaphores).
    pub const SYSVSEM: usize = 0x4_0000;
    /// Set the thread pointer.
    pub const SETTLS: usize = 0x8_0000;
    /// Store the new id at `parent_tid`.
    pub const PARENT_SETTID: usize = 0x10_0000;
    /// Clear `child_tid` and futex-wake it when the child exits.
    pub const CHILD_CLEARTID: usize = 0x20_0000;
    /// Ignored by Linux since 2.6.
    pub const DETACHED: usize = 0x40_0000;
    /// Ignored (no ptrace).
    pub const UNTRACED: usize = 0x80_0000;
    /// Store the new id at `child_tid` in the child's memory.
    pub const CHILD_SETTID: usize = 0x100_0000;
    /// Share the I/O context (ignored: no I/O scheduler).
    pub const IO: usize = 0x8000_0000;
    /// Every flag Pagoda implements or, like Linux in these cases, may ignore.
    pub const SUPPORTED: usize = CSIGNAL
        | VM
        | FS
        | FILES
        | SIGHAND
        | PTRACE
        | VFORK
        | THREAD
        | SYSVSEM
        | SETTLS
        | PARENT_SETTID
        | CHILD_CLEARTID
        | DETACHED
        | UNTRACED
        | CHILD_SETTID
        | IO;
}

/// Checks `clone`'s flags; returns the exit signal (`None` for 0).
///
/// # Errors
/// `EINVAL` (Linux's answer for each) for `CLONE_THREAD` without `CLONE_SIGHAND`,
/// `CLONE_SIGHAND` without `CLONE_VM`, an exit signal above 64; and, as not supported
/// here, for namespace flags, `CLONE_PIDFD`, `CLONE_PARENT` and unknown bits.
pub fn check_flags(f: usize) -> Result<Option<Signal>, LinuxError> {
    if f & !flags::SUPPORTED != 0
        || (f & flags::THREAD != 0 && f & flags::SIGHAND == 0)
        || (f & flags::SIGHAND != 0 && f & flags::VM == 0)
    {
        return Err(LinuxError::EINVAL);
    }
    match f & flags::CSIGNAL {
        0 => Ok(None),
        n => Signal::new(n).map(Some),
    }
}
