//! The segment table: `shmget`, `IPC_STAT`, `IPC_SET`, `IPC_RMID` and the lookup `shmat`
//! starts with.
//!
//! Lock discipline: one `SpinNoIrq` guards the tables. It is taken only inside the methods
//! of this file, for short critical sections that allocate nothing big, never call into an
//! address space or a frame allocator, and drop no segment (frames are released after the
//! guard is gone). Frames for a new segment are allocated with the lock released and the key
//! is checked again before inserting, so concurrent `shmget(IPC_CREAT)` calls with one key
//! still agree on one segment.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use axerrno::LinuxError;
use kspin::SpinNoIrq;
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;

use super::segment::SegStats;
use super::{
    IPC_CREAT, IPC_EXCL, IPC_PRIVATE, SHM_DEST, SHM_LOCKED, ShmContext, ShmId, ShmIdDs, ShmKey,
    ShmLimits,
};
use crate::backend::SharedMem;

/// The checks `shmget` makes on an existing key.
fn existing<H: PagingHandler>(
    t: &Tables<H>,
    id: ShmId,
    size: usize,
    shmflg: u32,
) -> Result<ShmId, LinuxError> {
    if shmflg & (IPC_CREAT | IPC_EXCL) == IPC_CREAT | IPC_EXCL {
        return Err(LinuxError::EEXIST);
    }
    match t.by_id.get(&id) {
        Some(e) if size <= e.size => Ok(id),
        _ => Err(LinuxError::EINVAL),
    }
}

/// Whether the registry still owns the segment or only observes it until its last detach.
enum Life<H: PagingHandler> {
    Live(Arc<SegStats>, Arc<SharedMem<H>>),
    /// `IPC_RMID` was called while attached: the attachments own it now.
    Removed(Weak<SegStats>, Weak<SharedMem<H>>),
}

/// A segment as `shmat` needs it.
pub(super) struct SegRef<H: PagingHandler> {
    pub(super) stats: Arc<SegStats>,
    pub(super) obj: Arc<SharedMem<H>>,
}

struct Entry<H: PagingHandler> {
    key: ShmKey,
    /// Permission bits (low 9 bits of `shmflg`), plus `SHM_DEST` once removed.
    mode: u32,
    cpid: u32,
    ctime: u64,
    /// `shm_segsz`.
    size: usize,
    pages: usize,
    life: Life<H>,
}

impl<H: PagingHandler> Entry<H> {
    /// New references; drop them only after the registry lock is released.
    fn segment(&self) -> Option<SegRef<H>> {
        let (stats, obj) = match &self.life {
            Life::Live(stats, obj) => (stats.clone(), obj.clone()),
            Life::Removed(stats, obj) => (stats.upgrade()?, obj.upgrade()?),
        };
        Some(SegRef { stats, obj })
    }

    /// Whether the segment can still be seen: not removed, or still attached somewhere.
    fn alive(&self) -> bool {
        match &self.life {
            Life::Live(..) => true,
            Life::Removed(stats, obj) => stats.strong_count() > 0 && obj.strong_count() > 0,
        }
    }
}

struct Tables<H: PagingHandler> {
    by_id: BTreeMap<ShmId, Entry<H>>,
    by_key: BTreeMap<ShmKey, ShmId>,
    /// Ids in `Life::Removed`, checked by `reap`.
    removed: BTreeSet<ShmId>,
    next_id: i32,
    total_pages: usize,
}

impl<H: PagingHandler> Tables<H> {
    /// Forgets removed segments whose last attachment is gone (their frames already went).
    fn reap(&mut self) {
        let dead: Vec<ShmId> = self
            .removed
            .iter()
            .copied()
            .filter(|id| self.by_id.get(id).is_none_or(|e| !e.alive()))
            .collect();
        for id in dead {
            self.removed.remove(&id);
            if let Some(e) = self.by_id.remove(&id) {
                self.total_pages -= e.pages;
            }
        }
    }

    fn fresh_id(&mut self) -> ShmId {
        loop {
            let id = ShmId(self.next_id);
            self.next_id = if self.next_id == i32::MAX {
                0
            } else {
                self.next_id + 1
            };
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }
}

/// All System V shared-memory segments of one IPC namespace.
pub struct ShmRegistry<H: PagingHandler> {
    tables: SpinNoIrq<Tables<H>>,
    limits: ShmLimits,
}

impl<H: PagingHandler> Default for ShmRegistry<H> {
    fn default() -> Self {
        Self::new(ShmLimits::default())
    }
}

impl<H: PagingHandler> ShmRegistry<H> {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: ShmLimits) -> Self {
        let tables = Tables {
            by_id: BTreeMap::new(),
            by_key: BTreeMap::new(),
            removed: BTreeSet::new(),
            next_id: 0,
            total_pages: 0,
        };
        Self {
            tables: SpinNoIrq::new(tables),
            limits,
        }
    }

