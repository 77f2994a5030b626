//! Single-page operations: `map`, `unmap`, `protect`, `remap`.

use memory_addr::PhysAddr;

use crate::deferred::DeferredFree;
use crate::table::{block, clear, get, index, leaf_size, set, table_is_empty};
use crate::{
    GenericPTE, MappingFlags, OnPresent, PageSize, PageTable64, PagingError, PagingHandler,
    PagingMetaData, PagingResult, TlbFlush,
};

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Maps the page `[vaddr, vaddr + page_size)` to `paddr`.
    ///
    /// A huge leaf may replace an empty table directly below the root; that
    /// table is freed after a full flush issued here (see [Freeing table
    /// frames](crate#freeing-table-frames)).
    ///
    /// # Errors
    /// `NotAligned` (vaddr or paddr not aligned to `page_size`),
    /// `InvalidAddress` (vaddr outside the VA range, paddr beyond
    /// `PA_MAX_BITS`), `AlreadyMapped` (anything mapped in the page, or a huge
    /// page around it), `NoMemory`.
    pub fn map(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        page_size: PageSize,
        flags: MappingFlags,
    ) -> PagingResult<TlbFlush<M>> {
        let va: usize = vaddr.into();
        let (size, level) = (page_size as usize, page_size.level());
        Self::check_va(va)?;
        if leaf_size(level) != page_size {
            return Err(PagingError::InvalidAddress); // no 1M leaves here
        }
        if va & (size - 1) != 0 {
            return Err(PagingError::NotAligned);
        }
        let (t, hi) = Self::check_range(va, size)?;
        self.check_owned(t, hi)?;
        Self::check_pa(paddr.as_usize(), size)?;
        if level > Self::ROOT {
            return Err(PagingError::InvalidAddress);
        }
        // SAFETY: `t` is checked; tables reached through our root are live.
        unsafe {
            let table = self.ensure_table(t, level)?;
            let idx = index(t, level);
            let e = get(table, idx);
            if !e.is_unused() {
                // An empty owned table directly below the root (kept for
                // sharing) may give way to a huge leaf.
                let replaceable = level == Self::ROOT
                    && Self::is_table(&e, level)
                    && !self.is_shared(idx)
                    && table_is_empty(Self::table_of(e.paddr()));
                if !replaceable {
                    return Err(PagingError::AlreadyMapped);
                }
                set(table, idx, PTE::new_page(paddr, flags, level > 0));
                // The replaced table is freed after a full flush of its own.
                let mut free = DeferredFree::<M, PTE, H>::new();
                free.push_empty(e.paddr());
                free.release();
            } else {
                set(table, idx, PTE::new_page(paddr, flags, level > 0));
            }
        }
        Ok(TlbFlush::page(va))
    }

    /// Unmaps the page (4K or huge) that starts at `vaddr`; frees tables that
    /// become empty, after a full flush issued here (see [Freeing table
    /// frames](crate#freeing-table-frames)).
    ///
    /// Returns the frame, the flags and the size of the removed page. Empty
    /// flags mean it was a reserved (`PROT_NONE`) entry.
    ///
    /// # Errors
    /// `NotAligned`, `InvalidAddress`, `Shared` (a top-level slot borrowed
    /// with [`share_from`](Self::share_from)), `NotMapped`,
    /// `MappedToHugePage` (vaddr inside a huge page: use
    /// [`unmap_region`](Self::unmap_region) to split).
    pub fn unmap(
        &mut self,
        vaddr: M::VirtAddr,
    ) -> PagingResult<(PhysAddr, MappingFlags, PageSize, TlbFlush<M>)> {
        let va: usize = vaddr.into();
        let (leaf, t) = self.leaf_at(va)?;
        let mut free = DeferredFree::<M, PTE, H>::new();
        // SAFETY: `leaf` was just found in this table.
        let e = unsafe {
            let e = get(leaf.table, leaf.idx);
            clear(leaf.table, leaf.idx);
            self.prune_path(t, leaf.level, &leaf.path, &mut free);
            e
        };
        // Emptied tables are freed after a full flush of their own.
        free.release();
        Ok((
            e.paddr(),
            e.flags(),
            leaf_size(leaf.level),
            TlbFlush::page(va),
        ))
    }

    /// Changes the flags of the page that starts at `vaddr` (empty flags make
    /// it a reserved `PROT_NONE` entry that keeps its frame).
    ///
    /// # Errors
    /// As for [`unmap`](Self::unmap).
    pub fn protect(
        &mut self,
        vaddr: M::VirtAddr,
        flags: MappingFlags,
    ) -> PagingResult<(PageSize, TlbFlush<M>)> {
        let va: usize = vaddr.into();
        let (leaf, _) = self.leaf_at(va)?;
        // SAFETY: `leaf` was just found in this table.
        unsafe {
            let mut e = get(leaf.table, leaf.idx);
            e.set_flags(flags, leaf.level > 0);
            set(leaf.table, leaf.idx, e);
        }
        Ok((leaf_size(leaf.level), TlbFlush::page(va)))
    }

    /// Points the existing page at `vaddr` (any size) to `paddr` with `flags`.
    ///
    /// A reserved (`PROT_NONE`) entry or the same frame is always updated; a
    /// present entry with a different frame only with [`OnPresent::Replace`].
    /// Returns the previous frame and the page size.
    ///
    /// # Errors
    /// As for [`unmap`](Self::unmap); `NotAligned`/`InvalidAddress` for a bad
    /// `paddr`; `AlreadyMapped` when a present frame would be replaced with
    /// [`OnPresent::Fail`].
    pub fn remap(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        flags: MappingFlags,
        on_present: OnPresent,
    ) -> PagingResult<(PhysAddr, PageSize, TlbFlush<M>)> {
        let va: usize = vaddr.into();
        let (leaf, _) = self.leaf_at(va)?;
        Self::check_pa(paddr.as_usize(), block(leaf.level))?;
        // SAFETY: `leaf` was just found in this table.
        unsafe {
            let e = get(leaf.table, leaf.idx);
            if e.is_present() && e.paddr() != paddr && on_present == OnPresent::Fail {
                return Err(PagingError::AlreadyMapped);
            }
            set(
                leaf.table,
                leaf.idx,
                PTE::new_page(paddr, flags, leaf.level > 0),
            );
            Ok((e.paddr(), leaf_size(leaf.level), TlbFlush::page(va)))
        }
    }
}
