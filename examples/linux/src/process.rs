//! The kernel's per-thread and per-process objects, keyed by the ids of the
//! `pagoda_task::ProcessTree` (which alone decides parents, groups, zombies and waits),
//! and the address spaces they run in.
//!
//! - A [`Thread`] owns its registers (`UserContext`), its signal state and what it waits
//!   for. A waiting thread's pc is on its `syscall`/`ecall` instruction: waking it either
//!   re-executes the call ([`Kernel::retry`]) or completes it with a value
//!   ([`Kernel::complete`]).
//! - A [`Proc`] (a live thread group) owns its signal actions and names its address space.
//! - An address space ([`MmSlot`]) is shared by every thread of a process, and by a
//!   `vfork` (`CLONE_VM`) child and its parent; the active one lives in the HAL's slot
//!   (`mm::with_current`), every other one in its `MmSlot`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use pagoda::linux::abi::Arch;
use pagoda::mm::{self, AddrSpace, LinuxError, UserContext, shm};
use pagoda::time::{RunQueue, TimerKind, Timers};
use pagoda_task::futex::FutexTable;
use pagoda_task::rlimit::Limits;

use crate::files::{Block, Files, WaitKey};
use crate::memory::Memory;
use pagoda_task::{Pid, ProcessSignals, ProcessTree, SigSet, Signal, ThreadSignals};

/// An address space's id (also the `space` of private futex keys).
pub type MmId = u64;

/// An address space and how many processes run in it.
pub struct MmSlot {
    /// The space while it is not the active one.
    pub space: Option<AddrSpace>,
    /// Processes using it (more than one between `vfork` and the child's exec or exit).
    pub users: usize,
}

/// What a waiting thread waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A child to change state (wait4, waitid): re-executed when one does.
    Child,
    /// A futex wake (it is in the futex table; maybe a timeout timer too).
    Futex,
    /// A deadline (nanosleep, clock_nanosleep): `Thread::sleep_deadline`.
    Sleep,
    /// `pause` / `rt_sigsuspend`: only a signal ends it.
    Suspend,
    /// `rt_sigtimedwait`: a signal of `Thread::sigwait` (blocked or not) to become pending.
    Signal,
    /// `vfork`: the child (this pid) to exec or exit; signals do not interrupt it.
    Vfork(Pid),
    /// A file call (a pipe to get data or room, `poll`/`select`): re-executed when
    /// `files::drain_wakeups` names one of `Thread::wait_keys` or at `Thread::sleep_deadline`.
    /// `restart`: `SA_RESTART` re-executes it after a handler (else `EINTR`).
    File {
        /// Whether `SA_RESTART` applies.
        restart: bool,
    },
}

/// A user thread.
pub struct Thread {
    /// Its registers.
    pub ctx: UserContext,
    /// Its process.
    pub tgid: Pid,
    /// Mask, own pending signals, alternate stack.
    pub sig: ThreadSignals,
    /// What it waits for, if it waits.
    pub wait: Option<Wait>,
    /// A signal ended its wait: at delivery the call returns `EINTR` or restarts.
    pub interrupted: Option<Wait>,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: cleared and futex-woken at exit.
    pub clear_child_tid: usize,
    /// The deadline of a sleep (or a `poll`/`select`), kept while the call restarts.
    pub sleep_deadline: Option<u64>,
    /// The keys a file call waits on (`Wait::File`).
    pub wait_keys: Vec<WaitKey>,
    /// The mask `rt_sigsuspend` replaced: restored when its handler returns.
    pub suspend_mask: Option<SigSet>,
    /// The signals `rt_sigtimedwait` waits for (empty when it does not wait).
    pub sigwait: SigSet,
    /// A stopped process's thread that was taken off the run queue.
    pub parked: bool,
    /// CPU time it used, in nanoseconds.
    pub cpu_ns: u64,
    /// The last fault address and how often it repeated (a loop guard).
    pub last_fault: (usize, usize),
    /// `comm`: the executable's name or `PR_SET_NAME`'s, at most 15 bytes.
    pub comm: [u8; 16],
    /// Its descriptors, working directory and umask (`files/`): shared with the threads
    /// and processes that `clone` shared them with (`CLONE_FILES`, `CLONE_FS`), else
    /// copies; `execve` unshares the table and closes the close-on-exec descriptors; the
    /// last thread holding a table closes its descriptors.
    pub files: Files,
    /// `set_mempolicy`'s policy (inherited by `clone`/`fork`, kept by `execve`).
    pub mempolicy: pagoda_mm::mempolicy::MemPolicy,
}