    /// The limits this registry enforces.
    pub fn limits(&self) -> ShmLimits {
        self.limits
    }

    /// `shmget(key, size, shmflg)`: finds or creates a segment. The low 9 bits of `shmflg`
    /// are the new segment's permissions. Pages are allocated (zeroed) when first touched.
    ///
    /// # Errors
    /// - `EEXIST`: `key` exists and `shmflg` has `IPC_CREAT | IPC_EXCL`.
    /// - `ENOENT`: `key` does not exist and `shmflg` lacks `IPC_CREAT`.
    /// - `EINVAL`: creating with `size` 0 or above [`ShmLimits::max_size`]; `key` exists
    ///   with a smaller size than `size`.
    /// - `ENOSPC`: [`ShmLimits::max_segments`] or [`ShmLimits::max_total_pages`] reached.
    /// - `ENOMEM`: no memory for the segment's bookkeeping (nothing is kept).
    pub fn shmget(
        &self,
        key: ShmKey,
        size: usize,
        shmflg: u32,
        ctx: ShmContext,
    ) -> Result<ShmId, LinuxError> {
        if let Some(found) = self.lookup_key(key, size, shmflg)? {
            return Ok(found);
        }
        if size == 0 || size > self.limits.max_size {
            return Err(LinuxError::EINVAL);
        }
        let pages = size.div_ceil(PAGE_SIZE_4K);
        self.check_room(pages)?;
        // Built with no lock held. Its frames come on first touch, as Linux's shmem pages do.
        let obj = SharedMem::<H>::with_name(size, &format!("SYSV{:08x}", key.0))?;

        let mut t = self.tables.lock();
        t.reap();
        // Someone may have created the key while we were allocating: theirs wins (our
        // frames are dropped after the guard, at return).
        if let Some(&id) = t.by_key.get(&key) {
            return existing(&t, id, size, shmflg);
        }
        if t.by_id.len() >= self.limits.max_segments
            || t.total_pages + pages > self.limits.max_total_pages
        {
            return Err(LinuxError::ENOSPC);
        }
        let id = t.fresh_id();
        let stats = Arc::new(SegStats::new(id));
        let entry = Entry {
            key,
            mode: shmflg & 0o777,
            cpid: ctx.pid,
            ctime: ctx.now,
            size,
            pages,
            life: Life::Live(stats, obj),
        };
        t.by_id.insert(id, entry);
        if key != IPC_PRIVATE {
            t.by_key.insert(key, id);
        }
        t.total_pages += pages;
        Ok(id)
    }

    /// The existing segment for `key` (checked against `size`/`shmflg`), or `None` if it
    /// must be created.
    fn lookup_key(
        &self,
        key: ShmKey,
        size: usize,
        shmflg: u32,
    ) -> Result<Option<ShmId>, LinuxError> {
        if key == IPC_PRIVATE {
            return Ok(None);
        }
        let mut t = self.tables.lock();
        t.reap();
        match t.by_key.get(&key) {
            Some(&id) => existing(&t, id, size, shmflg).map(Some),
            None if shmflg & IPC_CREAT == 0 => Err(LinuxError::ENOENT),
            None => Ok(None),
        }
    }

    fn check_room(&self, pages: usize) -> Result<(), LinuxError> {
        let mut t = self.tables.lock();
        t.reap();
        let too_many = t.by_id.len() >= self.limits.max_segments;
        match t.total_pages.checked_add(pages) {
            Some(total) if total <= self.limits.max_total_pages && !too_many => Ok(()),
            _ => Err(LinuxError::ENOSPC),
        }
    }

    /// The segment `id` refers to, live or removed-but-attached.
    ///
    /// # Errors
    /// `EINVAL`: no such segment (never created, or removed and fully detached).
    pub(super) fn segment(&self, id: ShmId) -> Result<SegRef<H>, LinuxError> {
        let mut t = self.tables.lock();
        t.reap();
        t.by_id
            .get(&id)
            .and_then(Entry::segment)
            .ok_or(LinuxError::EINVAL)
    }

