//! `mremap`: shrink, grow in place, or move a mapping.

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use memory_set::{MemoryArea, OnOverlap};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, errno, page_len, page_range};
use crate::backend::{Backend, Paged, Source};
use crate::flags::MremapFlags;
use crate::mmu::vpn;

/// Grows the shared anonymous object behind `source` (if any) so that it covers the pages
/// below `end_vpn`. A System V segment keeps its size: pages past it are bus errors.
fn grow_object<H: PagingHandler>(source: &Source<H>, end_vpn: usize) {
    if let Source::Shared {
        obj,
        base_vpn,
        base_idx,
        attach: None,
    } = source
    {
        obj.grow_to(base_idx + (end_vpn - base_vpn));
    }
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `mremap`: resizes the mapping `[old_addr, old_addr + old_len)`, which must lie in one
    /// area, to `new_len` bytes, and returns its (possibly new) address.
    ///
    /// Shrinking unmaps the tail. Growing extends in place when the pages after it are free;
    /// otherwise, with `MREMAP_MAYMOVE`, the mapping moves (its frames move with it, no
    /// copy). `MREMAP_FIXED` moves it to `new_addr`, replacing what is there. A moved
    /// System V attachment is detached by `shmdt` at its new address; growing one past its
    /// segment adds pages that are bus errors (the segment keeps its size), as on Linux.
    ///
    /// # Errors
    ///
    /// - [`LinuxError::EINVAL`]: unaligned `old_addr`/`new_addr`, `old_len` or `new_len` 0,
    ///   unknown flags, `FIXED` without `MAYMOVE`, overlapping old and new ranges.
    /// - [`LinuxError::EFAULT`]: the old range is not inside one area, or in a linear area.
    /// - [`LinuxError::ENOMEM`]: cannot grow in place without `MAYMOVE`, no room, or out of
    ///   memory (then nothing changed).
    pub fn mremap(
        &mut self,
        old_addr: VirtAddr,
        old_len: usize,
        new_len: usize,
        flags: MremapFlags,
        new_addr: VirtAddr,
    ) -> LinuxResult<VirtAddr> {
        let fixed = flags.contains(MremapFlags::FIXED);
        if !old_addr.is_aligned_4k()
            || !MremapFlags::all().contains(flags)
            || (fixed && !flags.contains(MremapFlags::MAYMOVE))
        {
            return Err(LinuxError::EINVAL);
        }
        let old_len = page_len(old_len).ok_or(LinuxError::EINVAL)?;
        let new_len = page_len(new_len).ok_or(LinuxError::EINVAL)?;
        let old = page_range(old_addr, old_len).ok_or(LinuxError::EINVAL)?;
        let area = self.areas.find(old_addr).ok_or(LinuxError::EFAULT)?;
        if area.end() < old.end || area.backend().paged().is_none() {
            return Err(LinuxError::EFAULT);
        }
        let area_end = area.end();
        if fixed {
            let new = page_range(new_addr, new_len).ok_or(LinuxError::EINVAL)?;
            if new.overlaps(old) {
                return Err(LinuxError::EINVAL);
            }
            if !self.va_range.contains_range(new) {
                return Err(LinuxError::ENOMEM);
            }
            let moved = old_len.min(new_len);
            self.move_range(old_addr, moved, new_addr, new_len, OnOverlap::Replace)?;
            if old_len > moved {
                self.munmap(old_addr.add(moved), old_len - moved)?;
            }
            return Ok(new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.munmap(old_addr.add(new_len), old_len - new_len)?;
            }
            return Ok(old_addr);
        }
        // Grow in place if the old range ends the area and the pages after it are free.
        if let Some(grown) = page_range(old_addr, new_len) {
            let extra = VirtAddrRange::new(old.end, grown.end);
            if old.end == area_end
                && self.va_range.contains_range(grown)
                && !self.areas.overlaps(extra)
            {
                self.grow_area(old_addr, grown.end)?;
                return Ok(old_addr);
            }
        }
        if !flags.contains(MremapFlags::MAYMOVE) {
            return Err(LinuxError::ENOMEM);
        }
        let target = self
            .find_free_area(VirtAddr::from_usize(0), new_len)
            .ok_or(LinuxError::ENOMEM)?;
        self.move_range(old_addr, old_len, target, new_len, OnOverlap::Fail)?;
        Ok(target)
    }

    /// Extends the area containing `at` up to `new_end` (the pages up to there must be
    /// free and inside the space), continuing its source. Its frames and page-table
    /// entries stay as they are: only the bookkeeping changes, in O(log n).
    pub(crate) fn grow_area(&mut self, at: VirtAddr, new_end: VirtAddr) -> LinuxResult {
        let area = self.areas.find_mut(at).ok_or(LinuxError::EFAULT)?;
        let (start, flags) = (area.start(), area.flags());
        if new_end <= area.end() || !new_end.is_aligned_4k() || new_end > self.va_range.end {
            return Err(LinuxError::EINVAL);
        }
        let paged = area.backend_mut().paged_mut().ok_or(LinuxError::EFAULT)?;
        // The source maps linearly: the same value covers the pages after the area.
        let source = paged.source.clone();
        grow_object(&source, vpn(new_end));
        let frames = paged.take_frames();
        let grown = Paged::with_frames(source, frames, start, new_end);
        let area = MemoryArea::new(start, new_end - start, flags, Backend::from_paged(grown));
        // Replace the old area without touching the page table. This cannot fail: the
        // range is valid and page-aligned, and hooks in bookkeeping mode do nothing.
        self.mmu.bookkeeping_only = true;
        let r = self.areas.map(area, &mut self.mmu, OnOverlap::Replace);
        self.mmu.bookkeeping_only = false;
        self.mmu.commit();
        r.map_err(errno)
    }

    /// Maps `[new, new + new_len)` showing what `[old, old + len)` shows (then continuing
    /// its source), sharing its frames, then unmaps the old range. The new area is mapped
    /// before anything is unmapped, so a failure changes nothing.
    fn move_range(
        &mut self,
        old: VirtAddr,
        len: usize,
        new: VirtAddr,
        new_len: usize,
        on_overlap: OnOverlap,
    ) -> LinuxResult {
        let area = self.areas.find(old).ok_or(LinuxError::EFAULT)?;
        let flags: MappingFlags = area.flags();
        let paged_old = area.backend().paged().ok_or(LinuxError::EFAULT)?;
        let (old_lo, new_lo) = (vpn(old), vpn(new));
        let source = paged_old.source.moved(old_lo, new_lo);
        grow_object(&source, new_lo + new_len / PAGE_SIZE_4K);
        let mut paged = Paged::new(source, new, new_len, self.mmu.reclaim.clone());
        let frames: Vec<_> = paged_old
            .frames
            .range(old_lo, old_lo + len / PAGE_SIZE_4K)
            .map(|(v, f)| (v - old_lo + new_lo, f.clone()))
            .collect();
        for (v, f) in frames {
            paged.frames.insert(v, f);
        }
        let area = MemoryArea::new(new, new_len, flags, Backend::from_paged(paged));
        let r = self.areas.map(area, &mut self.mmu, on_overlap);
        self.mmu.commit();
        r.map_err(errno)?;
        // The frames are shared with the new area until the old one lets go of them: the
        // new pages are read-only until a write fault finds them exclusive again.
        self.munmap(old, len)
    }
}
