//! Range operations. Each visits every leaf table once (one descent per leaf
//! table, then a tight loop over its entries), never walking from the root
//! per page.
//!
//! Huge pages that straddle a range boundary are split first (the only
//! allocations of unmap/protect); if a split cannot get a frame, the splits
//! done so far are undone and nothing changed. Tables unlinked on the way
//! (emptied, undone splits, rollbacks) are freed at the end of the operation
//! after one full flush (see `deferred`).

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::cache::BitsCache;
use crate::deferred::DeferredFree;
use crate::table::{ENTRIES, block, clear, get, index, leaf_size, set, table_is_empty_near};
use crate::{
    FlushBatch, GenericPTE, MappingFlags, PageSize, PageTable64, PagingHandler, PagingMetaData,
    PagingResult,
};

/// Undo log of the huge-page splits made before a range operation (at most
/// two per boundary: 1G → 2M → 4K).
pub(crate) struct Splits<PTE: GenericPTE> {
    items: [Option<(*mut PTE, usize, PTE, PhysAddr)>; 4],
    len: usize,
}

impl<PTE: GenericPTE> Splits<PTE> {
    fn new() -> Self {
        Self {
            items: [None; 4],
            len: 0,
        }
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Unmaps every page in `[vaddr, vaddr + size)`, splitting huge pages
    /// that straddle the boundaries; holes are skipped. Frees tables that
    /// become empty. Returns the number of bytes that were mapped (and now
    /// are not) and the flushes.
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` (bad range), `Shared` (the range touches
    /// a top-level slot borrowed with [`share_from`](Self::share_from)),
    /// `NoMemory` (a split could not get a table frame; nothing changed).
    pub fn unmap_region(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
    ) -> PagingResult<(usize, FlushBatch<M>)> {
        self.unmap_region_with(vaddr, size, |_, _, _, _| {})
    }

    /// [`unmap_region`](Self::unmap_region) that reports every removed leaf
    /// as `f(vaddr, paddr, size, flags)`. Empty flags mean a reserved
    /// (`PROT_NONE`) entry. Collect the frames and free them only after the
    /// returned batch was flushed: until then a CPU may still reach them.
    ///
    /// # Errors
    /// As for [`unmap_region`](Self::unmap_region); `f` is not called on error.
    pub fn unmap_region_with(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
        mut f: impl FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags),
    ) -> PagingResult<(usize, FlushBatch<M>)> {
        let (lo, hi) = Self::check_range(vaddr.into(), size)?;
        self.check_owned(lo, hi)?;
        let mut free = DeferredFree::<M, PTE, H>::new();
        self.split_range(lo, hi, &mut free)?;
        let mut batch = FlushBatch::new();
        let mut report = |t: usize, e: &PTE, level: usize| {
            f(Self::sext(t).into(), e.paddr(), leaf_size(level), e.flags());
        };
        // SAFETY: the range is checked and no leaf straddles its ends.
        let done = unsafe {
            Self::unmap_rec(
                self.root_table(),
                Self::ROOT,
                lo,
                hi,
                &mut report,
                &mut batch,
                &mut free,
            )
        };
        // Emptied tables are freed after a full flush of their own.
        free.release();
        Ok((done, batch))
    }

    /// Sets the flags of every page in `[vaddr, vaddr + size)` (splitting
    /// huge pages that straddle the boundaries; holes are skipped). Empty
    /// flags make the pages reserved (`PROT_NONE`) entries.
    ///
    /// # Errors
    /// As for [`unmap_region`](Self::unmap_region).
    pub fn protect_region(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
        flags: MappingFlags,
    ) -> PagingResult<FlushBatch<M>> {
        let (lo, hi) = Self::check_range(vaddr.into(), size)?;
        self.check_owned(lo, hi)?;
        // On error the tables of undone splits are freed (after a full
        // flush) when `free` drops.
        let mut free = DeferredFree::<M, PTE, H>::new();
        self.split_range(lo, hi, &mut free)?;
        let mut batch = FlushBatch::new();
        // SAFETY: the range is checked and no leaf straddles its ends.
        unsafe {
            Self::protect_rec(
                self.root_table(),
                Self::ROOT,
                lo,
                hi,
                flags,
                &mut BitsCache::new(),
                &mut batch,
                &mut free,
            )
        };
        // Replaced tables are freed after a full flush of their own.
        free.release();
        Ok(batch)
    }

    // ---- splitting -------------------------------------------------------------

    /// Splits the huge pages straddling `lo` or `hi`; all or nothing (the
    /// tables of undone splits go to `free`).
    pub(crate) fn split_range(
        &mut self,
        lo: usize,
        hi: usize,
        free: &mut DeferredFree<M, PTE, H>,
    ) -> PagingResult<Splits<PTE>> {
        let mut log = Splits::new();
        // SAFETY: `lo`/`hi` are checked truncated addresses.
        let res = unsafe {
            self.split_at(lo, &mut log)
                .and_then(|()| self.split_at(hi, &mut log))
        };
        match res {
            Ok(()) => Ok(log),
            Err(e) => {
                // SAFETY: the log holds exactly the splits just made.
                unsafe { self.undo_splits(log, free) };
                Err(e)
            }
        }
    }

    /// Splits the leaf containing `t` until a leaf starts at `t`: a huge page
    /// becomes a table of 512 next-smaller pages with the same frames and
    /// flags (translations do not change, so no flush is owed for it).
    ///
    /// # Safety
    /// `t` is a truncated address (`SPACE` allowed).
    unsafe fn split_at(&mut self, t: usize, log: &mut Splits<PTE>) -> PagingResult {
        if t & (block(Self::ROOT.min(2)) - 1) == 0 {
            return Ok(()); // no leaf is larger than 1G
        }
        let mut table = self.root_table();
        let mut level = Self::ROOT;
        while level > 0 {
            let idx = index(t, level);
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if e.is_unused() {
                return Ok(());
            }
            if !Self::is_table(&e, level) {
                if t & (block(level) - 1) == 0 {
                    return Ok(());
                }
                let pa = Self::alloc_table()?;
                let child = Self::table_of(pa);
                let sub = level - 1;
                let base = e.paddr().as_usize();
                let mut small = PTE::new_page(e.paddr(), e.flags(), sub > 0);
                for k in 0..ENTRIES {
                    small.set_paddr(PhysAddr::from_usize(base + k * block(sub)));
                    // SAFETY: `child` is a fresh table of ours.
                    unsafe { set(child, k, small) };
                }
                // SAFETY: as above.
                unsafe { set(table, idx, PTE::new_table(pa)) };
                log.items[log.len] = Some((table, idx, e, pa));
                log.len += 1;
                table = child;
            } else {
                table = Self::table_of(e.paddr());
            }
            level -= 1;
        }
        Ok(())
    }

    /// Restores the split huge pages (newest first) and queues their tables
    /// (which still hold the split leaves) in `free`.
    ///
    /// # Safety
    /// `log` lists splits of this table with nothing changed since.
    pub(crate) unsafe fn undo_splits(
        &mut self,
        log: Splits<PTE>,
        free: &mut DeferredFree<M, PTE, H>,
    ) {
        for &(table, idx, e, pa) in log.items[..log.len].iter().rev().flatten() {
            // SAFETY: the entry still points to the table made by the split;
            // once restored nothing points to that table.
            unsafe {
                set(table, idx, e);
                free.push_full(pa);
            }
        }
    }

    // ---- recursive per-table loops ---------------------------------------------

    /// Clears the leaves in `[lo, hi)` below `table` (at `level`), calling
    /// `f(t, entry, level)` for each and recording them in `batch`; unlinks
    /// the tables that become empty, except those directly below the root,
    /// into `free`. Returns the bytes unmapped.
    ///
    /// # Safety
    /// `table` is live, `[lo, hi)` lies in its span, no leaf straddles `lo`/`hi`.
    pub(crate) unsafe fn unmap_rec(
        table: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
        f: &mut impl FnMut(usize, &PTE, usize),
        batch: &mut FlushBatch<M>,
        free: &mut DeferredFree<M, PTE, H>,
    ) -> usize {
        if level == 0 {
            // SAFETY: guaranteed by the caller.
            return unsafe { Self::unmap_leaves(table, lo, hi, f, batch) };
        }
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        let mut done = 0;
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                if Self::is_table_fast(&e, level) {
                    let child = Self::child(&e);
                    let (clo, chi) = (lo.max(t), hi.min(t + bs));
                    let full = clo == t && chi == t + bs;
                    if level == 1 && level != Self::ROOT && full && batch.is_full_flush() {
                        // A whole leaf table with nothing left to record:
                        // report its leaves, unlink it, and let it go with
                        // its entries as they are.
                        // SAFETY: the child is a live last-level table
                        // covering [t, t + bs); once the entry is cleared
                        // nothing refers to it, and all its leaves go.
                        unsafe {
                            done += Self::report_leaves(child, t, f);
                            clear(table, idx);
                            free.push_dead(e.paddr_4k());
                        }
                        t += bs;
                        continue;
                    }
                    // SAFETY: the child covers [t, t + bs).
                    done += unsafe { Self::unmap_rec(child, level - 1, clo, chi, f, batch, free) };
                    // A fully covered child is empty now; otherwise look,
                    // from where the range began.
                    // SAFETY: the child is live (it is only queued below);
                    // the index is below ENTRIES.
                    let emptied = level != Self::ROOT
                        && (full || unsafe { table_is_empty_near(child, index(clo, level - 1)) });
                    if emptied {
                        // SAFETY: the child is empty; once the entry is
                        // cleared nothing refers to it.
                        unsafe {
                            clear(table, idx);
                            free.push_empty(e.paddr_4k());
                        }
                    }
                } else {
                    f(t, &e, level);
                    // SAFETY: as above.
                    unsafe { clear(table, idx) };
                    batch.push(Self::sext(t));
                    done += bs;
                }
            }
            t += bs;
        }
        done
    }

    /// Calls `f(t, entry, 0)` for every used entry of the last-level table
    /// `table` (which covers `[t, t + 2M)`) without changing it; returns the
    /// bytes they map.
    ///
    /// # Safety
    /// `table` is a live last-level table.
    #[inline(always)]
    unsafe fn report_leaves(
        table: *mut PTE,
        t: usize,
        f: &mut impl FnMut(usize, &PTE, usize),
    ) -> usize {
        // Counting the unused entries vectorizes into fewer instructions
        // than counting the used ones.
        let mut unused = 0;
        for idx in 0..ENTRIES {
            // SAFETY: guaranteed by the caller; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if e.is_unused() {
                unused += 1;
            } else {
                f(t + idx * PAGE_SIZE_4K, &e, 0);
            }
        }
        (ENTRIES - unused) * PAGE_SIZE_4K
    }

    /// The hot loop of [`unmap_rec`](Self::unmap_rec): one pass over a leaf
    /// table. Pages are recorded one by one only until the batch becomes a
    /// full flush (at most `FLUSH_BATCH_PAGES + 1` of them per operation);
    /// the rest of the pass has no flush bookkeeping.
    ///
    /// # Safety
    /// `table` is a live last-level table and `[lo, hi)` lies in its span.
    #[inline(always)]
    unsafe fn unmap_leaves(
        table: *mut PTE,
        lo: usize,
        hi: usize,
        f: &mut impl FnMut(usize, &PTE, usize),
        batch: &mut FlushBatch<M>,
    ) -> usize {
        let (mut idx, end) = (index(lo, 0), index(hi - 1, 0) + 1);
        let (mut t, mut done) = (lo, 0);
        while idx < end && !batch.is_full_flush() {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                f(t, &e, 0);
                // SAFETY: as above.
                unsafe { clear(table, idx) };
                batch.push(Self::sext(t));
                done += PAGE_SIZE_4K;
            }
            idx += 1;
            t += PAGE_SIZE_4K;
        }
        while idx < end {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                f(t, &e, 0);
                let mut zero = e;
                zero.clear();
                // SAFETY: as above.
                unsafe { set(table, idx, zero) };
                done += PAGE_SIZE_4K;
            }
            idx += 1;
            t += PAGE_SIZE_4K;
        }
        done
    }

    /// The hot loop of [`protect_rec`](Self::protect_rec): one pass over a
    /// leaf table on raw bits, with the cached conversion in locals. Pages
    /// are recorded only until the batch becomes a full flush.
    ///
    /// Relies on an entry's in-memory form being its `bits()` (8 bytes,
    /// checked at compile time; the bits are debug-checked whenever a
    /// pattern is learned).
    ///
    /// # Safety
    /// `table` is a live last-level table and `[lo, hi)` lies in its span.
    #[inline(always)]
    unsafe fn protect_leaves(
        table: *mut PTE,
        lo: usize,
        hi: usize,
        flags: MappingFlags,
        cache: &mut BitsCache,
        batch: &mut FlushBatch<M>,
    ) {
        let raw = table.cast::<u64>();
        let (first, end) = (index(lo, 0), index(hi - 1, 0) + 1);
        let mut c = *cache;
        let mut idx = first;
        while idx < end && !batch.is_full_flush() {
            // SAFETY: guaranteed by the caller; idx < ENTRIES.
            if unsafe { Self::protect_one(raw, idx, flags, &mut c) } {
                batch.push(Self::sext(lo + (idx - first) * PAGE_SIZE_4K));
            }
            idx += 1;
        }
        // Nothing more to record: runs of entries of the cached pattern go
        // through `BitsCache::run`, anything else one by one.
        while idx < end {
            if c.fast {
                // SAFETY: `raw` is the live table; idx <= end <= ENTRIES.
                idx = unsafe { c.run(raw, idx, end) };
                if idx == end {
                    break;
                }
            }
            // SAFETY: as above.
            unsafe { Self::protect_one(raw, idx, flags, &mut c) };
            idx += 1;
        }
        *cache = c;
    }

    /// Sets `flags` on the leaf `idx` of the leaf table `raw` (if used),
    /// learning its pattern into `c` if needed; returns whether it changed.
    ///
    /// # Safety
    /// `raw` is a live last-level table and `idx < ENTRIES`.
    #[inline(always)]
    unsafe fn protect_one(
        raw: *mut u64,
        idx: usize,
        flags: MappingFlags,
        c: &mut BitsCache,
    ) -> bool {
        // SAFETY: guaranteed by the caller; a PTE is its raw bits.
        let bits = unsafe { raw.add(idx).read() } as usize;
        if bits == 0 {
            return false;
        }
        let new = if bits & !c.mask == c.key {
            (bits & c.mask) | c.result
        } else {
            // SAFETY: as above.
            let e = unsafe { get(raw.cast::<PTE>(), idx) };
            debug_assert_eq!(e.bits(), bits, "PTE representation is not its bits");
            *c = BitsCache::learn(&e, Self::PA_ALL, flags, false);
            let mut n = e;
            n.set_flags(flags, false);
            n.bits()
        };
        if new == bits {
            return false;
        }
        // SAFETY: as above.
        unsafe { raw.add(idx).write_volatile(new as u64) };
        true
    }

    /// If every entry of the last-level table `e` (entry `idx` of `parent`)
    /// has the pattern of the fast cache `c`: writes the updated entries into
    /// a new frame, links it in place of the old table with one store (so a
    /// walk sees the old or the new table, both whole), queues the old one in
    /// `free`, and returns `true`. Otherwise (another pattern, an unused
    /// entry, nothing to change, no frame) changes nothing and returns
    /// `false`. Writing a frame the hardware cannot see yet needs no
    /// one-store-per-entry discipline, so the loop vectorizes.
    ///
    /// # Safety
    /// `parent` is live, its entry `idx` is `e`, a last-level table that is
    /// not directly below the root.
    unsafe fn protect_by_copy(
        parent: *mut PTE,
        idx: usize,
        e: PTE,
        c: &BitsCache,
        free: &mut DeferredFree<M, PTE, H>,
    ) -> bool {
        let delta = (c.key ^ c.result) as u64;
        if !c.fast || delta == 0 {
            return false;
        }
        let Some(frame) = H::alloc_frame() else {
            return false;
        };
        let (src, dst) = (
            Self::table_of(e.paddr()).cast::<u64>(),
            Self::table_of(frame).cast::<u64>(),
        );
        let (not_mask, key) = (!c.mask as u64, c.key as u64);
        let mut bad = 0;
        for i in 0..ENTRIES {
            // SAFETY: `src` is the live table and `dst` a new frame of ours,
            // two different frames; i < ENTRIES. A PTE is its raw bits.
            unsafe {
                let bits = src.add(i).read();
                bad |= (bits & not_mask) ^ key;
                dst.add(i).write(bits ^ delta);
            }
        }
        // SAFETY: once `parent` points to the copy nothing points to the old
        // table; it is queued once.
        if bad != 0 || !unsafe { free.push_replaced(e.paddr()) } {
            // SAFETY: the copy was never linked, so never reachable by the hardware: no
            // flush owed, nothing refers to it.
            unsafe { H::dealloc_frame(frame) };
            return false;
        }
        let mut link = e;
        link.set_paddr(frame);
        // SAFETY: `parent` is live; the copy is complete.
        unsafe { set(parent, idx, link) };
        true
    }

    /// Sets `flags` on the leaves in `[lo, hi)` below `table`, recording the
    /// entries that changed. Whole leaf tables may be replaced by an updated
    /// copy (see [`protect_by_copy`](Self::protect_by_copy)); the old ones go
    /// to `free`.
    ///
    /// # Safety
    /// As for [`unmap_rec`](Self::unmap_rec).
    #[allow(clippy::too_many_arguments)]
    unsafe fn protect_rec(
        table: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
        flags: MappingFlags,
        cache: &mut BitsCache,
        batch: &mut FlushBatch<M>,
        free: &mut DeferredFree<M, PTE, H>,
    ) {
        if level == 0 {
            // SAFETY: guaranteed by the caller.
            unsafe { Self::protect_leaves(table, lo, hi, flags, cache, batch) };
            return;
        }
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                if Self::is_table_fast(&e, level) {
                    let child = Self::child(&e);
                    let (clo, chi) = (lo.max(t), hi.min(t + bs));
                    let full = clo == t && chi == t + bs;
                    // A whole leaf table with nothing left to record.
                    if level == 1
                        && level != Self::ROOT
                        && full
                        && batch.is_full_flush()
                        // SAFETY: `table` is live, its entry `idx` is `e`,
                        // a last-level table that is not directly below the
                        // root.
                        && unsafe { Self::protect_by_copy(table, idx, e, cache, free) }
                    {
                        t += bs;
                        continue;
                    }
                    // SAFETY: the child covers [t, t + bs).
                    unsafe {
                        Self::protect_rec(child, level - 1, clo, chi, flags, cache, batch, free)
                    };
                } else {
                    let mut n = e;
                    n.set_flags(flags, true);
                    if n.bits() != e.bits() {
                        // SAFETY: as above.
                        unsafe { set(table, idx, n) };
                        batch.push(Self::sext(t));
                    }
                }
            }
            t += bs;
        }
    }
}
