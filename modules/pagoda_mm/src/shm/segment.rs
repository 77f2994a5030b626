//! One segment's statistics and the attachment handle that address spaces keep.
//!
//! The counters an attachment changes (`nattch`, `atime`, `dtime`, `lpid`) are atomics, so
//! creating, cloning and dropping a [`ShmAttachment`] never takes a lock: address-space code
//! may clone (fork, area split) or drop (munmap, exit) attachments anywhere, including while
//! the registry is busy, without the lock-order problem of the Starry design.

use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use memory_addr::VirtAddr;

use super::{ShmContext, ShmId};

/// What attachments update: lives as long as the registry entry or any attachment.
pub(super) struct SegStats {
    pub(super) id: ShmId,
    nattch: AtomicUsize,
    atime: AtomicU64,
    dtime: AtomicU64,
    lpid: AtomicU32,
}

impl SegStats {
    pub(super) fn new(id: ShmId) -> Self {
        Self {
            id,
            nattch: AtomicUsize::new(0),
            atime: AtomicU64::new(0),
            dtime: AtomicU64::new(0),
            lpid: AtomicU32::new(0),
        }
    }

    /// Current number of attachments.
    pub(super) fn nattch(&self) -> usize {
        self.nattch.load(Ordering::Acquire)
    }

    /// `(atime, dtime, lpid)`.
    pub(super) fn stamps(&self) -> (u64, u64, u32) {
        let o = Ordering::Relaxed;
        (self.atime.load(o), self.dtime.load(o), self.lpid.load(o))
    }

    /// Records an attach (`shmat`, fork) by `ctx`.
    pub(super) fn stamp_attach(&self, ctx: ShmContext) {
        self.atime.store(ctx.now, Ordering::Relaxed);
        self.lpid.store(ctx.pid, Ordering::Relaxed);
    }

    /// Records a detach (`shmdt`, munmap, exit) by `ctx`.
    pub(super) fn stamp_detach(&self, ctx: ShmContext) {
        self.dtime.store(ctx.now, Ordering::Relaxed);
        self.lpid.store(ctx.pid, Ordering::Relaxed);
    }
}

/// One attachment of a segment in one address space, kept by the area's shared backend.
///
/// It counts in `shm_nattch` while it lives: `Clone` (fork, area split) adds one and `Drop`
/// (munmap, shmdt, exit) removes one, like Linux's per-VMA `open`/`close`. Only atomics are
/// touched, so the address-space code may clone and drop it under any of its locks.
pub struct ShmAttachment {
    stats: Arc<SegStats>,
    /// Where the segment's first page is (or would be) mapped: the address `shmat`
    /// returned, moved along by `mremap`. Informational; `shmdt` matches pieces by their
    /// offset in the segment, as Linux does.
    base: VirtAddr,
    /// Attached with `SHM_RDONLY`: `mprotect` may not add write permission (Linux's
    /// missing `VM_MAYWRITE`).
    read_only: bool,
}

impl ShmAttachment {
    pub(super) fn new(stats: Arc<SegStats>, base: VirtAddr, read_only: bool) -> Self {
        stats.nattch.fetch_add(1, Ordering::AcqRel);
        Self {
            stats,
            base,
            read_only,
        }
    }

    /// The same attachment with its segment's first page at `base` (a piece moved by
    /// `mremap`); counts as one more attachment, like a clone.
    pub(crate) fn rebased(&self, base: VirtAddr) -> Self {
        Self::new(self.stats.clone(), base, self.read_only)
    }

    /// The segment's id.
    pub fn id(&self) -> ShmId {
        self.stats.id
    }

    /// Where the segment's first page is mapped: the address `shmat` returned, or where
    /// `mremap` moved the attachment (for a moved piece: where its first page would be).
    pub fn base(&self) -> VirtAddr {
        self.base
    }

    /// Whether the attachment was made with `SHM_RDONLY` (then `mprotect` cannot make it
    /// writable: `EACCES`).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether both attachments refer to the same segment (even after it left the registry).
    pub fn same_segment(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.stats, &other.stats)
    }

    pub(super) fn stats(&self) -> &Arc<SegStats> {
        &self.stats
    }
}

impl Clone for ShmAttachment {
    fn clone(&self) -> Self {
        Self::new(self.stats.clone(), self.base, self.read_only)
    }
}

impl Drop for ShmAttachment {
    fn drop(&mut self) {
        self.stats.nattch.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for ShmAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmAttachment")
            .field("id", &self.stats.id)
            .field("base", &self.base)
            .field("read_only", &self.read_only)
            .finish()
    }
}
