//! Waiting for descriptors: `poll`, `ppoll`, `select`, `pselect6`. A call asks every
//! descriptor for its readiness mask (Linux's `f_op->poll` answers); when nothing is ready
//! and the timeout has not passed it answers [`FileCall::Block`] with the key of every pipe
//! or socket pair it looked at, its deadline and (`ppoll`, `pselect6`) the signal mask to
//! wait with, and is executed again on a wake-up, at the deadline, or after an ignored
//! signal. The kernel keeps the deadline across those executions and passes it back in.

use alloc::vec;
use alloc::vec::Vec;

use pagoda::linux::Sysno;
use pagoda::linux::abi::{Timespec, Timeval};
use pagoda::mm::LinuxError;

use super::desc::{Description, Kind};
use super::user;
use super::{Block, FileCall, Files, WaitKey};

/// `poll` event bits.
pub mod ev {
    /// Data to read.
    pub const POLLIN: u16 = 0x1;
    /// Urgent data.
    pub const POLLPRI: u16 = 0x2;
    /// Room to write.
    pub const POLLOUT: u16 = 0x4;
    /// An error (a pipe's write end without readers).
    pub const POLLERR: u16 = 0x8;
    /// Hung up (a pipe's read end without writers).
    pub const POLLHUP: u16 = 0x10;
    /// Not an open descriptor.
    pub const POLLNVAL: u16 = 0x20;
    /// Normal data to read.
    pub const POLLRDNORM: u16 = 0x40;
    /// Priority data to read.
    pub const POLLRDBAND: u16 = 0x80;
    /// Room for normal data.
    pub const POLLWRNORM: u16 = 0x100;
    /// Room for priority data.
    pub const POLLWRBAND: u16 = 0x200;
}
use ev::*;

/// What a file without a poll method reports (Linux's `DEFAULT_POLLMASK`).
const DEFAULT_MASK: u16 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
/// The events that make `select` report a descriptor readable, writable, exceptional.
const IN_SET: u16 = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
const OUT_SET: u16 = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
const EX_SET: u16 = POLLPRI;
/// `sizeof(sigset_t)` the calls accept.
const SIGSET_SIZE: usize = 8;

/// How long a call may wait.
#[derive(Clone, Copy)]
enum Timeout {
    Forever,
    Ns(u64),
}

/// The readiness mask of `d` and the key a change of it is posted on (pipes).
fn mask_of(d: &Description) -> (u16, Option<WaitKey>) {
    match &d.kind {
        Kind::PipeRead(p) => {
            let pipe = p.pipe.lock();
            let mut m = 0;
            if !pipe.is_empty() {
                m |= POLLIN | POLLRDNORM;
            }
            if pipe.writers() == 0 {
                m |= POLLHUP;
            }
            (m, Some(p.key))
        }
        Kind::PipeWrite(p) => {
            let pipe = p.pipe.lock();
            let mut m = 0;
            if !pipe.is_full() {
                m |= POLLOUT | POLLWRNORM;
            }
            if pipe.readers() == 0 {
                m |= POLLERR;
            }
            (m, Some(p.key))
        }
        Kind::Socket(s) => (s.mask(), Some(s.pair.key)),
        Kind::Console => {
            let mut m = 0;
            if !super::tty::output_stopped() {
                m |= POLLOUT | POLLWRNORM;
            }
            if super::tty::poll_readable() {
                m |= POLLIN | POLLRDNORM;
            }
            (m, Some(super::tty::CONSOLE_KEY))
        }
        // Regular files, devices, directories and /proc texts have no poll method.
        _ => (DEFAULT_MASK, None),
    }
}

/// Reads a user `struct timespec` (`EINVAL` out of range, `EFAULT`).
fn get_timespec(at: usize) -> Result<Timespec, LinuxError> {
    let mut b = [0u8; 16];
    user::get(at, &mut b)?;
    Timespec::decode(&b)
}

