//! Page faults: lazy allocation, file loading, copy-on-write.

use alloc::sync::Arc;

use memory_addr::VirtAddr;
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PageSize, PagingHandler, PagingMetaData};

use super::AddrSpace;
use super::huge::{fill_block, huge_fault};
use crate::backend::{Source, new_anon_id};
use crate::frame::{FrameRef, alloc_copy};
use crate::mmu::{page_va, vpn};
use crate::perm::{Cow, entry_flags, entry_permits, permits};
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
    /// ([`FaultOutcome`]). The access is allowed exactly when the entries of the area's
    /// pages grant it on this PTE format (a writable area is readable; x86-64 also reads
    /// `PROT_EXEC` pages), and the answer is `Spurious` only if the present entry grants
    /// it, so a retried access never faults the same way forever. Never panics.
    ///
    /// # Errors
    ///
    /// A fault just below a grow-down area extends it first (see
    /// [`set_growsdown`](Self::set_growsdown)).
    ///
    /// - [`FaultError::Segv`]: no area at `va` (and no grow-down area may grow to it), or the area does not allow `access`
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
        if self.areas.find(va).is_none() {
            self.expand_stack(va)?;
        }
        let r = self.resolve_page(va, access, check)?;
        if access.contains(MappingFlags::WRITE)
            && let Some(paged) = self
                .areas
                .find_mut(va)
                .and_then(|a| a.backend_mut().paged_mut())
        {
            // A written page is soft-dirty (its entry is writable only from now on).
            paged.frames.set_soft_dirty(vpn(va));
        }
        Ok(r)
    }

    fn resolve_page(
        &mut self,
        va: VirtAddr,
        access: MappingFlags,
        check: Check,
    ) -> Result<(FaultOutcome, Option<FrameRef<H>>), FaultError> {
        let area = self.areas.find_mut(va).ok_or(FaultError::Segv)?;
        let flags = area.flags();
        if check == Check::Perms && !permits::<P>(flags, access) {
            return Err(FaultError::Segv);
        }
        let vpn = vpn(va);
        let page = page_va(vpn);
        let leaf = self.mmu.page_table().query(page).ok();
        let current = leaf.map(|(_, f, _)| f);
        // Spurious only if the entry really grants the access: another CPU resolved the
        // fault first, or the TLB was stale (flushed now).
        let granted = current.is_some_and(|f| entry_permits::<P>(f, access));
        let Some(paged) = area.backend_mut().paged_mut() else {
            // A linear area is always mapped with its area's flags.
            if !granted && check == Check::Perms {
                return Err(FaultError::Segv);
            }
            self.mmu.record_page(page);
            return Ok((FaultOutcome::Spurious, None));
        };
        let write = access.contains(MappingFlags::WRITE);
        let private = paged.source.is_private();
        if write && private && paged.attrs.anon.is_none() {
            // The first private page written: the area gets its anonymous object.
            paged.attrs.anon = Some(new_anon_id());
        }
        if !granted && leaf.is_some_and(|(_, _, size)| size != PageSize::Size4K) {
            // A huge leaf: resolved on the whole block, or split for the page's own entry.
            if let Some(outcome) = huge_fault(paged, &mut self.mmu, flags, vpn, write)? {
                return Ok((outcome, None));
            }
        }
        match paged.frames.get(vpn) {
            Some(frame) if write && private => {
                if paged.frames.is_exclusive(vpn) {
                    if granted {
                        self.mmu.record_page(page);
                        return Ok((FaultOutcome::Spurious, None));
                    }
                    // Only this space owns it: make it writable again, no copy.
                    self.mmu
                        .protect_page(page, entry_flags(flags, Cow::Exclusive))
                        .map_err(|_| FaultError::NoMemory)?;
                    Ok((FaultOutcome::Reused, None))
                } else {
                    let copy = alloc_copy(frame).ok_or(FaultError::NoMemory)?;
                    self.mmu
                        .replace_page(page, copy.start_paddr(), entry_flags(flags, Cow::Exclusive))
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
                    && !granted
                    && paged.source.is_shared_file()
                    && flags.contains(MappingFlags::WRITE) =>
            {
                paged.source.note_write(vpn, frame, true);
                let pte = entry_flags(flags, Cow::Exclusive);
                let r = match current {
                    Some(_) => self.mmu.protect_page(page, pte),
                    None => self.mmu.map_page(page, frame.start_paddr(), pte),
                };
                r.map_err(|_| FaultError::NoMemory)?;
                Ok((FaultOutcome::Reused, None))
            }
            Some(_) if granted || check == Check::Force => {
                self.mmu.record_page(page);
                Ok((FaultOutcome::Spurious, None))
            }
            // The entry lags behind its area (it never should): bring it up to date rather
            // than answer "spurious" and let the access fault forever.
            Some(frame) => {
                let pa = frame.start_paddr();
                let sd = write || paged.frames.is_soft_dirty(vpn);
                let pte = paged.pte_flags(flags, paged.frames.is_exclusive(vpn), sd);
                if !entry_permits::<P>(pte, access) {
                    return Err(FaultError::Segv);
                }
                let r = match current {
                    Some(_) => self.mmu.protect_page(page, pte),
                    None => self.mmu.map_page(page, pa, pte),
                };
                r.map_err(|_| FaultError::NoMemory)?;
                Ok((FaultOutcome::Reused, None))
            }
            None => {
                if let Some(outcome) = fill_block(paged, &mut self.mmu, flags, vpn, write) {
                    return Ok((outcome, None));
                }
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
                let mut pte = paged.pte_flags(flags, Arc::strong_count(&frame) == 1, write);
                if write && paged.source.is_shared_file() {
                    paged.source.note_write(vpn, &frame, true);
                    pte = entry_flags(flags, Cow::Exclusive);
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
