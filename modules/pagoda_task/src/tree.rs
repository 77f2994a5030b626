//! The process tree: ids, parents and children, thread groups, process groups and sessions,
//! exit, zombies, re-parenting and the choice of the child a `wait` reports.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use axerrno::LinuxError;

use crate::cred::Credentials;
use crate::siginfo::{SigFields, SigInfo};
use crate::signal::Signal;
use crate::wait::{ExitStatus, WaitOptions, WaitTarget};

/// A process, thread, process-group or session id (one number space, as in Linux).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(u32);

impl Pid {
    /// The first process, which adopts orphans.
    pub const INIT: Pid = Pid(1);

    /// The id `raw`.
    pub const fn new(raw: u32) -> Self {
        Pid(raw)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The largest id handed out (Linux's default `pid_max`); ids then wrap around to 2.
pub const PID_MAX: u32 = 32768;

/// Whether a process runs, is stopped, or has ended and waits to be reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// At least one thread runs (or can run).
    Alive,
    /// Stopped by this signal until `SIGCONT`.
    Stopped(Signal),
    /// Ended; the parent has not reaped it yet.
    Zombie(ExitStatus),
}

/// A state change the parent has not collected with `WSTOPPED` / `WCONTINUED` yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Stopped(Signal),
    Continued,
}

#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub(crate) parent: Pid,
    /// Children in creation order (the order in which `wait` looks at them).
    pub(crate) children: Vec<Pid>,
    pub(crate) pgid: Pid,
    pub(crate) sid: Pid,
    pub(crate) threads: Vec<Pid>,
    pub(crate) state: ProcState,
    pub(crate) report: Option<Report>,
    pub(crate) creds: Credentials,
    /// The signal the parent gets at exit; `None` means none (Linux: exit signal 0).
    pub(crate) exit_signal: Option<Signal>,
    /// Whether exiting children are reaped at once (`SIGCHLD` ignored or `SA_NOCLDWAIT`).
    pub(crate) autoreap: bool,
    pub(crate) execed: bool,
    /// `PR_SET_CHILD_SUBREAPER`: adopts orphaned descendants instead of init.
    pub(crate) subreaper: bool,
}

pub(crate) fn is_live(p: &Process) -> bool {
    !matches!(p.state, ProcState::Zombie(_))
}

/// What a wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// A child ended; it is gone unless the wait had `WNOWAIT`.
    Exited {
        /// The child.
        pid: Pid,
        /// How it ended.
        status: ExitStatus,
    },
    /// A child stopped (reported once, with `WSTOPPED`).
    Stopped {
        /// The child.
        pid: Pid,
        /// The stop signal.
        sig: Signal,
    },
    /// A stopped child continued (reported once, with `WCONTINUED`).
    Continued {
        /// The child.
        pid: Pid,
    },
    /// Children match but none is ready and the wait had `WNOHANG`: return 0.
    NotReady,
    /// Children match but none is ready: sleep until a child changes state, then ask again.
    Block,
}

/// What the kernel must do after a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    /// Threads of the process other than the caller, which must never run again.
    pub other_threads: Vec<Pid>,
    /// The signal for the parent (usually `SIGCHLD`) and to whom, unless none is sent.
    pub notify: Option<(Pid, SigInfo)>,
    /// Whether the process was reaped at once (the parent ignores `SIGCHLD`).
    pub reaped: bool,
    /// Children handed to a new parent: the nearest live subreaper ancestor, else init.
    pub reparented: Vec<Pid>,
}

/// What the kernel must do after `execve` de-threaded a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecReport {
    /// The other threads, by the ids they had: they must never run again.
    pub ended: Vec<Pid>,
    /// The calling thread's id from now on: the process id.
    pub new_tid: Pid,
}

/// The process tree. Created with init (pid 1, its own group and session, root).
#[derive(Debug, Clone)]
pub struct ProcessTree {
    pub(crate) procs: BTreeMap<Pid, Process>,
    /// Thread id → the process (thread group) it belongs to.
    owner: BTreeMap<Pid, Pid>,
    /// Group and session id → how many processes (zombies too) name it as either: such an
    /// id is not handed out again while it is named.
    named: BTreeMap<Pid, u32>,
    last: u32,
}

impl Default for ProcessTree {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessTree {
    /// A tree holding only init (pid 1).
    pub fn new() -> Self {
        let init = Process {
            parent: Pid(0),
            children: Vec::new(),
            pgid: Pid::INIT,
            sid: Pid::INIT,
            threads: alloc::vec![Pid::INIT],
            state: ProcState::Alive,
            report: None,
            creds: Credentials::ROOT,
            exit_signal: None,
            autoreap: false,
            execed: false,
            subreaper: false,
        };
        let mut procs = BTreeMap::new();
        procs.insert(Pid::INIT, init);
        let mut owner = BTreeMap::new();
        owner.insert(Pid::INIT, Pid::INIT);
        let mut named = BTreeMap::new();
        named.insert(Pid::INIT, 2);
        Self {
            procs,
            owner,
            named,
            last: 1,
        }
    }