/// Reads the sigmask argument of `ppoll` (`EINVAL` for a size other than 8).
fn get_sigmask(at: usize, size: usize) -> Result<Option<u64>, LinuxError> {
    if at == 0 {
        return Ok(None);
    }
    if size != SIGSET_SIZE {
        return Err(LinuxError::EINVAL);
    }
    let mut b = [0u8; 8];
    user::get(at, &mut b)?;
    Ok(Some(u64::from_le_bytes(b)))
}

/// The deadline of `timeout`: the one an earlier execution computed, else from now.
fn deadline(timeout: Timeout, saved: Option<u64>, now: u64) -> Option<u64> {
    match timeout {
        Timeout::Forever => None,
        Timeout::Ns(ns) => Some(saved.unwrap_or(now.saturating_add(ns))),
    }
}

/// How a poll-family call ended: `count` ready (0 after the deadline), or it waits.
enum Scan {
    Ready(usize),
    Wait(Vec<WaitKey>),
}

impl Files {
    /// Serves `poll`, `ppoll`, `select` and `pselect6`; `None` for other calls. `saved`:
    /// the deadline an earlier execution of this call returned in its [`Block`].
    pub(super) fn poll_call(
        &mut self,
        sys: Sysno,
        a: [usize; 6],
        saved: Option<u64>,
    ) -> Option<FileCall> {
        let now = pagoda::time::monotonic_ns();
        let r = match sys {
            Sysno::Poll => {
                let timeout = match a[2] as i32 {
                    t if t < 0 => Timeout::Forever,
                    t => Timeout::Ns(t as u64 * 1_000_000),
                };
                self.poll(a[0], a[1], timeout, None, saved, now, 0)
            }
            Sysno::Ppoll => self.ppoll(a, saved, now),
            Sysno::Select => self.select(a, false, saved, now),
            Sysno::Pselect6 => self.select(a, true, saved, now),
            _ => return None,
        };
        Some(match r {
            Ok(call) => call,
            Err(e) => FileCall::Done(Err(e)),
        })
    }

    fn ppoll(
        &mut self,
        a: [usize; 6],
        saved: Option<u64>,
        now: u64,
    ) -> Result<FileCall, LinuxError> {
        if a[1] > self.fds().limit() {
            return Err(LinuxError::EINVAL);
        }
        let timeout = match a[2] {
            0 => Timeout::Forever,
            at => Timeout::Ns(get_timespec(at)?.as_ns()),
        };
        let mask = get_sigmask(a[3], a[4])?;
        self.poll(a[0], a[1], timeout, mask, saved, now, a[2])
    }

    /// `poll(fds, nfds, ...)`; `tp`: the user timespec to write the time left to.
    #[allow(clippy::too_many_arguments)]
    fn poll(
        &mut self,
        fds: usize,
        nfds: usize,
        timeout: Timeout,
        sigmask: Option<u64>,
        saved: Option<u64>,
        now: u64,
        tp: usize,
    ) -> Result<FileCall, LinuxError> {
        if nfds > self.fds().limit() {
            return Err(LinuxError::EINVAL);
        }
        let mut raw = vec![0u8; nfds * 8];
        user::get(fds, &mut raw)?;
        let deadline = deadline(timeout, saved, now);
        let mut keys = Vec::new();
        let mut count = 0;
        for e in raw.chunks_exact_mut(8) {
            let fd = i32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let events = u16::from_le_bytes([e[4], e[5]]);
            let revents = if fd < 0 {
                0
            } else {
                match self.get(fd as usize).ok().filter(|d| !d.is_path()) {
                    None => POLLNVAL,
                    Some(d) => {
                        let (m, key) = mask_of(&d);
                        keys.extend(key);
                        m & (events | POLLERR | POLLHUP)
                    }
                }
            };
            count += usize::from(revents != 0);
            e[6..8].copy_from_slice(&revents.to_le_bytes());
        }
        match finish(count, keys, deadline, now) {
            Scan::Wait(keys) => Ok(block(keys, deadline, sigmask)),
            Scan::Ready(n) => {
                user::put(fds, &raw)?;
                if tp != 0 && deadline.is_some() {
                    let left = Timespec::from_ns(deadline.unwrap_or(0).saturating_sub(now));
                    user::put(tp, &left.encode())?;
                }
                Ok(FileCall::Done(Ok(n)))
            }
        }
    }

