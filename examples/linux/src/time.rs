//! Clocks, sleeps and `ITIMER_REAL`: every clock derives from the monotonic clock (the
//! wall clock is its boot-time offset); a sleep is a deadline in `Timers` and a wait.

use pagoda::linux::Sysno;
use pagoda::linux::abi::{
    Arch, Timespec, Timeval, decode_itimerval, encode_itimerval, encode_rusage,
};
use pagoda::mm::LinuxError;
use pagoda::time::{Next, TimerKind, monotonic_ns};
use pagoda_task::{Pid, SigInfo, Signal};

use crate::process::{Kernel, Wait};
use crate::syscall::Outcome;
use crate::uaccess::{SysResult, errno, get_array, put};

const NS: u64 = 1_000_000_000;

/// Clock ids.
pub mod clock {
    #![allow(missing_docs)]
    pub const REALTIME: usize = 0;
    pub const MONOTONIC: usize = 1;
    pub const PROCESS_CPUTIME_ID: usize = 2;
    pub const THREAD_CPUTIME_ID: usize = 3;
    pub const MONOTONIC_RAW: usize = 4;
    pub const REALTIME_COARSE: usize = 5;
    pub const MONOTONIC_COARSE: usize = 6;
    pub const BOOTTIME: usize = 7;
}
/// `clock_nanosleep`'s absolute-deadline flag.
const TIMER_ABSTIME: usize = 1;
/// `ITIMER_REAL`.
const ITIMER_REAL: usize = 0;
/// Clock ticks per second `times` reports in (`USER_HZ`).
const USER_HZ: u64 = 100;

/// Reads a `struct timespec` in nanoseconds (`EFAULT`, `EINVAL`).
fn get_timespec(at: usize) -> Result<u64, LinuxError> {
    Timespec::decode(&get_array::<16>(at)?).map(|t| t.as_ns())
}

/// `getrusage`'s `who`.
const RUSAGE_SELF: usize = 0;
const RUSAGE_CHILDREN: usize = usize::MAX; // -1
const RUSAGE_THREAD: usize = 1;

/// The `rem` pointer of an interrupted relative sleep, if the call has one.
pub fn remaining_pointer(arch: Arch, number: usize, a: &[usize; 6]) -> Option<usize> {
    let sys = match arch {
        Arch::X86_64 => Sysno::from_x86_64(number),
        _ => Sysno::from_generic(number),
    };
    match sys? {
        Sysno::Nanosleep if a[1] != 0 => Some(a[1]),
        Sysno::ClockNanosleep if a[1] & TIMER_ABSTIME == 0 && a[3] != 0 => Some(a[3]),
        _ => None,
    }
}

impl Kernel {
    /// CPU time of process `pid` (its live threads and those that exited).
    fn process_cpu(&self, pid: Pid) -> u64 {
        let dead = self.procs.get(&pid).map_or(0, |p| p.dead_cpu_ns);
        self.threads
            .values()
            .filter(|t| t.tgid == pid)
            .fold(dead, |sum, t| sum.saturating_add(t.cpu_ns))
    }

    /// The time of clock `id` for thread `tid`, in nanoseconds.
    fn clock_now(&self, tid: Pid, id: usize) -> Result<u64, LinuxError> {
        let now = monotonic_ns();
        Ok(match id {
            clock::REALTIME | clock::REALTIME_COARSE => self.wall_base.saturating_add(now),
            clock::MONOTONIC | clock::MONOTONIC_RAW | clock::MONOTONIC_COARSE | clock::BOOTTIME => {
                now
            }
            clock::PROCESS_CPUTIME_ID => {
                let pid = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.tgid;
                self.process_cpu(pid)
            }
            clock::THREAD_CPUTIME_ID => self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.cpu_ns,
            _ => return Err(LinuxError::EINVAL),
        })
    }

    /// `getrusage(who, usage)`: CPU time only (as user time).
    pub fn sys_getrusage(&self, tid: Pid, who: usize, at: usize) -> SysResult {
        let t = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?;
        // `who` is an `int`: x86_64 callers leave the upper half of the register zero.
        let cpu = match who as i32 as isize as usize {
            RUSAGE_SELF => self.process_cpu(t.tgid),
            RUSAGE_THREAD => t.cpu_ns,
            RUSAGE_CHILDREN => self.procs.get(&t.tgid).map_or(0, |p| p.children_cpu_ns),
            _ => return Err(LinuxError::EINVAL),
        };
        put(Some(at), &encode_rusage(cpu, 0))?;
        Ok(0)
    }

