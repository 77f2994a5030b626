//! Signal numbers, sets, actions and default dispositions (signal(7)).
//!
//! The numbers are those of x86_64 and of the generic table riscv64 and aarch64 use: they are
//! the same on every architecture Pagoda supports.

use core::fmt;

use axerrno::LinuxError;
use bitflags::bitflags;

/// The number of signals: 1..=64.
pub const NSIG: u8 = 64;

/// A valid signal number, 1..=64.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(u8);

macro_rules! signals {
    ($($name:ident = $num:literal,)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($num), ").")]
                pub const $name: Signal = Signal($num);
            )*
        }

        /// The conventional name of a standard signal.
        fn standard_name(num: u8) -> Option<&'static str> {
            match num {
                $($num => Some(stringify!($name)),)*
                _ => None,
            }
        }
    };
}

signals! {
    SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6, SIGBUS = 7,
    SIGFPE = 8, SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13,
    SIGALRM = 14, SIGTERM = 15, SIGSTKFLT = 16, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19,
    SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22, SIGURG = 23, SIGXCPU = 24, SIGXFSZ = 25,
    SIGVTALRM = 26, SIGPROF = 27, SIGWINCH = 28, SIGIO = 29, SIGPWR = 30, SIGSYS = 31,
}

impl Signal {
    /// The first real-time signal (the kernel's; C libraries reserve a few above it).
    pub const SIGRTMIN: Signal = Signal(32);
    /// The last real-time signal.
    pub const SIGRTMAX: Signal = Signal(NSIG);

    /// The signal with number `num`.
    ///
    /// # Errors
    /// `EINVAL` unless `1 <= num <= 64` (0, the "check only" signal of `kill`, is not a
    /// signal: callers handle it before asking).
    pub fn new(num: usize) -> Result<Self, LinuxError> {
        match u8::try_from(num) {
            Ok(n @ 1..=NSIG) => Ok(Signal(n)),
            _ => Err(LinuxError::EINVAL),
        }
    }

    /// The signal number.
    pub const fn num(self) -> u8 {
        self.0
    }

    /// Real-time signals (32..=64) queue every instance; standard ones coalesce.
    pub const fn is_realtime(self) -> bool {
        self.0 >= Self::SIGRTMIN.0
    }

    /// `SIGKILL` and `SIGSTOP` cannot be caught, blocked or ignored.
    pub const fn is_unblockable(self) -> bool {
        self.0 == Self::SIGKILL.0 || self.0 == Self::SIGSTOP.0
    }

    /// The stop signals: `SIGSTOP`, `SIGTSTP`, `SIGTTIN`, `SIGTTOU`.
    pub const fn is_stop(self) -> bool {
        matches!(self.0, 19..=22)
    }

    /// What the kernel does with this signal when its action is `SIG_DFL`.
    pub const fn default_action(self) -> DefaultAction {
        match self.0 {
            3 | 4 | 5 | 6 | 7 | 8 | 11 | 24 | 25 | 31 => DefaultAction::Core,
            17 | 23 | 28 => DefaultAction::Ignore,
            19..=22 => DefaultAction::Stop,
            18 => DefaultAction::Continue,
            _ => DefaultAction::Terminate,
        }
    }

    /// The bit of this signal in a [`SigSet`].
    const fn bit(self) -> u64 {
        1 << (self.0 - 1)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match standard_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "SIGRT{}", self.0),
        }
    }
}

/// What `SIG_DFL` means for a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultAction {
    /// End the process (thread group).
    Terminate,
    /// End the process; the wait status carries the core flag (Pagoda writes no core file).
    Core,
    /// Discard the signal.
    Ignore,
    /// Stop the process until `SIGCONT`.
    Stop,
    /// Resume a stopped process (and otherwise ignore the signal).
    Continue,
}

/// A set of signals, in the layout of the kernel's 64-bit `sigset_t` (bit `n - 1` is signal
/// `n`), as `rt_sigprocmask` and `rt_sigaction` pass it.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SigSet(u64);

impl SigSet {
    /// No signal.
    pub const EMPTY: SigSet = SigSet(0);
    /// The signals a mask may never contain.
    pub const UNBLOCKABLE: SigSet = SigSet(Signal::SIGKILL.bit() | Signal::SIGSTOP.bit());

