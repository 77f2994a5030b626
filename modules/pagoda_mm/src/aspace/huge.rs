//! Transparent huge pages (see [`thp`](crate::thp)): a first touch of private anonymous
//! memory fills a whole block of contiguous frames, a PMD-size block is mapped by one leaf,
//! and `MADV_COLLAPSE` turns the pages of a 2 MiB range into one such block.
//!
//! The area's frame map keeps one frame per page as always, so every other operation
//! (munmap, mprotect, mremap, MADV_DONTNEED, fork and copy-on-write) works page by page;
//! the page table splits a huge leaf wherever a range operation cuts it, and a fault that
//! cannot be resolved on the whole leaf splits it first.

use alloc::sync::Arc;
use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::frame::FrameRun;
use page_table_multiarch::{PageSize, PagingHandler, PagingMetaData};

use super::AddrSpace;
use crate::backend::{Paged, Source, new_anon_id};
use crate::frame::{FrameRef, alloc_block_zeroed};
use crate::mmu::{Mmu, page_va, vpn};
use crate::perm::{Cow, entry_flags};
use crate::thp::{MIN_ORDER, PMD_ORDER, allowed_orders};
use crate::{FaultError, FaultOutcome};

/// Pages in a PMD-size block.
const PMD_PAGES: usize = 1 << PMD_ORDER;
/// Bytes in a PMD-size block.
const PMD_SIZE: usize = PMD_PAGES * PAGE_SIZE_4K;

/// A first touch of page `vpn` (no frame there) in `paged`, an area with `flags`: fills the
/// largest block around it that the policy allows, that lies in the area and that has no
/// frame yet, and maps it. A write may fill blocks of any allowed order; a read only a
/// PMD-size one (Linux maps the shared zero page for smaller reads; with `use_zero_page`
/// 0, which Pagoda reports, a PMD-size read gets a block). The block's pages are dirty and
/// soft-dirty, and writable when the area is, as Linux maps a new anonymous huge page.
/// `None` when no block fits or no run of frames is free: the caller fills one page.
pub(super) fn fill_block<M, P, H>(
    paged: &mut Paged<H>,
    mmu: &mut Mmu<M, P, H>,
    flags: MappingFlags,
    vpn: usize,
    write: bool,
) -> Option<FaultOutcome>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    if !matches!(paged.source, Source::Anon) {
        return None;
    }
    let mut orders = allowed_orders(paged.attrs.hugepage, paged.attrs.nohugepage);
    if !write {
        orders &= 1 << PMD_ORDER;
    }
    for order in (MIN_ORDER..=PMD_ORDER).rev() {
        if orders & (1 << order) == 0 {
            continue;
        }
        let n = 1 << order;
        let lo = vpn & !(n - 1);
        if !paged.contains(lo) || !paged.contains(lo + n - 1) || paged.frames.any_in(lo, lo + n) {
            continue;
        }
        let Some(frames) = alloc_block_zeroed::<H>(n) else {
            continue;
        };
        let pte = paged.pte_flags(flags, true, true);
        if !map_block(mmu, lo, &frames, pte) {
            // No page table for it: a single page will not get one either.
            return None;
        }
        // Linux gives the area its anonymous object at every huge-page fault.
        paged.attrs.anon.get_or_insert_with(new_anon_id);
        paged.frames.put_block(lo, frames, true);
        return Some(FaultOutcome::Filled);
    }
    None
}

/// Maps the frames of a block at page `lo` with `pte`: one PMD-level leaf for a PMD-size
/// block where the table allows it, else one entry per page. All or nothing.
fn map_block<M, P, H>(
    mmu: &mut Mmu<M, P, H>,
    lo: usize,
    frames: &[FrameRef<H>],
    pte: MappingFlags,
) -> bool
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    let pa = frames[0].start_paddr();
    if frames.len() == PMD_PAGES && mmu.map_huge(page_va(lo), pa, pte).is_ok() {
        return true;
    }
    for (i, frame) in frames.iter().enumerate() {
        if mmu
            .map_page(page_va(lo + i), frame.start_paddr(), pte)
            .is_err()
        {
            let _ = mmu.unmap_range(page_va(lo), i * PAGE_SIZE_4K);
            return false;
        }
    }
    true
}