    /// `clock_gettime(id, tp)`.
    pub fn sys_clock_gettime(&self, tid: Pid, id: usize, tp: usize) -> SysResult {
        let ns = self.clock_now(tid, id)?;
        put(Some(tp), &Timespec::from_ns(ns).encode())?;
        Ok(0)
    }

    /// `clock_getres(id, res)`: every clock counts nanoseconds.
    pub fn sys_clock_getres(&self, tid: Pid, id: usize, res: usize) -> SysResult {
        self.clock_now(tid, id)?;
        if res != 0 {
            put(Some(res), &Timespec::from_ns(1).encode())?;
        }
        Ok(0)
    }

    /// `gettimeofday(tv, tz)`; the time zone is UTC.
    pub fn sys_gettimeofday(&self, tv: usize, tz: usize) -> SysResult {
        if tv != 0 {
            let now = self.wall_base.saturating_add(monotonic_ns());
            put(Some(tv), &Timeval::from_ns(now).encode())?;
        }
        if tz != 0 {
            put(Some(tz), &[0u8; 8])?;
        }
        Ok(0)
    }

    /// `time(tloc)` (x86_64): seconds since the epoch, also stored at `tloc` unless it is
    /// NULL.
    pub fn sys_time(&self, tloc: usize) -> SysResult {
        let secs = self.wall_base.saturating_add(monotonic_ns()) / 1_000_000_000;
        if tloc != 0 {
            put(Some(tloc), &secs.to_le_bytes())?;
        }
        Ok(secs as usize)
    }

    /// `times(buf)`: CPU times in clock ticks (all counted as user time); the return value
    /// is the monotonic clock in ticks.
    pub fn sys_times(&self, tid: Pid, buf: usize) -> SysResult {
        if buf != 0 {
            let pid = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.tgid;
            let mut out = [0u8; 32];
            let ticks = self.process_cpu(pid) / (NS / USER_HZ);
            out[..8].copy_from_slice(&ticks.to_le_bytes());
            let children = self.procs.get(&pid).map_or(0, |p| p.children_cpu_ns);
            out[16..24].copy_from_slice(&(children / (NS / USER_HZ)).to_le_bytes());
            put(Some(buf), &out)?;
        }
        Ok((monotonic_ns() / (NS / USER_HZ)) as usize)
    }

    /// Sleeps thread `tid` until `deadline` (monotonic); a restarted call keeps the
    /// deadline it computed first.
    fn sleep_until(&mut self, tid: Pid, deadline: u64) -> Outcome {
        let Some(t) = self.threads.get_mut(&tid) else {
            return Outcome::NoReturn;
        };
        let deadline = *t.sleep_deadline.get_or_insert(deadline);
        if monotonic_ns() >= deadline {
            t.sleep_deadline = None;
            return Outcome::Ret(Ok(0));
        }
        self.timers.set(TimerKind::Wake(tid), deadline, 0);
        self.block(tid, Wait::Sleep);
        Outcome::Blocked
    }

    /// `nanosleep(req, rem)`.
    pub fn sys_nanosleep(&mut self, tid: Pid, req: usize) -> Outcome {
        match get_timespec(req) {
            Ok(d) => self.sleep_until(tid, monotonic_ns().saturating_add(d)),
            Err(e) => Outcome::Ret(Err(e)),
        }
    }

    /// `clock_nanosleep(id, flags, req, rem)`.
    pub fn sys_clock_nanosleep(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        let r = (|| {
            let d = get_timespec(a[2])?;
            let now = monotonic_ns();
            let base = match a[0] {
                clock::REALTIME => self.wall_base,
                clock::MONOTONIC | clock::BOOTTIME => 0,
                clock::THREAD_CPUTIME_ID => return Err(LinuxError::EINVAL),
                // CPU-time sleeps and other clocks are not supported.
                _ => return Err(LinuxError::EINVAL),
            };
            Ok(if a[1] & TIMER_ABSTIME != 0 {
                d.saturating_sub(base)
            } else {
                now.saturating_add(d)
            })
        })();
        match r {
            Ok(deadline) => self.sleep_until(tid, deadline),
            Err(e) => Outcome::Ret(Err(e)),
        }
    }