    /// The set with the given raw bits.
    pub const fn from_bits(bits: u64) -> Self {
        SigSet(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `sig` is in the set.
    pub const fn contains(self, sig: Signal) -> bool {
        self.0 & sig.bit() != 0
    }

    /// Adds `sig`.
    pub fn insert(&mut self, sig: Signal) {
        self.0 |= sig.bit();
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signal) {
        self.0 &= !sig.bit();
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union.
    pub const fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// The signals of `self` not in `other`.
    pub const fn difference(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    /// The intersection.
    pub const fn intersection(self, other: SigSet) -> SigSet {
        SigSet(self.0 & other.0)
    }

    /// The set as a mask: `SIGKILL` and `SIGSTOP` silently removed, as the kernel does for
    /// `rt_sigprocmask` and `sa_mask`.
    pub const fn as_mask(self) -> SigSet {
        self.difference(Self::UNBLOCKABLE)
    }

    /// The lowest-numbered signal in the set (the order in which Linux delivers).
    pub fn first(self) -> Option<Signal> {
        if self.0 == 0 {
            None
        } else {
            Some(Signal(self.0.trailing_zeros() as u8 + 1))
        }
    }
}

impl fmt::Debug for SigSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        let mut rest = *self;
        while let Some(sig) = rest.first() {
            set.entry(&sig);
            rest.remove(sig);
        }
        set.finish()
    }
}

bitflags! {
    /// `sa_flags` of `struct sigaction`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SaFlags: u64 {
        /// `SIGCHLD` is not sent when a child stops or continues.
        const NOCLDSTOP = 0x1;
        /// Children do not become zombies (with `SIGCHLD` only).
        const NOCLDWAIT = 0x2;
        /// The handler takes (signo, siginfo, ucontext).
        const SIGINFO = 0x4;
        /// `sa_restorer` holds the return trampoline (x86_64 libcs always set it).
        const RESTORER = 0x0400_0000;
        /// Run the handler on the alternate signal stack.
        const ONSTACK = 0x0800_0000;
        /// Restart interrupted system calls.
        const RESTART = 0x1000_0000;
        /// Do not add the signal to the mask while its handler runs.
        const NODEFER = 0x4000_0000;
        /// Reset the action to `SIG_DFL` when the handler is entered.
        const RESETHAND = 0x8000_0000;
    }
}

/// What `sa_handler` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Handler {
    /// `SIG_DFL` (0): the signal's [`DefaultAction`].
    #[default]
    Default,
    /// `SIG_IGN` (1).
    Ignore,
    /// A user function at this address.
    User(usize),
}

impl Handler {
    /// The handler a raw `sa_handler` value names.
    pub const fn from_raw(raw: usize) -> Self {
        match raw {
            0 => Handler::Default,
            1 => Handler::Ignore,
            addr => Handler::User(addr),
        }
    }

    /// The raw `sa_handler` value.
    pub const fn raw(self) -> usize {
        match self {
            Handler::Default => 0,
            Handler::Ignore => 1,
            Handler::User(addr) => addr,
        }
    }
}

/// A `struct sigaction`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SigAction {
    /// The handler.
    pub handler: Handler,
    /// `sa_flags`; unknown bits are kept, as Linux keeps them.
    pub flags: SaFlags,
    /// Signals blocked while the handler runs (never `SIGKILL`/`SIGSTOP`).
    pub mask: SigSet,
    /// `sa_restorer` (meaningful with [`SaFlags::RESTORER`]).
    pub restorer: usize,
}

impl SigAction {
    /// Whether a signal with this action is discarded when it is generated: `SIG_IGN`, or
    /// `SIG_DFL` of a signal whose default is to ignore it (`SIGCONT`'s resume happens
    /// anyway, at generation).
    pub fn ignores(&self, sig: Signal) -> bool {
        match self.handler {
            Handler::Ignore => true,
            Handler::Default => matches!(
                sig.default_action(),
                DefaultAction::Ignore | DefaultAction::Continue
            ),
            Handler::User(_) => false,
        }
    }
}
