//! Generating signals: queueing them for a process or a thread, the effects that happen at
//! once (`SIGKILL` kills, `SIGCONT` resumes, stop and continue signals cancel each other),
//! waking a thread that can take the signal, and stopping / continuing processes.

use pagoda_task::siginfo::code;
use pagoda_task::{
    ExitStatus, Handler, Pid, ProcState, ProcessSignals, SaFlags, SigFields, SigInfo, SigSet,
    Signal,
};

use pagoda::time::TimerKind;

use crate::process::{Kernel, Thread, Wait};

/// Whether `t` keeps `sig` from being acted on: it blocks it, or waits for it in
/// `rt_sigtimedwait` (Linux's `real_blocked`).
fn blocks(t: &Thread, sig: Signal) -> bool {
    t.sig.blocked.contains(sig) || (t.wait == Some(Wait::Signal) && t.sigwait.contains(sig))
}

impl Kernel {
    /// Whether thread `tid` has a signal it must act on now.
    pub fn has_deliverable(&self, tid: Pid) -> bool {
        let Some(t) = self.threads.get(&tid) else {
            return false;
        };
        let shared = self
            .procs
            .get(&t.tgid)
            .map_or(SigSet::EMPTY, |p| p.signals.shared.set());
        !t.sig
            .pending
            .set()
            .union(shared)
            .difference(t.sig.blocked)
            .is_empty()
    }

    /// The effects of generating `sig` for process `pid` before it is queued (`blocked`:
    /// every thread that could take it blocks it). `false`: the signal has been dealt with
    /// (SIGKILL) or dropped, and is not queued.
    fn generate(&mut self, pid: Pid, sig: Signal, blocked: bool) -> bool {
        // Init is unkillable: an unblocked signal it has no handler for is dropped, SIGKILL
        // and SIGSTOP included (Linux's SIGNAL_UNKILLABLE; only its own faults kill it).
        if pid == Pid::INIT
            && !blocked
            && self
                .procs
                .get(&pid)
                .is_some_and(|p| p.signals.action(sig).handler == Handler::Default)
        {
            return false;
        }
        let tids = self.threads_of(pid);
        if let Some(p) = self.procs.get_mut(&pid) {
            ProcessSignals::cancel_opposites(&mut p.signals.shared, sig);
        }
        for tid in &tids {
            if let Some(t) = self.threads.get_mut(tid) {
                ProcessSignals::cancel_opposites(&mut t.sig.pending, sig);
            }
        }
        if sig == Signal::SIGKILL {
            self.kill_process(pid, ExitStatus::Signaled { sig, core: false });
            return false;
        }
        if sig == Signal::SIGCONT {
            self.continue_process(pid);
        }
        true
    }

    /// Sends `info` to process `pid` (kill): queued for the process, and one thread that
    /// does not block it is woken to take it.
    pub fn send_process(&mut self, pid: Pid, info: SigInfo) {
        let sig = info.signo;
        if !self.procs.contains_key(&pid) {
            return;
        }
        let tids = self.threads_of(pid);
        let taker = tids
            .iter()
            .copied()
            .find(|t| self.threads.get(t).is_some_and(|t| !blocks(t, sig)));
        if !self.generate(pid, sig, taker.is_none()) {
            return;
        }
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let mask = if taker.is_some() {
            SigSet::EMPTY
        } else {
            SigSet::from_bits(u64::MAX)
        };
        if p.signals.discards(sig, mask) {
            return;
        }
        // A full real-time queue drops the signal (kill reports success, as Linux's
        // kill does for a process-directed overflow of a standard signal).
        let _ = p.signals.shared.push(info);
        if let Some(tid) = taker {
            self.interrupt(tid);
        }
        self.wake_sigwaiters(&tids, sig);
    }

    /// Wakes the threads among `tids` that wait for `sig` in `rt_sigtimedwait`: the call
    /// re-executes and takes it.
    fn wake_sigwaiters(&mut self, tids: &[Pid], sig: Signal) {
        for &tid in tids {
            if let Some(t) = self.threads.get(&tid)
                && t.wait == Some(Wait::Signal)
                && t.sigwait.contains(sig)
            {
                self.timers.cancel(TimerKind::Wake(tid));
                self.retry(tid);
            }
        }
    }

    /// Sends `info` to thread `tid` (tgkill, tkill).
    pub fn send_thread(&mut self, tid: Pid, info: SigInfo) {
        let sig = info.signo;
        let Some((pid, blocked)) = self.threads.get(&tid).map(|t| (t.tgid, blocks(t, sig))) else {
            return;
        };
        if !self.generate(pid, sig, blocked) {
            return;
        }
        let (Some(p), Some(t)) = (self.procs.get(&pid), self.threads.get_mut(&tid)) else {
            return;
        };
        let mask = if blocked {
            SigSet::from_bits(u64::MAX)
        } else {
            SigSet::EMPTY
        };
        if p.signals.discards(sig, mask) {
            return;
        }
        let _ = t.sig.pending.push(info);
        if !t.sig.blocked.contains(sig) {
            self.interrupt(tid);
        }
        self.wake_sigwaiters(&[tid], sig);
    }

    /// Whether the parent of `pid` wants `SIGCHLD` for stops and continues.
    fn parent_wants_stop_reports(&self, parent: Pid) -> bool {
        self.procs.get(&parent).is_some_and(|p| {
            !p.signals
                .action(Signal::SIGCHLD)
                .flags
                .contains(SaFlags::NOCLDSTOP)
        })
    }

    fn report_to_parent(&mut self, pid: Pid, child_code: i32, status: i32) {
        let Ok(parent) = self.tree.parent(pid) else {
            return;
        };
        if self.parent_wants_stop_reports(parent) {
            let uid = self.tree.creds(pid).map_or(0, |c| c.ruid);
            let info = SigInfo {
                signo: Signal::SIGCHLD,
                errno: 0,
                code: child_code,
                fields: SigFields::Child {
                    pid: pid.get(),
                    uid,
                    status,
                },
            };
            self.send_process(parent, info);
        }
        self.wake_child_waiters(parent);
    }

    /// A stop signal's default action: process `pid` stops until `SIGCONT`.
    pub fn stop_process(&mut self, pid: Pid, sig: Signal) {
        if !matches!(self.tree.state(pid), Ok(ProcState::Alive))
            || self.tree.stop(pid, sig).is_err()
        {
            return;
        }
        self.report_to_parent(pid, code::CLD_STOPPED, i32::from(sig.num()));
    }

    /// `SIGCONT` reached process `pid`: a stopped one runs again.
    pub fn continue_process(&mut self, pid: Pid) {
        if self.tree.resume(pid) != Ok(true) {
            return;
        }
        for tid in self.threads_of(pid) {
            if let Some(t) = self.threads.get_mut(&tid)
                && t.parked
            {
                t.parked = false;
                if t.wait.is_none() {
                    self.rq.wake(tid);
                }
            }
        }
        self.report_to_parent(pid, code::CLD_CONTINUED, i32::from(Signal::SIGCONT.num()));
    }
}
