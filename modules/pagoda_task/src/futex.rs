//! Futex wait queues (futex(2)): threads wait on a key, are woken by count and bitset, moved
//! between keys by requeue, and leave on timeout or signal.
//!
//! The key is the kernel's choice: private futexes use (address space, address), shared ones
//! the identity of the page's backing object and the offset, so a futex in a `MAP_SHARED`
//! file page works across processes. Comparing the futex word with the expected value is also
//! the kernel's (it reads user memory), done under the same lock as [`FutexTable::wait`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use axerrno::LinuxError;

use crate::tree::Pid;

/// A futex key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FutexKey {
    /// `FUTEX_PRIVATE_FLAG`: the address space's id and the virtual address.
    Private {
        /// The address space (the kernel's id for it).
        space: u64,
        /// The futex word's address.
        addr: u64,
    },
    /// A shared futex: the backing object's id (file or shared-memory object) and the byte
    /// offset of the word in it.
    Shared {
        /// The object.
        object: u64,
        /// The word's offset.
        offset: u64,
    },
}

/// `FUTEX_BITSET_MATCH_ANY`: what `FUTEX_WAIT` / `FUTEX_WAKE` use.
pub const BITSET_ANY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiter {
    tid: Pid,
    bitset: u32,
}

/// Every waiting thread, by key, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct FutexTable {
    queues: BTreeMap<FutexKey, VecDeque<Waiter>>,
    /// Where each waiting thread waits (a thread waits on one futex at a time).
    waiting: BTreeMap<Pid, FutexKey>,
}

/// Futex words must be 4-byte aligned.
///
/// # Errors
/// `EINVAL` for a misaligned address.
pub fn check_aligned(addr: u64) -> Result<(), LinuxError> {
    if addr.is_multiple_of(4) {
        Ok(())
    } else {
        Err(LinuxError::EINVAL)
    }
}

impl FutexTable {
    /// No waiters.
    pub fn new() -> Self {
        Self::default()
    }

    /// `FUTEX_WAIT(_BITSET)` after the kernel found the word equal to the expected value:
    /// `tid` waits on `key` for wakers whose bitset intersects `bitset`.
    ///
    /// # Errors
    /// `EINVAL` for an empty bitset or a thread that already waits.
    pub fn wait(&mut self, key: FutexKey, tid: Pid, bitset: u32) -> Result<(), LinuxError> {
        if bitset == 0 || self.waiting.contains_key(&tid) {
            return Err(LinuxError::EINVAL);
        }
        self.queues
            .entry(key)
            .or_default()
            .push_back(Waiter { tid, bitset });
        self.waiting.insert(tid, key);
        Ok(())
    }

    /// `FUTEX_WAKE(_BITSET)`: wakes up to `n` waiters of `key` whose bitset intersects
    /// `bitset`, oldest first; returns them (the kernel makes them runnable; their wait
    /// returns 0).
    ///
    /// # Errors
    /// `EINVAL` for an empty bitset.
    pub fn wake(&mut self, key: FutexKey, n: usize, bitset: u32) -> Result<Vec<Pid>, LinuxError> {
        if bitset == 0 {
            return Err(LinuxError::EINVAL);
        }
        let mut woken = Vec::new();
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|w| {
                if woken.len() < n && w.bitset & bitset != 0 {
                    woken.push(w.tid);
                    false
                } else {
                    true
                }
            });
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
        for tid in &woken {
            self.waiting.remove(tid);
        }
        Ok(woken)
    }

    /// `FUTEX_REQUEUE` / `FUTEX_CMP_REQUEUE` (after the kernel's compare): wakes up to `wake`
    /// waiters of `from`, moves up to `requeue` of the rest to `to`; returns the woken and how
    /// many moved.
    pub fn requeue(
        &mut self,
        from: FutexKey,
        to: FutexKey,
        wake: usize,
        requeue: usize,
    ) -> (Vec<Pid>, usize) {
        let woken = self.wake(from, wake, BITSET_ANY).unwrap_or_default();
        let mut moved = 0;
        if from != to {
            while moved < requeue {
                let Some(w) = self.queues.get_mut(&from).and_then(VecDeque::pop_front) else {
                    break;
                };
                self.queues.entry(to).or_default().push_back(w);
                self.waiting.insert(w.tid, to);
                moved += 1;
            }
            if self.queues.get(&from).is_some_and(VecDeque::is_empty) {
                self.queues.remove(&from);
            }
        } else {
            moved = self.queues.get(&from).map_or(0, |q| q.len().min(requeue));
        }
        (woken, moved)
    }

    /// `tid` stops waiting (timeout: `ETIMEDOUT`; signal: `EINTR` or restart; thread exit).
    /// Returns whether it was still waiting (false: a waker took it first, so its wait
    /// returns 0).
    pub fn cancel(&mut self, tid: Pid) -> bool {
        let Some(key) = self.waiting.remove(&tid) else {
            return false;
        };
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|w| w.tid != tid);
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
        true
    }

    /// Where `tid` waits, if it does.
    pub fn waits_on(&self, tid: Pid) -> Option<FutexKey> {
        self.waiting.get(&tid).copied()
    }

    /// How many threads wait on `key`.
    pub fn waiters(&self, key: FutexKey) -> usize {
        self.queues.get(&key).map_or(0, VecDeque::len)
    }
}
