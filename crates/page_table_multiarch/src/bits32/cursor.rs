//! `PageTable32::cursor()`, as for `PageTable64` (see `crate::cursor`).

use core::ops::Deref;

use memory_addr::PhysAddr;

use super::{PageTable32, PagingMetaData32};
use crate::cursor::check_frame;
use crate::{
    FlushBatch, GenericPTE, MappingFlags, OnPresent, PageSize, PagingHandler, PagingResult,
};

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> PageTable32<M, PTE, H> {
    /// A cursor that changes this table and flushes the TLB, batched, when
    /// it is dropped (arceos 0.6 API). Reads go through `Deref`.
    pub fn cursor(&mut self) -> PageTable32Cursor<'_, M, PTE, H> {
        PageTable32Cursor {
            table: self,
            batch: FlushBatch::new(),
        }
    }
}

/// A cursor over a [`PageTable32`]: the same methods and rules as
/// [`PageTable64Cursor`](crate::PageTable64Cursor).
pub struct PageTable32Cursor<'a, M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> {
    table: &'a mut PageTable32<M, PTE, H>,
    batch: FlushBatch<M>,
}

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> Deref
    for PageTable32Cursor<'_, M, PTE, H>
{
    type Target = PageTable32<M, PTE, H>;

    fn deref(&self) -> &Self::Target {
        self.table
    }
}

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> PageTable32Cursor<'_, M, PTE, H> {
    /// Maps one page (4K or a first-level block such as a 1M section).
    ///
    /// # Errors
    /// As [`PageTable32::map`].
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

    /// Moves the page at `vaddr` to `paddr` unless a present frame would be
    /// replaced; returns the size.
    ///
    /// # Errors
    /// As [`PageTable32::remap`] with [`OnPresent::Fail`].
    pub fn remap(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        flags: MappingFlags,
    ) -> PagingResult<PageSize> {
        self.remap_with(vaddr, paddr, flags, OnPresent::Fail)
            .map(|(_, size)| size)
    }

    /// [`remap`](Self::remap) with an explicit [`OnPresent`]; returns the
    /// previous frame and the size.
    ///
    /// # Errors
    /// As [`PageTable32::remap`].
    pub fn remap_with(
        &mut self,
        vaddr: M::VirtAddr,
        paddr: PhysAddr,
        flags: MappingFlags,
        on_present: OnPresent,
    ) -> PagingResult<(PhysAddr, PageSize)> {
        let (old, size, flush) = self.table.remap(vaddr, paddr, flags, on_present)?;
        self.batch.add(flush);
        Ok((old, size))
    }

    /// Changes the flags of the page at `vaddr`; returns its size.
    ///
    /// # Errors
    /// As [`PageTable32::protect`].
    pub fn protect(&mut self, vaddr: M::VirtAddr, flags: MappingFlags) -> PagingResult<PageSize> {
        let (size, flush) = self.table.protect(vaddr, flags)?;
        self.batch.add(flush);
        Ok(size)
    }

    /// Unmaps the page at `vaddr`.
    ///
    /// # Errors
    /// As [`PageTable32::unmap`].
    pub fn unmap(
        &mut self,
        vaddr: M::VirtAddr,
    ) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
        let (pa, flags, size, flush) = self.table.unmap(vaddr)?;
        self.batch.add(flush);
        Ok((pa, flags, size))
    }

    /// Maps a region, with first-level blocks where `allow_huge` and the
    /// addresses permit.
    ///
    /// # Errors
    /// As [`PageTable32::map_region`] (nothing mapped on error).
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

    /// Unmaps a region (holes skipped, blocks at the ends split).
    ///
    /// # Errors
    /// As [`PageTable32::unmap_region`].
    pub fn unmap_region(&mut self, vaddr: M::VirtAddr, size: usize) -> PagingResult {
        let (_, batch) = self.table.unmap_region(vaddr, size)?;
        self.batch.merge(batch);
        Ok(())
    }

    /// Changes the flags of a region (holes skipped, blocks at the ends split).
    ///
    /// # Errors
    /// As [`PageTable32::protect_region`].
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

    /// Issues the flushes recorded so far (also done on drop).
    pub fn flush(&mut self) {
        core::mem::take(&mut self.batch).flush();
    }
}

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> Drop
    for PageTable32Cursor<'_, M, PTE, H>
{
    fn drop(&mut self) {
        self.flush();
    }
}
