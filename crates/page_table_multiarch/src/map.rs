//! `map_region`: one descent per leaf table, then a tight loop that writes a
//! run of leaves.
//!
//! Per run (the entries of one table that the range covers) the entry
//! template, the flush bookkeeping and the "is the table new" question are
//! settled once; per entry the loop only asks `get_paddr`, tests the
//! physical address with one mask and stores `template` with that address.
//! A table that does not exist yet is filled before it is linked: its
//! entries are neither read nor zeroed first (only those outside the run
//! are zeroed), and the hardware never sees it partly written.

use core::ptr;

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::deferred::DeferredFree;
use crate::table::{ENTRIES, block, get, index, set, set_bits};
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

/// The table a run of leaves goes into.
#[derive(Clone, Copy)]
enum RunTable<PTE> {
    /// A table that is already reachable from the root.
    Linked(*mut PTE),
    /// A new table frame (contents undefined) that `parent` (the table one
    /// level up, whose entry for the run is unused) gets to point to once
    /// the run is written and the other entries are zeroed: the hardware
    /// never sees it partly written, and it needs no zeroing first.
    Unlinked { parent: *mut PTE, frame: PhysAddr },
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
            let target = loop {
                // SAFETY: `t` is inside the checked range.
                match unsafe { self.run_table(t, level) } {
                    Ok(RunTable::Linked(table))
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
            let table = match target {
                RunTable::Linked(table) => table,
                RunTable::Unlinked { frame, .. } => Self::table_of(frame),
            };
            let run = Run {
                table,
                idx,
                len: (ENTRIES - idx).min((hi - t) / bs),
                va: Self::sext(t),
                bs,
                template: PTE::new_page(PhysAddr::from_usize(0), flags, level > 0),
            };
            // SAFETY: `table` is the table of `level` covering `t` (live, or
            // a frame of ours that nothing points to yet), and the run stays
            // inside it and inside the checked range; a new table has only
            // unused entries as far as this run goes.
            let (done, stop) = unsafe {
                match target {
                    RunTable::Linked(_) => Self::write_run::<true>(&run, pa, flags, &mut get_paddr),
                    RunTable::Unlinked { .. } => {
                        Self::write_run::<false>(&run, pa, flags, &mut get_paddr)
                    }
                }
            };
            if let RunTable::Unlinked { parent, frame } = target {
                // SAFETY: `parent` is live and its entry for `t` is unused;
                // the frame is ours and complete once the entries outside
                // the run are zeroed, so one store makes it reachable.
                unsafe {
                    Self::zero_entries(table, 0, idx);
                    Self::zero_entries(table, idx + done, ENTRIES);
                    set(parent, index(t, level + 1), PTE::new_table(frame));
                }
            }
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

    /// The table of `level` covering `t`: linked, or, if it does not exist
    /// yet, a new unlinked frame (missing tables above it are created and
    /// linked, empty).
    ///
    /// # Errors
    /// `AlreadyMapped` if a leaf sits above `level`; `NoMemory` (nothing
    /// changed).
    ///
    /// # Safety
    /// `t` is a truncated address; `level <= ROOT`.
    #[inline]
    unsafe fn run_table(&mut self, t: usize, level: usize) -> PagingResult<RunTable<PTE>> {
        let mut table = self.root_table();
        let mut lvl = Self::ROOT;
        while lvl > level {
            // SAFETY: `table` is a live table of ours; index < ENTRIES.
            let e = unsafe { get(table, index(t, lvl)) };
            if e.is_unused() {
                // The frame first: if a table above it cannot be had, it
                // goes back before anything was linked.
                let frame = H::alloc_frame().ok_or(PagingError::NoMemory)?;
                let parent = if lvl == level + 1 {
                    table
                } else {
                    // SAFETY: guaranteed by the caller.
                    match unsafe { self.ensure_table_fresh(t, level + 1) } {
                        Ok((parent, _)) => parent,
                        Err(e) => {
                            // SAFETY: never linked, so never reachable by the hardware:
                            // no flush owed, nothing refers to it.
                            unsafe { H::dealloc_frame(frame) };
                            return Err(e);
                        }
                    }
                };
                return Ok(RunTable::Unlinked { parent, frame });
            }
            if !Self::is_table(&e, lvl) {
                return Err(PagingError::AlreadyMapped);
            }
            table = Self::table_of(e.paddr());
            lvl -= 1;
        }
        Ok(RunTable::Linked(table))
    }

    /// Zeroes the entries `from..to` of a table frame nothing points to.
    ///
    /// # Safety
    /// `table` is an unlinked table frame of ours; `from, to <= ENTRIES`.
    #[inline]
    unsafe fn zero_entries(table: *mut PTE, from: usize, to: usize) {
        if from < to {
            // SAFETY: guaranteed by the caller.
            unsafe { ptr::write_bytes(table.add(from), 0, to - from) };
        }
    }

    /// Writes the leaves of `run`, the first one to `pa` (which fits the
    /// level), the others to what `get_paddr` says. Returns how many were
    /// written and, if that is not all, the physical address meant for the
    /// first entry not written: it does not fit the level, or (with `CHECK`)
    /// the entry is in use.
    ///
    /// # Safety
    /// `run.table` is live, `run.idx + run.len <= ENTRIES`; without `CHECK`
    /// it is a new table frame of ours (whatever its entries hold).
    #[inline(always)]
    unsafe fn write_run<const CHECK: bool>(
        run: &Run<PTE>,
        pa: usize,
        flags: MappingFlags,
        get_paddr: &mut impl FnMut(M::VirtAddr) -> PhysAddr,
    ) -> (usize, Option<usize>) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if run.bs == PAGE_SIZE_4K {
                // The hot case: the entry size (and so the address test) is
                // a constant.
                Self::write_entries::<CHECK, PAGE_SIZE_4K>(run, pa, flags, get_paddr)
            } else {
                Self::write_entries::<CHECK, 0>(run, pa, flags, get_paddr)
            }
        }
    }

