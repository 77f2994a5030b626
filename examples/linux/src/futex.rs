//! `futex(2)`: wait queues keyed by (address space, address) in `pagoda_task`'s
//! `FutexTable`. The word is compared under the same (single) kernel lock as the queueing,
//! so no wake is lost. A shared futex (no `FUTEX_PRIVATE_FLAG`) in a `MAP_SHARED` mapping
//! is keyed by the shared object and the offset in it, so it works across processes; in
//! any other memory it is keyed like a private one.

use alloc::sync::Arc;

use pagoda::mm::{self, BackendKind, LinuxError, PAGE_SIZE_4K, VirtAddr};
use pagoda::time::{TimerKind, monotonic_ns};
use pagoda_task::Pid;
use pagoda_task::futex::{BITSET_ANY, FutexKey, check_aligned};

use crate::process::{Kernel, Wait};
use crate::syscall::Outcome;
use crate::uaccess::{get_array, get_u32};

const FUTEX_WAIT: usize = 0;
const FUTEX_WAKE: usize = 1;
const FUTEX_REQUEUE: usize = 3;
const FUTEX_CMP_REQUEUE: usize = 4;
const FUTEX_WAIT_BITSET: usize = 9;
const FUTEX_WAKE_BITSET: usize = 10;
const FUTEX_PRIVATE_FLAG: usize = 128;
const FUTEX_CLOCK_REALTIME: usize = 256;

impl Kernel {
    fn futex_key(&self, tid: Pid, addr: usize, private: bool) -> Result<FutexKey, LinuxError> {
        check_aligned(addr as u64)?;
        let space = self.mm_of(tid).ok_or(LinuxError::ESRCH)?;
        let local = FutexKey::Private {
            space,
            addr: addr as u64,
        };
        if private {
            return Ok(local);
        }
        let va = VirtAddr::from_usize(addr);
        let shared = mm::with_current(|s| {
            let backend = s.find_area(va)?.backend();
            if let (Some(obj), Some(off)) = (backend.shared_object(), backend.shared_offset(va)) {
                // The object's address is its identity while any mapping keeps it alive.
                let object = Arc::as_ptr(obj) as usize as u64;
                return Some((object, (off + addr % PAGE_SIZE_4K) as u64));
            }
            match (backend.kind(), backend.file(), backend.file_offset(va)) {
                (BackendKind::FileShared, Some(file), Some(off)) => {
                    Some((Arc::as_ptr(file) as *const () as usize as u64, off))
                }
                _ => None,
            }
        });
        Ok(match shared.flatten() {
            Some((object, offset)) => FutexKey::Shared { object, offset },
            None => local,
        })
    }

    /// Wakes up to `n` waiters of `key` matching `bitset`; their waits return 0.
    fn futex_wake(&mut self, key: FutexKey, n: usize, bitset: u32) -> Result<usize, LinuxError> {
        let woken = self.futexes.wake(key, n, bitset)?;
        for &w in &woken {
            self.complete(w, 0);
        }
        Ok(woken.len())
    }

    /// `futex(uaddr, op, val, timeout | val2, uaddr2, val3)`.
    pub fn sys_futex(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        match self.futex(tid, a) {
            Ok(Some(v)) => Outcome::Ret(Ok(v)),
            Ok(None) => Outcome::Blocked,
            Err(e) => Outcome::Ret(Err(e)),
        }
    }

    fn futex(&mut self, tid: Pid, a: [usize; 6]) -> Result<Option<usize>, LinuxError> {
        let op = a[1];
        let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
            return Err(LinuxError::ENOSYS);
        }
        let private = op & FUTEX_PRIVATE_FLAG != 0;
        let key = self.futex_key(tid, a[0], private)?;
        let val = a[2] as u32;
        match cmd {
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                let bitset = if cmd == FUTEX_WAIT {
                    BITSET_ANY
                } else {
                    a[5] as u32
                };
                if bitset == 0 {
                    return Err(LinuxError::EINVAL);
                }
                let deadline = match a[3] {
                    0 => None,
                    at => {
                        let t = pagoda::linux::abi::Timespec::decode(&get_array::<16>(at)?)?;
                        let ns = (t.sec as u64)
                            .saturating_mul(1_000_000_000)
                            .saturating_add(t.nsec as u64);
                        Some(if cmd == FUTEX_WAIT {
                            // FUTEX_WAIT's timeout is relative.
                            monotonic_ns().saturating_add(ns)
                        } else if op & FUTEX_CLOCK_REALTIME != 0 {
                            ns.saturating_sub(self.wall_base)
                        } else {
                            ns
                        })
                    }
                };
                if get_u32(a[0])? != val {
                    return Err(LinuxError::EAGAIN);
                }
                if deadline.is_some_and(|d| d <= monotonic_ns()) {
                    return Err(LinuxError::ETIMEDOUT);
                }
                self.futexes.wait(key, tid, bitset)?;
                if let Some(d) = deadline {
                    self.timers.set(TimerKind::Wake(tid), d, 0);
                }
                self.block(tid, Wait::Futex);
                Ok(None)
            }
            FUTEX_WAKE => self.futex_wake(key, val as usize, BITSET_ANY).map(Some),
            FUTEX_WAKE_BITSET => self.futex_wake(key, val as usize, a[5] as u32).map(Some),
            FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
                let to = self.futex_key(tid, a[4], private)?;
                if cmd == FUTEX_CMP_REQUEUE && get_u32(a[0])? != a[5] as u32 {
                    return Err(LinuxError::EAGAIN);
                }
                let (woken, moved) = self.futexes.requeue(key, to, val as usize, a[3]);
                for &w in &woken {
                    self.complete(w, 0);
                }
                Ok(Some(
                    woken.len() + if cmd == FUTEX_CMP_REQUEUE { moved } else { 0 },
                ))
            }
            _ => Err(LinuxError::ENOSYS),
        }
    }
}