    /// `sched_yield`.
    pub fn sys_sched_yield(&mut self) -> SysResult {
        let _: Next = self.rq.yield_now();
        Ok(0)
    }

    /// The time left on process `pid`'s `ITIMER_REAL`, in nanoseconds (0: disarmed).
    fn alarm_left(&self, pid: Pid) -> u64 {
        self.timers
            .deadline(TimerKind::Alarm(pid))
            .map_or(0, |d| d.saturating_sub(monotonic_ns()).max(1))
    }

    /// `alarm(seconds)`: the seconds left of the previous alarm (rounded, at least 1).
    pub fn sys_alarm(&mut self, tid: Pid, secs: usize) -> SysResult {
        // The argument is an `unsigned int`.
        let secs = secs as u32;
        let pid = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.tgid;
        let left = self.alarm_left(pid);
        self.timers.cancel(TimerKind::Alarm(pid));
        if let Some(p) = self.procs.get_mut(&pid) {
            p.itimer_interval = 0;
        }
        if secs > 0 {
            let at = monotonic_ns().saturating_add(u64::from(secs).saturating_mul(NS));
            self.timers.set(TimerKind::Alarm(pid), at, 0);
        }
        let old = if left == 0 {
            0
        } else {
            left.div_ceil(NS).max(1)
        };
        Ok(old as usize)
    }

    fn itimer_value(&self, pid: Pid) -> [u8; 32] {
        let interval = self.procs.get(&pid).map_or(0, |p| p.itimer_interval);
        encode_itimerval(interval, self.alarm_left(pid))
    }

    /// `getitimer(which, value)`: `ITIMER_REAL` only.
    pub fn sys_getitimer(&self, tid: Pid, which: usize, at: usize) -> SysResult {
        if which != ITIMER_REAL {
            return Err(LinuxError::EINVAL);
        }
        let pid = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.tgid;
        put(Some(at), &self.itimer_value(pid))?;
        Ok(0)
    }

    /// `setitimer(which, new, old)`: `ITIMER_REAL` only (`ITIMER_VIRTUAL` / `ITIMER_PROF`
    /// are `EINVAL`: no per-process CPU timers yet).
    pub fn sys_setitimer(&mut self, tid: Pid, a: [usize; 6]) -> SysResult {
        if a[0] != ITIMER_REAL {
            return Err(LinuxError::EINVAL);
        }
        let pid = self.threads.get(&tid).ok_or(LinuxError::ESRCH)?.tgid;
        let new = match a[1] {
            0 => None,
            at => Some(decode_itimerval(&get_array::<32>(at)?)?),
        };
        let old = self.itimer_value(pid);
        if let Some((interval, value)) = new {
            self.timers.cancel(TimerKind::Alarm(pid));
            let interval = if value == 0 { 0 } else { interval };
            if value > 0 {
                let at = monotonic_ns().saturating_add(value);
                self.timers.set(TimerKind::Alarm(pid), at, interval);
            }
            if let Some(p) = self.procs.get_mut(&pid) {
                p.itimer_interval = interval;
            }
        }
        if a[2] != 0 {
            put(Some(a[2]), &old)?;
        }
        Ok(0)
    }

    /// Acts on every deadline at or before `now`: sleepers wake, futex waits time out, alarms
    /// send `SIGALRM`.
    pub fn expire_timers(&mut self, now: u64) {
        for kind in self.timers.expire(now) {
            match kind {
                TimerKind::Wake(tid) => match self.threads.get(&tid).and_then(|t| t.wait) {
                    Some(Wait::Sleep) => self.complete(tid, 0),
                    Some(Wait::Signal) => self.complete(tid, errno(LinuxError::EAGAIN)),
                    // poll/select: the call runs again and sees its deadline passed.
                    Some(Wait::File { .. }) => self.retry(tid),
                    // Still queued (no waker took it first): the wait times out.
                    Some(Wait::Futex) if self.futexes.cancel(tid) => {
                        self.complete(tid, errno(LinuxError::ETIMEDOUT));
                    }
                    _ => {}
                },
                TimerKind::Alarm(pid) => {
                    self.send_process(pid, SigInfo::kernel(Signal::SIGALRM));
                }
            }
        }
    }
}
