//! `mprotect`, all-or-nothing or Linux's way (up to the first hole).

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, errno, page_len};
use crate::BackendKind;
use crate::backend::Source;
use crate::mdwe::Mdwe;
use crate::shm::ShmAttachment;

/// What `mprotect` does when part of the range cannot take the new protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partial {
    /// Change nothing.
    Refuse,
    /// Change the pages before the first that cannot (Linux).
    Prefix,
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `mprotect`: sets the protection of `[addr, addr + len)` to `prot`, in the areas (so
    /// later faults obey it) and in the page table.
    ///
    /// All or nothing: if part of the range is unmapped, or a `SHM_RDONLY` attachment
    /// refuses `WRITE`, nothing changes. Linux instead changes the pages before the first
    /// such page and then fails ([`mprotect_linux`](Self::mprotect_linux)); this one is
    /// the default because a failed call that leaves half the range changed cannot be
    /// undone by its caller, who no longer knows the old protections.
    ///
    /// # Errors
    ///
    /// In Linux's order: [`LinuxError::EINVAL`] for an unaligned `addr` (`len` 0 is then
    /// `Ok`, whatever `prot`); [`LinuxError::ENOMEM`] if the range wraps around;
    /// [`LinuxError::EINVAL`] for `prot` bits other than `READ`/`WRITE`/`EXECUTE`;
    /// [`LinuxError::ENOMEM`] if part of the range is unmapped, [`LinuxError::EACCES`] if
    /// `prot` has `WRITE` and the range holds a `SHM_RDONLY` attachment (whichever comes
    /// first in address order); [`LinuxError::EPERM`] before those if part of the range
    /// is sealed (`mseal`); [`LinuxError::ENOMEM`] (nothing changed) if splitting areas
    /// at the ends of the range would pass [`max_map_count`](Self::max_map_count).
    ///
    /// Afterwards compatible neighbours are merged into one area, as Linux merges VMAs.
    pub fn mprotect(&mut self, addr: VirtAddr, len: usize, prot: MappingFlags) -> LinuxResult {
        self.protect_with(addr, len, prot, Partial::Refuse, Mdwe::OFF)
    }

    /// `mprotect` as Linux does it: like [`mprotect`](Self::mprotect), but when part of
    /// the range is unmapped or refuses `WRITE`, the pages before that part are changed
    /// and then the error is returned.
    ///
    /// # Errors
    ///
    /// As [`mprotect`](Self::mprotect); after `ENOMEM` or `EACCES` the pages from `addr`
    /// up to the first unmapped or refusing page have the new protection.
    pub fn mprotect_linux(
        &mut self,
        addr: VirtAddr,
        len: usize,
        prot: MappingFlags,
    ) -> LinuxResult {
        self.protect_with(addr, len, prot, Partial::Prefix, Mdwe::OFF)
    }

    /// [`mprotect_linux`](Self::mprotect_linux) under the memory-deny-write-execute policy
    /// `mdwe`: an area that would become writable and executable, or executable without
    /// having been, is refused like a `SHM_RDONLY` one (`EACCES`, the areas before it
    /// changed), as Linux checks each VMA in turn.
    ///
    /// # Errors
    ///
    /// As [`mprotect_linux`](Self::mprotect_linux), plus that [`LinuxError::EACCES`].
    pub fn mprotect_mdwe(
        &mut self,
        addr: VirtAddr,
        len: usize,
        prot: MappingFlags,
        mdwe: Mdwe,
    ) -> LinuxResult {
        self.protect_with(addr, len, prot, Partial::Prefix, mdwe)
    }

    fn protect_with(
        &mut self,
        addr: VirtAddr,
        len: usize,
        prot: MappingFlags,
        partial: Partial,
        mdwe: Mdwe,
    ) -> LinuxResult {
        if !addr.is_aligned_4k() {
            return Err(LinuxError::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_len(len)
            .and_then(|len| addr.as_usize().checked_add(len))
            .ok_or(LinuxError::ENOMEM)?;
        if !MappingFlags::ACCESS.contains(prot) {
            return Err(LinuxError::EINVAL);
        }
        let range = VirtAddrRange::new(addr, VirtAddr::from_usize(end));
        // mseal: a sealed area anywhere in the range fails the whole call.
        if self.sealed_in(range) {
            return Err(LinuxError::EPERM);
        }
        let (done, failure) = self.protectable_prefix(range, prot, mdwe);
        if failure.is_some() && (partial == Partial::Refuse || done == addr) {
            return failure.map_or(Ok(()), Err);
        }
        // Each end of the changed range inside an area that changes splits it.
        let changes = |a: &super::Area<M, P, H>| a.flags() & MappingFlags::ACCESS != prot;
        let splits =
            usize::from(self.splits_at(addr, changes)) + usize::from(self.splits_at(done, changes));
        self.check_splits(splits)?;
        let update = |old: MappingFlags| Some((old - MappingFlags::ACCESS) | prot);
        let r = self.areas.protect(addr, done - addr, update, &mut self.mmu);
        self.mmu.commit();
        r.map_err(errno)?;
        let changed = VirtAddrRange::new(addr, done);
        // Made writable, private memory is charged from now on (Linux's VM_ACCOUNT);
        // made read-only, anonymous memory never written is not any more.
        let write = prot.contains(MappingFlags::WRITE);
        for area in self.areas.iter_range_mut(changed) {
            if let Some(p) = area.backend_mut().paged_mut() {
                if write && p.source.is_private() && !p.attrs.noreserve {
                    p.attrs.accounted = true;
                } else if !write && matches!(p.source, Source::Anon) && p.attrs.anon.is_none() {
                    p.attrs.accounted = false;
                }
            }
        }
        self.merge_around(changed);
        failure.map_or(Ok(()), Err)
    }

    /// How far from `range.start` the areas can take `prot` without a gap, and the error
    /// at that point (`ENOMEM` for a hole or the end of the space, `EACCES` for `WRITE` on
    /// a `SHM_RDONLY` attachment or on a shared mapping of a file not open for writing:
    /// Linux's missing `VM_MAYWRITE`), if it is before `range.end`.
    fn protectable_prefix(
        &self,
        range: VirtAddrRange,
        prot: MappingFlags,
        mdwe: Mdwe,
    ) -> (VirtAddr, Option<LinuxError>) {
        let mut cur = range.start;
        for area in self.areas.iter_range(range) {
            if area.start() > cur {
                return (cur, Some(LinuxError::ENOMEM));
            }
            let backend = area.backend();
            let read_only = backend
                .shm_attachment()
                .is_some_and(ShmAttachment::read_only)
                || (backend.kind() == BackendKind::FileShared
                    && backend.file().is_some_and(|f| !f.access().writable()));
            let denied = mdwe.denies(area.flags() & MappingFlags::ACCESS, prot);
            if (read_only && prot.contains(MappingFlags::WRITE)) || denied {
                return (cur, Some(LinuxError::EACCES));
            }
            cur = area.end().min(range.end);
        }
        if cur < range.end {
            return (cur, Some(LinuxError::ENOMEM));
        }
        (cur, None)
    }
}
