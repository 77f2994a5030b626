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

/// How often one kernel-mode fault (same address and access, one after the other) is handed
/// to the handler. A handler that says `true` without fixing the mapping would otherwise make
/// the faulting instruction retry forever; after this many attempts the fault counts as
/// unresolved (a probe returns `Err`, any other kernel access is a fatal trap). Real
/// resolutions need one attempt, or two when a stale TLB entry makes the retry fault once
/// more (`FaultOutcome::Spurious`).
pub const MAX_FAULT_RETRIES: usize = 4;

/// The last fault handed to the handler (`usize::MAX` = none) and how often in a row.
static LAST_ADDR: AtomicUsize = AtomicUsize::new(usize::MAX);
static LAST_ACCESS: AtomicUsize = AtomicUsize::new(0);
static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

/// Registers the handler that kernel-mode page faults (including uaccess probes) call; it
/// replaces the previous one (the runtime registers one that resolves faults in the current
/// user address space). Whatever it answers, one fault is retried at most
/// [`MAX_FAULT_RETRIES`] times.
pub fn set_kernel_page_fault_handler(handler: PageFaultHandler) {
    HANDLER.store(handler as usize, Ordering::Release);
}

/// Starts counting afresh: every uaccess probe calls it before its access, so a probe that
/// touches the same address as the previous one gets its own retries.
fn forget_fault() {
    LAST_ADDR.store(usize::MAX, Ordering::Relaxed);
    ATTEMPTS.store(0, Ordering::Relaxed);
}

/// Asks the registered handler about a kernel-mode page fault; `false` if none is registered,
/// if it says so, or if this fault was already handed to it [`MAX_FAULT_RETRIES`] times in a
/// row. Called by the arch trap code.
pub fn handle_kernel_page_fault(addr: VirtAddr, access: MappingFlags) -> bool {
    let raw = HANDLER.load(Ordering::Acquire);
    if raw == 0 {
        return false;
    }
    let again = LAST_ADDR.load(Ordering::Relaxed) == addr.as_usize()
        && LAST_ACCESS.load(Ordering::Relaxed) == access.bits();
    let attempts = if again {
        ATTEMPTS.load(Ordering::Relaxed) + 1
    } else {
        LAST_ADDR.store(addr.as_usize(), Ordering::Relaxed);
        LAST_ACCESS.store(access.bits(), Ordering::Relaxed);
        1
    };
    if attempts > MAX_FAULT_RETRIES {
        log::warn!(
            "kernel page fault at {addr:?} ({access:?}) still there after {MAX_FAULT_RETRIES} attempts"
        );
        forget_fault();
        return false;
    }
    ATTEMPTS.store(attempts, Ordering::Relaxed);
    // SAFETY: non-zero values of `HANDLER` are only ever stored from a `PageFaultHandler`.
    let handler: PageFaultHandler = unsafe { core::mem::transmute::<usize, PageFaultHandler>(raw) };
    let resolved = handler(addr, access);
    if !resolved {
        forget_fault();
    }
    resolved
}

/// Reads the byte at the user address `va` through the MMU, never panicking: a fault the
/// handler does not resolve becomes `Err`. Not entirely inside `USER_VA_START..USER_VA_END`:
/// `Err` without an access.
///
/// # Errors
/// The unresolved [`Fault`].
pub fn probe_read_u8(va: VirtAddr) -> Result<u8, Fault> {
    forget_fault();
    crate::arch::probe_read_u8(va)
}

/// Reads the aligned `u64` at the user address `va`; as [`probe_read_u8`] (misaligned: `Err`).
///
/// # Errors
/// The unresolved [`Fault`].
pub fn probe_read_u64(va: VirtAddr) -> Result<u64, Fault> {
    forget_fault();
    crate::arch::probe_read_u64(va)
}

/// Writes the byte at the user address `va`; as [`probe_read_u8`].
///
/// # Errors
/// The unresolved [`Fault`].
pub fn probe_write_u8(va: VirtAddr, value: u8) -> Result<(), Fault> {
    forget_fault();
    crate::arch::probe_write_u8(va, value)
}

/// Writes the aligned `u64` at the user address `va`; as [`probe_read_u64`].
///
/// # Errors
/// The unresolved [`Fault`].
pub fn probe_write_u64(va: VirtAddr, value: u64) -> Result<(), Fault> {
    forget_fault();
    crate::arch::probe_write_u64(va, value)
}
