//! The operations of [`PageTable32`]: single pages and ranges.

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use super::{PageTable32, PagingMetaData32, Unlinked};
use crate::{
    FlushBatch, GenericPTE, MappingFlags, OnPresent, PageSize, PagingError, PagingHandler,
    PagingResult, TlbFlush,
};

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> PageTable32<M, PTE, H> {
    /// Translates `vaddr`: physical address (offset included), flags (empty
    /// for a reserved `PROT_NONE` entry) and page size.
    ///
    /// # Errors
    /// `InvalidAddress`, `NotMapped`.
    pub fn query(&self, vaddr: M::VirtAddr) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
        let va: usize = vaddr.into();
        let (vpn, _) = Self::check_range(va & !(PAGE_SIZE_4K - 1), PAGE_SIZE_4K)?;
        let s = self.slot(vpn);
        // SAFETY: the slot points into a live table of ours.
        let e = unsafe { s.ptr.read() };
        if e.is_unused() {
            return Err(PagingError::NotMapped);
        }
        let size = if s.l1 {
            Self::block_size().ok_or(PagingError::MappedToHugePage)?
        } else {
            PageSize::Size4K
        };
        let pa = e.paddr().as_usize() + size.align_offset(va);
        Ok((PhysAddr::from_usize(pa), e.flags(), size))
    }

    /// Maps the page `[vaddr, vaddr + page_size)` (4K, or the first-level
    /// block size) to `paddr`.
    ///
    /// # Errors
    /// `NotAligned`, `InvalidAddress` (bad address or a page size this
    /// format has no leaf for), `AlreadyMapped`, `NoMemory`.
    pub fn map(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        page_size: PageSize,
        flags: MappingFlags,
    ) -> PagingResult<TlbFlush<M>> {
        let va: usize = vaddr.into();
        let size = page_size as usize;
        let huge = page_size != PageSize::Size4K;
        if huge && Self::block_size() != Some(page_size) {
            return Err(PagingError::InvalidAddress);
        }
        if !va.is_multiple_of(size) {
            return Err(PagingError::NotAligned);
        }
        let (vpn, _) = Self::check_range(va, size)?;
        Self::check_pa(paddr.as_usize(), size)?;
        let p1 = self.l1(vpn / Self::PAGES_PER_L1);
        // SAFETY: `p1` points into our live root; second-level tables are
        // built before they are linked.
        unsafe {
            let e = p1.read();
            if huge {
                if !e.is_unused() {
                    return Err(PagingError::AlreadyMapped);
                }
                p1.write_volatile(PTE::new_page(paddr, flags, true));
            } else {
                let table = if e.is_unused() {
                    let t = Self::alloc_l2()?;
                    p1.write_volatile(PTE::new_table(t));
                    t
                } else if Self::is_table(&e) {
                    e.paddr()
                } else {
                    return Err(PagingError::AlreadyMapped);
                };
                let p2 = Self::l2(table, vpn % Self::PAGES_PER_L1);
                if !p2.read().is_unused() {
                    return Err(PagingError::AlreadyMapped);
                }
                p2.write_volatile(PTE::new_page(paddr, flags, false));
            }
        }
        Ok(TlbFlush::page(va))
    }

    /// The leaf that starts at `va`, checked.
    fn leaf_at(&self, va: usize) -> PagingResult<(super::Slot<PTE>, usize)> {
        let (vpn, _) = Self::check_range(va, PAGE_SIZE_4K)?;
        let s = self.slot(vpn);
        // SAFETY: the slot points into a live table of ours.
        if unsafe { s.ptr.read() }.is_unused() {
            return Err(PagingError::NotMapped);
        }
        if s.l1 && vpn % Self::PAGES_PER_L1 != 0 {
            return Err(PagingError::MappedToHugePage);
        }
        Ok((s, vpn))
    }

    fn size_of(s: &super::Slot<PTE>) -> PageSize {
        if s.l1 {
            Self::block_size().unwrap_or(PageSize::Size4K)
        } else {
            PageSize::Size4K
        }
    }

    /// Unmaps the page that starts at `vaddr`: frame, flags, size, flush.
    /// A second-level table that becomes empty is freed (after a full flush).
    ///
    /// # Errors
    /// `NotAligned`, `InvalidAddress`, `NotMapped`, `MappedToHugePage`.
    pub fn unmap(
        &mut self,
        vaddr: M::VirtAddr,
    ) -> PagingResult<(PhysAddr, MappingFlags, PageSize, TlbFlush<M>)> {
        let va: usize = vaddr.into();
        let (s, vpn) = self.leaf_at(va)?;
        // SAFETY: the slot points into a live table of ours.
        let e = unsafe { s.ptr.read() };
        // SAFETY: as above.
        unsafe { s.ptr.write_volatile(clear(e)) };
        let mut free = Unlinked::<M, H>::new();
        self.prune(vpn / Self::PAGES_PER_L1, &mut free);
        free.release();
        Ok((e.paddr(), e.flags(), Self::size_of(&s), TlbFlush::page(va)))
    }

    /// Changes the flags of the page that starts at `vaddr`.
    ///
    /// # Errors
    /// As for [`unmap`](Self::unmap).
    pub fn protect(
        &mut self,
        vaddr: M::VirtAddr,
        flags: MappingFlags,
    ) -> PagingResult<(PageSize, TlbFlush<M>)> {
        let va: usize = vaddr.into();
        let (s, _) = self.leaf_at(va)?;
        // SAFETY: the slot points into a live table of ours.
        unsafe {
            let mut e = s.ptr.read();
            e.set_flags(flags, s.l1);
            s.ptr.write_volatile(e);
        }
        Ok((Self::size_of(&s), TlbFlush::page(va)))
    }

    /// Points the page at `vaddr` to `paddr` with `flags`; a present frame
    /// other than `paddr` only with [`OnPresent::Replace`]. Returns the
    /// previous frame and the size.
    ///
    /// # Errors
    /// As for [`unmap`](Self::unmap); `AlreadyMapped` for a refused replace.
    pub fn remap(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        flags: MappingFlags,
        on_present: OnPresent,
    ) -> PagingResult<(PhysAddr, PageSize, TlbFlush<M>)> {
        let va: usize = vaddr.into();
        let (s, _) = self.leaf_at(va)?;
        let size = Self::size_of(&s);
        Self::check_pa(paddr.as_usize(), size as usize)?;
        // SAFETY: the slot points into a live table of ours.
        unsafe {
            let e = s.ptr.read();
            if e.is_present() && e.paddr() != paddr && on_present == OnPresent::Fail {
                return Err(PagingError::AlreadyMapped);
            }
            s.ptr.write_volatile(PTE::new_page(paddr, flags, s.l1));
            Ok((e.paddr(), size, TlbFlush::page(va)))
        }
    }

    /// Frees the second-level table of root entry `i` if it is empty.
    pub(crate) fn prune(&mut self, i: usize, free: &mut Unlinked<M, H>) {
        let p1 = self.l1(i);
        // SAFETY: `p1` points into our live root.
        let e = unsafe { p1.read() };
        if Self::is_table(&e) && Self::l2_is_empty(e.paddr()) {
            // SAFETY: as above; once cleared nothing points to the table.
            unsafe { p1.write_volatile(clear(e)) };
            free.push(e.paddr());
        }
    }

    // ---- ranges -------------------------------------------------------------

    /// Maps `[vaddr, vaddr + size)`, page `va` to `get_paddr(va)`, with
    /// first-level blocks where `max_page` allows them and the addresses fit.
    ///
    /// # Errors
    /// As [`map`](Self::map); on error everything this call mapped is
    /// removed again, so the table is unchanged.
    pub fn map_region(
        &mut self,
        vaddr: M::VirtAddr,
        mut get_paddr: impl FnMut(M::VirtAddr) -> PhysAddr,
        size: usize,
        flags: MappingFlags,
        max_page: PageSize,
    ) -> PagingResult<FlushBatch<M>> {
        let (first, n) = Self::check_range(vaddr.into(), size)?;
        let block = Self::block_size().filter(|&b| b <= max_page);
        let per = Self::PAGES_PER_L1;
        let mut batch = FlushBatch::new();
        let mut done = 0;
        while done < n {
            let vpn = first + done;
            let va = vpn * PAGE_SIZE_4K;
            let pa = get_paddr(va.into());
            let try_block = block
                .is_some_and(|b| vpn % per == 0 && n - done >= per && b.is_aligned(pa.as_usize()));
            let size = if try_block {
                // SAFETY: the index is inside our root.
                let unused = unsafe { self.l1(vpn / per).read() }.is_unused();
                if unused { block } else { None }
            } else {
                None
            }
            .unwrap_or(PageSize::Size4K);
            match self.map(va.into(), pa, size, flags) {
                Ok(f) => batch.add(f),
                Err(e) => {
                    if done > 0 {
                        let (_, undo) = self.unmap_pages(first, done);
                        batch.merge(undo);
                    }
                    batch.flush();
                    return Err(e);
                }
            }
            done += size as usize / PAGE_SIZE_4K;
        }
        Ok(batch)
    }

    /// Unmaps every page in `[vaddr, vaddr + size)`, splitting blocks that
    /// straddle the ends; holes are skipped. Returns the bytes unmapped.
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned`; `NoMemory` if a split fails (nothing
    /// changed).
    pub fn unmap_region(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
    ) -> PagingResult<(usize, FlushBatch<M>)> {
        let (first, n) = Self::check_range(vaddr.into(), size)?;
        self.split_ends(first, n)?;
        Ok(self.unmap_pages(first, n))
    }

    /// Sets `flags` on every page in `[vaddr, vaddr + size)` (splitting
    /// blocks at the ends; holes are skipped).
    ///
    /// # Errors
    /// As [`unmap_region`](Self::unmap_region).
    pub fn protect_region(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
        flags: MappingFlags,
    ) -> PagingResult<FlushBatch<M>> {
        let (first, n) = Self::check_range(vaddr.into(), size)?;
        self.split_ends(first, n)?;
        let mut batch = FlushBatch::new();
        self.for_each_leaf(first, n, |p, l1, vpn| {
            // SAFETY: `p` points at a used leaf of ours.
            unsafe {
                let mut e = p.read();
                let old = e.bits();
                e.set_flags(flags, l1);
                if e.bits() != old {
                    p.write_volatile(e);
                    batch.push(vpn * PAGE_SIZE_4K);
                }
            }
        });
        Ok(batch)
    }

    /// Clears the leaves of pages `[first, first + n)` (no leaf straddles
    /// the ends) and frees emptied second-level tables.
    fn unmap_pages(&mut self, first: usize, n: usize) -> (usize, FlushBatch<M>) {
        let mut batch = FlushBatch::new();
        let mut bytes = 0;
        self.for_each_leaf(first, n, |p, l1, vpn| {
            // SAFETY: `p` points at a used leaf of ours.
            unsafe { p.write_volatile(clear(p.read())) };
            batch.push(vpn * PAGE_SIZE_4K);
            bytes += if l1 {
                Self::PAGES_PER_L1 * PAGE_SIZE_4K
            } else {
                PAGE_SIZE_4K
            };
        });
        let per = Self::PAGES_PER_L1;
        let mut free = Unlinked::<M, H>::new();
        for i in first / per..=(first + n - 1) / per {
            self.prune(i, &mut free);
        }
        free.release();
        (bytes, batch)
    }

    /// Calls `f(entry, is_first_level, vpn)` for every used leaf starting in
    /// pages `[first, first + n)`.
    fn for_each_leaf(&mut self, first: usize, n: usize, mut f: impl FnMut(*mut PTE, bool, usize)) {
        let per = Self::PAGES_PER_L1;
        let mut vpn = first;
        while vpn < first + n {
            let i = vpn / per;
            let p1 = self.l1(i);
            // SAFETY: `p1` points into our live root.
            let e = unsafe { p1.read() };
            let end = ((i + 1) * per).min(first + n);
            if Self::is_table(&e) {
                for v in vpn..end {
                    let p = Self::l2(e.paddr(), v % per);
                    // SAFETY: `p` points into a live second-level table.
                    if !unsafe { p.read() }.is_unused() {
                        f(p, false, v);
                    }
                }
            } else if !e.is_unused() {
                f(p1, true, vpn);
            }
            vpn = end;
        }
    }

    /// Splits the blocks that straddle page `first` or `first + n`; on
    /// `NoMemory` the splits made are undone.
    fn split_ends(&mut self, first: usize, n: usize) -> PagingResult {
        let per = Self::PAGES_PER_L1;
        let mut made: Option<(usize, PTE)> = None;
        for vpn in [first, first + n] {
            if vpn % per == 0 || vpn >= Self::PAGES {
                continue;
            }
            let p1 = self.l1(vpn / per);
            // SAFETY: `p1` points into our live root.
            let e = unsafe { p1.read() };
            if e.is_unused() || Self::is_table(&e) {
                continue;
            }
            let table = match Self::alloc_l2() {
                Ok(t) => t,
                Err(err) => {
                    if let Some((i, old)) = made {
                        let p = self.l1(i);
                        // SAFETY: restores the block over the table we made.
                        let t = unsafe { p.read() }.paddr();
                        // SAFETY: as above.
                        unsafe { p.write_volatile(old) };
                        let mut free = Unlinked::<M, H>::new();
                        free.push(t);
                    }
                    return Err(err);
                }
            };
            let base = e.paddr().as_usize();
            for j in 0..per {
                let pa = PhysAddr::from_usize(base + j * PAGE_SIZE_4K);
                // SAFETY: a fresh table of ours.
                unsafe { Self::l2(table, j).write(PTE::new_page(pa, e.flags(), false)) };
            }
            // SAFETY: as above; the same translations, now through a table.
            unsafe { p1.write_volatile(PTE::new_table(table)) };
            made = Some((vpn / per, e));
        }
        Ok(())
    }
}

/// `e` cleared.
fn clear<PTE: GenericPTE>(mut e: PTE) -> PTE {
    e.clear();
    e
}