impl Thread {
    /// A thread with registers `ctx` in process `tgid`.
    pub fn new(ctx: UserContext, tgid: Pid, sig: ThreadSignals, files: Files) -> Self {
        Self {
            ctx,
            tgid,
            sig,
            wait: None,
            interrupted: None,
            clear_child_tid: 0,
            sleep_deadline: None,
            wait_keys: Vec::new(),
            suspend_mask: None,
            sigwait: SigSet::EMPTY,
            parked: false,
            cpu_ns: 0,
            last_fault: (0, 0),
            comm: [0; 16],
            files,
            mempolicy: pagoda_mm::mempolicy::MemPolicy::default(),
        }
    }
}

/// A live process (thread group).
pub struct Proc {
    /// Its address space.
    pub mm: MmId,
    /// Actions and process-wide pending signals.
    pub signals: ProcessSignals,
    /// The parent thread blocked in `vfork` until this process execs or exits.
    pub vfork_parent: Option<Pid>,
    /// CPU time of its threads that have exited.
    pub dead_cpu_ns: u64,
    /// `ITIMER_REAL`'s re-arm interval in nanoseconds (0: one-shot).
    pub itimer_interval: u64,
    /// CPU time of the children it waited for (and theirs): `RUSAGE_CHILDREN`.
    pub children_cpu_ns: u64,
    /// Resource limits (enforced by the layers that own the resources).
    pub limits: Limits,
    /// `PR_SET_PDEATHSIG`: sent to this process when its parent ends.
    pub pdeathsig: Option<Signal>,
    /// Its memory-call state (`memory/`): limits as enforced, `mlockall` mode, shm pid.
    pub memory: Memory,
    /// Where its riscv64 signal handlers return: the trampoline exec mapped (0: none).
    pub sigreturn: u64,
}

/// Everything the kernel knows about processes.
pub struct Kernel {
    /// The ABI of this machine.
    pub arch: Arch,
    /// Ids, parents, groups, zombies.
    pub tree: ProcessTree,
    /// Live threads.
    pub threads: BTreeMap<Pid, Thread>,
    /// Live processes.
    pub procs: BTreeMap<Pid, Proc>,
    /// Address spaces.
    pub mms: BTreeMap<MmId, MmSlot>,
    /// The space in the HAL's slot.
    pub active_mm: Option<MmId>,
    next_mm: MmId,
    /// Runnable threads.
    pub rq: RunQueue,
    /// Sleep deadlines and alarms.
    pub timers: Timers,
    /// Futex waiters.
    pub futexes: FutexTable,
    /// `getrandom`'s generator state.
    pub rng: u64,
    /// The wall clock at boot, in nanoseconds since the epoch, minus the monotonic clock
    /// then: `CLOCK_REALTIME = wall_base + monotonic`.
    pub wall_base: u64,
    /// Set when pid 1 ended: the status to power off with.
    pub halt: Option<i32>,
    /// CPU time of each zombie (its own and its waited-for children's), until reaped.
    pub zombie_cpu: BTreeMap<Pid, u64>,
    /// The CPU time of the child the last wait reaped (its `rusage`).
    pub last_reaped_cpu: u64,
}

