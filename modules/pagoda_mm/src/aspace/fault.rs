//! Page faults: lazy allocation, file loading, copy-on-write.

use alloc::sync::Arc;

use memory_addr::VirtAddr;
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, permits};
use crate::backend::Source;
use crate::frame::{FrameRef, alloc_copy};
use crate::mmu::{page_va, vpn};
use crate::{FaultError, FaultOutcome};

/// Whether permissions are checked (a real access) or not (a loader writing read-only
/// segments, like Linux's `FOLL_FORCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Perms,
    Force,
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Resolves a page fault at `va` for `access` (`READ`, `WRITE` or `EXECUTE`, plus `USER`
    /// for a fault from user mode, which then also requires a user area).
    ///
    /// Allocates a lazy page, loads a file page, breaks copy-on-write (reusing the frame
    /// when this space is its only owner), or flushes a stale TLB entry, and says which
    /// ([`FaultOutcome`]). Never panics.
    ///
    /// # Errors
    ///
    /// - [`FaultError::Segv`]: no area at `va`, or the area does not allow `access`
    ///   (including `PROT_NONE`).
    /// - [`FaultError::Bus`]: a file page wholly past the end of the file (or its read
    ///   failed), or a page past the end of a shared object.
    /// - [`FaultError::NoMemory`]: no frame for the page or a page table; nothing changed.
    pub fn handle_page_fault(
        &mut self,
        va: VirtAddr,
        access: MappingFlags,
    ) -> Result<FaultOutcome, FaultError> {
        self.apply_truncations();
        let r = self.resolve(va, access, Check::Perms);
        self.mmu.commit();
        // A frame replaced by copy-on-write is released only now, after the flush.
        r.map(|(outcome, _old)| outcome)
    }

    /// The fault logic; the caller commits, and only then drops the returned frame (the
    /// one a copy-on-write replaced, kept out of the reclaim list for speed).
    pub(crate) fn resolve(
        &mut self,
        va: VirtAddr,
        access: MappingFlags,
        check: Check,
    ) -> Result<(FaultOutcome, Option<FrameRef<H>>), FaultError> {
        let area = self.areas.find_mut(va).ok_or(FaultError::Segv)?;
        let flags = area.flags();
        if check == Check::Perms && !permits(flags, access) {
            return Err(FaultError::Segv);
        }
        let vpn = vpn(va);
        let page = page_va(vpn);
        let Some(paged) = area.backend_mut().paged_mut() else {
            // A linear area is always mapped: the fault came from a stale TLB entry.
            self.mmu.record_page(page);
            return Ok((FaultOutcome::Spurious, None));
        };
        let write = access.contains(MappingFlags::WRITE);
        let private = paged.source.is_private();
        match paged.frames.get(vpn) {
            Some(frame) if write && private => {
                if paged.frames.is_exclusive(vpn) {
                    let writable = self
                        .mmu
                        .page_table()
                        .query(page)
                        .is_ok_and(|(_, pte, _)| pte.contains(MappingFlags::WRITE));
                    if writable {
                        // Another CPU made it writable first, or the TLB is stale.
                        self.mmu.record_page(page);
                        return Ok((FaultOutcome::Spurious, None));
                    }
                    // Only this space owns it: make it writable again, no copy.
                    self.mmu
                        .protect_page(page, flags)
                        .map_err(|_| FaultError::NoMemory)?;
                    Ok((FaultOutcome::Reused, None))
                } else {
                    let copy = alloc_copy(frame).ok_or(FaultError::NoMemory)?;
                    self.mmu
                        .replace_page(page, copy.start_paddr(), flags)
                        .map_err(|_| FaultError::NoMemory)?;
                    if matches!(paged.source, Source::File { .. }) {
                        // Via the reclaim list, so that the cache can evict the old page
                        // at the commit if nobody else maps it.
                        paged.frames.insert(vpn, copy);
                        paged.evict_hint(vpn, vpn + 1);
                        Ok((FaultOutcome::CopiedOnWrite, None))
                    } else {
                        // The caller drops the old frame after the flush.
                        let old = paged.frames.replace(vpn, copy);
                        Ok((FaultOutcome::CopiedOnWrite, old))
                    }
                }
            }
            // The first write to a shared file page through this entry: tell the page cache
            // (dirty tracking), then let it write.
            Some(frame)
                if write
                    && paged.source.is_shared_file()
                    && !self
                        .mmu
                        .page_table()
                        .query(page)
                        .is_ok_and(|(_, pte, _)| pte.contains(MappingFlags::WRITE)) =>
            {
                paged.source.note_write(vpn, frame, true);
                self.mmu
                    .protect_page(page, flags)
                    .map_err(|_| FaultError::NoMemory)?;
                Ok((FaultOutcome::Reused, None))
            }
            // Mapped and allowed: another CPU resolved it, or the TLB is stale.
            Some(_) => {
                self.mmu.record_page(page);
                Ok((FaultOutcome::Spurious, None))
            }
            None => {
                let mut frame = paged.source.fetch(vpn)?;
                if write && private && Arc::strong_count(&frame) > 1 {
                    // A page-cache page written through a private mapping: copy now.
                    match alloc_copy(&frame) {
                        Some(copy) => frame = copy,
                        None => {
                            // The cache page loaded for nothing leaves after the commit.
                            paged.evict_hint(vpn, vpn + 1);
                            return Err(FaultError::NoMemory);
                        }
                    }
                }
                let mut pte = paged.pte_flags(flags, Arc::strong_count(&frame) == 1);
                if write && paged.source.is_shared_file() {
                    paged.source.note_write(vpn, &frame, true);
                    pte = flags;
                }
                if self.mmu.map_page(page, frame.start_paddr(), pte).is_err() {
                    paged.evict_hint(vpn, vpn + 1);
                    return Err(FaultError::NoMemory);
                }
                paged.frames.insert(vpn, frame);
                Ok((FaultOutcome::Filled, None))
            }
        }
    }
}