    /// `select(n, in, out, ex, timeval)` or `pselect6(n, in, out, ex, timespec, {mask,
    /// size})`.
    fn select(
        &mut self,
        a: [usize; 6],
        p6: bool,
        saved: Option<u64>,
        now: u64,
    ) -> Result<FileCall, LinuxError> {
        let n = usize::try_from(a[0] as i32).map_err(|_| LinuxError::EINVAL)?;
        let timeout = match (a[4], p6) {
            (0, _) => Timeout::Forever,
            (at, true) => Timeout::Ns(get_timespec(at)?.as_ns()),
            (at, false) => {
                let mut b = [0u8; 16];
                user::get(at, &mut b)?;
                let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
                let usec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
                if sec < 0 || usec < 0 {
                    return Err(LinuxError::EINVAL);
                }
                // Linux carries whole seconds out of tv_usec.
                let ns = (sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add((usec as u64).saturating_mul(1000));
                Timeout::Ns(ns)
            }
        };
        let mut sigmask = None;
        if p6 && a[5] != 0 {
            let mut b = [0u8; 16];
            user::get(a[5], &mut b)?;
            let at = usize::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
            let size = usize::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
            sigmask = get_sigmask(at, size)?;
        }
        // Linux looks no further than its descriptor table's size.
        let top = self.fds().fds().max().map_or(0, |fd| fd as usize + 1);
        let max = if top <= 64 {
            64
        } else {
            top.next_power_of_two().max(128)
        };
        let n = n.min(max);
        let bytes = n.div_ceil(64) * 8;
        let mut sets = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
        for (set, &at) in sets.iter_mut().zip(&a[1..4]) {
            if at != 0 {
                user::get(at, set)?;
            }
        }
        let bit = |set: &[u8], fd: usize| set[fd / 8] & (1 << (fd % 8)) != 0;
        let mut out = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
        let mut keys = Vec::new();
        let mut count = 0;
        for fd in 0..n {
            let wanted = [bit(&sets[0], fd), bit(&sets[1], fd), bit(&sets[2], fd)];
            if !wanted.contains(&true) {
                continue;
            }
            let d = self
                .get(fd)
                .ok()
                .filter(|d| !d.is_path())
                .ok_or(LinuxError::EBADF)?;
            let (m, key) = mask_of(&d);
            keys.extend(key);
            for (i, set) in [IN_SET, OUT_SET, EX_SET].into_iter().enumerate() {
                if wanted[i] && m & set != 0 {
                    out[i][fd / 8] |= 1 << (fd % 8);
                    count += 1;
                }
            }
        }
        let deadline = deadline(timeout, saved, now);
        match finish(count, keys, deadline, now) {
            Scan::Wait(keys) => Ok(block(keys, deadline, sigmask)),
            Scan::Ready(count) => {
                for (set, &at) in out.iter().zip(&a[1..4]) {
                    if at != 0 {
                        user::put(at, set)?;
                    }
                }
                if a[4] != 0 && deadline.is_some() {
                    let left = deadline.unwrap_or(0).saturating_sub(now);
                    let bytes = if p6 {
                        Timespec::from_ns(left).encode()
                    } else {
                        Timeval::from_ns(left).encode()
                    };
                    user::put(a[4], &bytes)?;
                }
                Ok(FileCall::Done(Ok(count)))
            }
        }
    }
}

/// Ready if something is or the deadline passed; else wait on `keys`.
fn finish(count: usize, mut keys: Vec<WaitKey>, deadline: Option<u64>, now: u64) -> Scan {
    if count > 0 || deadline.is_some_and(|d| now >= d) {
        return Scan::Ready(count);
    }
    keys.sort_unstable();
    keys.dedup();
    Scan::Wait(keys)
}

/// A poll-family wait: a handler always ends it with `EINTR` (Linux's `ERESTARTNOHAND`).
fn block(keys: Vec<WaitKey>, deadline: Option<u64>, sigmask: Option<u64>) -> FileCall {
    FileCall::Block(Block {
        keys,
        deadline,
        restart: false,
        sigmask,
    })
}
