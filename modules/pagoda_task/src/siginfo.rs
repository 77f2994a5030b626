//! `siginfo_t` contents: who sent a signal, why, and the fields that go with the reason.

use crate::signal::Signal;

/// `si_code` values (`asm-generic/siginfo.h`).
pub mod code {
    /// Sent by `kill` (or `raise`).
    pub const SI_USER: i32 = 0;
    /// Sent by the kernel.
    pub const SI_KERNEL: i32 = 0x80;
    /// Sent by `sigqueue` / `rt_sigqueueinfo`.
    pub const SI_QUEUE: i32 = -1;
    /// A POSIX timer expired.
    pub const SI_TIMER: i32 = -2;
    /// Sent by `tkill` / `tgkill`.
    pub const SI_TKILL: i32 = -6;
    /// `SIGSEGV`: no mapping at the address.
    pub const SEGV_MAPERR: i32 = 1;
    /// `SIGSEGV`: the mapping forbids the access.
    pub const SEGV_ACCERR: i32 = 2;
    /// `SIGBUS`: misaligned address.
    pub const BUS_ADRALN: i32 = 1;
    /// `SIGBUS`: the address has no backing (past the end of a file).
    pub const BUS_ADRERR: i32 = 2;
    /// `SIGCHLD`: the child exited.
    pub const CLD_EXITED: i32 = 1;
    /// `SIGCHLD`: the child was killed by a signal.
    pub const CLD_KILLED: i32 = 2;
    /// `SIGCHLD`: the child was killed by a signal that dumps core.
    pub const CLD_DUMPED: i32 = 3;
    /// `SIGCHLD`: the child stopped.
    pub const CLD_STOPPED: i32 = 5;
    /// `SIGCHLD`: the child continued.
    pub const CLD_CONTINUED: i32 = 6;
}

/// The fields of a `siginfo_t` beyond number, errno and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigFields {
    /// Nothing more (kernel-generated signals such as `SIGPIPE`).
    None,
    /// `kill`, `tgkill`: the sender's pid and real uid.
    Kill {
        /// The sender's process id.
        pid: u32,
        /// The sender's real user id.
        uid: u32,
    },
    /// `sigqueue`: sender and the value it attached.
    Queue {
        /// The sender's process id.
        pid: u32,
        /// The sender's real user id.
        uid: u32,
        /// `si_value`.
        value: usize,
    },
    /// A fault: the address that faulted (`si_addr`).
    Fault {
        /// `si_addr`.
        addr: usize,
    },
    /// `SIGCHLD`: which child and what happened to it.
    Child {
        /// The child's process id.
        pid: u32,
        /// The child's real user id.
        uid: u32,
        /// The exit code or the signal number (`si_status`).
        status: i32,
    },
}

/// A decoded `siginfo_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: Signal,
    /// `si_errno` (almost always 0).
    pub errno: i32,
    /// `si_code`: see [`code`].
    pub code: i32,
    /// The reason-specific fields.
    pub fields: SigFields,
}

impl SigInfo {
    /// A signal sent by `kill(2)` from process `pid` with real uid `uid`.
    pub const fn user(signo: Signal, pid: u32, uid: u32) -> Self {
        Self {
            signo,
            errno: 0,
            code: code::SI_USER,
            fields: SigFields::Kill { pid, uid },
        }
    }

    /// A signal sent by `tgkill(2)` / `tkill(2)`.
    pub const fn tkill(signo: Signal, pid: u32, uid: u32) -> Self {
        Self {
            signo,
            errno: 0,
            code: code::SI_TKILL,
            fields: SigFields::Kill { pid, uid },
        }
    }

    /// A signal the kernel raises for its own reasons (`SIGPIPE`, `SIGALRM`, an OOM kill).
    pub const fn kernel(signo: Signal) -> Self {
        Self {
            signo,
            errno: 0,
            code: code::SI_KERNEL,
            fields: SigFields::None,
        }
    }

    /// A fault signal (`SIGSEGV`, `SIGBUS`, ...) with its `si_code` and `si_addr`.
    pub const fn fault(signo: Signal, code: i32, addr: usize) -> Self {
        Self {
            signo,
            errno: 0,
            code,
            fields: SigFields::Fault { addr },
        }
    }

    /// Whether this signal reports a fault of the thread that gets it: delivered before any
    /// other pending signal, and fatal at once if blocked or ignored (as Linux forces them).
    pub const fn is_synchronous_fault(&self) -> bool {
        matches!(self.fields, SigFields::Fault { .. })
    }
}
