//! Per-process and per-thread signal state: actions, masks, pending signals, and the choice of
//! the next signal a thread must act on.

use alloc::collections::VecDeque;

use axerrno::LinuxError;

use crate::siginfo::SigInfo;
use crate::signal::{DefaultAction, Handler, SaFlags, SigAction, SigSet, Signal};

/// How many real-time signals may wait in one queue (Linux bounds them by
/// `RLIMIT_SIGPENDING`); past it, sending one fails with `EAGAIN`.
pub const RT_QUEUE_MAX: usize = 1024;

/// Signals waiting for delivery: standard signals coalesce (one pending instance each, the
/// first one's info kept); real-time signals queue every instance in order.
#[derive(Debug, Clone, Default)]
pub struct PendingSignals {
    set: SigSet,
    standard: [Option<SigInfo>; 31],
    realtime: VecDeque<SigInfo>,
}

impl PendingSignals {
    /// Nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pending signals.
    pub fn set(&self) -> SigSet {
        self.set
    }

    /// Adds one instance of `info.signo`.
    ///
    /// # Errors
    /// `EAGAIN` if a real-time signal's queue is full; nothing changes.
    pub fn push(&mut self, info: SigInfo) -> Result<(), LinuxError> {
        let sig = info.signo;
        if sig.is_realtime() {
            if self.realtime.len() >= RT_QUEUE_MAX {
                return Err(LinuxError::EAGAIN);
            }
            self.realtime.push_back(info);
        } else {
            let slot = &mut self.standard[usize::from(sig.num()) - 1];
            if slot.is_none() {
                *slot = Some(info);
            }
        }
        self.set.insert(sig);
        Ok(())
    }

    /// Removes every pending instance of `sig`.
    pub fn discard(&mut self, sig: Signal) {
        if sig.is_realtime() {
            self.realtime.retain(|info| info.signo != sig);
        } else {
            self.standard[usize::from(sig.num()) - 1] = None;
        }
        self.set.remove(sig);
    }

    /// Removes and returns one instance of `sig`, if pending.
    pub fn take(&mut self, sig: Signal) -> Option<SigInfo> {
        if !self.set.contains(sig) {
            return None;
        }
        let info = if sig.is_realtime() {
            let at = self.realtime.iter().position(|info| info.signo == sig)?;
            let info = self.realtime.remove(at)?;
            if !self.realtime.iter().any(|i| i.signo == sig) {
                self.set.remove(sig);
            }
            info
        } else {
            self.set.remove(sig);
            self.standard[usize::from(sig.num()) - 1].take()?
        };
        Some(info)
    }

    /// The signal Linux delivers first among `allowed`: a pending synchronous fault, else
    /// the lowest-numbered one.
    fn next(&self, allowed: SigSet) -> Option<Signal> {
        let ready = self.set.intersection(allowed);
        let fault = self
            .standard
            .iter()
            .flatten()
            .find(|info| info.is_synchronous_fault() && ready.contains(info.signo));
        fault.map(|info| info.signo).or_else(|| ready.first())
    }
}

/// `sigaltstack` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AltStack {
    /// `ss_sp`.
    pub base: usize,
    /// `ss_size`; 0 when disabled.
    pub size: usize,
    /// `SS_AUTODISARM`: the stack is disabled while a handler runs on it.
    pub autodisarm: bool,
}

/// `ss_flags` bits.
pub mod ss {
    /// The thread runs on the alternate stack (read only).
    pub const ONSTACK: i32 = 1;
    /// The alternate stack is disabled.
    pub const DISABLE: i32 = 2;
    /// Disarm the stack while a handler runs on it.
    pub const AUTODISARM: i32 = 1 << 31;
}

impl AltStack {
    /// Whether `sp` lies on this stack.
    pub fn contains(&self, sp: usize) -> bool {
        self.size != 0 && sp.wrapping_sub(self.base) < self.size
    }

    /// The `ss_flags` `sigaltstack` reports for a thread whose stack pointer is `sp`.
    pub fn flags(&self, sp: usize) -> i32 {
        if self.contains(sp) {
            ss::ONSTACK
        } else if self.size == 0 {
            ss::DISABLE
        } else if self.autodisarm {
            ss::AUTODISARM
        } else {
            0
        }
    }

