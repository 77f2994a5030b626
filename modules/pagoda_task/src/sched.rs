//! Scheduling decisions without mechanics: a round-robin run queue with time slices, and the
//! sleep timers of `nanosleep`, futex timeouts and `alarm` / `ITIMER_REAL`.
//!
//! The kernel owns the CPU state; it asks [`RunQueue`] which thread runs next on each timer
//! tick, block and wake-up, and [`Timers`] which deadlines passed.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use crate::tree::Pid;

/// Ticks a thread runs before another ready thread gets the CPU.
pub const DEFAULT_SLICE: u32 = 4;

/// What the CPU should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep running the current thread.
    Continue,
    /// Switch to this thread.
    Switch(Pid),
    /// Nothing is runnable: idle until an interrupt.
    Idle,
}

/// Ready threads in round-robin order and the one running.
#[derive(Debug, Clone)]
pub struct RunQueue {
    ready: VecDeque<Pid>,
    queued: BTreeSet<Pid>,
    current: Option<Pid>,
    slice: u32,
    left: u32,
}

impl Default for RunQueue {
    fn default() -> Self {
        Self::new(DEFAULT_SLICE)
    }
}

impl RunQueue {
    /// An empty queue with slices of `slice` ticks (at least 1).
    pub fn new(slice: u32) -> Self {
        let slice = slice.max(1);
        Self {
            ready: VecDeque::new(),
            queued: BTreeSet::new(),
            current: None,
            slice,
            left: slice,
        }
    }

    /// The running thread.
    pub fn current(&self) -> Option<Pid> {
        self.current
    }

    /// Ready threads, next first.
    pub fn ready(&self) -> impl Iterator<Item = Pid> + '_ {
        self.ready.iter().copied()
    }

    /// `tid` became runnable (created, woken). Waking a thread that is running or already
    /// queued changes nothing.
    pub fn wake(&mut self, tid: Pid) {
        if self.current != Some(tid) && self.queued.insert(tid) {
            self.ready.push_back(tid);
        }
    }

    fn pick(&mut self) -> Next {
        self.left = self.slice;
        match self.ready.pop_front() {
            Some(next) => {
                self.queued.remove(&next);
                self.current = Some(next);
                Next::Switch(next)
            }
            None => {
                self.current = None;
                Next::Idle
            }
        }
    }

    /// A timer tick while the current thread ran: at the end of its slice it goes to the
    /// back of the queue if another thread is ready.
    pub fn tick(&mut self) -> Next {
        let Some(cur) = self.current else {
            return self.pick();
        };
        self.left = self.left.saturating_sub(1);
        if self.left > 0 || self.ready.is_empty() {
            if self.left == 0 {
                self.left = self.slice;
            }
            return Next::Continue;
        }
        self.ready.push_back(cur);
        self.queued.insert(cur);
        self.pick()
    }

    /// `sched_yield`: the current thread goes to the back of the queue.
    pub fn yield_now(&mut self) -> Next {
        if let Some(cur) = self.current
            && !self.ready.is_empty()
        {
            self.ready.push_back(cur);
            self.queued.insert(cur);
            return self.pick();
        }
        self.left = self.slice;
        Next::Continue
    }

    /// The current thread blocks (sleep, wait, futex) or exits: run the next one.
    pub fn block(&mut self) -> Next {
        self.pick()
    }

    /// `tid` will never run again (killed while ready or blocked).
    pub fn remove(&mut self, tid: Pid) {
        if self.queued.remove(&tid) {
            self.ready.retain(|t| *t != tid);
        }
        if self.current == Some(tid) {
            self.current = None;
        }
    }
}

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// A thread sleeps (nanosleep, clock_nanosleep, a futex or wait timeout): wake it.
    Wake(Pid),
    /// A process's `ITIMER_REAL` / `alarm`: send `SIGALRM`, re-arm if periodic.
    Alarm(Pid),
}

/// Deadlines in nanoseconds of the monotonic clock.
#[derive(Debug, Clone, Default)]
pub struct Timers {
    by_time: BTreeMap<(u64, u64), TimerKind>,
    by_kind: BTreeMap<TimerKind, (u64, u64)>,
    seq: u64,
    /// Re-arm intervals of periodic alarms.
    interval: BTreeMap<Pid, u64>,
}

impl Timers {
    /// No deadlines.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) the deadline of `kind`; `interval` re-arms an alarm after it fires
    /// (`it_interval`), 0 for once.
    pub fn set(&mut self, kind: TimerKind, deadline: u64, interval: u64) {
        self.cancel(kind);
        self.seq += 1;
        self.by_time.insert((deadline, self.seq), kind);
        self.by_kind.insert(kind, (deadline, self.seq));
        if let TimerKind::Alarm(pid) = kind
            && interval > 0
        {
            self.interval.insert(pid, interval);
        }
    }

    /// Removes the deadline of `kind`; returns when it would have fired (`alarm`'s and
    /// `setitimer`'s old value).
    pub fn cancel(&mut self, kind: TimerKind) -> Option<u64> {
        let key = self.by_kind.remove(&kind)?;
        self.by_time.remove(&key);
        if let TimerKind::Alarm(pid) = kind {
            self.interval.remove(&pid);
        }
        Some(key.0)
    }

    /// When `kind` fires, if armed.
    pub fn deadline(&self, kind: TimerKind) -> Option<u64> {
        self.by_kind.get(&kind).map(|k| k.0)
    }

    /// The earliest deadline (to program the timer interrupt).
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_time.keys().next().map(|k| k.0)
    }

    /// Every timer whose deadline is at or before `now`, in deadline order; periodic alarms
    /// are re-armed (skipping missed periods, as Linux coalesces overruns into one signal).
    pub fn expire(&mut self, now: u64) -> Vec<TimerKind> {
        let mut fired = Vec::new();
        while let Some((&(deadline, seq), &kind)) = self.by_time.first_key_value() {
            if deadline > now {
                break;
            }
            self.by_time.remove(&(deadline, seq));
            self.by_kind.remove(&kind);
            fired.push(kind);
            if let TimerKind::Alarm(pid) = kind
                && let Some(&every) = self.interval.get(&pid)
            {
                let periods = (now - deadline) / every + 1;
                let next = deadline.saturating_add(periods.saturating_mul(every));
                self.seq += 1;
                self.by_time.insert((next, self.seq), kind);
                self.by_kind.insert(kind, (next, self.seq));
            }
        }
        fired
    }
}
