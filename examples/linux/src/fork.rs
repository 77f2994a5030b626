//! Creating processes and threads (`clone`, `fork`, `vfork`) and waiting for children
//! (`wait4`, `waitid`).

use pagoda::linux::abi::{SiginfoFields, encode_rusage, encode_siginfo};
use pagoda::mm::{LinuxError, shm};
use pagoda_task::clone::{check_flags, flags};
use pagoda_task::siginfo::code;
use pagoda_task::{
    CONTINUED_WSTATUS, Pid, Signal, WaitOptions, WaitOutcome, WaitTarget, stopped_wstatus,
};

use crate::process::{Kernel, Proc, Thread, Wait};
use crate::syscall::Outcome;
use crate::uaccess::{put, put_u32};

/// The arguments of `clone` after the per-arch order was undone.
pub struct CloneArgs {
    /// Flags and exit signal.
    pub flags: usize,
    /// The child's stack pointer (0: the caller's).
    pub stack: usize,
    /// Where `CLONE_PARENT_SETTID` stores the new id.
    pub parent_tid: usize,
    /// Where `CLONE_CHILD_SETTID` stores it / `CLONE_CHILD_CLEARTID` clears it.
    pub child_tid: usize,
    /// `CLONE_SETTLS`'s thread pointer.
    pub tls: usize,
}

impl Kernel {
    /// `clone` (and `fork`, `vfork`): a new thread of the caller's process with
    /// `CLONE_THREAD`, else a new process, copy-on-write or (`CLONE_VM`) sharing the
    /// caller's address space.
    pub fn sys_clone(&mut self, tid: Pid, c: CloneArgs) -> Outcome {
        match self.clone_inner(tid, &c) {
            Ok(child) if c.flags & flags::VFORK != 0 && c.flags & flags::THREAD == 0 => {
                if let Some(p) = self.procs.get_mut(&child) {
                    p.vfork_parent = Some(tid);
                }
                self.block(tid, Wait::Vfork(child));
                Outcome::Blocked
            }
            Ok(child) => Outcome::Ret(Ok(child.get() as usize)),
            Err(e) => Outcome::Ret(Err(e)),
        }
    }

    fn clone_inner(&mut self, tid: Pid, c: &CloneArgs) -> Result<Pid, LinuxError> {
        let exit_signal = check_flags(c.flags)?;
        let f = c.flags;
        let parent = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?;
        let pid = parent.tgid;
        let comm = parent.comm;
        let mempolicy = parent.mempolicy;
        let files = parent
            .files
            .clone_sharing(f & flags::FILES != 0, f & flags::FS != 0);
        let mut ctx = parent.ctx.clone();
        ctx.set_syscall_return(0);
        if c.stack != 0 {
            ctx.set_sp(c.stack);
        }
        if f & flags::SETTLS != 0 && !ctx.set_thread_pointer(c.tls) {
            return Err(LinuxError::EPERM);
        }
        let mut sig = parent.sig.inherit();
        if f & flags::VM != 0 && f & flags::VFORK == 0 {
            // A thread sharing the memory must not share the alternate stack.
            sig.altstack = pagoda_task::AltStack::default();
        }
        let p = self.procs.get(&pid).ok_or(LinuxError::ESRCH)?;
        let parent_mm = p.mm;
        let (new, mm) = if f & flags::THREAD != 0 {
            (self.tree.spawn_thread(tid)?, parent_mm)
        } else {
            let signals = p.signals.fork();
            let limits = p.limits.clone();
            let mut memory = p.memory.fork();
            // The child's space is a copy (or, with CLONE_VM, the same): so is the trampoline.
            let sigreturn = p.sigreturn;

            let space = match f & flags::VM {
                0 => Some(self.with_mm(parent_mm, |s| s.fork())?),
                _ => None,
            };
            // A failed fork drops the copy (its attachments with it, unstamped).
            let child = self.tree.fork_with(tid, exit_signal)?;
            let mm = match space {
                Some(space) => {
                    // The copied System V attachments are the child's shmat.
                    shm::registry().forked(&space, shm::context(child.get()));
                    self.add_mm(space)
                }
                None => {
                    if let Some(slot) = self.mms.get_mut(&parent_mm) {
                        slot.users += 1;
                    }
                    parent_mm
                }
            };
            self.procs.insert(
                child,
                Proc {
                    mm,
                    signals,
                    vfork_parent: None,
                    dead_cpu_ns: 0,
                    itimer_interval: 0,
                    children_cpu_ns: 0,
                    limits,
                    // The parent-death signal is not inherited.
                    pdeathsig: None,
                    memory: {
                        memory.set_pid(child.get());
                        memory
                    },
                    sigreturn,
                },
            );
            crate::files::procfs::fork(pid.get(), child.get());
            (child, mm)
        };
        let tgid = if f & flags::THREAD != 0 { pid } else { new };
        let mut thread = Thread::new(ctx, tgid, sig, files);
        thread.comm = comm;
        thread.mempolicy = mempolicy;
        if f & flags::CHILD_CLEARTID != 0 {
            thread.clear_child_tid = c.child_tid;
        }
        self.threads.insert(new, thread);
        let id = (new.get()).to_le_bytes();
        // Bad addresses are ignored here, as Linux's clone ignores them.
        if f & flags::PARENT_SETTID != 0 {
            let _ = put(Some(c.parent_tid), &id);
        }
        if f & flags::CHILD_SETTID != 0 {
            let at = pagoda::mm::VirtAddr::from_usize(c.child_tid);
            let _ = self.with_mm(mm, |s| s.write_bytes(at, &id));
        }
        self.rq.wake(new);
        Ok(new)
    }