    /// `sigaltstack(ss)` for a thread whose stack pointer is `sp`; `min_size` is the arch's
    /// `MINSIGSTKSZ`.
    ///
    /// # Errors
    /// `EPERM` while running on the current alternate stack; `EINVAL` for flags other than 0,
    /// `SS_ONSTACK`, `SS_DISABLE`, optionally with `SS_AUTODISARM`; `ENOMEM` if the new stack
    /// is smaller than `min_size`. Nothing changes on error.
    pub fn set(
        &mut self,
        sp: usize,
        base: usize,
        size: usize,
        flags: i32,
        min_size: usize,
    ) -> Result<(), LinuxError> {
        if self.contains(sp) {
            return Err(LinuxError::EPERM);
        }
        let autodisarm = flags & ss::AUTODISARM != 0;
        match flags & !ss::AUTODISARM {
            ss::DISABLE => {
                *self = AltStack::default();
                Ok(())
            }
            0 | ss::ONSTACK => {
                if size < min_size {
                    return Err(LinuxError::ENOMEM);
                }
                *self = AltStack {
                    base,
                    size,
                    autodisarm,
                };
                Ok(())
            }
            _ => Err(LinuxError::EINVAL),
        }
    }
}

/// A thread's own signal state.
#[derive(Debug, Clone, Default)]
pub struct ThreadSignals {
    /// The signal mask (never holds `SIGKILL`/`SIGSTOP`).
    pub blocked: SigSet,
    /// Signals sent to this thread (`tgkill`, its own faults).
    pub pending: PendingSignals,
    /// The alternate signal stack.
    pub altstack: AltStack,
}

/// `how` of `rt_sigprocmask`.
pub mod how {
    /// Add to the mask.
    pub const SIG_BLOCK: usize = 0;
    /// Remove from the mask.
    pub const SIG_UNBLOCK: usize = 1;
    /// Replace the mask.
    pub const SIG_SETMASK: usize = 2;
}

impl ThreadSignals {
    /// A thread created by `clone`/`fork`: same mask and alternate stack, nothing pending.
    pub fn inherit(&self) -> Self {
        Self {
            blocked: self.blocked,
            pending: PendingSignals::new(),
            altstack: self.altstack,
        }
    }

    /// `rt_sigprocmask(how, set)`; returns the old mask. With `set == None` only reads.
    ///
    /// # Errors
    /// `EINVAL` for an unknown `how` when `set` is given (Linux ignores `how` when the new
    /// set is NULL); the mask is unchanged.
    pub fn sigprocmask(&mut self, how: usize, set: Option<SigSet>) -> Result<SigSet, LinuxError> {
        let old = self.blocked;
        let Some(set) = set else { return Ok(old) };
        self.blocked = match how {
            how::SIG_BLOCK => old.union(set),
            how::SIG_UNBLOCK => old.difference(set),
            how::SIG_SETMASK => set,
            _ => return Err(LinuxError::EINVAL),
        }
        .as_mask();
        Ok(old)
    }
}

/// What a thread must do about the signal [`ProcessSignals::dequeue`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Run the user handler: build a signal frame with `info` and `saved_mask` (restored by
    /// `rt_sigreturn`), then set the thread's mask to `handler_mask`.
    Handle {
        /// The signal's information.
        info: SigInfo,
        /// The action in force when the signal was taken (before `SA_RESETHAND`).
        action: SigAction,
        /// The mask to restore when the handler returns.
        saved_mask: SigSet,
        /// The mask while the handler runs.
        handler_mask: SigSet,
    },
    /// End the whole process with this signal (`core`: the wait status's core flag).
    Terminate {
        /// The fatal signal.
        info: SigInfo,
        /// Whether the default action dumps core.
        core: bool,
    },
    /// Stop the process.
    Stop(Signal),
}

/// A process's (thread group's) signal state.
#[derive(Debug, Clone)]
pub struct ProcessSignals {
    actions: [SigAction; 64],
    /// Signals sent to the process as a whole (`kill`).
    pub shared: PendingSignals,
}

impl Default for ProcessSignals {
    fn default() -> Self {
        Self {
            actions: [SigAction::default(); 64],
            shared: PendingSignals::new(),
        }
    }
}

impl ProcessSignals {
    /// Fresh state: every action `SIG_DFL`, nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of a `fork` child: same actions, nothing pending.
    pub fn fork(&self) -> Self {
        Self {
            actions: self.actions,
            shared: PendingSignals::new(),
        }
    }

    /// After `execve`: handled signals go back to `SIG_DFL` (their handlers are gone with the
    /// old image); ignored ones stay ignored; flags other than the handler reset too.
    pub fn exec(&mut self) {
        for action in &mut self.actions {
            if matches!(action.handler, Handler::User(_)) {
                *action = SigAction::default();
            }
        }
    }

    /// The action for `sig`.
    pub fn action(&self, sig: Signal) -> SigAction {
        self.actions[usize::from(sig.num()) - 1]
    }

