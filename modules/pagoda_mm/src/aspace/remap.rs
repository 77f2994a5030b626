//! `mremap`: shrink, grow in place, or move a mapping.

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use memory_set::{MemoryArea, OnOverlap};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, errno, page_len, page_range};
use crate::backend::{Attrs, Backend, Paged};
use crate::flags::MremapFlags;
use crate::mmu::vpn;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `mremap`: resizes the mapping at `old_addr` from `old_len` to `new_len` bytes, and
    /// returns its (possibly new) address.
    ///
    /// Shrinking (or keeping the size) needs only an area at `old_addr`: the tail is
    /// unmapped, holes and other areas included, as on Linux. Growing needs the old range
    /// inside one area; it extends in place when the pages after it are free; otherwise,
    /// with `MREMAP_MAYMOVE`, the mapping moves (its frames move with it, no copy).
    /// `MREMAP_FIXED` moves it to `new_addr`, replacing what is there. Pages added past the
    /// end of a shared object (`MAP_SHARED | MAP_ANONYMOUS` or a System V segment) are bus
    /// errors: the object keeps its size, as on Linux. A moved System V attachment is
    /// detached by `shmdt` at its new address. With `old_len` 0, a shared mapping is mapped
    /// a second time (at `new_addr` with `FIXED`), as on Linux. `MREMAP_DONTUNMAP` moves
    /// the pages (to `new_addr` with `FIXED`) and leaves the old range mapped but empty:
    /// private anonymous pages read zero there again, file and shared pages show their
    /// object. An area's `mlock`/`madvise` attributes move with it.
    ///
    /// # Errors
    ///
    /// In Linux's order (x86-64 Linux 6.18, table test `tests::linux`):
    /// 1. [`LinuxError::EINVAL`]: unknown flags, `FIXED` without `MAYMOVE`, `DONTUNMAP`
    ///    without `MAYMOVE` or with `old_len != new_len` (before rounding), unaligned
    ///    `old_addr`, `new_len` 0 (also after rounding up); with `FIXED`: unaligned
    ///    `new_addr`, a new range outside the space, or old and new ranges overlapping.
    /// 2. [`LinuxError::EFAULT`]: no area at `old_addr`.
    /// 3. `old_len` 0 maps a shared mapping a second time (`MAYMOVE` needed, else
    ///    [`LinuxError::ENOMEM`]), as on Linux; for a private one it is
    ///    [`LinuxError::EINVAL`].
    /// 4. [`LinuxError::EFAULT`]: growing or moving a range that is not inside one area,
    ///    or a linear area.
    /// 5. [`LinuxError::EPERM`]: a sealed source or target range (`mseal`), or with
    ///    `FIXED` a new address below `mmap_min_addr` for an unprivileged caller
    ///    ([`set_mmap_privileged`](Self::set_mmap_privileged)).
    /// 6. [`LinuxError::ENOMEM`]: cannot grow in place without `MAYMOVE`, no room, or out
    ///    of memory (then nothing changed).
    pub fn mremap(
        &mut self,
        old_addr: VirtAddr,
        old_len: usize,
        new_len: usize,
        flags: MremapFlags,
        new_addr: VirtAddr,
    ) -> LinuxResult<VirtAddr> {
        let at = self.remap(old_addr, old_len, new_len, flags, new_addr)?;
        // The result joins compatible neighbours, as Linux's moved or grown VMAs do.
        if let Some(len) = page_len(new_len)
            && let Some(range) = VirtAddrRange::try_from_start_size(at, len)
        {
            self.merge_around(range);
        }
        Ok(at)
    }

    fn remap(
        &mut self,
        old_addr: VirtAddr,
        old_len: usize,
        new_len: usize,
        flags: MremapFlags,
        new_addr: VirtAddr,
    ) -> LinuxResult<VirtAddr> {
        let fixed = flags.contains(MremapFlags::FIXED);
        let keep_old = flags.contains(MremapFlags::DONTUNMAP);
        let may_move = flags.contains(MremapFlags::MAYMOVE);
        if !MremapFlags::all().contains(flags)
            || (fixed && !may_move)
            || (keep_old && (!may_move || old_len != new_len))
            || !old_addr.is_aligned_4k()
        {
            return Err(LinuxError::EINVAL);
        }
        let new_len = page_len(new_len).ok_or(LinuxError::EINVAL)?;
        // Linux rounds with wrap-around: a length within a page of 2^64 becomes 0.
        let old_len = page_len(old_len).unwrap_or(0);
        let old_end = old_addr.as_usize().checked_add(old_len);
        if fixed {
            let new = page_range(new_addr, new_len).ok_or(LinuxError::EINVAL)?;
            let overlaps = old_end.is_none_or(|end| {
                end > new.start.as_usize() && new.end.as_usize() > old_addr.as_usize()
            });
            if new.end > self.va_range.end || overlaps {
                return Err(LinuxError::EINVAL);
            }
        }
        // Below mmap_min_addr (unprivileged): EPERM, found late (get_unmapped_area).
        let below_min = fixed && self.check_fixed_low(new_addr).is_err();
        let area = self.areas.find(old_addr).ok_or(LinuxError::EFAULT)?;
        // mseal: a sealed source (any part of it) or a sealed target cannot change.
        let sealed_source = area.backend().sealed()
            || old_end.is_some_and(|end| {
                let end = VirtAddr::from_usize(end);
                end > old_addr && self.sealed_in(VirtAddrRange::new(old_addr, end))
            });
        if sealed_source
            || (fixed && self.sealed_in(VirtAddrRange::from_start_size(new_addr, new_len)))
            || below_min
        {
            return Err(LinuxError::EPERM);
        }
        if old_len == 0 {
            // Linux's way to map a shared mapping a second time.
            let shared = area
                .backend()
                .paged()
                .is_some_and(|p| !p.source.is_private());
            if !shared {
                return Err(LinuxError::EINVAL);
            }
            if !flags.contains(MremapFlags::MAYMOVE) {
                return Err(LinuxError::ENOMEM);
            }
            let (target, on_overlap) = if fixed {
                // Linux unmaps the target first: a target covering the source leaves
                // nothing to map again.
                if (new_addr.as_usize()..new_addr.as_usize() + new_len)
                    .contains(&old_addr.as_usize())
                {
                    return Err(LinuxError::EFAULT);
                }
                (new_addr, OnOverlap::Replace)
            } else {
                let free = self.find_free_area(VirtAddr::from_usize(0), new_len);
                (free.ok_or(LinuxError::ENOMEM)?, OnOverlap::Fail)
            };
            self.move_range(old_addr, 0, target, new_len, on_overlap, false)?;
            return Ok(target);
        }
        let old_end = VirtAddr::from_usize(old_end.ok_or(LinuxError::EFAULT)?);
        let (area_end, linear) = (area.end(), area.backend().paged().is_none());
        // The part that keeps its pages must lie in the area (the rest is unmapped).
        let kept = old_len.min(new_len);
        if (fixed || keep_old || new_len > old_len) && (area_end < old_addr.add(kept) || linear) {
            return Err(LinuxError::EFAULT);
        }
        if keep_old && !fixed {
            let target = self
                .find_free_area(VirtAddr::from_usize(0), new_len)
                .ok_or(LinuxError::ENOMEM)?;
            self.move_range(old_addr, old_len, target, new_len, OnOverlap::Fail, true)?;
            return Ok(target);
        }
        if fixed {
            let replace = OnOverlap::Replace;
            self.move_range(old_addr, kept, new_addr, new_len, replace, keep_old)?;
            if keep_old {
                return Ok(new_addr);
            }
            if old_len > kept {
                self.munmap(old_addr.add(kept), old_len - kept)?;
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
            let extra = VirtAddrRange::new(old_end, grown.end);
            if old_end == area_end
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
        self.move_range(old_addr, old_len, target, new_len, OnOverlap::Fail, false)?;
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
        let (frames, attrs) = (paged.take_frames(), paged.attrs);
        let mut grown = Paged::with_frames(source, frames, start, new_end);
        // Grown (brk, mremap): the area is soft-dirty again, as on Linux.
        grown.attrs = Attrs {
            softdirty: true,
            ..attrs
        };
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
    /// its source), sharing its frames, then unmaps the old range (`keep_old`: empties it
    /// instead, `MREMAP_DONTUNMAP`). The new area is mapped before anything is unmapped,
    /// so a failure changes nothing.
    fn move_range(
        &mut self,
        old: VirtAddr,
        len: usize,
        new: VirtAddr,
        new_len: usize,
        on_overlap: OnOverlap,
        keep_old: bool,
    ) -> LinuxResult {
        let area = self.areas.find(old).ok_or(LinuxError::EFAULT)?;
        let flags: MappingFlags = area.flags();
        let paged_old = area.backend().paged().ok_or(LinuxError::EFAULT)?;
        let (old_lo, new_lo) = (vpn(old), vpn(new));
        let source = paged_old.source.moved(old_lo, new_lo);
        let mut paged = Paged::new(source, new, new_len, self.mmu.reclaim.clone());
        // Moved pages count as soft-dirty (Linux marks their entries).
        paged.attrs = Attrs {
            softdirty: true,
            ..paged_old.attrs
        };
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
        if len == 0 {
            return Ok(()); // a second mapping (`old_len` 0): the old one stays
        }
        if keep_old {
            let (lo, hi) = (vpn(old), vpn(old) + len / PAGE_SIZE_4K);
            let paged = self
                .areas
                .find_mut(old)
                .and_then(|a| a.backend_mut().paged_mut());
            let r = paged.map_or(Ok(()), |p| p.discard(lo, hi, &mut self.mmu));
            self.mmu.commit();
            return r.map_err(|_| LinuxError::ENOMEM);
        }
        self.munmap(old, len)
    }
}
