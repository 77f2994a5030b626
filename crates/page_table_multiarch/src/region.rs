//! Range operations. Each visits every leaf table once (one descent per leaf
//! table, then a tight loop over its entries), never walking from the root
//! per page.
//!
//! Huge pages that straddle a range boundary are split first (the only
//! allocations of unmap/protect); if a split cannot get a frame, the splits
//! done so far are undone and nothing changed.

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::table::{ENTRIES, block, clear, get, index, leaf_size, set, table_is_empty};
use crate::{
    FlushBatch, GenericPTE, MappingFlags, PageSize, PageTable64, PagingError, PagingHandler,
    PagingMetaData, PagingResult,
};

/// Undo log of the huge-page splits made before a range operation (at most
/// two per boundary: 1G → 2M → 4K).
struct Splits<PTE: GenericPTE> {
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

/// Memoizes the flag encoding and decoding of entries. Converting between
/// [`MappingFlags`] and hardware bits is the costly part of writing an entry,
/// and the entries of one range almost always share their attribute bits, so
/// the conversion runs once per pattern and every other entry costs a couple
/// of `set_paddr`. Relies on the `GenericPTE` contract: `set_flags` keeps the
/// physical address and `set_paddr` keeps everything else, so results depend
/// only on the non-address bits.
struct PteCache<PTE: GenericPTE> {
    /// (attribute bits, flags, huge) -> attribute bits after `set_flags`.
    set: Option<(usize, MappingFlags, bool, PTE)>,
    /// (flags, huge) -> `new_page(0, flags, huge)`.
    new: Option<(MappingFlags, bool, PTE)>,
    /// attribute bits -> `flags()`.
    get: Option<(usize, MappingFlags)>,
}

impl<PTE: GenericPTE> PteCache<PTE> {
    fn new() -> Self {
        Self {
            set: None,
            new: None,
            get: None,
        }
    }

    #[inline(always)]
    fn attr(e: &PTE) -> PTE {
        let mut a = *e;
        a.set_paddr(PhysAddr::from_usize(0));
        a
    }

    /// `e.set_flags(flags, huge)`.
    #[inline(always)]
    fn set_flags(&mut self, e: &mut PTE, flags: MappingFlags, huge: bool) {
        let mut attr = Self::attr(e);
        let key = attr.bits();
        let mut new = match self.set {
            Some((k, f, h, r)) if (k, f, h) == (key, flags, huge) => r,
            _ => {
                attr.set_flags(flags, huge);
                self.set = Some((key, flags, huge, attr));
                attr
            }
        };
        new.set_paddr(e.paddr());
        *e = new;
    }

    /// `PTE::new_page(paddr, flags, huge)`.
    #[inline(always)]
    fn new_page(&mut self, paddr: PhysAddr, flags: MappingFlags, huge: bool) -> PTE {
        let mut new = match self.new {
            Some((f, h, r)) if (f, h) == (flags, huge) => r,
            _ => {
                let r = PTE::new_page(PhysAddr::from_usize(0), flags, huge);
                self.new = Some((flags, huge, r));
                r
            }
        };
        new.set_paddr(paddr);
        new
    }