    /// `rt_sigaction(sig, new)`: returns the old action. Setting an action that ignores
    /// `sig` discards its pending instances here and in every thread of `threads` (as
    /// POSIX requires).
    ///
    /// # Errors
    /// `EINVAL` for a new action on `SIGKILL` or `SIGSTOP`; nothing changes.
    pub fn set_action<'a>(
        &mut self,
        sig: Signal,
        new: Option<SigAction>,
        threads: impl IntoIterator<Item = &'a mut ThreadSignals>,
    ) -> Result<SigAction, LinuxError> {
        let old = self.action(sig);
        let Some(mut new) = new else { return Ok(old) };
        if sig.is_unblockable() {
            return Err(LinuxError::EINVAL);
        }
        new.mask = new.mask.as_mask();
        self.actions[usize::from(sig.num()) - 1] = new;
        if new.ignores(sig) {
            self.shared.discard(sig);
            for thread in threads {
                thread.pending.discard(sig);
            }
        }
        Ok(old)
    }

    /// Whether generating `sig` now would discard it at once: ignored and not blocked by
    /// `mask` (a blocked signal stays pending: the action may change before it is unblocked).
    pub fn discards(&self, sig: Signal, mask: SigSet) -> bool {
        !mask.contains(sig) && !sig.is_unblockable() && self.action(sig).ignores(sig)
    }

    /// The effects of generating `sig` on other pending signals: a stop signal discards
    /// pending `SIGCONT`; `SIGCONT` (and `SIGKILL`) discard pending stop signals. Apply this
    /// to the shared queue and every thread's queue before queueing `sig`.
    pub fn cancel_opposites(pending: &mut PendingSignals, sig: Signal) {
        if sig.is_stop() {
            pending.discard(Signal::SIGCONT);
        } else if sig == Signal::SIGCONT || sig == Signal::SIGKILL {
            for stop in [
                Signal::SIGSTOP,
                Signal::SIGTSTP,
                Signal::SIGTTIN,
                Signal::SIGTTOU,
            ] {
                pending.discard(stop);
            }
        }
    }

    /// Takes the next signal `thread` must act on and says what to do. Ignored signals found
    /// pending are dropped on the way; a synchronous fault that is blocked or ignored is
    /// fatal (Linux forces it). `None`: nothing to do.
    pub fn dequeue(&mut self, thread: &mut ThreadSignals) -> Option<Disposition> {
        loop {
            let allowed = SigSet::from_bits(!thread.blocked.bits());
            let (sig, from_thread) = match thread.pending.next(allowed) {
                Some(sig) => (sig, true),
                None => (self.shared.next(allowed)?, false),
            };
            let queue = if from_thread {
                &mut thread.pending
            } else {
                &mut self.shared
            };
            let info = queue.take(sig)?;
            if let Some(d) = self.disposition(info, thread) {
                return Some(d);
            }
        }
    }

    /// A fault the thread raised itself that must be acted on now (`SIGSEGV` from a page
    /// fault, ...): if blocked or ignored it is fatal, as Linux's forced signals are.
    pub fn force_fault(&mut self, info: SigInfo, thread: &mut ThreadSignals) -> Disposition {
        let sig = info.signo;
        let action = self.action(sig);
        if thread.blocked.contains(sig) || action.handler == Handler::Ignore {
            self.actions[usize::from(sig.num()) - 1] = SigAction::default();
            thread.blocked.remove(sig);
        }
        self.disposition(info, thread)
            .unwrap_or(Disposition::Terminate { info, core: true })
    }

    fn disposition(&mut self, info: SigInfo, thread: &mut ThreadSignals) -> Option<Disposition> {
        let sig = info.signo;
        let action = self.action(sig);
        match action.handler {
            Handler::Ignore if !sig.is_unblockable() => None,
            Handler::User(_) if !sig.is_unblockable() => {
                let saved_mask = thread.blocked;
                let mut handler_mask = saved_mask.union(action.mask);
                if !action.flags.contains(SaFlags::NODEFER) {
                    handler_mask.insert(sig);
                }
                if action.flags.contains(SaFlags::RESETHAND) {
                    self.actions[usize::from(sig.num()) - 1] = SigAction::default();
                }
                thread.blocked = handler_mask.as_mask();
                Some(Disposition::Handle {
                    info,
                    action,
                    saved_mask,
                    handler_mask: thread.blocked,
                })
            }
            _ => match sig.default_action() {
                DefaultAction::Terminate => Some(Disposition::Terminate { info, core: false }),
                DefaultAction::Core => Some(Disposition::Terminate { info, core: true }),
                DefaultAction::Stop => Some(Disposition::Stop(sig)),
                DefaultAction::Ignore | DefaultAction::Continue => None,
            },
        }
    }
}