    /// A wait by `tid` reaped zombie `child`: its CPU time moves to the waiter's
    /// `RUSAGE_CHILDREN`.
    fn reaped(&mut self, tid: Pid, child: Pid) {
        let cpu = self.zombie_cpu.remove(&child).unwrap_or(0);
        self.last_reaped_cpu = cpu;
        if let Some(p) = self
            .threads
            .get(&tid)
            .and_then(|t| self.procs.get_mut(&t.tgid))
        {
            p.children_cpu_ns = p.children_cpu_ns.saturating_add(cpu);
        }
    }

    /// `wait4(pid, wstatus, options, rusage)`.
    pub fn sys_wait4(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        let r = (|| {
            let opts =
                WaitOptions::for_wait4(u32::try_from(a[2]).map_err(|_| LinuxError::EINVAL)?)?;
            let target = WaitTarget::for_wait4(a[0] as i32)?;
            let (pid, word) = match self.tree.wait(tid, target, opts)? {
                WaitOutcome::Exited { pid, status } => {
                    self.reaped(tid, pid);
                    (pid, status.wstatus())
                }
                WaitOutcome::Stopped { pid, sig } => (pid, stopped_wstatus(sig)),
                WaitOutcome::Continued { pid } => (pid, CONTINUED_WSTATUS),
                WaitOutcome::NotReady => return Ok(Some(0)),
                WaitOutcome::Block => return Ok(None),
            };
            if a[1] != 0 {
                put_u32(a[1], word as u32)?;
            }
            if a[3] != 0 {
                put(Some(a[3]), &encode_rusage(self.last_reaped_cpu, 0))?;
            }
            Ok(Some(pid.get() as usize))
        })();
        match r {
            Ok(Some(v)) => Outcome::Ret(Ok(v)),
            Ok(None) => {
                self.block(tid, Wait::Child);
                Outcome::Blocked
            }
            Err(e) => Outcome::Ret(Err(e)),
        }
    }

    /// `waitid(idtype, id, infop, options, rusage)`.
    pub fn sys_waitid(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        let r = (|| {
            let opts =
                WaitOptions::for_waitid(u32::try_from(a[3]).map_err(|_| LinuxError::EINVAL)?)?;
            let target = WaitTarget::for_waitid(a[0] as u32, a[1] as u32)?;
            let outcome = self.tree.wait(tid, target, opts)?;
            let uid = |k: &Self, pid: Pid| k.tree.creds(pid).map_or(0, |c| c.ruid);
            let info = match outcome {
                WaitOutcome::Exited { pid, status } => {
                    if !opts.contains(WaitOptions::WNOWAIT) {
                        self.reaped(tid, pid);
                    }
                    let (c, s) = status.child_code();
                    Some((pid, c, s, 0))
                }
                WaitOutcome::Stopped { pid, sig } => {
                    Some((pid, code::CLD_STOPPED, i32::from(sig.num()), uid(self, pid)))
                }
                WaitOutcome::Continued { pid } => Some((
                    pid,
                    code::CLD_CONTINUED,
                    i32::from(Signal::SIGCONT.num()),
                    uid(self, pid),
                )),
                WaitOutcome::NotReady => None,
                WaitOutcome::Block => return Ok(false),
            };
            if a[2] != 0 {
                let bytes = match info {
                    Some((pid, c, status, uid)) => encode_siginfo(
                        i32::from(Signal::SIGCHLD.num()),
                        0,
                        c,
                        SiginfoFields::Child {
                            pid: pid.get() as i32,
                            uid,
                            status,
                            utime: 0,
                            stime: 0,
                        },
                    ),
                    None => [0u8; 128],
                };
                put(Some(a[2]), &bytes)?;
            }
            if a[4] != 0 {
                put(Some(a[4]), &encode_rusage(self.last_reaped_cpu, 0))?;
            }
            Ok(true)
        })();
        match r {
            Ok(true) => Outcome::Ret(Ok(0)),
            Ok(false) => {
                self.block(tid, Wait::Child);
                Outcome::Blocked
            }
            Err(e) => Outcome::Ret(Err(e)),
        }
    }
}
