//! `clone_range_into`: copying leaf mappings into another table (fork).

use memory_addr::PhysAddr;

use crate::cache::PteCache;
use crate::deferred::DeferredFree;
use crate::table::{ENTRIES, block, get, index, leaf_size, set};
use crate::{
    FlushBatch, GenericPTE, MappingFlags, PageSize, PageTable64, PagingError, PagingHandler,
    PagingMetaData, PagingResult,
};

/// The per-leaf choice of `clone_range_into`: `(src flags, dst flags)`.
trait CloneFn<M: PagingMetaData>:
    FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags) -> (MappingFlags, MappingFlags)
{
}

impl<M: PagingMetaData, F> CloneFn<M> for F where
    F: FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags) -> (MappingFlags, MappingFlags)
{
}

/// State threaded through `clone_rec`.
struct CloneCtx<F, PTE: GenericPTE, M: PagingMetaData> {
    f: F,
    cache: PteCache<PTE>,
    batch: FlushBatch<M>,
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Copies the leaf mappings of `[start, start + size)` into `dst` (which
    /// must have nothing mapped there), keeping huge pages, e.g. for fork.
    ///
    /// For each leaf, `f(vaddr, paddr, size, flags)` returns `(new flags of
    /// this table's entry, flags of dst's entry)` — for copy-on-write, both
    /// read-only with [`MappingFlags::COW`]. Huge pages straddling the range
    /// ends are split in this table first. The returned batch flushes this
    /// table's changed entries (dst is normally not active).
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` (bad range, or it touches top-level
    /// entries shared with [`copy_from`](Self::copy_from) in either table),
    /// `AlreadyMapped` (dst has a mapping in the range), `NoMemory` (both
    /// tables are left unchanged; `f` has not been called).
    pub fn clone_range_into(
        &mut self,
        dst: &mut Self,
        start: M::VirtAddr,
        size: usize,
        mut f: impl FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags) -> (MappingFlags, MappingFlags),
    ) -> PagingResult<FlushBatch<M>> {
        let (lo, hi) = Self::check_range(start.into(), size)?;
        if self.any_shared(lo, hi) || dst.any_shared(lo, hi) {
            return Err(PagingError::InvalidAddress);
        }
        // SAFETY: the range is checked; both tables are distinct and live.
        unsafe {
            if Self::has_leaf(dst.root_table(), Self::ROOT, lo, hi) {
                return Err(PagingError::AlreadyMapped);
            }
            let fresh = dst.unused_slots(lo, hi);
            // Tables unlinked on failure are freed, after one full flush,
            // when `free` drops (either table may be active).
            let mut free = DeferredFree::<M, PTE, H>::new();
            let log = self.split_range(lo, hi, &mut free)?;
            if let Err(e) =
                Self::prealloc_rec(self.root_table(), dst.root_table(), Self::ROOT, lo, hi)
            {
                // dst has no leaves in the range: this only unlinks new tables.
                let mut unused = FlushBatch::new();
                Self::unmap_rec(
                    dst.root_table(),
                    Self::ROOT,
                    lo,
                    hi,
                    &mut |_, _, _| {},
                    &mut unused,
                    &mut free,
                );
                dst.free_fresh_slots(&fresh, &mut free);
                unused.ignore();
                self.undo_splits(log, &mut free);
                return Err(e);
            }
            let mut ctx = CloneCtx {
                f: &mut f,
                cache: PteCache::new(),
                batch: FlushBatch::new(),
            };
            Self::clone_rec(
                self.root_table(),
                dst.root_table(),
                Self::ROOT,
                lo,
                hi,
                &mut ctx,
            );
            Ok(ctx.batch)
        }
    }

    /// Whether a leaf (present or reserved) lies in `[lo, hi)` below `table`.
    ///
    /// # Safety
    /// `table` is live and `[lo, hi)` lies in its span.
    pub(crate) unsafe fn has_leaf(table: *mut PTE, level: usize, lo: usize, hi: usize) -> bool {
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                if !Self::is_table(&e, level) {
                    return true;
                }
                let child = Self::table_of(e.paddr());
                // SAFETY: the child covers [t, t + bs).
                if unsafe { Self::has_leaf(child, level - 1, lo.max(t), hi.min(t + bs)) } {
                    return true;
                }
            }
            t += bs;
        }
        false
    }

    /// Creates in `dst` every table that `clone_rec` will need for the leaves
    /// of `src` in `[lo, hi)`.
    ///
    /// # Safety
    /// `src`/`dst` are live tables of `level` covering the same span; dst
    /// has no leaves in `[lo, hi)`.
    unsafe fn prealloc_rec(
        src: *mut PTE,
        dst: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
    ) -> PagingResult {
        if level == 0 {
            return Ok(());
        }
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: both tables are live; idx < ENTRIES.
            let (e, d) = unsafe { (get(src, idx), get(dst, idx)) };
            if Self::is_table(&e, level) {
                let (clo, chi) = (lo.max(t), hi.min(t + bs));
                let schild = Self::table_of(e.paddr());
                let full = clo == t && chi == t + bs;
                // SAFETY: the child covers [t, t + bs).
                if full || unsafe { Self::has_leaf(schild, level - 1, clo, chi) } {
                    let dchild = if d.is_unused() {
                        let pa = Self::alloc_table()?;
                        // SAFETY: as above.
                        unsafe { set(dst, idx, PTE::new_table(pa)) };
                        Self::table_of(pa)
                    } else if Self::is_table(&d, level) {
                        Self::table_of(d.paddr())
                    } else {
                        return Err(PagingError::AlreadyMapped);
                    };
                    // SAFETY: both children cover [t, t + bs).
                    unsafe { Self::prealloc_rec(schild, dchild, level - 1, clo, chi)? };
                }
            }
            t += bs;
        }
        Ok(())
    }

    /// Copies the leaves of `src` in `[lo, hi)` into `dst` and updates the
    /// source flags, as chosen by `f`.
    ///
    /// # Safety
    /// As for [`prealloc_rec`](Self::prealloc_rec), after it succeeded; no
    /// leaf of src straddles `lo`/`hi`.
    unsafe fn clone_rec(
        src: *mut PTE,
        dst: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
        ctx: &mut CloneCtx<impl CloneFn<M>, PTE, M>,
    ) {
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: both tables are live; idx < ENTRIES.
            let (e, d) = unsafe { (get(src, idx), get(dst, idx)) };
            if e.is_unused() {
                // nothing to copy
            } else if Self::is_table(&e, level) {
                // No dst table means prealloc found no leaf below.
                if Self::is_table(&d, level) {
                    let (schild, dchild) = (Self::table_of(e.paddr()), Self::table_of(d.paddr()));
                    // SAFETY: both children cover [t, t + bs).
                    unsafe {
                        Self::clone_rec(schild, dchild, level - 1, lo.max(t), hi.min(t + bs), ctx)
                    };
                }
            } else {
                let huge = level > 0;
                let flags = ctx.cache.flags(&e);
                let (src_flags, dst_flags) =
                    (ctx.f)(Self::sext(t).into(), e.paddr(), leaf_size(level), flags);
                if d.is_unused() {
                    let new = ctx.cache.new_page(e.paddr(), dst_flags, huge);
                    // SAFETY: as above.
                    unsafe { set(dst, idx, new) };
                } else {
                    // Only an empty table directly below dst's root can be
                    // here (level == ROOT): fill it with next-smaller leaves.
                    let child = Self::table_of(d.paddr());
                    let base = e.paddr().as_usize();
                    for k in 0..ENTRIES {
                        let pa = PhysAddr::from_usize(base + k * block(level - 1));
                        // SAFETY: the child is a live, empty table of dst.
                        unsafe { set(child, k, ctx.cache.new_page(pa, dst_flags, level > 1)) };
                    }
                }
                let mut n = e;
                ctx.cache.set_flags(&mut n, src_flags, huge);
                if n.bits() != e.bits() {
                    // SAFETY: as above.
                    unsafe { set(src, idx, n) };
                    ctx.batch.push(Self::sext(t));
                }
            }
            t += bs;
        }
    }
}
