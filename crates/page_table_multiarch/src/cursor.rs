//! `PageTable64::cursor()`: the arceos 0.6 way of changing a table, as a
//! thin layer over the direct operations. Each change adds its flush to one
//! [`FlushBatch`], issued when the cursor is dropped (or by
//! [`flush`](PageTable64Cursor::flush)), so forgetting a flush is impossible
//! here too.

use core::ops::Deref;

use memory_addr::PhysAddr;

use crate::{
    FlushBatch, GenericPTE, MappingFlags, OnPresent, PageSize, PageTable64, PagingError,
    PagingHandler, PagingMetaData, PagingResult,
};

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// A cursor that changes this table and flushes the TLB, batched, when
    /// it is dropped (arceos 0.6 API). Reads go through `Deref`.
    pub fn cursor(&mut self) -> PageTable64Cursor<'_, M, PTE, H> {
        PageTable64Cursor {
            table: self,
            batch: FlushBatch::new(),
        }
    }
}

/// A cursor over a [`PageTable64`], from [`PageTable64::cursor`]: the
/// operations of arceos 0.6 with Pagoda's checks. Every change is recorded
/// in one [`FlushBatch`] (single pages up to
/// [`FLUSH_BATCH_PAGES`](crate::FLUSH_BATCH_PAGES), then one full flush),
/// issued on drop. Failing operations change nothing, as on the table.
pub struct PageTable64Cursor<'a, M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> {
    table: &'a mut PageTable64<M, PTE, H>,
    batch: FlushBatch<M>,
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Deref
    for PageTable64Cursor<'_, M, PTE, H>
{
    type Target = PageTable64<M, PTE, H>;

    fn deref(&self) -> &Self::Target {
        self.table
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64Cursor<'_, M, PTE, H> {
    /// Maps the page `[vaddr, vaddr + page_size)` to `target`.
    ///
    /// # Errors
    /// As [`PageTable64::map`]: unlike arceos, an unaligned `vaddr` or
    /// `target` is refused (`NotAligned`), not rounded down, and
    /// `InvalidAddress` covers addresses outside the paging mode and frames
    /// that [`PagingMetaData::paddr_is_valid`] rejects.
    #[inline]
    pub fn map(
        &mut self,
        vaddr: M::VirtAddr,
        target: PhysAddr,
        page_size: PageSize,
        flags: MappingFlags,
    ) -> PagingResult {
        check_frame::<M>(target, page_size as usize)?;
        let flush = self.table.map(vaddr, target, page_size, flags)?;
        self.batch.add(flush);
        Ok(())
    }

    /// Points the page that starts at `vaddr` to `paddr` with `flags` and
    /// returns its size. A present page is moved to another frame only by
    /// [`remap_with`](Self::remap_with)`(.., OnPresent::Replace)`.
    ///
    /// # Errors
    /// As [`PageTable64::remap`] with [`OnPresent::Fail`]: `AlreadyMapped`
    /// when a present page maps another frame, `NotMapped` for an unused
    /// entry (arceos would fill it in).
    #[inline]
    pub fn remap(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        flags: MappingFlags,
    ) -> PagingResult<PageSize> {
        self.remap_with(vaddr, paddr, flags, OnPresent::Fail)
            .map(|(_, size)| size)
    }

    /// [`remap`](Self::remap) that may replace a present frame
    /// (`OnPresent::Replace`); returns the previous frame and the size.
    ///
    /// # Errors
    /// As [`PageTable64::remap`].
    #[inline]
    pub fn remap_with(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        flags: MappingFlags,
        on_present: OnPresent,
    ) -> PagingResult<(PhysAddr, PageSize)> {
        check_frame::<M>(paddr, PageSize::Size4K as usize)?;
        let (old, size, flush) = self.table.remap(vaddr, paddr, flags, on_present)?;
        self.batch.add(flush);
        Ok((old, size))
    }

    /// Changes the flags of the page that starts at `vaddr`; returns its size.
    ///
    /// # Errors
    /// As [`PageTable64::protect`] (a `PROT_NONE` page can be protected).
    #[inline]
    pub fn protect(&mut self, vaddr: M::VirtAddr, flags: MappingFlags) -> PagingResult<PageSize> {
        let (size, flush) = self.table.protect(vaddr, flags)?;
        self.batch.add(flush);
        Ok(size)
    }

    /// Unmaps the page that starts at `vaddr`: its frame, flags and size.
    /// Free the frame only after the cursor is dropped or flushed.
    ///
    /// # Errors
    /// As [`PageTable64::unmap`].
    #[inline]
    pub fn unmap(
        &mut self,
        vaddr: M::VirtAddr,
    ) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
        let (pa, flags, size, flush) = self.table.unmap(vaddr)?;
        self.batch.add(flush);
        Ok((pa, flags, size))
    }

    /// Maps `[vaddr, vaddr + size)`, page `va` to `get_paddr(va)`, with 2M
    /// and 1G leaves where `allow_huge` and the addresses permit.
    ///
    /// # Errors
    /// As [`PageTable64::map_region`]; on error nothing is mapped (arceos
    /// keeps the pages mapped before the failure).
    #[inline]
    pub fn map_region(
        &mut self,
        vaddr: M::VirtAddr,
        get_paddr: impl Fn(M::VirtAddr) -> PhysAddr,
        size: usize,
        flags: MappingFlags,
        allow_huge: bool,
    ) -> PagingResult {
        let max = if allow_huge {
            PageSize::Size1G
        } else {
            PageSize::Size4K
        };
        let batch = self.table.map_region(vaddr, get_paddr, size, flags, max)?;
        self.batch.merge(batch);
        Ok(())
    }

    /// Unmaps every page in `[vaddr, vaddr + size)`, splitting huge pages at
    /// the ends. Holes are skipped (arceos stops at the first one).
    ///
    /// # Errors
    /// As [`PageTable64::unmap_region`].
    #[inline]
    pub fn unmap_region(&mut self, vaddr: M::VirtAddr, size: usize) -> PagingResult {
        let (_, batch) = self.table.unmap_region(vaddr, size)?;
        self.batch.merge(batch);
        Ok(())
    }

    /// Sets `flags` on every page in `[vaddr, vaddr + size)`, splitting huge
    /// pages at the ends; holes are skipped.
    ///
    /// # Errors
    /// As [`PageTable64::protect_region`].
    #[inline]
    pub fn protect_region(
        &mut self,
        vaddr: M::VirtAddr,
        size: usize,
        flags: MappingFlags,
    ) -> PagingResult {
        let batch = self.table.protect_region(vaddr, size, flags)?;
        self.batch.merge(batch);
        Ok(())
    }

    /// Shares `other`'s top-level entries covering `[start, start + size)`
    /// (feature `copy-from`, arceos 0.6 name). A `'static` lender needs no
    /// `unsafe`: [`PageTable64::share_from`].
    ///
    /// # Errors
    /// As [`PageTable64::copy_from`] (arceos returns nothing and panics on a
    /// bad range).
    ///
    /// # Safety
    /// As [`PageTable64::copy_from`]: `other` outlives this table.
    #[cfg(feature = "copy-from")]
    pub unsafe fn copy_from(
        &mut self,
        other: &PageTable64<M, PTE, H>,
        start: M::VirtAddr,
        size: usize,
    ) -> PagingResult {
        // SAFETY: forwarded to the caller.
        let batch = unsafe { self.table.copy_from(other, start, size) }?;
        self.batch.merge(batch);
        Ok(())
    }

    /// Issues the flushes recorded so far (also done on drop).
    pub fn flush(&mut self) {
        core::mem::take(&mut self.batch).flush();
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Drop
    for PageTable64Cursor<'_, M, PTE, H>
{
    fn drop(&mut self) {
        self.flush();
    }
}

/// [`PagingMetaData::paddr_is_valid`] for the last byte of a frame of `size`.
#[inline(always)]
pub(crate) fn check_frame<M: PagingMetaData>(pa: PhysAddr, size: usize) -> PagingResult {
    match pa.as_usize().checked_add(size - 1) {
        Some(last) if M::paddr_is_valid(last) => Ok(()),
        _ => Err(PagingError::InvalidAddress),
    }
}
