//! `madvise`, `mlock`/`munlock`/`mlockall`/`munlockall` and `mincore`: per-area attributes
//! (kept in the backend, split with the area) and residency.
//!
//! "Locked" means what it can without swap: the pages were populated when the lock was
//! taken, and `MADV_DONTNEED`/`MADV_FREE`/`MADV_COLD`/`MADV_PAGEOUT` refuse them
//! (`EINVAL`, as on Linux). Nothing here ever evicts a private page, except that
//! `MADV_PAGEOUT` drops the pages of `MAP_DROPPABLE` memory (they read back as zeros).

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, Area, errno, page_len};
use crate::FaultError;
use crate::backend::{Attrs, Source};
use crate::flags::Advice;
use crate::mmu::{page_va, vpn};

/// Whether an area refuses an advice (then `EINVAL`).
type Refuse<M, P, H> = fn(&Area<M, P, H>) -> bool;

/// How `madvise` treats one area of its range.
#[derive(Clone, Copy)]
enum Action {
    /// Only the hole check (hints without effect here).
    Nothing,
    /// Drop the pages.
    Discard,
    /// Change an attribute.
    Set(fn(&mut Attrs)),
    /// Drop the pages of droppable areas only (`MADV_PAGEOUT`).
    DropDroppable,
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `madvise(addr, len, advice)`, with Linux's checks; see [`Advice`] for what each
    /// one does. Areas are visited in address order: the first area that refuses the
    /// advice ends the call with its error, the areas before it have been advised.
    ///
    /// # Errors
    ///
    /// In Linux's order: [`LinuxError::EINVAL`] for an unaligned `addr` or a range that
    /// wraps around (`len` 0 is then `Ok`); [`LinuxError::ENOMEM`] for a range past the
    /// end of the space. Per area: [`LinuxError::EINVAL`] for `DONTNEED`/`FREE`/`COLD`/
    /// `PAGEOUT` on a locked area, `FREE`/`WIPEONFORK` on anything but private anonymous
    /// memory, anything but hints on a linear area. `POPULATE_*`: [`LinuxError::EINVAL`]
    /// when the protection does not allow the access, [`LinuxError::EFAULT`] for a page
    /// that would be a bus error (past the end of a file), [`LinuxError::ENOMEM`] out of
    /// memory or at the first unmapped page. Otherwise [`LinuxError::ENOMEM`] if part of
    /// the range is unmapped (the mapped parts were advised). [`LinuxError::EPERM`] (before
    /// the per-area errors, nothing advised) for discarding advice on a sealed area of
    /// read-only private anonymous memory.
    pub fn madvise(&mut self, addr: VirtAddr, len: usize, advice: Advice) -> LinuxResult {
        if !addr.is_aligned_4k() {
            return Err(LinuxError::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_len(len).ok_or(LinuxError::EINVAL)?;
        if addr.as_usize().checked_add(len).is_none() {
            return Err(LinuxError::EINVAL);
        }
        let range = self.user_range(addr, len).map_err(|_| LinuxError::ENOMEM)?;
        if self.seal_refuses_advice(range, advice) {
            return Err(LinuxError::EPERM);
        }
        let (action, refuse): (Action, Refuse<M, P, H>) = match advice {
            Advice::Normal
            | Advice::Random
            | Advice::Sequential
            | Advice::WillNeed
            | Advice::DontDump
            | Advice::DoDump
            | Advice::Mergeable
            | Advice::Unmergeable => (Action::Nothing, |_| false),
            Advice::HugePage => (
                Action::Set(|t| {
                    t.hugepage = true;
                    t.nohugepage = false;
                }),
                |_| false,
            ),
            Advice::NoHugePage => (
                Action::Set(|t| {
                    t.hugepage = false;
                    t.nohugepage = true;
                }),
                |_| false,
            ),
            Advice::Collapse => return self.collapse(range),
            Advice::PopulateRead => return self.populate(range, MappingFlags::READ, true),
            Advice::PopulateWrite => return self.populate(range, MappingFlags::WRITE, true),
            Advice::DontNeed => (Action::Discard, |a| {
                locked(a) || a.backend().paged().is_none()
            }),
            Advice::DontNeedLocked => (Action::Discard, linear),
            Advice::Free => (Action::Discard, |a| locked(a) || !private_anon(a)),
            Advice::Cold => (Action::Nothing, |a| {
                locked(a) || a.backend().paged().is_none()
            }),
            // No swap: only droppable memory leaves (as zeros).
            Advice::PageOut => (Action::DropDroppable, |a| {
                locked(a) || a.backend().paged().is_none()
            }),
            Advice::DontFork => (Action::Set(|t| t.dontfork = true), linear),
            Advice::DoFork => (Action::Set(|t| t.dontfork = false), linear),
            Advice::WipeOnFork => (Action::Set(|t| t.wipeonfork = true), |a| !private_anon(a)),
            Advice::KeepOnFork => (Action::Set(|t| t.wipeonfork = false), |a| {
                linear(a) || droppable(a)
            }),
        };
        // The areas before the first that refuses are advised.
        let refused = self
            .areas
            .iter_range(range)
            .find(|a| refuse(a))
            .map(|a| a.start().max(range.start));
        let done = VirtAddrRange::new(range.start, refused.unwrap_or(range.end));
        let r = match action {
            Action::Nothing => Ok(()),
            Action::Discard => self.discard(done),
            Action::DropDroppable => {
                let ranges: Vec<VirtAddrRange> = self
                    .areas
                    .iter_range(done)
                    .filter(|a| droppable(a))
                    .map(|a| VirtAddrRange::new(a.start().max(done.start), a.end().min(done.end)))
                    .collect();
                ranges.into_iter().try_for_each(|r| self.discard(r))
            }
            Action::Set(f) => {
                self.update_attrs(done, f);
                Ok(())
            }
        };
        r?;
        if refused.is_some() {
            return Err(LinuxError::EINVAL);
        }
        if !self.fully_mapped(range) {
            return Err(LinuxError::ENOMEM);
        }
        Ok(())
    }

    /// Drops the pages of `range` (`MADV_DONTNEED`): a later touch fetches them again.
    fn discard(&mut self, range: VirtAddrRange) -> LinuxResult {
        if range.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        for area in self.areas.iter_range_mut(range) {
            let lo = vpn(area.start().max(range.start));
            let hi = vpn(area.end().min(range.end));
            if let Some(paged) = area.backend_mut().paged_mut()
                && paged.discard(lo, hi, &mut self.mmu).is_err()
            {
                result = Err(LinuxError::ENOMEM);
            }
        }
        self.mmu.commit();
        result
    }

    /// Applies `f` to the attributes of every frame-owning area in `range`, splitting the
    /// areas at its edges first and merging compatible neighbours afterwards.
    pub(super) fn update_attrs(&mut self, range: VirtAddrRange, f: impl Fn(&mut Attrs)) {
        if range.is_empty() {
            return;
        }
        self.split_at_edges(range);
        for area in self.areas.iter_range_mut(range) {
            if let Some(paged) = area.backend_mut().paged_mut() {
                f(&mut paged.attrs);
            }
        }
        self.merge_around(range);
    }

    /// Splits the areas crossing the edges of `range`, without touching the page table:
    /// `MemorySet::protect` is the one operation that splits areas, so the flags of the
    /// covered pieces are flipped and flipped back, in bookkeeping mode (where the hooks do
    /// nothing and cannot fail).
    pub(super) fn split_at_edges(&mut self, range: VirtAddrRange) {
        let flip = |f: MappingFlags| Some(f ^ MappingFlags::GLOBAL);
        self.mmu.bookkeeping_only = true;
        for _ in 0..2 {
            let r = self
                .areas
                .protect(range.start, range.size(), flip, &mut self.mmu);
            if let Err(e) = r {
                log::error!("split_at_edges: {:?}", errno(e));
            }
        }
        self.mmu.bookkeeping_only = false;
        self.mmu.commit();
    }

    /// Faults every page of `range` in for `access` (`MADV_POPULATE_*`), in order. With
    /// `strict` (madvise), each area must have the protection bit asked for, as Linux's
    /// `check_vma_flags` wants (`VM_READ` for reading: a write-only area is not populated
    /// for reading, although its pages are readable); `mlock` populates whatever is
    /// accessible.
    fn populate(
        &mut self,
        range: VirtAddrRange,
        access: MappingFlags,
        strict: bool,
    ) -> LinuxResult {
        let mut va = range.start;
        while va < range.end {
            let area = self.areas.find(va).ok_or(LinuxError::ENOMEM)?;
            if area.backend().paged().is_none() || (strict && !area.flags().contains(access)) {
                return Err(LinuxError::EINVAL);
            }
            let end = area.end().min(range.end);
            while va < end {
                match self.handle_page_fault(va, access | MappingFlags::USER) {
                    Ok(_) => {}
                    Err(FaultError::Segv) => return Err(LinuxError::EINVAL),
                    Err(FaultError::Bus) => return Err(LinuxError::EFAULT),
                    Err(FaultError::NoMemory) => return Err(LinuxError::ENOMEM),
                }
                va = va.add(PAGE_SIZE_4K);
            }
        }
        Ok(())
    }

    /// `mlock(addr, len)` (`populate`) or `mlock2(addr, len, MLOCK_ONFAULT)` (`!populate`):
    /// marks the pages of the range locked and, with `populate`, faults them in (for
    /// writing in private writable areas, so copy-on-write is broken now, as on Linux).
    /// As on Linux, `addr` is rounded down to a page and `len` up; linear areas are
    /// skipped; without swap "locked" only means populated and kept (see the module).
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] if the range wraps around; [`LinuxError::ENOMEM`] if part of
    /// it is unmapped (the part before the hole is locked, not populated), or with
    /// `populate` for a `PROT_NONE` area or a page that would be a bus error (the range
    /// stays locked); [`LinuxError::EAGAIN`] out of memory while populating.
    pub fn mlock(&mut self, addr: VirtAddr, len: usize, populate: bool) -> LinuxResult {
        let range = self.lock_range(addr, len)?;
        let mapped = self.mapped_prefix(range);
        // As on Linux, droppable memory is never locked (the call still succeeds).
        self.update_attrs(mapped, |t| t.locked = !t.droppable);
        if mapped.end < range.end {
            return Err(LinuxError::ENOMEM);
        }
        if populate {
            return self.populate_locked(range);
        }
        Ok(())
    }

    /// `munlock(addr, len)`: the pages are no longer locked.
    ///
    /// # Errors
    ///
    /// As [`mlock`](Self::mlock) (without the populate errors).
    pub fn munlock(&mut self, addr: VirtAddr, len: usize) -> LinuxResult {
        let range = self.lock_range(addr, len)?;
        let mapped = self.mapped_prefix(range);
        self.update_attrs(mapped, |t| t.locked = false);
        if mapped.end < range.end {
            return Err(LinuxError::ENOMEM);
        }
        Ok(())
    }

    /// `mlockall(MCL_CURRENT)` (`populate`: without `MCL_ONFAULT`) locks every area, and
    /// populates what can be (errors are ignored, as on Linux); `lock` false is
    /// `munlockall`.
    pub fn mlock_all(&mut self, lock: bool, populate: bool) {
        for area in self.areas.iter_mut() {
            if let Some(paged) = area.backend_mut().paged_mut() {
                paged.attrs.locked = lock && !paged.attrs.droppable;
            }
        }
        self.merge_around(self.va_range);
        if lock && populate {
            let ranges: Vec<VirtAddrRange> = self.areas.iter().map(|a| a.va_range()).collect();
            for range in ranges {
                let _ = self.populate_locked(range);
            }
        }
    }

    /// Whether an area in `range` is locked (`msync(MS_INVALIDATE)` is then `EBUSY`).
    pub fn range_locked(&self, range: VirtAddrRange) -> bool {
        self.areas.iter_range(range).any(locked)
    }

    /// `addr` rounded down, `addr + len` rounded up (Linux's `mlock` rounding).
    fn lock_range(&self, addr: VirtAddr, len: usize) -> LinuxResult<VirtAddrRange> {
        let start = addr.align_down_4k();
        let end = addr
            .as_usize()
            .checked_add(len)
            .and_then(|e| memory_addr::checked_align_up(e, PAGE_SIZE_4K))
            .ok_or(LinuxError::EINVAL)?;
        Ok(VirtAddrRange::new(start, VirtAddr::from_usize(end)))
    }

    /// `[range.start, first unmapped page)`.
    fn mapped_prefix(&self, range: VirtAddrRange) -> VirtAddrRange {
        let mut cur = range.start;
        for area in self.areas.iter_range(range) {
            if area.start() > cur {
                break;
            }
            cur = area.end().min(range.end);
        }
        VirtAddrRange::new(range.start, cur.max(range.start))
    }

    /// Populates the frame-owning areas of `range` in order, as `mlock` does; an area
    /// without access (`PROT_NONE`) cannot be populated: `ENOMEM`, as on Linux.
    fn populate_locked(&mut self, range: VirtAddrRange) -> LinuxResult {
        let pieces: Vec<(VirtAddrRange, Option<MappingFlags>)> = self
            .areas
            .iter_range(range)
            .filter_map(|a| {
                let paged = a.backend().paged()?;
                let flags = a.flags();
                let write = flags.contains(MappingFlags::WRITE) && paged.source.is_private();
                let access = match (flags.grants_access(), write) {
                    (false, _) => None,
                    (true, true) => Some(MappingFlags::WRITE),
                    (true, false) => Some(MappingFlags::READ),
                };
                let piece = VirtAddrRange::new(a.start().max(range.start), a.end().min(range.end));
                Some((piece, access))
            })
            .collect();
        for (piece, access) in pieces {
            let access = access.ok_or(LinuxError::ENOMEM)?;
            match self.populate(piece, access, false) {
                Ok(()) => {}
                Err(LinuxError::ENOMEM) => return Err(LinuxError::EAGAIN),
                Err(_) => return Err(LinuxError::ENOMEM),
            }
        }
        Ok(())
    }

    /// `mincore(addr, len)`: one byte per page of the range, bit 0 set if the page has a
    /// frame (touched in this area, or present in the shared object it maps; a file page
    /// counts only once this area touched it, not merely for being in the page cache),
    /// appended to `out` up to the first unmapped page.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for an unaligned `addr`; [`LinuxError::ENOMEM`] if the range
    /// passes the end of the space or part of it is unmapped (`out` then holds the pages
    /// before the hole).
    pub fn mincore(&self, addr: VirtAddr, len: usize, out: &mut Vec<u8>) -> LinuxResult {
        if !addr.is_aligned_4k() {
            return Err(LinuxError::EINVAL);
        }
        addr.as_usize()
            .checked_add(len)
            .filter(|&e| e <= self.va_range.end.as_usize())
            .ok_or(LinuxError::ENOMEM)?;
        let pages = len.div_ceil(PAGE_SIZE_4K);
        let first = vpn(addr);
        for v in first..first + pages {
            let area = self.areas.find(page_va(v)).ok_or(LinuxError::ENOMEM)?;
            let resident = match area.backend().paged() {
                None => true,
                Some(p) if p.frames.get(v).is_some() => true,
                Some(p) => match &p.source {
                    Source::Shared {
                        obj,
                        base_vpn,
                        base_idx,
                        ..
                    } => obj.has_frame(base_idx + (v - base_vpn)),
                    _ => false,
                },
            };
            out.push(u8::from(resident));
        }
        Ok(())
    }
}

fn locked<M, P, H>(area: &Area<M, P, H>) -> bool
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    area.backend().paged().is_some_and(|p| p.attrs.locked)
}

fn linear<M, P, H>(area: &Area<M, P, H>) -> bool
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    area.backend().paged().is_none()
}

fn private_anon<M, P, H>(area: &Area<M, P, H>) -> bool
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    area.backend()
        .paged()
        .is_some_and(|p| matches!(p.source, Source::Anon))
}

fn droppable<M, P, H>(area: &Area<M, P, H>) -> bool
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    area.backend().paged().is_some_and(|p| p.attrs.droppable)
}