    /// The process a thread id belongs to.
    ///
    /// # Errors
    /// `ESRCH` for an unknown id.
    pub fn tgid(&self, tid: Pid) -> Result<Pid, LinuxError> {
        self.owner.get(&tid).copied().ok_or(LinuxError::ESRCH)
    }

    /// The process an id names: a thread's process, or a zombie process itself.
    pub(crate) fn process_of(&self, id: Pid) -> Result<Pid, LinuxError> {
        match self.owner.get(&id) {
            Some(pid) => Ok(*pid),
            None if self.procs.contains_key(&id) => Ok(id),
            None => Err(LinuxError::ESRCH),
        }
    }

    pub(crate) fn proc(&self, pid: Pid) -> Result<&Process, LinuxError> {
        self.procs.get(&pid).ok_or(LinuxError::ESRCH)
    }

    pub(crate) fn proc_mut(&mut self, pid: Pid) -> Result<&mut Process, LinuxError> {
        self.procs.get_mut(&pid).ok_or(LinuxError::ESRCH)
    }

    /// The process of the calling thread `tid`, which must be alive.
    pub(crate) fn caller(&self, tid: Pid) -> Result<Pid, LinuxError> {
        let pid = self.tgid(tid)?;
        match self.proc(pid)?.state {
            ProcState::Zombie(_) => Err(LinuxError::ESRCH),
            _ => Ok(pid),
        }
    }

    /// Whether `id` is in use as a thread, process, group or session id.
    pub(crate) fn in_use(&self, id: Pid) -> bool {
        self.owner.contains_key(&id) || self.procs.contains_key(&id) || self.named.contains_key(&id)
    }

    /// Records that one more process names `id` as its group or session.
    pub(crate) fn name(&mut self, id: Pid) {
        *self.named.entry(id).or_insert(0) += 1;
    }