    /// `shmctl(id, IPC_STAT)`.
    ///
    /// # Errors
    /// `EINVAL`: no such segment.
    pub fn stat(&self, id: ShmId) -> Result<ShmIdDs, LinuxError> {
        let mut t = self.tables.lock();
        t.reap();
        let e = t.by_id.get(&id).ok_or(LinuxError::EINVAL)?;
        let seg = e.segment().ok_or(LinuxError::EINVAL)?;
        let (atime, dtime, lpid) = seg.stats.stamps();
        let ds = ShmIdDs {
            key: e.key,
            mode: e.mode,
            size: e.size,
            atime,
            dtime,
            ctime: e.ctime,
            cpid: e.cpid,
            lpid,
            nattch: seg.stats.nattch(),
        };
        drop(t);
        drop(seg);
        Ok(ds)
    }

    /// `shmctl(id, IPC_SET)`: replaces the permission bits (low 9 bits of `mode`); updates
    /// `ctime`.
    ///
    /// # Errors
    /// `EINVAL`: no such segment.
    pub fn set_mode(&self, id: ShmId, mode: u32, ctx: ShmContext) -> Result<(), LinuxError> {
        let mut t = self.tables.lock();
        t.reap();
        let e = t.by_id.get_mut(&id).ok_or(LinuxError::EINVAL)?;
        e.mode = (e.mode & !0o777) | (mode & 0o777);
        e.ctime = ctx.now;
        Ok(())
    }

    /// `shmctl(id, IPC_RMID)`: destroys the segment now if nothing is attached (its frames
    /// are freed before this returns), otherwise marks it `SHM_DEST`, frees its key, and lets
    /// the last detach destroy it.
    ///
    /// # Errors
    /// `EINVAL`: no such segment, or already removed.
    pub fn remove(&self, id: ShmId) -> Result<(), LinuxError> {
        let mut t = self.tables.lock();
        t.reap();
        let e = t.by_id.get_mut(&id).ok_or(LinuxError::EINVAL)?;
        let placeholder = Life::Removed(Weak::new(), Weak::new());
        let (stats, obj) = match core::mem::replace(&mut e.life, placeholder) {
            Life::Live(stats, obj) => (stats, obj),
            removed => {
                // Linux allows repeating IPC_RMID on a segment marked for destruction.
                e.life = removed;
                return Ok(());
            }
        };
        e.life = Life::Removed(Arc::downgrade(&stats), Arc::downgrade(&obj));
        e.mode |= SHM_DEST;
        let key = core::mem::replace(&mut e.key, IPC_PRIVATE);
        if key != IPC_PRIVATE {
            t.by_key.remove(&key);
        }
        t.removed.insert(id);
        drop(t);
        // With no attachment this frees the frames; then forget the entry.
        drop((stats, obj));
        self.tables.lock().reap();
        Ok(())
    }

    /// `shmctl(id, SHM_LOCK)` (`locked`) / `SHM_UNLOCK`: sets or clears [`SHM_LOCKED`]
    /// in `shm_perm.mode`. Segments are never swapped here, so that is all it does.
    ///
    /// # Errors
    /// `EINVAL`: no such segment.
    pub fn set_locked(&self, id: ShmId, locked: bool) -> Result<(), LinuxError> {
        let mut t = self.tables.lock();
        t.reap();
        let e = t.by_id.get_mut(&id).ok_or(LinuxError::EINVAL)?;
        if locked {
            e.mode |= SHM_LOCKED;
        } else {
            e.mode &= !SHM_LOCKED;
        }
        Ok(())
    }

    /// The highest id listed (`IPC_INFO`/`SHM_INFO` report it as the highest index: ids
    /// are the table's indices here).
    pub fn highest_id(&self) -> Option<ShmId> {
        let mut t = self.tables.lock();
        t.reap();
        t.by_id.keys().next_back().copied()
    }

    /// Number of segments listed (live, or removed and still attached).
    pub fn len(&self) -> usize {
        let mut t = self.tables.lock();
        t.reap();
        t.by_id.len()
    }

    /// Whether no segment is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pages held by listed segments (the `SHMALL` accounting).
    pub fn total_pages(&self) -> usize {
        let mut t = self.tables.lock();
        t.reap();
        t.total_pages
    }

    /// Pages of listed segments that have a frame (touched at least once): `shm_rss`.
    pub fn resident_pages(&self) -> usize {
        let mut t = self.tables.lock();
        t.reap();
        t.by_id
            .values()
            .map(|e| match &e.life {
                Life::Live(_, obj) => obj.resident_pages(),
                Life::Removed(_, obj) => obj.upgrade().map_or(0, |o| o.resident_pages()),
            })
            .sum()
    }
}
