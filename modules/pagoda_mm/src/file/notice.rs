//! The reverse map from a file to the address spaces that map it: each address space has
//! one [`Notices`] mailbox; a file keeps weak references to the mailboxes of the spaces
//! that map it and posts its truncations there.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use kspin::SpinNoIrq;

/// The mailbox of one address space: `(file id, new size)` for every truncation of a file
/// it maps, applied (pages past the new end unmapped) by
/// [`AddrSpace::apply_truncations`](crate::AddrSpace::apply_truncations).
///
/// Posting takes only this mailbox's lock and never calls into an address space, so a
/// truncation cannot deadlock with an address space that is truncating another file.
pub(crate) struct Notices {
    list: SpinNoIrq<Vec<(u64, u64)>>,
    pending: AtomicBool,
}

impl Notices {
    pub(crate) const fn new() -> Self {
        Self {
            list: SpinNoIrq::new(Vec::new()),
            pending: AtomicBool::new(false),
        }
    }

    /// Records that file `id` shrank to `size` bytes (merging with an earlier notice: the
    /// smallest size wins, as every page past it must go).
    pub(crate) fn post(&self, id: u64, size: u64) {
        let mut list = self.list.lock();
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, s)) => *s = (*s).min(size),
            None => list.push((id, size)),
        }
        self.pending.store(true, Ordering::Release);
    }

    /// Whether some notice may wait (one atomic load: cheap enough for every fault).
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes the notices posted so far.
    pub(crate) fn take(&self) -> Vec<(u64, u64)> {
        let mut list = self.list.lock();
        self.pending.store(false, Ordering::Release);
        core::mem::take(&mut *list)
    }

    /// A copy of the notices posted so far (fork: the child copied frames the parent has
    /// not zapped yet, so it must apply the same notices).
    pub(crate) fn snapshot(&self) -> Vec<(u64, u64)> {
        self.list.lock().clone()
    }
}