    /// [`write_run`](Self::write_run) with the entry size `BS` known at
    /// compile time (`0`: take `run.bs`). The loop does eight entries per
    /// round, so its own bookkeeping costs an eighth per entry.
    ///
    /// # Safety
    /// As for [`write_run`](Self::write_run).
    #[inline(always)]
    unsafe fn write_entries<const CHECK: bool, const BS: usize>(
        run: &Run<PTE>,
        pa: usize,
        flags: MappingFlags,
        get_paddr: &mut impl FnMut(M::VirtAddr) -> PhysAddr,
    ) -> (usize, Option<usize>) {
        let bs = if BS == 0 { run.bs } else { BS };
        // Address bits a frame for this entry size must not have.
        let bad = !Self::allowed_pa(bs);
        let table = run.table;
        // The bits one entry size adds (GenericPTE contract, item 7), if the
        // format says and entries are words: an entry whose frame follows the
        // previous one's is then one add, not an encoding.
        let step = PTE::paddr_step(bs).filter(|_| usize::BITS == 64);
        let encode = |pa: usize| {
            let mut e = run.template;
            e.set_paddr(PhysAddr::from_usize(pa));
            // `set_paddr` keeps the template's attributes (`GenericPTE`
            // contract), so this is `new_page(pa, flags, huge)`.
            debug_assert_eq!(
                e.bits(),
                PTE::new_page(PhysAddr::from_usize(pa), flags, bs > PAGE_SIZE_4K).bits()
            );
            e.bits()
        };
        // Writes `bits` to entry `k` of the run, or says it is in use.
        let write = |k: usize, bits: usize| {
            let idx = run.idx + k;
            // SAFETY: idx < run.idx + run.len <= ENTRIES; the table is live.
            // (Without `CHECK` it is a new frame whose contents do not count.)
            if CHECK && !unsafe { get(table, idx) }.is_unused() {
                return false;
            }
            // SAFETY: as above.
            unsafe { set_bits(table, idx, bits) };
            true
        };
        if !write(0, encode(pa)) {
            return (0, Some(pa));
        }
        let mut va = run.va;
        let mut k = 1;
        // The frame and bits of the first entry of the current group of
        // eight: the others are one add away when their frames follow it.
        // (Relative to the group, not the previous entry, so that no test
        // crosses rounds and a contiguous `get_paddr` folds every test.)
        let mut first: (usize, usize) = (0, 0);
        // One entry: the frame for `va`, tested with one mask.
        macro_rules! entry {
            ($j:expr) => {{
                let pa = get_paddr(va.wrapping_add(($j + 1) * bs).into()).as_usize();
                if pa & bad != 0 {
                    return (k + $j, Some(pa));
                }
                let bits = match step {
                    Some(step) if $j > 0 && pa == first.0.wrapping_add($j * bs) => {
                        let bits = first.1.wrapping_add($j * step);
                        debug_assert_eq!(bits, encode(pa));
                        bits
                    }
                    _ => encode(pa),
                };
                if $j == 0 {
                    first = (pa, bits);
                }
                if !write(k + $j, bits) {
                    return (k + $j, Some(pa));
                }
            }};
        }
        while k + 8 <= run.len {
            entry!(0);
            entry!(1);
            entry!(2);
            entry!(3);
            entry!(4);
            entry!(5);
            entry!(6);
            entry!(7);
            va = va.wrapping_add(8 * bs);
            k += 8;
        }
        while k < run.len {
            entry!(0);
            va = va.wrapping_add(bs);
            k += 1;
        }
        (run.len, None)
    }

    /// The address bits a frame of `size` bytes may have: from `log2(size)`
    /// up to `PA_MAX_BITS - 1`.
    #[inline(always)]
    fn allowed_pa(size: usize) -> usize {
        (Self::PA_ALL | (PAGE_SIZE_4K - 1)) & !(size - 1)
    }

    /// `check_pa(pa, size).is_ok()` as one mask test: only bits from
    /// `log2(size)` up to `PA_MAX_BITS - 1` may be set.
    #[inline(always)]
    fn pa_fits(pa: usize, size: usize) -> bool {
        pa & !Self::allowed_pa(size) == 0
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