impl Kernel {
    /// A kernel whose pid 1 runs `ctx` in `space` (not yet active).
    pub fn new(ctx: UserContext, space: AddrSpace, arch: Arch, slice: u32) -> Self {
        let now = pagoda::time::monotonic_ns();
        let wall = pagoda::time::wall_clock_secs().saturating_mul(1_000_000_000);
        let mut k = Self {
            arch,
            tree: ProcessTree::new(),
            threads: BTreeMap::new(),
            procs: BTreeMap::new(),
            mms: BTreeMap::new(),
            active_mm: None,
            next_mm: 1,
            rq: RunQueue::new(slice),
            timers: Timers::new(),
            futexes: FutexTable::new(),
            rng: now ^ wall.rotate_left(32),
            wall_base: wall.saturating_sub(now),
            halt: None,
            zombie_cpu: BTreeMap::new(),
            last_reaped_cpu: 0,
        };
        let mm = k.add_mm(space);
        k.procs.insert(
            Pid::INIT,
            Proc {
                mm,
                signals: ProcessSignals::new(),
                vfork_parent: None,
                dead_cpu_ns: 0,
                itimer_interval: 0,
                children_cpu_ns: 0,
                limits: crate::ids::init_limits(),
                pdeathsig: None,
                memory: Memory::new(),
                sigreturn: 0,
            },
        );
        k.threads.insert(
            Pid::INIT,
            Thread::new(
                ctx,
                Pid::INIT,
                ThreadSignals::default(),
                Files::new_console(),
            ),
        );
        k.rq.wake(Pid::INIT);
        k
    }

    /// Registers a new address space (not active).
    pub fn add_mm(&mut self, space: AddrSpace) -> MmId {
        let id = self.next_mm;
        self.next_mm += 1;
        self.mms.insert(
            id,
            MmSlot {
                space: Some(space),
                users: 1,
            },
        );
        id
    }

    /// Makes `id` the active address space (the one user code and uaccess see).
    ///
    /// # Errors
    /// `ENOMEM` if the space is missing or could not be installed (the caller kills the
    /// thread that needed it).
    pub fn activate(&mut self, id: MmId) -> Result<(), LinuxError> {
        if self.active_mm == Some(id) {
            return Ok(());
        }
        let space = self
            .mms
            .get_mut(&id)
            .and_then(|slot| slot.space.take())
            .ok_or(LinuxError::ENOMEM)?;
        let old = mm::switch_to(space).map_err(|_| LinuxError::ENOMEM)?;
        if let (Some(old), Some(old_id)) = (old, self.active_mm)
            && let Some(slot) = self.mms.get_mut(&old_id)
        {
            slot.space = Some(old);
        }
        self.active_mm = Some(id);
        Ok(())
    }

    /// Process `pid` stops using `id` (exit, exec); the space is torn down with its last
    /// user, recording `pid`'s detach from the System V segments it had attached.
    pub fn release_mm(&mut self, id: MmId, pid: Pid) {
        let Some(slot) = self.mms.get_mut(&id) else {
            return;
        };
        slot.users = slot.users.saturating_sub(1);
        if slot.users > 0 {
            return;
        }
        let mut space = self.mms.remove(&id).and_then(|slot| slot.space);
        if self.active_mm == Some(id) {
            // Switches to the kernel table first, then frees the space.
            space = mm::take_current();
            self.active_mm = None;
        }
        if let Some(space) = space {
            shm::registry().exit(space, shm::context(pid.get()));
        }
    }

    /// Runs `f` on address space `id`, active or not.
    pub fn with_mm<R>(
        &mut self,
        id: MmId,
        f: impl FnOnce(&mut AddrSpace) -> Result<R, LinuxError>,
    ) -> Result<R, LinuxError> {
        if self.active_mm == Some(id) {
            return mm::with_current(f).unwrap_or(Err(LinuxError::EFAULT));
        }
        match self.mms.get_mut(&id).and_then(|s| s.space.as_mut()) {
            Some(space) => f(space),
            None => Err(LinuxError::EFAULT),
        }
    }

    /// The address space of thread `tid`.
    pub fn mm_of(&self, tid: Pid) -> Option<MmId> {
        let tgid = self.threads.get(&tid)?.tgid;
        self.procs.get(&tgid).map(|p| p.mm)
    }

    /// Thread `tid` waits for `why`; the loop runs someone else. Its pc goes back onto the
    /// system-call instruction, so the call re-executes when it is woken.
    pub fn block(&mut self, tid: Pid, why: Wait) {
        if let Some(t) = self.threads.get_mut(&tid) {
            let pc = t.ctx.pc();
            t.ctx.set_pc(pc.wrapping_sub(UserContext::SYSCALL_INSN_LEN));
            t.wait = Some(why);
        }
        self.rq.remove(tid);
        // A signal that is already deliverable ends the wait at once.
        if !matches!(why, Wait::Vfork(_)) && self.has_deliverable(tid) {
            self.interrupt(tid);
        }
    }

