//! The program break (`brk`), with Linux's rules for when it may move.

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use memory_set::OnOverlap;
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, Heap};
use crate::BackendKind;
use crate::backend::Source;
use crate::flags::Populate;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Sets the start of the heap (`brk` area) to `start` rounded up to a page; the break
    /// starts there.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] if the rounded start lies outside the space (its end is
    /// allowed: the heap then cannot grow); nothing changes then.
    pub fn set_heap_start(&mut self, start: VirtAddr) -> LinuxResult {
        let start = memory_addr::checked_align_up(start.as_usize(), PAGE_SIZE_4K)
            .map(VirtAddr::from_usize)
            .filter(|&s| s >= self.va_range.start && s <= self.va_range.end)
            .ok_or(LinuxError::EINVAL)?;
        self.heap = Some(Heap { start, brk: start });
        Ok(())
    }

    /// The heap range `[start, brk)`, once [`set_heap_start`](Self::set_heap_start) was
    /// called.
    pub fn heap(&self) -> Option<VirtAddrRange> {
        self.heap.map(|h| VirtAddrRange::new(h.start, h.brk))
    }

    /// `brk`: moves the program break to `addr` and returns the new break, or returns the
    /// current break unchanged (Linux's semantics). The heap is lazily allocated, readable
    /// and writable. Returns 0 before [`set_heap_start`](Self::set_heap_start).
    ///
    /// As on Linux (6.18, measured): a break within the current last page always moves.
    /// Growing is refused below the heap start, past the end of the space, when memory
    /// runs out, or unless a free page stays between the new (page-rounded) break and the
    /// next mapping. Shrinking is refused when nothing at all is mapped between the new
    /// and the old break; otherwise everything there is unmapped, whatever mapped it.
    pub fn brk(&mut self, addr: VirtAddr) -> VirtAddr {
        let Some(heap) = self.heap else {
            return VirtAddr::from_usize(0);
        };
        if addr < heap.start || addr > self.va_range.end {
            return heap.brk;
        }
        // Both round up without overflow: they are at most the (aligned) end of the space.
        let old_top = heap.brk.align_up_4k();
        let new_top = addr.align_up_4k();
        if new_top < old_top {
            let gone = VirtAddrRange::new(new_top, old_top);
            if !self.areas.overlaps(gone) || self.munmap(new_top, old_top - new_top).is_err() {
                return heap.brk;
            }
        } else if new_top > old_top && self.grow_heap(heap, old_top, new_top).is_err() {
            return heap.brk;
        }
        self.heap = Some(Heap {
            start: heap.start,
            brk: addr,
        });
        addr
    }

    /// Maps `[old_top, new_top)` for the heap, extending the heap area if it ends at
    /// `old_top`; Linux's guard: the page above `new_top` must be free too.
    fn grow_heap(&mut self, heap: Heap, old_top: VirtAddr, new_top: VirtAddr) -> LinuxResult {
        let guard_end = new_top
            .as_usize()
            .checked_add(PAGE_SIZE_4K)
            .map_or(self.va_range.end, VirtAddr::from_usize);
        if self
            .areas
            .overlaps(VirtAddrRange::new(old_top, guard_end.max(new_top)))
        {
            return Err(LinuxError::ENOMEM);
        }
        let flags = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
        let heap_area = old_top > heap.start
            && self.areas.find(old_top.sub(1)).is_some_and(|a| {
                a.end() == old_top
                    && a.start() >= heap.start
                    && a.flags() == flags
                    && a.backend().kind() == BackendKind::Alloc
            });
        if heap_area {
            self.grow_area(old_top.sub(1), new_top)
        } else {
            let size = new_top - old_top;
            let (src, lazy) = (Source::Anon, Populate::Lazy);
            self.map_source(old_top, size, flags, src, lazy, OnOverlap::Fail)
        }
    }
}
