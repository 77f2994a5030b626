//! Grow-down areas (Linux's `VM_GROWSDOWN`): the main thread's stack and
//! `mmap(MAP_GROWSDOWN)`. A fault (or a kernel access) at an address below such an area,
//! in no other area, extends the area down to that page, as long as the area stays within
//! the space's stack limit (`RLIMIT_STACK`) and a guard gap stays between it and the
//! accessible area below.

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use memory_set::{MemoryArea, OnOverlap};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::AddrSpace;
use crate::FaultError;
use crate::backend::{Backend, Paged, Source};

/// The gap kept between a growing area and the accessible area below it (Linux's default
/// `stack_guard_gap`: 256 pages).
pub const STACK_GUARD_GAP: usize = 256 * PAGE_SIZE_4K;

/// The default largest size of a grow-down area (Linux's `_STK_LIM`, 8 MiB).
pub const DEFAULT_STACK_LIMIT: usize = 8 << 20;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// The largest size a grow-down area may reach by growing.
    pub fn stack_limit(&self) -> usize {
        self.stack_limit
    }

    /// Sets the largest size a grow-down area may reach by growing (the soft
    /// `RLIMIT_STACK`); an area already larger stays as it is but does not grow.
    pub fn set_stack_limit(&mut self, bytes: usize) {
        self.stack_limit = bytes;
    }

    /// Marks the area containing `va` as growing down (the loader's stack).
    ///
    /// # Errors
    ///
    /// [`LinuxError::EFAULT`] if no area contains `va`; [`LinuxError::EINVAL`] if it is not
    /// private anonymous memory (only such areas can grow here).
    pub fn set_growsdown(&mut self, va: VirtAddr) -> LinuxResult {
        let area = self.areas.find_mut(va).ok_or(LinuxError::EFAULT)?;
        let paged = area.backend_mut().paged_mut().ok_or(LinuxError::EINVAL)?;
        if !matches!(paged.source, Source::Anon) {
            return Err(LinuxError::EINVAL);
        }
        paged.attrs.growsdown = true;
        Ok(())
    }

    /// Whether the area containing `va` grows down.
    pub fn is_growsdown(&self, va: VirtAddr) -> bool {
        self.areas
            .find(va)
            .and_then(|a| a.backend().paged())
            .is_some_and(|p| p.attrs.growsdown)
    }

    /// The first area at or above `va`, which no area contains (O(log n)).
    fn next_area(&self, va: VirtAddr) -> Option<&super::Area<M, P, H>> {
        if va >= self.va_range.end {
            return None;
        }
        let rest = VirtAddrRange::new(va, self.va_range.end);
        self.areas.iter_range(rest).next()
    }

    /// Whether `range` keeps [`STACK_GUARD_GAP`] below the grow-down area above it (if the
    /// next area up grows down): `mmap` places nothing in that gap unless asked with
    /// `MAP_FIXED` (Linux's `vm_start_gap`).
    pub(crate) fn clear_of_stack_gap(&self, range: VirtAddrRange) -> bool {
        match self.next_area(range.end) {
            Some(a) if a.backend().paged().is_some_and(|p| p.attrs.growsdown) => {
                a.start().as_usize() - range.end.as_usize() >= STACK_GUARD_GAP
            }
            _ => true,
        }
    }

    /// A top-down search for `size` free bytes below `hint` within `limit` that keeps
    /// clear of the guard gaps below grow-down areas.
    pub(crate) fn find_clear_of_stacks(
        &self,
        mut hint: VirtAddr,
        size: usize,
        limit: VirtAddrRange,
    ) -> Option<VirtAddr> {
        // Each retry moves below one more grow-down area.
        for _ in 0..=self.areas.len() {
            let start = self
                .areas
                .find_free_area_top_down(hint, size, limit, PAGE_SIZE_4K)?;
            let range = VirtAddrRange::from_start_size(start, size);
            if self.clear_of_stack_gap(range) {
                return Some(start);
            }
            let next = self.next_area(range.end)?;
            let below_gap = next.start().as_usize().checked_sub(STACK_GUARD_GAP)?;
            hint = VirtAddr::from_usize(below_gap.checked_sub(size)?);
        }
        None
    }

    /// Extends the grow-down area above `va` (which no area contains) down to `va`'s page.
    /// Only the bookkeeping changes: the new pages are lazy.
    ///
    /// # Errors
    ///
    /// [`FaultError::Segv`] if the next area above does not grow down, the grown area
    /// would pass the stack limit or the bottom of the space, or come closer than
    /// [`STACK_GUARD_GAP`] to the accessible area below (a grow-down or `PROT_NONE` area
    /// below needs no gap, as on Linux).
    pub(crate) fn expand_stack(&mut self, va: VirtAddr) -> Result<(), FaultError> {
        let page = va.align_down_4k();
        if page < self.va_range.start {
            return Err(FaultError::Segv);
        }
        let Some(area) = self.next_area(va) else {
            return Err(FaultError::Segv);
        };
        let (start, end, flags) = (area.start(), area.end(), area.flags());
        match area.backend().paged() {
            Some(p) if p.attrs.growsdown && matches!(p.source, Source::Anon) => {}
            _ => return Err(FaultError::Segv),
        }
        if end - page > self.stack_limit {
            return Err(FaultError::Segv);
        }
        let below = VirtAddrRange::new(self.va_range.start, page);
        if let Some(prev) = self.areas.iter_range(below).next_back() {
            let grows = prev.backend().paged().is_some_and(|p| p.attrs.growsdown);
            let accessible = prev.flags().intersects(MappingFlags::ACCESS);
            if !grows && accessible && page - prev.end() < STACK_GUARD_GAP {
                return Err(FaultError::Segv);
            }
        }
        let area = self.areas.find_mut(start).ok_or(FaultError::Segv)?;
        let paged = area.backend_mut().paged_mut().ok_or(FaultError::Segv)?;
        let (frames, attrs) = (paged.take_frames(), paged.attrs);
        let mut grown = Paged::with_frames(Source::Anon, frames, page, end);
        grown.attrs = attrs;
        let area = MemoryArea::new(page, end - page, flags, Backend::from_paged(grown));
        // Replace the old area without touching the page table: the range below it is
        // free and page-aligned, and hooks in bookkeeping mode do nothing.
        self.mmu.bookkeeping_only = true;
        let r = self.areas.map(area, &mut self.mmu, OnOverlap::Replace);
        self.mmu.bookkeeping_only = false;
        r.map_err(|_| FaultError::NoMemory)
    }
}
