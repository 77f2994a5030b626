//! The page table as the backends see it: the table, the pending TLB flush, and the frames
//! that may only be freed after that flush.

use alloc::sync::Arc;

use memory_addr::{PAGE_SIZE_4K, PhysAddr, VirtAddr};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{
    FlushBatch, OnPresent, PageSize, PageTable64, PagingError, PagingHandler, PagingMetaData,
    PhysRegion,
};

use crate::frame::Reclaim;

/// The page table of an [`AddrSpace`](crate::AddrSpace) together with its pending TLB
/// flush and the frames released since the last flush.
///
/// This is the `PageTable` type of the [`Backend`](crate::Backend)s: every change a backend
/// makes is recorded in one [`FlushBatch`], and every frame it lets go of waits in the
/// reclaim list. The address space flushes the batch at the end of each operation and only
/// then drops those frames, so no frame is reused while a TLB may still map it.
pub struct Mmu<M: PagingMetaData<VirtAddr = VirtAddr>, P: GenericPTE, H: PagingHandler> {
    pt: PageTable64<M, P, H>,
    batch: FlushBatch<M>,
    pub(crate) reclaim: Arc<Reclaim<H>>,
    /// Set while areas are inserted whose page-table entries are copied separately (fork):
    /// backend hooks then change only their own bookkeeping.
    pub(crate) bookkeeping_only: bool,
}

impl<M, P, H> Mmu<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    pub(crate) fn try_new() -> Result<Self, PagingError> {
        Ok(Self {
            pt: PageTable64::try_new()?,
            batch: FlushBatch::new(),
            reclaim: Reclaim::new(),
            bookkeeping_only: false,
        })
    }

    /// The page table (to activate it, or to inspect its entries).
    pub fn page_table(&self) -> &PageTable64<M, P, H> {
        &self.pt
    }

    pub(crate) fn pt_mut(&mut self) -> &mut PageTable64<M, P, H> {
        &mut self.pt
    }

    pub(crate) fn record(&mut self, batch: FlushBatch<M>) {
        self.batch.merge(batch);
    }

    pub(crate) fn record_page(&mut self, va: VirtAddr) {
        self.batch.add_page(va);
    }

    /// Maps one 4K frame.
    pub(crate) fn map_page(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: MappingFlags,
    ) -> Result<(), PagingError> {
        let flush = self.pt.map(va, pa, PageSize::Size4K, flags)?;
        // A new entry can be cached as "invalid" by some MMUs; flush it with the batch.
        self.batch.add(flush);
        Ok(())
    }

    /// Maps a 2 MiB block of contiguous frames with one PMD-level leaf.
    pub(crate) fn map_huge(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: MappingFlags,
    ) -> Result<(), PagingError> {
        let flush = self.pt.map(va, pa, PageSize::Size2M, flags)?;
        self.batch.add(flush);
        Ok(())
    }

    /// Splits the huge leaf holding `va` (if it is one) into 4K entries with the same
    /// frames and flags, so that single-page operations can follow. Translations do not
    /// change.
    pub(crate) fn split_huge(&mut self, va: VirtAddr) -> Result<(), PagingError> {
        let page = VirtAddr::from_usize(va.as_usize() & !(PAGE_SIZE_4K - 1));
        match self.pt.query(page) {
            // Setting one page's flags to what they are splits the leaf around it.
            Ok((_, flags, size)) if size != PageSize::Size4K => {
                self.protect_range(page, PAGE_SIZE_4K, flags)
            }
            _ => Ok(()),
        }
    }

    /// Points the present 4K entry at `va` to another frame (copy-on-write).
    pub(crate) fn replace_page(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: MappingFlags,
    ) -> Result<(), PagingError> {
        let (_, _, flush) = self.pt.remap(va, pa, flags, OnPresent::Replace)?;
        self.batch.add(flush);
        Ok(())
    }

    /// Changes the flags of the 4K entry at `va`.
    pub(crate) fn protect_page(
        &mut self,
        va: VirtAddr,
        flags: MappingFlags,
    ) -> Result<(), PagingError> {
        let (_, flush) = self.pt.protect(va, flags)?;
        self.batch.add(flush);
        Ok(())
    }

    /// Unmaps everything in `[start, start + size)`, holes allowed.
    pub(crate) fn unmap_range(&mut self, start: VirtAddr, size: usize) -> Result<(), PagingError> {
        let (_, batch) = self.pt.unmap_region(start, size)?;
        self.record(batch);
        Ok(())
    }

    /// Sets the flags of every leaf in `[start, start + size)`, holes allowed.
    pub(crate) fn protect_range(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
    ) -> Result<(), PagingError> {
        let batch = self.pt.protect_region(start, size, flags)?;
        self.record(batch);
        Ok(())
    }

    /// Maps `region` at `start`, with leaves up to `max_page` where aligned.
    pub(crate) fn map_linear(
        &mut self,
        start: VirtAddr,
        region: PhysRegion,
        flags: MappingFlags,
        max_page: PageSize,
    ) -> Result<(), PagingError> {
        let delta = region.start().as_usize().wrapping_sub(start.as_usize());
        let batch = self.pt.map_region(
            start,
            |va: VirtAddr| PhysAddr::from_usize(va.as_usize().wrapping_add(delta)),
            region.size(),
            flags,
            max_page,
        )?;
        self.record(batch);
        Ok(())
    }

    /// Flushes the pending TLB entries, then drops the frames released before the flush.
    pub(crate) fn commit(&mut self) {
        if !self.batch.is_empty() {
            core::mem::take(&mut self.batch).flush();
        }
        if self.reclaim.is_pending() {
            self.reclaim.take().release();
        }
    }
}

impl<M, P, H> Drop for Mmu<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    fn drop(&mut self) {
        self.commit();
    }
}

/// The 4K page number of `va`.
pub(crate) const fn vpn(va: VirtAddr) -> usize {
    va.as_usize() / PAGE_SIZE_4K
}

/// The address of page number `vpn`.
pub(crate) const fn page_va(vpn: usize) -> VirtAddr {
    VirtAddr::from_usize(vpn * PAGE_SIZE_4K)
}