    /// `e.flags()`.
    #[inline(always)]
    fn flags(&mut self, e: &PTE) -> MappingFlags {
        let key = Self::attr(e).bits();
        match self.get {
            Some((k, f)) if k == key => f,
            _ => {
                let f = e.flags();
                self.get = Some((key, f));
                f
            }
        }
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Maps `[vaddr, vaddr + size)`; page `va` goes to `get_paddr(va)`.
    ///
    /// Leaves up to `max_page` are used where the virtual address, the
    /// remaining size and the physical address allow it (`get_paddr` is then
    /// called once per leaf, and the frames of a huge leaf are taken to be
    /// contiguous). Pass [`PageSize::Size4K`] to map 4K pages only.
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` (bad range, or `get_paddr` returned an
    /// unaligned or too large address), `AlreadyMapped` (anything mapped in
    /// the range), `NoMemory`. On error everything mapped by this call is
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
            let table = loop {
                // SAFETY: `t` is inside the checked range.
                match unsafe { self.ensure_table(t, level) } {
                    Ok(table)
                        if level > 0
                            // SAFETY: `table` is live; index < ENTRIES.
                            && Self::is_table(&unsafe { get(table, index(t, level)) }, level) =>
                    {
                        level -= 1
                    }
                    Ok(table) => break table,
                    Err(e) => {
                        self.rollback_map(lo, t, &fresh, batch);
                        return Err(e);
                    }
                }
            };
            let bs = block(level);
            let mut pte = PTE::new_page(PhysAddr::from_usize(pa), flags, level > 0);
            let mut pa = pa;
            let mut idx = index(t, level);
            loop {
                // SAFETY: `table` is live; idx < ENTRIES.
                let e = unsafe { get(table, idx) };
                if !e.is_unused() {
                    if Self::is_table(&e, level) {
                        pending = Some(pa);
                        break;
                    }
                    self.rollback_map(lo, t, &fresh, batch);
                    return Err(PagingError::AlreadyMapped);
                }
                pte.set_paddr(PhysAddr::from_usize(pa));
                // SAFETY: as above.
                unsafe { set(table, idx, pte) };
                batch.push(Self::sext(t));
                t += bs;
                idx += 1;
                if idx == ENTRIES || hi - t < bs {
                    break;
                }
                pa = get_paddr(Self::sext(t).into()).as_usize();
                if level == 0 {
                    if let Err(e) = Self::check_pa(pa, PAGE_SIZE_4K) {
                        self.rollback_map(lo, t, &fresh, batch);
                        return Err(e);
                    }
                } else if Self::check_pa(pa, bs).is_err() {
                    pending = Some(pa);
                    break;
                }
            }
        }
        Ok(batch)
    }

    /// Whether a leaf of `level` fits at `t` (range end `hi`, frame `pa`).
    #[inline(always)]
    fn fits(t: usize, hi: usize, pa: usize, level: usize) -> bool {
        let bs = block(level);
        t & (bs - 1) == 0 && hi - t >= bs && Self::check_pa(pa, bs).is_ok()
    }

    /// Removes what `map_region` mapped in `[lo, t)` and flushes it (the
    /// entries may have been cached speculatively meanwhile).
    fn rollback_map(
        &mut self,
        lo: usize,
        t: usize,
        fresh: &[u64; ENTRIES / 64],
        mut batch: FlushBatch<M>,
    ) {
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
                )
            };
        }
        // SAFETY: the fresh slots held nothing before this call and its
        // leaves are gone.
        if unsafe { self.free_fresh_slots(fresh) } {
            batch.add_all();
        }
        batch.flush();
    }

    /// Unmaps every page in `[vaddr, vaddr + size)`, splitting huge pages
    /// that straddle the boundaries; holes are skipped. Frees tables that
    /// become empty. Returns the number of bytes that were mapped (and now
    /// are not) and the flushes.
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` (bad range), `NoMemory` (a split could
    /// not get a table frame; nothing changed).
    pub fn unmap_region(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
    ) -> PagingResult<(usize, FlushBatch<M>)> {
        self.unmap_region_with(vaddr, size, |_, _, _, _| {})
    }

    /// [`unmap_region`](Self::unmap_region) that reports every removed leaf
    /// as `f(vaddr, paddr, size, flags)` (e.g. to free the frames after the
    /// flush). Empty flags mean a reserved (`PROT_NONE`) entry.
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
        self.split_range(lo, hi)?;
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
            )
        };
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
        self.split_range(lo, hi)?;
        let mut batch = FlushBatch::new();
        let mut cache = PteCache::new();
        let mut update = |e: &mut PTE, level: usize| cache.set_flags(e, flags, level > 0);
        // SAFETY: the range is checked and no leaf straddles its ends.
        unsafe {
            Self::update_rec(
                self.root_table(),
                Self::ROOT,
                lo,
                hi,
                &mut update,
                &mut batch,
            )
        };
        Ok(batch)
    }

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
            let log = self.split_range(lo, hi)?;
            if let Err(e) =
                Self::prealloc_rec(self.root_table(), dst.root_table(), Self::ROOT, lo, hi)
            {
                // dst has no leaves in the range: this only frees new tables.
                let mut unused = FlushBatch::new();
                Self::unmap_rec(
                    dst.root_table(),
                    Self::ROOT,
                    lo,
                    hi,
                    &mut |_, _, _| {},
                    &mut unused,
                );
                dst.free_fresh_slots(&fresh);
                unused.ignore();
                self.undo_splits(log);
                return Err(e);
            }
            let mut batch = FlushBatch::new();
            Self::clone_rec(
                self.root_table(),
                dst.root_table(),
                Self::ROOT,
                lo,
                hi,
                &mut f,
                &mut PteCache::new(),
                &mut batch,
            );
            Ok(batch)
        }
    }

    // ---- splitting -------------------------------------------------------------

    /// Splits the huge pages straddling `lo` or `hi`; all or nothing.
    fn split_range(&mut self, lo: usize, hi: usize) -> PagingResult<Splits<PTE>> {
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
                unsafe { self.undo_splits(log) };
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

    /// Restores the split huge pages (newest first) and frees their tables.
    ///
    /// # Safety
    /// `log` lists splits of this table with nothing changed since.
    unsafe fn undo_splits(&mut self, log: Splits<PTE>) {
        for &(table, idx, e, pa) in log.items[..log.len].iter().rev().flatten() {
            // SAFETY: the entry still points to the table made by the split.
            unsafe { set(table, idx, e) };
            H::dealloc_frame(pa);
        }
    }

    // ---- recursive per-table loops ---------------------------------------------

    /// Clears the leaves in `[lo, hi)` below `table` (at `level`), calling
    /// `f(t, entry, level)` for each; frees tables that become empty except
    /// those directly below the root. Returns the bytes unmapped.
    ///
    /// # Safety
    /// `table` is live, `[lo, hi)` lies in its span, no leaf straddles `lo`/`hi`.
    unsafe fn unmap_rec(
        table: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
        f: &mut impl FnMut(usize, &PTE, usize),
        batch: &mut FlushBatch<M>,
    ) -> usize {
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        let mut done = 0;
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                if Self::is_table(&e, level) {
                    let child = Self::table_of(e.paddr());
                    let (clo, chi) = (lo.max(t), hi.min(t + bs));
                    // SAFETY: the child covers [t, t + bs).
                    done += unsafe { Self::unmap_rec(child, level - 1, clo, chi, f, batch) };
                    // A fully covered child is empty now; otherwise look.
                    let full = clo == t && chi == t + bs;
                    // SAFETY: the child is live until freed here.
                    if level != Self::ROOT && (full || unsafe { table_is_empty(child) }) {
                        // SAFETY: nothing else refers to the child.
                        unsafe { clear(table, idx) };
                        H::dealloc_frame(e.paddr());
                        batch.add_all();
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

    /// Applies `update(entry, level)` to the leaves in `[lo, hi)` below
    /// `table`, recording the entries that changed.
    ///
    /// # Safety
    /// As for [`unmap_rec`](Self::unmap_rec).
    unsafe fn update_rec(
        table: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
        update: &mut impl FnMut(&mut PTE, usize),
        batch: &mut FlushBatch<M>,
    ) {
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                if Self::is_table(&e, level) {
                    let child = Self::table_of(e.paddr());
                    // SAFETY: the child covers [t, t + bs).
                    unsafe {
                        Self::update_rec(child, level - 1, lo.max(t), hi.min(t + bs), update, batch)
                    };
                } else {
                    let mut n = e;
                    update(&mut n, level);
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

    /// Whether a leaf (present or reserved) lies in `[lo, hi)` below `table`.
    ///
    /// # Safety
    /// `table` is live and `[lo, hi)` lies in its span.
    unsafe fn has_leaf(table: *mut PTE, level: usize, lo: usize, hi: usize) -> bool {
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
        f: &mut impl FnMut(
            M::VirtAddr,
            PhysAddr,
            PageSize,
            MappingFlags,
        ) -> (MappingFlags, MappingFlags),
        cache: &mut PteCache<PTE>,
        batch: &mut FlushBatch<M>,
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
                        Self::clone_rec(
                            schild,
                            dchild,
                            level - 1,
                            lo.max(t),
                            hi.min(t + bs),
                            f,
                            cache,
                            batch,
                        )
                    };
                }
            } else {
                let huge = level > 0;
                let flags = cache.flags(&e);
                let (src_flags, dst_flags) =
                    f(Self::sext(t).into(), e.paddr(), leaf_size(level), flags);
                if d.is_unused() {
                    let new = cache.new_page(e.paddr(), dst_flags, huge);
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
                        unsafe { set(child, k, cache.new_page(pa, dst_flags, level > 1)) };
                    }
                }
                let mut n = e;
                cache.set_flags(&mut n, src_flags, huge);
                if n.bits() != e.bits() {
                    // SAFETY: as above.
                    unsafe { set(src, idx, n) };
                    batch.push(Self::sext(t));
                }
            }
            t += bs;
        }
    }
}