    /// Records that one process less names `id`.
    pub(crate) fn unname(&mut self, id: Pid) {
        if let Some(n) = self.named.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.named.remove(&id);
            }
        }
    }

    /// A free id, counting up from the last one and wrapping past [`PID_MAX`].
    fn alloc_id(&mut self) -> Result<Pid, LinuxError> {
        for _ in 0..PID_MAX {
            self.last = if self.last >= PID_MAX {
                2
            } else {
                self.last + 1
            };
            let id = Pid(self.last);
            if !self.in_use(id) {
                return Ok(id);
            }
        }
        Err(LinuxError::EAGAIN)
    }

    /// `fork` (or `clone` without `CLONE_THREAD`) by thread `tid`: a new process in the
    /// caller's group and session with its credentials; at exit it sends `exit_signal`.
    ///
    /// # Errors
    /// `ESRCH` if `tid` is not a live thread; `EAGAIN` when every id is in use.
    pub fn fork_with(&mut self, tid: Pid, exit_signal: Option<Signal>) -> Result<Pid, LinuxError> {
        let parent = self.caller(tid)?;
        let child = self.alloc_id()?;
        let p = self.proc(parent)?;
        let entry = Process {
            parent,
            children: Vec::new(),
            pgid: p.pgid,
            sid: p.sid,
            threads: alloc::vec![child],
            state: ProcState::Alive,
            report: None,
            creds: p.creds,
            exit_signal,
            autoreap: p.autoreap,
            execed: false,
            subreaper: false,
        };
        let (pgid, sid) = (entry.pgid, entry.sid);
        self.procs.insert(child, entry);
        self.owner.insert(child, child);
        self.name(pgid);
        self.name(sid);
        self.proc_mut(parent)?.children.push(child);
        Ok(child)
    }

    /// `fork`: [`fork_with`](Self::fork_with) with `SIGCHLD`.
    ///
    /// # Errors
    /// As [`fork_with`](Self::fork_with).
    pub fn fork(&mut self, tid: Pid) -> Result<Pid, LinuxError> {
        self.fork_with(tid, Some(Signal::SIGCHLD))
    }

    /// `clone(CLONE_THREAD)` by `tid`: a new thread of the caller's process.
    ///
    /// # Errors
    /// As [`fork_with`](Self::fork_with).
    pub fn spawn_thread(&mut self, tid: Pid) -> Result<Pid, LinuxError> {
        let pid = self.caller(tid)?;
        let new = self.alloc_id()?;
        self.proc_mut(pid)?.threads.push(new);
        self.owner.insert(new, pid);
        Ok(new)
    }

    /// The threads of process `pid`.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn threads(&self, pid: Pid) -> Result<&[Pid], LinuxError> {
        Ok(&self.proc(pid)?.threads)
    }

    /// `exit(code)` of one thread: the process ends with `status` when its last thread does.
    /// `None`: other threads go on.
    ///
    /// # Errors
    /// `ESRCH` if `tid` is not a live thread.
    pub fn exit_thread(
        &mut self,
        tid: Pid,
        status: ExitStatus,
    ) -> Result<Option<ExitReport>, LinuxError> {
        let pid = self.caller(tid)?;
        let p = self.proc_mut(pid)?;
        if p.threads.len() > 1 {
            p.threads.retain(|t| *t != tid);
            self.owner.remove(&tid);
            return Ok(None);
        }
        self.end(pid, status).map(Some)
    }

    /// `exit_group(code)`, a fatal signal or an OOM kill: the whole process of `tid` ends
    /// with `status`.
    ///
    /// # Errors
    /// `ESRCH` if `tid` is not a live thread.
    pub fn exit_group(&mut self, tid: Pid, status: ExitStatus) -> Result<ExitReport, LinuxError> {
        let pid = self.caller(tid)?;
        let mut report = self.end(pid, status)?;
        report.other_threads.retain(|t| *t != tid);
        Ok(report)
    }

    fn end(&mut self, pid: Pid, status: ExitStatus) -> Result<ExitReport, LinuxError> {
        if pid == Pid::INIT {
            // Init's end is the machine's: the kernel powers off. Keep the tree consistent.
            let p = self.proc_mut(pid)?;
            p.state = ProcState::Zombie(status);
            let threads = core::mem::take(&mut p.threads);
            for t in &threads {
                self.owner.remove(t);
            }
            return Ok(ExitReport {
                other_threads: threads,
                notify: None,
                reaped: false,
                reparented: Vec::new(),
            });
        }
        let p = self.proc_mut(pid)?;
        let threads = core::mem::take(&mut p.threads);
        let orphans = core::mem::take(&mut p.children);
        p.state = ProcState::Zombie(status);
        p.report = None;
        let (parent, uid, exit_signal) = (p.parent, p.creds.ruid, p.exit_signal);
        for t in &threads {
            self.owner.remove(t);
        }
        let reaper = self.reaper_for(pid);
        for &orphan in &orphans {
            self.proc_mut(orphan)?.parent = reaper;
            self.proc_mut(reaper)?.children.push(orphan);
        }
        // A zombie handed to a reaper that does not wait for children is reaped at once.
        if self.proc(reaper)?.autoreap {
            for &orphan in &orphans {
                if matches!(self.proc(orphan)?.state, ProcState::Zombie(_)) {
                    self.remove(orphan)?;
                }
            }
        }
        let (code, child_status) = status.child_code();
        let notify = exit_signal.map(|sig| {
            let fields = SigFields::Child {
                pid: pid.0,
                uid,
                status: child_status,
            };
            (
                parent,
                SigInfo {
                    signo: sig,
                    errno: 0,
                    code,
                    fields,
                },
            )
        });
        let reaped = self.proc(parent)?.autoreap;
        if reaped {
            self.remove(pid)?;
        }
        Ok(ExitReport {
            other_threads: threads,
            notify,
            reaped,
            reparented: orphans,
        })
    }

    /// Drops a reaped zombie.
    fn remove(&mut self, pid: Pid) -> Result<(), LinuxError> {
        let Some(gone) = self.procs.remove(&pid) else {
            return Err(LinuxError::ESRCH);
        };
        let parent = gone.parent;
        self.unname(gone.pgid);
        self.unname(gone.sid);
        if let Ok(p) = self.proc_mut(parent) {
            p.children.retain(|c| *c != pid);
        }
        Ok(())
    }

    /// Whether `pid`'s children are reaped at once when they exit (the kernel sets it when
    /// `SIGCHLD` becomes ignored or gets `SA_NOCLDWAIT`, and clears it otherwise).
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn set_autoreap(&mut self, pid: Pid, on: bool) -> Result<(), LinuxError> {
        self.proc_mut(pid)?.autoreap = on;
        Ok(())
    }

    /// The process stopped by `sig`: its parent can collect it with `WSTOPPED`.
    ///
    /// # Errors
    /// `ESRCH` unless `pid` is a live process.
    pub fn stop(&mut self, pid: Pid, sig: Signal) -> Result<(), LinuxError> {
        let p = self.proc_mut(pid)?;
        if matches!(p.state, ProcState::Zombie(_)) {
            return Err(LinuxError::ESRCH);
        }
        p.state = ProcState::Stopped(sig);
        p.report = Some(Report::Stopped(sig));
        Ok(())
    }

    /// `SIGCONT` reached the process: a stopped process runs again and its parent can
    /// collect that with `WCONTINUED`. Returns whether it was stopped.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn resume(&mut self, pid: Pid) -> Result<bool, LinuxError> {
        let p = self.proc_mut(pid)?;
        if let ProcState::Stopped(_) = p.state {
            p.state = ProcState::Alive;
            p.report = Some(Report::Continued);
            return Ok(true);
        }
        Ok(false)
    }

    /// The state of process `pid`.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn state(&self, pid: Pid) -> Result<ProcState, LinuxError> {
        Ok(self.proc(pid)?.state)
    }

    /// `getppid` (0 for init).
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn parent(&self, pid: Pid) -> Result<Pid, LinuxError> {
        Ok(self.proc(pid)?.parent)
    }

    /// The children of `pid`, oldest first.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn children(&self, pid: Pid) -> Result<&[Pid], LinuxError> {
        Ok(&self.proc(pid)?.children)
    }

    /// Every process (zombies too), by id.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.procs.keys().copied()
    }

    /// The credentials of process `pid`.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn creds(&self, pid: Pid) -> Result<Credentials, LinuxError> {
        Ok(self.proc(pid)?.creds)
    }

    /// The credentials of process `pid`, to change with the `set*id` rules.
    ///
    /// # Errors
    /// `ESRCH` for an unknown process.
    pub fn creds_mut(&mut self, pid: Pid) -> Result<&mut Credentials, LinuxError> {
        Ok(&mut self.proc_mut(pid)?.creds)
    }

    /// `wait4` / `waitid` by thread `tid` for children matching `target`.
    ///
    /// Children of every thread of the caller's process count (Linux's default without
    /// `__WNOTHREAD`; Pagoda records children per process, so `__WNOTHREAD` is accepted
    /// and has the same effect).
    ///
    /// # Errors
    /// `ECHILD` if no child matches (including when every child was reaped at once because
    /// `SIGCHLD` is ignored); `ESRCH` if `tid` is unknown.
    pub fn wait(
        &mut self,
        tid: Pid,
        target: WaitTarget,
        opts: WaitOptions,
    ) -> Result<WaitOutcome, LinuxError> {
        let me = self.caller(tid)?;
        let own_group = self.proc(me)?.pgid;
        let mut matched = false;
        for &child in &self.proc(me)?.children {
            let c = self.proc(child)?;
            let selected = match target {
                WaitTarget::Any => true,
                WaitTarget::Pid(p) => p == child,
                WaitTarget::Pgid(g) => c.pgid == g,
                WaitTarget::OwnGroup => c.pgid == own_group,
            };
            let is_clone_child = c.exit_signal != Some(Signal::SIGCHLD);
            let kind_ok = opts.contains(WaitOptions::WALL)
                || is_clone_child == opts.contains(WaitOptions::WCLONE);
            if !selected || !kind_ok {
                continue;
            }
            matched = true;
            let keep = opts.contains(WaitOptions::WNOWAIT);
            match (c.state, c.report) {
                (ProcState::Zombie(status), _) if opts.contains(WaitOptions::WEXITED) => {
                    if !keep {
                        self.remove(child)?;
                    }
                    return Ok(WaitOutcome::Exited { pid: child, status });
                }
                (_, Some(Report::Stopped(sig))) if opts.contains(WaitOptions::WSTOPPED) => {
                    if !keep {
                        self.proc_mut(child)?.report = None;
                    }
                    return Ok(WaitOutcome::Stopped { pid: child, sig });
                }
                (_, Some(Report::Continued)) if opts.contains(WaitOptions::WCONTINUED) => {
                    if !keep {
                        self.proc_mut(child)?.report = None;
                    }
                    return Ok(WaitOutcome::Continued { pid: child });
                }
                _ => {}
            }
        }
        match (matched, opts.contains(WaitOptions::WNOHANG)) {
            (false, _) => Err(LinuxError::ECHILD),
            (true, true) => Ok(WaitOutcome::NotReady),
            (true, false) => Ok(WaitOutcome::Block),
        }
    }

    /// The process ran `execve`: its parent may no longer change its group, and every other
    /// thread ends. The calling thread takes over the process id (Linux's de-threading).
    ///
    /// # Errors
    /// `ESRCH` if `tid` is not a live thread.
    pub fn exec(&mut self, tid: Pid) -> Result<ExecReport, LinuxError> {
        let pid = self.caller(tid)?;
        let p = self.proc_mut(pid)?;
        p.execed = true;
        let ended: Vec<Pid> = p.threads.iter().copied().filter(|t| *t != tid).collect();
        p.threads = alloc::vec![pid];
        for t in ended.iter().chain(core::iter::once(&tid)) {
            self.owner.remove(t);
        }
        self.owner.insert(pid, pid);
        Ok(ExecReport {
            ended,
            new_tid: pid,
        })
    }
}
