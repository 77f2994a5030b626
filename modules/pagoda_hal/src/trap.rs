//! Arch-independent trap plumbing: fault descriptions, user traps, the kernel page-fault hook.

use core::sync::atomic::{AtomicUsize, Ordering};

use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

/// Exit code (`exit(false, code)`) after an unexpected kernel trap.
pub const FATAL_TRAP_EXIT_CODE: u8 = 2;

/// A memory access that faulted and was not resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The faulting address.
    pub addr: VirtAddr,
    /// The access: exactly one of `READ`, `WRITE`, `EXECUTE`.
    pub access: MappingFlags,
}

/// Why [`UserContext::run`](crate::UserContext::run) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTrap {
    /// A system call; the context's pc already points past the syscall instruction.
    Syscall,
    /// A page fault in user mode.
    PageFault {
        /// The faulting address.
        addr: VirtAddr,
        /// `READ`, `WRITE` or `EXECUTE`.
        access: MappingFlags,
    },
    /// The timer interrupt (the deadline of `set_timer_deadline` passed) arrived while user
    /// code ran. The pc is unchanged: running the context again resumes the interrupted
    /// instruction. The timer is disarmed until the next `set_timer_deadline`.
    Timer,
    /// Any other exception, with the arch's raw cause and value registers
    /// (riscv: `scause` / `stval`; x86_64: vector / error code).
    Exception {
        /// Raw cause.
        cause: usize,
        /// Raw trap value.
        tval: usize,
    },
}

impl UserTrap {
    /// The signal this trap means for the user program, `None` for a system call or a
    /// timer interrupt. A page
    /// fault is `SIGSEGV` until the address space resolves it (which may also say
    /// `SIGBUS`).
    pub fn signal(&self) -> Option<Signal> {
        match *self {
            Self::Syscall | Self::Timer => None,
            Self::PageFault { .. } => Some(Signal::Segv),
            Self::Exception { cause, .. } => Some(crate::arch::exception_signal(cause)),
        }
    }
}

/// The signals a user program can be killed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `SIGILL`: illegal instruction.
    Ill,
    /// `SIGTRAP`: breakpoint or single step.
    Trap,
    /// `SIGBUS`: misaligned access, or a mapped page with nothing behind it.
    Bus,
    /// `SIGFPE`: arithmetic error.
    Fpe,
    /// `SIGKILL`: killed by the kernel (e.g. out of memory).
    Kill,
    /// `SIGSEGV`: an access the address space does not allow.
    Segv,
}

impl Signal {
    /// The Linux signal number.
    pub fn number(self) -> u8 {
        match self {
            Self::Ill => 4,
            Self::Trap => 5,
            Self::Bus => 7,
            Self::Fpe => 8,
            Self::Kill => 9,
            Self::Segv => 11,
        }
    }

    /// The conventional name (`"SIGSEGV"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ill => "SIGILL",
            Self::Trap => "SIGTRAP",
            Self::Bus => "SIGBUS",
            Self::Fpe => "SIGFPE",
            Self::Kill => "SIGKILL",
            Self::Segv => "SIGSEGV",
        }
    }
}

impl core::fmt::Display for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel page-fault handler: returns `true` if it resolved the fault (retry the access).
pub type PageFaultHandler = fn(VirtAddr, MappingFlags) -> bool;

/// 0 = none, else a `PageFaultHandler` cast to `usize`.
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Registers the handler that kernel-mode page faults (including uaccess probes) call.
pub fn set_kernel_page_fault_handler(handler: PageFaultHandler) {
    HANDLER.store(handler as usize, Ordering::Release);
}

/// Asks the registered handler about a kernel-mode page fault; `false` if none is registered.
/// Called by the arch trap code.
pub fn handle_kernel_page_fault(addr: VirtAddr, access: MappingFlags) -> bool {
    let raw = HANDLER.load(Ordering::Acquire);
    if raw == 0 {
        return false;
    }
    // SAFETY: non-zero values of `HANDLER` are only ever stored from a `PageFaultHandler`.
    let handler: PageFaultHandler = unsafe { core::mem::transmute::<usize, PageFaultHandler>(raw) };
    handler(addr, access)
}
