//! `mseal` (sealed areas refuse every change of shape, protection or contents) and the
//! merging of compatible neighbours after an operation changed area attributes, as Linux's
//! `vma_merge` does.

use alloc::sync::Arc;
use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, Area};
use crate::backend::{Backend, Source};
use crate::flags::Advice;
use crate::mmu::vpn;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `mseal(addr, len, flags)`: seals every area of the range (split at its edges), so
    /// that `munmap`, `mremap`, `mprotect`, `mmap(MAP_FIXED)` over it, discarding
    /// `madvise` on read-only private anonymous memory and `brk` shrinking into it fail
    /// with `EPERM` from now on (also in a forked child). Sealing twice is fine.
    ///
    /// # Errors
    ///
    /// In Linux's order: [`LinuxError::EINVAL`] for non-zero `flags`, an unaligned `addr`,
    /// or a range that wraps around (`len` rounded up to pages; 0 is then `Ok`);
    /// [`LinuxError::ENOMEM`] if part of the range is unmapped. Nothing is sealed then.
    pub fn mseal(&mut self, addr: VirtAddr, len: usize, flags: usize) -> LinuxResult {
        if flags != 0 || !addr.is_aligned_4k() {
            return Err(LinuxError::EINVAL);
        }
        let len = match memory_addr::checked_align_up(len, PAGE_SIZE_4K) {
            Some(l) => l,
            None => return Err(LinuxError::EINVAL),
        };
        let end = addr.as_usize().checked_add(len).ok_or(LinuxError::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let range = VirtAddrRange::new(addr, VirtAddr::from_usize(end));
        if range.end > self.va_range.end || !self.fully_mapped(range) {
            return Err(LinuxError::ENOMEM);
        }
        self.split_at_edges(range);
        for area in self.areas.iter_range_mut(range) {
            area.backend_mut().sealed = true;
        }
        self.merge_around(range);
        Ok(())
    }

    /// Whether an area overlapping `range` is sealed.
    pub(crate) fn sealed_in(&self, range: VirtAddrRange) -> bool {
        !range.is_empty() && self.areas.iter_range(range).any(|a| a.backend().sealed())
    }

    /// Whether `advice` over `range` would discard the contents of a sealed area that the
    /// process cannot write (Linux's `can_modify_vma_madv`: private anonymous memory
    /// without `PROT_WRITE`), which mseal forbids.
    pub(crate) fn seal_refuses_advice(&self, range: VirtAddrRange, advice: Advice) -> bool {
        let discards = matches!(
            advice,
            Advice::DontNeed
                | Advice::DontNeedLocked
                | Advice::Free
                | Advice::DontFork
                | Advice::WipeOnFork
        );
        discards
            && self.areas.iter_range(range).any(|a| {
                a.backend().sealed()
                    && !a.flags().contains(MappingFlags::WRITE)
                    && a.backend()
                        .paged()
                        .is_some_and(|p| matches!(p.source, Source::Anon))
            })
    }

    /// Merges every pair of adjacent compatible areas that meet inside `range` or at its
    /// edges. Compatible (Linux's rules for merging VMAs): the same flags, attributes and
    /// seal, and the same backing continued — private anonymous memory, or the same file
    /// (private or shared) or shared object at contiguous offsets; never linear areas or
    /// System V attachments. Only bookkeeping changes: the page table and the frames stay.
    pub(crate) fn merge_around(&mut self, range: VirtAddrRange) {
        let lo = range.start.as_usize().saturating_sub(PAGE_SIZE_4K);
        let hi = range
            .end
            .as_usize()
            .saturating_add(PAGE_SIZE_4K)
            .min(self.va_range.end.as_usize());
        if lo >= hi {
            return;
        }
        let probe = VirtAddrRange::new(VirtAddr::from_usize(lo), VirtAddr::from_usize(hi));
        let starts: Vec<VirtAddr> = self.areas.iter_range(probe).map(|a| a.start()).collect();
        let Some((&first, rest)) = starts.split_first() else {
            return;
        };
        let mut cur = first;
        for &next in rest {
            let ok = match (self.areas.find(cur), self.areas.find(next)) {
                (Some(a), Some(b)) => mergeable(a, b),
                _ => false,
            };
            if !(ok && self.merge_pair(cur)) {
                cur = next;
            }
        }
    }

    /// Replaces the area at `a` and the next one (adjacent, [`mergeable`]) by one, in place (no
    /// page-table work: the entries already are what the joined area maps); `false` if
    /// they cannot be joined.
    fn merge_pair(&mut self, a: VirtAddr) -> bool {
        self.areas.join_next(a, Backend::absorb)
    }
}

/// Whether `b` continues `a` so that they may be one area.
fn mergeable<M, P, H>(a: &Area<M, P, H>, b: &Area<M, P, H>) -> bool
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    if a.end() != b.start()
        || a.flags() != b.flags()
        || a.backend().sealed() != b.backend().sealed()
    {
        return false;
    }
    let (Some(p), Some(q)) = (a.backend().paged(), b.backend().paged()) else {
        return false;
    };
    if !p.attrs.mergeable(&q.attrs) {
        return false;
    }
    let at = vpn(b.start());
    match (&p.source, &q.source) {
        (Source::Anon, Source::Anon) => true,
        (
            Source::File {
                cache, shared: s1, ..
            },
            Source::File {
                cache: c2,
                shared: s2,
                ..
            },
        ) => {
            Arc::ptr_eq(cache, c2)
                && s1 == s2
                && p.source.file_index(at).is_some()
                && p.source.file_index(at) == q.source.file_index(at)
        }
        (
            Source::Shared {
                obj,
                base_vpn,
                base_idx,
                attach: None,
            },
            Source::Shared {
                obj: o2,
                base_vpn: v2,
                base_idx: i2,
                attach: None,
            },
        ) => {
            let idx =
                |base: usize, vpn: usize| at.checked_sub(vpn).and_then(|d| base.checked_add(d));
            Arc::ptr_eq(obj, o2)
                && idx(*base_idx, *base_vpn).is_some()
                && idx(*base_idx, *base_vpn) == idx(*i2, *v2)
        }
        _ => false,
    }
}