    /// Threads waiting on one of `keys` (pipes that got data, room or lost an end)
    /// re-execute their calls.
    pub fn wake_file_waiters(&mut self, keys: &[WaitKey]) {
        if keys.is_empty() {
            return;
        }
        let ready: Vec<Pid> = self
            .threads
            .iter()
            .filter(|(_, t)| {
                matches!(t.wait, Some(Wait::File { .. }))
                    && t.wait_keys.iter().any(|k| keys.contains(k))
            })
            .map(|(&tid, _)| tid)
            .collect();
        for tid in ready {
            self.retry(tid);
        }
    }

    /// A file call of `tid` must wait as `b` says: on its keys, until its deadline (a
    /// `Wake` timer), with its signal mask (the old one saved as `rt_sigsuspend` does).
    pub fn block_on_files(&mut self, tid: Pid, b: Block) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        if let Some(mask) = b.sigmask {
            if t.suspend_mask.is_none() {
                t.suspend_mask = Some(t.sig.blocked);
            }
            t.sig.blocked = SigSet::from_bits(mask).as_mask();
        }
        t.sleep_deadline = b.deadline;
        t.wait_keys = b.keys;
        if let Some(at) = b.deadline {
            self.timers.set(TimerKind::Wake(tid), at, 0);
        }
        self.block(tid, Wait::File { restart: b.restart });
    }

    /// A file call of `tid` returned: its deadline and timer go, a mask `ppoll` or
    /// `pselect6` set is replaced by the one it saved.
    pub fn file_call_done(&mut self, tid: Pid) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        t.wait_keys.clear();
        if let Some(mask) = t.suspend_mask.take() {
            t.sig.blocked = mask;
        }
        if t.sleep_deadline.take().is_some() {
            self.timers.cancel(TimerKind::Wake(tid));
        }
    }

    /// Ends `tid`'s wait by re-executing its call.
    pub fn retry(&mut self, tid: Pid) {
        if let Some(t) = self.threads.get_mut(&tid)
            && t.wait.take().is_some()
        {
            self.rq.wake(tid);
        }
    }

    /// Ends `tid`'s wait by returning `value` from its call.
    pub fn complete(&mut self, tid: Pid, value: usize) {
        if let Some(t) = self.threads.get_mut(&tid)
            && t.wait.take().is_some()
        {
            let pc = t.ctx.pc();
            t.ctx.set_pc(pc.wrapping_add(UserContext::SYSCALL_INSN_LEN));
            t.ctx.set_syscall_return(value);
            t.sleep_deadline = None;
            t.sigwait = SigSet::EMPTY;
            self.rq.wake(tid);
        }
    }

    /// A signal arrived for `tid`: end an interruptible wait (the signal is acted on before
    /// the thread runs again, which then decides `EINTR` or restart).
    pub fn interrupt(&mut self, tid: Pid) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        match t.wait {
            None | Some(Wait::Vfork(_)) => {}
            Some(w) => {
                t.wait = None;
                t.interrupted = Some(w);
                self.futexes.cancel(tid);
                self.timers.cancel(TimerKind::Wake(tid));
                self.rq.wake(tid);
            }
        }
    }

    /// Wakes every thread of process `pid` that waits for a child.
    pub fn wake_child_waiters(&mut self, pid: Pid) {
        let waiting: Vec<Pid> = self
            .threads
            .iter()
            .filter(|(_, t)| t.tgid == pid && t.wait == Some(Wait::Child))
            .map(|(id, _)| *id)
            .collect();
        for tid in waiting {
            self.retry(tid);
        }
    }

    /// The threads of process `pid` the kernel knows.
    pub fn threads_of(&self, pid: Pid) -> Vec<Pid> {
        self.threads
            .iter()
            .filter(|(_, t)| t.tgid == pid)
            .map(|(id, _)| *id)
            .collect()
    }
}
