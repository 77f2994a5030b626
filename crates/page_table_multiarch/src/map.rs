//! `map_region`: one descent per leaf table, then a tight loop that writes a
//! run of leaves.
//!
//! Per run (the entries of one table that the range covers) the entry
//! template, the flush bookkeeping and the "is the table new" question are
//! settled once; per entry the loop only asks `get_paddr`, tests the
//! physical address with one mask and stores `template` with that address.
//! Tables this call created are known to be empty, so their entries are not
//! read at all.

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::deferred::DeferredFree;
use crate::table::{ENTRIES, block, get, index, set};
use crate::{
    FlushBatch, GenericPTE, MappingFlags, PageSize, PageTable64, PagingError, PagingHandler,
    PagingMetaData, PagingResult,
};

/// Where a run of leaves goes and what it holds.
struct Run<PTE> {
    table: *mut PTE,
    /// Index of the first entry.
    idx: usize,
    /// Number of entries the range covers from `idx` (at least one).
    len: usize,
    /// Canonical virtual address of the first entry.
    va: usize,
    /// Bytes per entry.
    bs: usize,
    /// `new_page(0, flags, huge)` of this level.
    template: PTE,
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Maps `[vaddr, vaddr + size)`; page `va` goes to `get_paddr(va)`.
    ///
    /// Leaves up to `max_page` are used where the virtual address, the
    /// remaining size and the physical address allow it (`get_paddr` is then
    /// called once per leaf, and the frames of a huge leaf are taken to be
    /// contiguous). Pass [`PageSize::Size4K`] to map 4K pages only.
    ///
    /// The returned batch lists the new leaves (up to
    /// [`FLUSH_BATCH_PAGES`](crate::FLUSH_BATCH_PAGES), then it is a full
    /// flush), recorded once per run of entries. x86-64 never caches a
    /// not-present entry, so a batch of new mappings may be ignored there;
    /// AArch64 caches no faulting entry either but needs the barriers the
    /// flush includes; RISC-V (without Svvptc an implementation may cache
    /// invalid entries, so `sfence.vma` is owed after a PTE becomes valid)
    /// and LoongArch need the flush.
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` (bad range, or `get_paddr` returned an
    /// unaligned or too large address), `AlreadyMapped` (anything mapped in
    /// the range), `Shared` (the range touches a top-level slot borrowed with
    /// [`share_from`](Self::share_from)), `NoMemory`. On error everything mapped by this call is
    /// removed again (and flushed), so the table is unchanged.
    pub fn map_region(
        &mut self,
        vaddr: M::VirtAddr,
        mut get_paddr: impl FnMut(M::VirtAddr) -> PhysAddr,
        size: usize,
        flags: MappingFlags,
        max_page: PageSize,
    ) -> PagingResult<FlushBatch<M>> {
        let (lo, hi) = Self::check_range(vaddr.into(), size)?;
        self.check_owned(lo, hi)?;
        let max_level = max_page.level().min(Self::ROOT);
        let fresh = self.unused_slots(lo, hi);
        let mut batch = FlushBatch::new();
        let mut t = lo;
        // A physical address already obtained for `t` (not yet mapped).
        let mut pending: Option<usize> = None;
        while t < hi {
            let pa = match pending.take() {
                Some(pa) => pa,
                None => get_paddr(Self::sext(t).into()).as_usize(),
            };
            if let Err(e) = Self::check_pa(pa, PAGE_SIZE_4K) {
                self.rollback_map(lo, t, &fresh, batch);
                return Err(e);
            }
            let mut level = max_level;
            while level > 0 && !Self::fits(t, hi, pa, level) {
                level -= 1;
            }
            // Descend; an existing table where a huge leaf would go means
            // smaller leaves.
            let (table, created) = loop {
                // SAFETY: `t` is inside the checked range.
                match unsafe { self.ensure_table_fresh(t, level) } {
                    Ok((table, false))
                        if level > 0
                            // SAFETY: `table` is live; index < ENTRIES.
                            && Self::is_table(&unsafe { get(table, index(t, level)) }, level) =>
                    {
                        level -= 1
                    }
                    Ok(found) => break found,
                    Err(e) => {
                        self.rollback_map(lo, t, &fresh, batch);
                        return Err(e);
                    }
                }
            };
            let bs = block(level);
            let idx = index(t, level);
            let run = Run {
                table,
                idx,
                len: (ENTRIES - idx).min((hi - t) / bs),
                va: Self::sext(t),
                bs,
                template: PTE::new_page(PhysAddr::from_usize(0), flags, level > 0),
            };
            // SAFETY: `table` is the live table of `level` covering `t`, and
            // the run stays inside it and inside the checked range; a table
            // created by this call has only unused entries.
            let (done, stop) = unsafe {
                if created {
                    Self::write_run::<false>(&run, pa, flags, &mut get_paddr)
                } else {
                    Self::write_run::<true>(&run, pa, flags, &mut get_paddr)
                }
            };
            batch.push_run(run.va, done, bs);
            t += done * bs;
            let Some(pa) = stop else { continue };
            // Entry `idx + done` was not written: `pa` does not fit this
            // level, or the entry is in use.
            if Self::pa_fits(pa, bs) {
                // SAFETY: `idx + done < idx + len <= ENTRIES`.
                let e = unsafe { get(table, idx + done) };
                debug_assert!(!e.is_unused());
                if !Self::is_table(&e, level) {
                    self.rollback_map(lo, t, &fresh, batch);
                    return Err(PagingError::AlreadyMapped);
                }
            } else if let (0, Err(e)) = (level, Self::check_pa(pa, PAGE_SIZE_4K)) {
                self.rollback_map(lo, t, &fresh, batch);
                return Err(e);
            }
            // A table where the leaf would go, or a frame that needs smaller
            // leaves: the next round picks the level again.
            pending = Some(pa);
        }
        Ok(batch)
    }

    /// Writes the leaves of `run`, the first one to `pa` (which fits the
    /// level), the others to what `get_paddr` says. Returns how many were
    /// written and, if that is not all, the physical address meant for the
    /// first entry not written: it does not fit the level, or (with `CHECK`)
    /// the entry is in use.
    ///
    /// # Safety
    /// `run.table` is live, `run.idx + run.len <= ENTRIES`; without `CHECK`
    /// every entry of the run is unused.
    #[inline(always)]
    unsafe fn write_run<const CHECK: bool>(
        run: &Run<PTE>,
        pa: usize,
        flags: MappingFlags,
        get_paddr: &mut impl FnMut(M::VirtAddr) -> PhysAddr,
    ) -> (usize, Option<usize>) {
        // Writes entry `k` of the run, or says it is in use.
        let write = |k: usize, pa: usize| {
            let idx = run.idx + k;
            // SAFETY: idx < run.idx + run.len <= ENTRIES; the table is live.
            let unused = || unsafe { get(run.table, idx) }.is_unused();
            if CHECK && !unused() {
                return false;
            }
            debug_assert!(unused(), "entry of a new table in use");
            let mut e = run.template;
            e.set_paddr(PhysAddr::from_usize(pa));
            // `set_paddr` keeps the template's attributes (`GenericPTE`
            // contract), so this is `new_page(pa, flags, huge)`.
            debug_assert_eq!(
                e.bits(),
                PTE::new_page(PhysAddr::from_usize(pa), flags, run.bs > PAGE_SIZE_4K).bits()
            );
            // SAFETY: as above.
            unsafe { set(run.table, idx, e) };
            true
        };
        if !write(0, pa) {
            return (0, Some(pa));
        }
        let mut va = run.va;
        for k in 1..run.len {
            va += run.bs;
            let pa = get_paddr(va.into()).as_usize();
            if !Self::pa_fits(pa, run.bs) || !write(k, pa) {
                return (k, Some(pa));
            }
        }
        (run.len, None)
    }

    /// `check_pa(pa, size).is_ok()` as one mask test: only bits from
    /// `log2(size)` up to `PA_MAX_BITS - 1` may be set.
    #[inline(always)]
    fn pa_fits(pa: usize, size: usize) -> bool {
        let allowed = (Self::PA_ALL | (PAGE_SIZE_4K - 1)) & !(size - 1);
        pa & !allowed == 0
    }

    /// Whether a leaf of `level` fits at `t` (range end `hi`, frame `pa`).
    #[inline(always)]
    fn fits(t: usize, hi: usize, pa: usize, level: usize) -> bool {
        let bs = block(level);
        t & (bs - 1) == 0 && hi - t >= bs && Self::pa_fits(pa, bs)
    }

    /// Removes what `map_region` mapped in `[lo, t)` and flushes it (the
    /// entries may have been cached speculatively meanwhile), then frees the
    /// tables it created.
    fn rollback_map(
        &mut self,
        lo: usize,
        t: usize,
        fresh: &[u64; ENTRIES / 64],
        mut batch: FlushBatch<M>,
    ) {
        let mut free = DeferredFree::<M, PTE, H>::new();
        if t > lo {
            // SAFETY: `[lo, t)` holds only leaves this call created, aligned
            // to their size, so no split is needed.
            unsafe {
                Self::unmap_rec(
                    self.root_table(),
                    Self::ROOT,
                    lo,
                    t,
                    &mut |_, _, _| {},
                    &mut batch,
                    &mut free,
                )
            };
        }
        // SAFETY: the fresh slots held nothing before this call and its
        // leaves are gone.
        unsafe { self.free_fresh_slots(fresh, &mut free) };
        if free.is_empty() {
            batch.flush();
        } else {
            // The full flush before the tables are freed covers the leaves too.
            batch.ignore();
            free.release();
        }
    }
}
