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

/// `struct clone_args` as `clone3` passes it, decoded into what `clone` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clone3 {
    /// `clone`'s flags word: the flags with the exit signal in the low byte.
    pub flags: usize,
    /// The child's initial stack pointer (`stack + stack_size`), 0 for the caller's.
    pub sp: usize,
    /// `CLONE_PARENT_SETTID`'s address.
    pub parent_tid: usize,
    /// `CLONE_CHILD_SETTID` / `CLONE_CHILD_CLEARTID`'s address.
    pub child_tid: usize,
    /// `CLONE_SETTLS`'s thread pointer.
    pub tls: usize,
}

/// The size of the first `struct clone_args` (`CLONE_ARGS_SIZE_VER0`).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
/// The size of the `struct clone_args` this kernel knows (VER2: up to `cgroup`).
pub const CLONE_ARGS_SIZE: usize = 88;
/// The largest `size` `clone3` reads (Linux: a page).
pub const CLONE_ARGS_MAX: usize = 4096;

/// Decodes `clone3(uargs, size)`'s `size` bytes, with Linux's checks in its order.
///
/// # Errors
/// `EINVAL` for `size` below [`CLONE_ARGS_SIZE_VER0`], exit-signal bits in `flags`, an exit
/// signal above 64 or one with `CLONE_THREAD`/`CLONE_PARENT`, `CLONE_DETACHED`, a stack
/// without a size or a size without a stack, and — not supported
/// here — `set_tid`, `CLONE_INTO_CGROUP`, `CLONE_CLEAR_SIGHAND` and flags above 32 bits;
/// `E2BIG` for `size` above a page or non-zero bytes past the known struct; and what
/// [`check_flags`] answers.
pub fn decode_clone3(bytes: &[u8]) -> Result<Clone3, LinuxError> {
    if bytes.len() > CLONE_ARGS_MAX {
        return Err(LinuxError::E2BIG);
    }
    if bytes.len() < CLONE_ARGS_SIZE_VER0 {
        return Err(LinuxError::EINVAL);
    }
    if bytes.iter().skip(CLONE_ARGS_SIZE).any(|&b| b != 0) {
        return Err(LinuxError::E2BIG);
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        if let Some(src) = bytes.get(i * 8..i * 8 + 8) {
            w.copy_from_slice(src);
        }
        u64::from_le_bytes(w)
    };
    let [
        flags,
        _pidfd,
        child_tid,
        parent_tid,
        exit_signal,
        stack,
        stack_size,
        tls,
    ] = [0, 1, 2, 3, 4, 5, 6, 7].map(word);
    let (set_tid_size, cgroup_flags) = (word(9), flags >> 32);
    if flags & flags::CSIGNAL as u64 != 0 || exit_signal > 64 {
        return Err(LinuxError::EINVAL);
    }
    if set_tid_size != 0 || cgroup_flags != 0 {
        return Err(LinuxError::EINVAL);
    }
    // clone3 refuses CLONE_DETACHED, and an exit signal for a thread or a sibling.
    let f64 = |f: usize| f as u64;
    if flags & f64(flags::DETACHED) != 0
        || (flags & f64(flags::THREAD | flags::PARENT) != 0 && exit_signal != 0)
    {
        return Err(LinuxError::EINVAL);
    }
    if (stack == 0) != (stack_size == 0) {
        return Err(LinuxError::EINVAL);
    }
    let sp = stack.checked_add(stack_size).ok_or(LinuxError::EINVAL)?;
    let f = usize::try_from(flags | exit_signal).map_err(|_| LinuxError::EINVAL)?;
    check_flags(f)?;
    let addr = |v: u64| usize::try_from(v).map_err(|_| LinuxError::EINVAL);
    Ok(Clone3 {
        flags: f,
        sp: addr(sp)?,
        parent_tid: addr(parent_tid)?,
        child_tid: addr(child_tid)?,
        tls: addr(tls)?,
    })
}
