//! The mmap family with Linux semantics: `mmap`, `munmap`, `msync` (`madvise` and `mlock`
//! are in `advise.rs`, `mprotect` in `protect.rs`, `brk` in `brk.rs`).

use alloc::sync::Arc;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use memory_set::OnOverlap;
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, errno, page_len, page_range};
use crate::backend::{SharedMem, Source};
use crate::file::{File, check_mmap_mode};
use crate::flags::{MmapFlags, MsyncFlags, Populate};
use crate::mmu::vpn;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Chooses where a new mapping of `len` bytes goes, and whether it replaces what is
    /// there. Without `MAP_FIXED*`, a free page-aligned hint (raised to `mmap_min_addr` if
    /// below it) is used as is, otherwise the highest free range below the mmap top and at
    /// or above `mmap_min_addr` (Linux's top-down layout).
    fn place(
        &self,
        addr: VirtAddr,
        len: usize,
        flags: MmapFlags,
    ) -> LinuxResult<(VirtAddr, OnOverlap)> {
        if flags.intersects(MmapFlags::FIXED | MmapFlags::FIXED_NOREPLACE) {
            // Linux's order: the end of the space, the alignment, then the lowest address
            // (`mmap_min_addr`: EPERM for unprivileged callers, security_mmap_addr).
            let below_end = addr
                .as_usize()
                .checked_add(len)
                .is_some_and(|end| end <= self.va_range.end.as_usize());
            if !below_end {
                return Err(LinuxError::ENOMEM);
            }
            let range = page_range(addr, len).ok_or(LinuxError::EINVAL)?;
            self.check_fixed_low(addr)?;
            if flags.contains(MmapFlags::FIXED_NOREPLACE) {
                if self.areas.overlaps(range) {
                    return Err(LinuxError::EEXIST);
                }
                return Ok((addr, OnOverlap::Fail));
            }
            return Ok((addr, OnOverlap::Replace));
        }
        // Linux's round_hint_to_min: a hint below mmap_min_addr is raised to it.
        let hint = match addr.align_down_4k() {
            h if h.as_usize() != 0 && h < self.low_limit() => self.low_limit(),
            h => h,
        };
        if hint.as_usize() != 0
            && let Some(range) = page_range(hint, len)
            && self.va_range.contains_range(range)
            && !self.areas.overlaps(range)
            && self.clear_of_stack_gap(range)
        {
            return Ok((hint, OnOverlap::Fail));
        }
        self.find_free_area(VirtAddr::from_usize(0), len)
            .map(|start| (start, OnOverlap::Fail))
            .ok_or(LinuxError::ENOMEM)
    }

    /// `mmap`: maps `len` bytes of anonymous memory or of `file` at `offset`, and returns
    /// the address.
    ///
    /// `prot` is `READ`/`WRITE`/`EXECUTE` (empty for `PROT_NONE`); areas get `USER` too.
    /// The mapping type (Linux's `MAP_TYPE` bits) is `MAP_PRIVATE`, `MAP_SHARED`,
    /// `MAP_SHARED_VALIDATE` (files) or `MAP_DROPPABLE` (anonymous).
    /// `file` is ignored with `MAP_ANONYMOUS`. The tail of the last file page past EOF
    /// reads as zeros; touching a page wholly past EOF is a bus error.
    ///
    /// # Errors
    ///
    /// In Linux's order (the first that applies wins; measured on x86-64 Linux 6.18, see
    /// the table test `tests::linux`):
    /// 1. [`LinuxError::EINVAL`]: `prot` has bits other than `READ`/`WRITE`/`EXECUTE` (a
    ///    Pagoda rule: Linux's `mmap` ignores unknown `PROT_*` bits, so a syscall layer
    ///    drops them), or `offset` is not page-aligned (also for anonymous mappings).
    /// 2. [`LinuxError::EBADF`]: a file mapping (no `MAP_ANONYMOUS`) without a file.
    /// 3. [`LinuxError::EINVAL`]: `len` is 0.
    /// 4. [`LinuxError::ENOMEM`]: `len` rounded up to pages overflows, or the space holds
    ///    more areas than [`max_map_count`](Self::max_map_count).
    /// 5. `MAP_FIXED*`: [`LinuxError::ENOMEM`] for a range past the end of the space,
    ///    then [`LinuxError::EINVAL`] for an unaligned address, then
    ///    [`LinuxError::EPERM`] for one below `mmap_min_addr` unless the caller is
    ///    privileged ([`set_mmap_privileged`](Self::set_mmap_privileged)), then
    ///    [`LinuxError::EEXIST`] for `MAP_FIXED_NOREPLACE` over a mapping; otherwise
    ///    [`LinuxError::ENOMEM`] if there is no room.
    /// 6. [`LinuxError::EOVERFLOW`]: a file mapping whose end passes 2^63 bytes.
    /// 7. [`LinuxError::EINVAL`]: any other value of the type bits, `MAP_SHARED_VALIDATE`
    ///    with `MAP_ANONYMOUS`, `MAP_DROPPABLE` with a file or with `MAP_LOCKED` /
    ///    `MAP_GROWSDOWN`.
    /// 8. [`LinuxError::EOPNOTSUPP`]: unknown flags with `MAP_SHARED_VALIDATE` (files).
    /// 9. [`LinuxError::EACCES`]: `MAP_SHARED` with `PROT_WRITE` of a file whose
    ///    [`File::access`](crate::File::access) is read-only, or any mapping of a write-only
    ///    one; [`LinuxError::ENODEV`]: the file's page cache holds frames of another handler.
    /// 10. [`LinuxError::EPERM`]: `MAP_FIXED` over a sealed area (`mseal`).
    /// 11. [`LinuxError::ENOMEM`]: out of memory while populating (then nothing stays
    ///     mapped).
    pub fn mmap(
        &mut self,
        addr: VirtAddr,
        len: usize,
        prot: MappingFlags,
        flags: MmapFlags,
        file: Option<Arc<dyn File>>,
        offset: u64,
    ) -> LinuxResult<VirtAddr>
    where
        H: 'static,
    {
        if !MappingFlags::ACCESS.contains(prot) || !offset.is_multiple_of(PAGE_SIZE_4K as u64) {
            return Err(LinuxError::EINVAL);
        }
        let anonymous = flags.contains(MmapFlags::ANONYMOUS);
        let file = match (anonymous, file) {
            (true, _) => None,
            (false, Some(file)) => Some(file),
            (false, None) => return Err(LinuxError::EBADF),
        };
        if len == 0 {
            return Err(LinuxError::EINVAL);
        }
        let len = page_len(len).ok_or(LinuxError::ENOMEM)?;
        self.check_map_count()?;
        let (start, on_overlap) = self.place(addr, len, flags)?;
        // Linux's limit for regular files: the last byte below 2^63.
        if file.is_some() && offset > i64::MAX as u64 - len as u64 {
            return Err(LinuxError::EOVERFLOW);
        }
        let droppable_refused = MmapFlags::LOCKED | MmapFlags::GROWSDOWN;
        let (shared, droppable) = match (flags.bits() & MmapFlags::TYPE_MASK, anonymous) {
            (0x01, _) => (true, false),
            (0x02, _) => (false, false),
            (0x03, false) if flags.bits() & !MmapFlags::VALIDATE_MASK != 0 => {
                return Err(LinuxError::EOPNOTSUPP);
            }
            (0x03, false) => (true, false),
            (0x08, true) if flags.intersects(droppable_refused) => {
                return Err(LinuxError::EINVAL);
            }
            (0x08, true) => (false, true),
            _ => return Err(LinuxError::EINVAL),
        };
        let source = match file {
            None if shared => Source::Shared {
                obj: SharedMem::new(len)?,
                base_vpn: vpn(start),
                base_idx: 0,
                attach: None,
            },
            None => Source::Anon,
            Some(file) => {
                check_mmap_mode(file.as_ref(), shared, prot.contains(MappingFlags::WRITE))?;
                Source::file(file, start, offset, shared)?
            }
        };
        let populate = if flags.contains(MmapFlags::POPULATE) {
            Populate::Eager
        } else {
            Populate::Lazy
        };
        if on_overlap == OnOverlap::Replace
            && self.sealed_in(VirtAddrRange::from_start_size(start, len))
        {
            return Err(LinuxError::EPERM);
        }
        let area_flags = prot | MappingFlags::USER;
        let noreserve = droppable || flags.contains(MmapFlags::NORESERVE);
        self.map_source_attrs(
            start, len, area_flags, source, populate, on_overlap, noreserve,
        )?;
        let range = VirtAddrRange::from_start_size(start, len);
        if flags.contains(MmapFlags::GROWSDOWN) && anonymous && !shared {
            self.update_attrs(range, |t| t.growsdown = true);
        }
        if droppable {
            self.update_attrs(range, |t| {
                t.droppable = true;
                t.wipeonfork = true;
            });
        }
        // Linux >= 6.7: MAP_STACK implies VM_NOHUGEPAGE (the area does not merge with
        // neighbours without it).
        if flags.contains(MmapFlags::STACK) {
            self.update_attrs(range, |t| t.nohugepage = true);
        }
        // As Linux's mmap_region, a new mapping joins compatible neighbours.
        self.merge_around(range);
        Ok(start)
    }

    /// Maps (part of) a shared memory object (`shmat`): `[offset, offset + len)` of `obj`,
    /// placed and replaced as [`mmap`](Self::mmap) does with `flags` (only the placement
    /// flags and `MAP_POPULATE` matter). `offset` and `len` are rounded to pages.
    ///
    /// # Errors
    ///
    /// As [`mmap`](Self::mmap); [`LinuxError::EINVAL`] also if the range exceeds the
    /// object.
    pub fn mmap_shared(
        &mut self,
        addr: VirtAddr,
        obj: &Arc<SharedMem<H>>,
        offset: usize,
        len: usize,
        prot: MappingFlags,
        flags: MmapFlags,
    ) -> LinuxResult<VirtAddr> {
        let len = page_len(len).ok_or(LinuxError::EINVAL)?;
        if !MappingFlags::ACCESS.contains(prot)
            || !offset.is_multiple_of(PAGE_SIZE_4K)
            || offset.checked_add(len).is_none_or(|end| end > obj.size())
        {
            return Err(LinuxError::EINVAL);
        }
        let (start, on_overlap) = self.place(addr, len, flags)?;
        if on_overlap == OnOverlap::Replace
            && self.sealed_in(VirtAddrRange::from_start_size(start, len))
        {
            return Err(LinuxError::EPERM);
        }
        let source = Source::Shared {
            obj: obj.clone(),
            base_vpn: vpn(start),
            base_idx: offset / PAGE_SIZE_4K,
            attach: None,
        };
        let populate = if flags.contains(MmapFlags::POPULATE) {
            Populate::Eager
        } else {
            Populate::Lazy
        };
        self.map_source(
            start,
            len,
            prot | MappingFlags::USER,
            source,
            populate,
            on_overlap,
        )?;
        Ok(start)
    }

    /// Checks an `addr`/`len` pair of `munmap`-like calls: `addr` page-aligned, `len`
    /// rounded up, the range inside the space.
    pub(super) fn user_range(&self, addr: VirtAddr, len: usize) -> LinuxResult<VirtAddrRange> {
        let len = page_len(len).ok_or(LinuxError::EINVAL)?;
        let range = page_range(addr, len).ok_or(LinuxError::EINVAL)?;
        // Only the end is a limit (Linux's TASK_SIZE): below the space nothing is mapped.
        if range.end > self.va_range.end {
            return Err(LinuxError::EINVAL);
        }
        Ok(range)
    }

    /// Whether every page of `range` belongs to some area.
    pub(super) fn fully_mapped(&self, range: VirtAddrRange) -> bool {
        let mut cur = range.start;
        for area in self.areas.iter_range(range) {
            if area.start() > cur {
                return false;
            }
            cur = area.end();
        }
        cur >= range.end
    }

    /// `munmap`: unmaps every page of `[addr, addr + len)`; holes are fine. Shared file
    /// pages are written back first.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`]: `len` 0, `addr` unaligned, or the range past the end of the
    /// space (below its start is fine: nothing is mapped there); [`LinuxError::EPERM`]:
    /// part of the range is sealed (`mseal`; nothing is unmapped then);
    /// [`LinuxError::ENOMEM`]: a hole in the middle of an area while the space holds
    /// [`max_map_count`](Self::max_map_count) areas.
    pub fn munmap(&mut self, addr: VirtAddr, len: usize) -> LinuxResult {
        let range = self.user_range(addr, len)?;
        if self.sealed_in(range) {
            return Err(LinuxError::EPERM);
        }
        // A hole punched in the middle of one area makes two of it.
        let hole = self
            .areas
            .find(range.start)
            .is_some_and(|a| a.start() < range.start && range.end < a.end());
        self.check_splits(usize::from(hole))?;
        let r = self.areas.unmap(range.start, range.size(), &mut self.mmu);
        self.mmu.commit();
        r.map_err(errno)
    }

    /// `msync`: writes the pages of shared file mappings in `[addr, addr + len)` back to
    /// their files (never past EOF; private mappings are never written back).
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for an unaligned `addr`, unknown flags or both `MS_ASYNC` and
    /// `MS_SYNC`; [`LinuxError::ENOMEM`] if part of the range is unmapped (mapped parts are
    /// still written); [`LinuxError::EIO`] if a write failed.
    pub fn msync(&mut self, addr: VirtAddr, len: usize, flags: MsyncFlags) -> LinuxResult {
        if !addr.is_aligned_4k()
            || !MsyncFlags::all().contains(flags)
            || flags.contains(MsyncFlags::ASYNC | MsyncFlags::SYNC)
        {
            return Err(LinuxError::EINVAL);
        }
        // Linux rounds `len` up with wrap-around: within a page of 2^64 it becomes 0.
        if page_len(len).is_none() {
            return Ok(());
        }
        let range = self.user_range(addr, len).map_err(|_| LinuxError::ENOMEM)?;
        self.apply_truncations();
        let mut result = Ok(());
        for area in self.areas.iter_range(range) {
            let Some(paged) = area.backend().paged() else {
                continue;
            };
            if let Source::File {
                file, shared: true, ..
            } = &paged.source
            {
                let lo = vpn(area.start().max(range.start));
                let hi = vpn(area.end().min(range.end));
                let (Some(a), Some(b)) = (paged.source.file_index(lo), paged.source.file_index(hi))
                else {
                    continue;
                };
                if file.cached().write_back(a, b).is_err() {
                    result = Err(LinuxError::EIO);
                }
            }
        }
        if !self.fully_mapped(range) {
            return Err(LinuxError::ENOMEM);
        }
        result
    }
}