/// A fault at page `vpn` that the huge leaf mapping it refuses (`access` is allowed by the
/// area's `flags`). A write to a private block this space owns alone makes the whole leaf
/// writable and soft-dirty, as Linux reuses an exclusive huge page; anything else (a block
/// shared after fork, a read of a reserved entry) splits the leaf, and the caller resolves
/// the fault on the page's own entry. `Some` when resolved here.
pub(super) fn huge_fault<M, P, H>(
    paged: &mut Paged<H>,
    mmu: &mut Mmu<M, P, H>,
    flags: MappingFlags,
    vpn: usize,
    write: bool,
) -> Result<Option<FaultOutcome>, FaultError>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    let lo = vpn & !(PMD_PAGES - 1);
    if write && paged.source.is_private() && paged.frames.block_exclusive(lo, PMD_PAGES) {
        mmu.protect_page(page_va(lo), entry_flags(flags, Cow::Exclusive))
            .map_err(|_| FaultError::NoMemory)?;
        paged.frames.set_block_soft_dirty(lo, PMD_PAGES);
        return Ok(Some(FaultOutcome::Reused));
    }
    mmu.split_huge(page_va(vpn))
        .map_err(|_| FaultError::NoMemory)?;
    Ok(None)
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `MADV_COLLAPSE` over `range` (page-aligned, inside the space), area by area as
    /// Linux 6.12: every 2 MiB-aligned block of an area's part of `range` becomes one
    /// PMD-mapped huge page of private anonymous memory, whatever the [`thp`](crate::thp)
    /// policy says. Present pages are copied into the new block (pages shared after fork
    /// too, so this space gets its own copy), missing ones read as zeros; blocks already
    /// PMD-mapped stay.
    ///
    /// # Errors
    ///
    /// In address order, the areas and blocks before the failing one stay collapsed:
    /// [`LinuxError::EINVAL`] for an area that could hold no huge page (not private
    /// anonymous memory, `MADV_NOHUGEPAGE`, inaccessible, or without an aligned 2 MiB block
    /// anywhere in it: Linux's `thp_vma_allowable_order`), or when the handler has no frame
    /// runs; [`LinuxError::ENOMEM`] when no run of 512 free frames is left, or at the end
    /// when part of `range` is in no area (the areas were collapsed).
    pub(super) fn collapse(&mut self, range: VirtAddrRange) -> LinuxResult {
        let parts: Vec<VirtAddrRange> = self
            .areas
            .iter()
            .filter(|a| a.va_range().overlaps(range))
            .map(|a| {
                let r = a.va_range();
                VirtAddrRange::new(r.start.max(range.start), r.end.min(range.end))
            })
            .collect();
        let mapped: usize = parts.iter().map(|p| p.size()).sum();
        for part in parts {
            self.collapse_area(part)?;
        }
        if mapped < range.size() {
            return Err(LinuxError::ENOMEM);
        }
        Ok(())
    }

    /// `MADV_COLLAPSE` of `part`, which lies in one area.
    fn collapse_area(&mut self, part: VirtAddrRange) -> LinuxResult {
        let area = self.areas.find(part.start).ok_or(LinuxError::ENOMEM)?;
        let paged = area.backend().paged().ok_or(LinuxError::EINVAL)?;
        let accessible = area
            .flags()
            .intersects(MappingFlags::READ | MappingFlags::WRITE);
        let holds_block = area.start().align_up(PMD_SIZE) + PMD_SIZE <= area.end();
        if !matches!(paged.source, Source::Anon)
            || paged.attrs.nohugepage
            || !accessible
            || !holds_block
        {
            return Err(LinuxError::EINVAL);
        }
        let (start, end) = (part.start.align_up(PMD_SIZE), part.end.align_down(PMD_SIZE));
        let mut at = start;
        while at < end {
            let r = self.collapse_block(at);
            self.mmu.commit();
            r?;
            at += PMD_SIZE;
        }
        Ok(())
    }

    /// Collapses the block at `at`, which lies in one eligible area.
    fn collapse_block(&mut self, at: VirtAddr) -> LinuxResult {
        let area = self.areas.find_mut(at).ok_or(LinuxError::ENOMEM)?;
        let flags = area.flags();
        let paged = area.backend_mut().paged_mut().ok_or(LinuxError::EINVAL)?;
        let mapped = self.mmu.page_table().query(at);
        if mapped.is_ok_and(|(_, _, size)| size == PageSize::Size2M) {
            return Ok(());
        }
        let lo = vpn(at);
        let run = FrameRun::<H>::alloc(PMD_PAGES, PMD_SIZE).map_err(|e| match e {
            page_table_multiarch::PagingError::NoMemory => LinuxError::ENOMEM,
            _ => LinuxError::EINVAL,
        })?;
        let frames: Vec<FrameRef<H>> = run
            .enumerate()
            .map(|(i, mut frame)| {
                match paged.frames.get(lo + i) {
                    Some(old) => frame.copy_from(old),
                    None => frame.fill(0),
                }
                Arc::new(frame)
            })
            .collect();
        let pa = frames[0].start_paddr();
        // The old pages leave the table, then the space (freed after the flush).
        self.mmu
            .unmap_range(at, PMD_SIZE)
            .map_err(|_| LinuxError::ENOMEM)?;
        paged.frames.release(lo, lo + PMD_PAGES);
        paged.attrs.anon.get_or_insert_with(new_anon_id);
        let pte = paged.pte_flags(flags, true, true);
        paged.frames.put_block(lo, frames, true);
        // Unmapped pages are mapped again by their next fault if the leaf cannot be made.
        let _ = self.mmu.map_huge(at, pa, pte);
        Ok(())
    }
}
