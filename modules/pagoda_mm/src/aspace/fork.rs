//! fork: a copy-on-write clone of an address space.

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::VirtAddr;
use memory_set::{MemoryArea, OnOverlap};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, errno};
use crate::backend::{Backend, Inner};
use crate::perm::{Cow, entry_flags};

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Clones this address space for `fork`.
    ///
    /// Private pages (anonymous and file-private) become copy-on-write: read-only in both
    /// spaces, their frames shared (reference count up); the next write copies the page,
    /// or reuses it when the writer is its only owner. Shared areas stay shared and are
    /// never marked COW. Areas advised `MADV_DONTFORK` are left out of the child, areas
    /// advised `MADV_WIPEONFORK` start empty there (zero-filled), and `mlock` is not
    /// inherited, as on Linux. Page-table entries are copied leaf by leaf
    /// (`clone_range_into`, one walk per area); this space's changes cost one TLB flush.
    ///
    /// # Errors
    ///
    /// [`LinuxError::ENOMEM`] if a page table of the child cannot be allocated; then this
    /// space is unchanged and nothing leaks.
    pub fn fork(&mut self) -> LinuxResult<Self> {
        self.apply_truncations();
        let mut child = Self::new(self.va_range)?;
        child.mmap_top = self.mmap_top;
        child.mmap_min_addr = self.mmap_min_addr;
        child.max_map_count = self.max_map_count;
        child.heap = self.heap;
        child.stack_limit = self.stack_limit;
        for &(kernel, start, size) in &self.borrowed {
            let batch = child
                .mmu
                .pt_mut()
                .share_from(kernel, start, size)
                .map_err(|_| LinuxError::ENOMEM)?;
            batch.ignore(); // the child is not active anywhere
            child.borrowed.push((kernel, start, size));
        }
        // The areas first (bookkeeping only), then the entries, child side only: until
        // everything succeeded this space is untouched.
        child.mmu.bookkeeping_only = true;
        for area in self.areas.iter().filter(|a| inherited(a.backend())) {
            let backend = area.backend().fork_copy(&child.mmu.reclaim);
            let copy = MemoryArea::new(area.start(), area.size(), area.flags(), backend);
            if let Err(err) = child.areas.map(copy, &mut child.mmu, OnOverlap::Fail) {
                child.mmu.bookkeeping_only = false;
                return Err(errno(err));
            }
        }
        child.mmu.bookkeeping_only = false;
        // The entries: one walk per area write-protects this side's private pages and
        // copies them. Each call is all-or-nothing; the pages changed by the calls that
        // succeeded are logged so that a later failure can restore them.
        let mut changed: Vec<(VirtAddr, MappingFlags)> = Vec::new();
        let copied = |a: &&super::Area<M, P, H>| {
            inherited(a.backend()) && a.backend().paged().is_none_or(|p| !p.attrs.wipeonfork)
        };
        for area in self.areas.iter().filter(copied) {
            let private = area
                .backend()
                .paged()
                .is_some_and(|p| p.source.is_private());
            let r = self.mmu.pt_mut().clone_range_into(
                child.mmu.pt_mut(),
                area.start(),
                area.size(),
                |va, _pa, _size, flags| {
                    if private && flags.contains(MappingFlags::WRITE) {
                        changed.push((va, flags));
                        let cow = entry_flags(flags, Cow::Shared);
                        (cow, cow)
                    } else {
                        (flags, flags)
                    }
                },
            );
            match r {
                Ok(batch) => self.mmu.record(batch),
                Err(_) => {
                    for &(va, flags) in &changed {
                        // Cannot fail: the entry exists and is a 4K leaf.
                        if let Err(err) = self.mmu.protect_page(va, flags) {
                            log::error!("fork: restoring {va:?} failed: {err}");
                        }
                    }
                    self.mmu.commit();
                    return Err(LinuxError::ENOMEM);
                }
            }
        }
        self.mmu.commit();
        // A truncation posted while copying reached this space but maybe not the child,
        // which copied the same frames: it applies the same notices.
        for (id, size) in self.mmu.reclaim.notices.snapshot() {
            child.mmu.reclaim.notices.post(id, size);
        }
        Ok(child)
    }
}

/// Whether a forked child gets the area at all (not `MADV_DONTFORK`).
fn inherited<M, P, H: PagingHandler>(backend: &Backend<M, P, H>) -> bool {
    backend.paged().is_none_or(|p| !p.attrs.dontfork)
}

impl<M, P, H: PagingHandler> Backend<M, P, H> {
    fn fork_copy(&self, reclaim: &alloc::sync::Arc<crate::frame::Reclaim<H>>) -> Self {
        let mut copy = match &self.inner {
            Inner::Linear(lin) => Self::from_inner(Inner::Linear(*lin)),
            Inner::Paged(p) => Self::from_paged(p.fork(reclaim.clone())),
        };
        // Sealing is inherited (Linux copies VM_SEALED with the VMA).
        copy.sealed = self.sealed;
        copy
    }
}
