//! The frame-owning backends (anonymous, file, shared): frames per page, mapped lazily.

use alloc::sync::Arc;
use alloc::vec::Vec;

use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::shared::SharedMem;
use crate::FaultError;
use crate::file::{File, PageCache};
use crate::frame::{FrameMap, FrameRef, Reclaim, alloc_zeroed};
use crate::mmu::{Mmu, page_va, vpn};
use crate::perm::{Cow, entry_flags};
use crate::shm::ShmAttachment;

/// Where the pages of a frame-owning area come from.
pub(crate) enum Source<H: PagingHandler> {
    /// Private anonymous memory: zero pages.
    Anon,
    /// A file through its page cache; private (copy-on-write) or shared.
    File {
        file: Arc<dyn File>,
        cache: Arc<PageCache<H>>,
        /// Page `base_vpn` of the address space maps file page `base_idx`.
        base_vpn: usize,
        base_idx: u64,
        shared: bool,
    },
    /// A shared memory object.
    Shared {
        obj: Arc<SharedMem<H>>,
        base_vpn: usize,
        base_idx: usize,
        /// The System V attachment this area belongs to (counts `shm_nattch`).
        attach: Option<ShmAttachment>,
    },
}

impl<H: PagingHandler> Clone for Source<H> {
    fn clone(&self) -> Self {
        match self {
            Self::Anon => Self::Anon,
            Self::File {
                file,
                cache,
                base_vpn,
                base_idx,
                shared,
            } => Self::File {
                file: file.clone(),
                cache: cache.clone(),
                base_vpn: *base_vpn,
                base_idx: *base_idx,
                shared: *shared,
            },
            Self::Shared {
                obj,
                base_vpn,
                base_idx,
                attach,
            } => Self::Shared {
                obj: obj.clone(),
                base_vpn: *base_vpn,
                base_idx: *base_idx,
                attach: attach.clone(),
            },
        }
    }
}

impl<H: PagingHandler> Source<H> {
    /// A file source where page `start` shows file byte `offset` (page-aligned).
    ///
    /// # Errors
    ///
    /// `EINVAL` for an unaligned offset; `ENODEV` if the file's page cache holds frames of
    /// another handler.
    pub(crate) fn file(
        file: Arc<dyn File>,
        start: VirtAddr,
        offset: u64,
        shared: bool,
    ) -> axerrno::LinuxResult<Self>
    where
        H: 'static,
    {
        if !offset.is_multiple_of(PAGE_SIZE_4K as u64) {
            return Err(axerrno::LinuxError::EINVAL);
        }
        let cache = file.cached().bind::<H>()?;
        Ok(Self::File {
            file,
            cache,
            base_vpn: vpn(start),
            base_idx: offset / PAGE_SIZE_4K as u64,
            shared,
        })
    }

    /// Whether pages are private copies (copy-on-write after fork or from the page cache).
    pub(crate) fn is_private(&self) -> bool {
        matches!(self, Self::Anon | Self::File { shared: false, .. })
    }

    /// Whether this is a shared file mapping: its pages are mapped writable only after a
    /// write fault, which tells the page cache the page may become dirty.
    pub(crate) fn is_shared_file(&self) -> bool {
        matches!(self, Self::File { shared: true, .. })
    }

    /// Tells the page cache that page `vpn` (showing `frame`) is mapped writable by a
    /// shared mapping (`write_mapped`) or was stored into by the kernel.
    pub(crate) fn note_write(&self, vpn: usize, frame: &FrameRef<H>, write_mapped: bool) {
        if let Self::File {
            file,
            cache,
            shared: true,
            ..
        } = self
            && let Some(idx) = self.file_index(vpn)
        {
            file.cached().mark(cache, idx, frame, write_mapped);
        }
    }

    /// Puts this space's mailbox into the file's reverse map (file sources).
    fn register(&self, reclaim: &Reclaim<H>) {
        if let Self::File { file, .. } = self {
            file.cached().register(&reclaim.notices);
        }
    }

    /// The file page index of page `vpn` (file sources).
    pub(crate) fn file_index(&self, vpn: usize) -> Option<u64> {
        match self {
            Self::File {
                base_vpn, base_idx, ..
            } => Some(base_idx + vpn.checked_sub(*base_vpn)? as u64),
            _ => None,
        }
    }

    /// This source moved by `new_vpn - old_vpn` pages (`mremap`): page `new_vpn` now shows
    /// what page `old_vpn` showed.
    pub(crate) fn moved(&self, old_vpn: usize, new_vpn: usize) -> Self {
        let mut src = self.clone();
        match &mut src {
            Self::Anon => {}
            Self::File {
                base_vpn, base_idx, ..
            } => {
                *base_idx += (old_vpn - *base_vpn) as u64;
                *base_vpn = new_vpn;
            }
            Self::Shared {
                base_vpn,
                base_idx,
                attach,
                ..
            } => {
                *base_idx += old_vpn - *base_vpn;
                *base_vpn = new_vpn;
                // The attachment now starts where its first page would be mapped here.
                if let Some(att) = attach {
                    let first = new_vpn.saturating_sub(*base_idx);
                    *att = att.rebased(page_va(first));
                }
            }
        }
        src
    }

    /// The frame page `vpn` shows when it is first touched.
    pub(crate) fn fetch(&self, vpn: usize) -> Result<FrameRef<H>, FaultError> {
        match self {
            Self::Anon => alloc_zeroed().ok_or(FaultError::NoMemory),
            Self::File {
                file,
                cache,
                base_vpn,
                base_idx,
                ..
            } => {
                let idx = base_idx
                    .checked_add((vpn - base_vpn) as u64)
                    .ok_or(FaultError::Bus)?;
                file.cached().load(cache, idx)
            }
            Self::Shared {
                obj,
                base_vpn,
                base_idx,
                ..
            } => obj.frame(base_idx + (vpn - base_vpn)),
        }
    }
}

/// What `mmap`, `madvise` and `mlock` left on an area (Linux's `VM_DONTCOPY`,
/// `VM_WIPEONFORK`, `VM_LOCKED`, `VM_DROPPABLE`, `VM_HUGEPAGE`, `VM_NOHUGEPAGE`). Both pieces of a split area keep them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// `MADV_DONTFORK`: a forked child does not get the area.
    pub(crate) dontfork: bool,
    /// `MADV_WIPEONFORK`: a forked child gets the area empty (zero-filled).
    pub(crate) wipeonfork: bool,
    /// `mlock`: the pages were populated and must stay (`MADV_DONTNEED` refuses them).
    pub(crate) locked: bool,
    /// `MAP_DROPPABLE`: `MADV_PAGEOUT` drops the pages, `mlock` does not lock them and
    /// `MADV_KEEPONFORK` is refused (the area is always wiped on fork).
    pub(crate) droppable: bool,
    /// `MAP_GROWSDOWN` or the loader's stack (`VM_GROWSDOWN`): a fault below grows it.
    pub(crate) growsdown: bool,
    /// Charged as private writable memory (Linux's `VM_ACCOUNT`): set when the area is
    /// made writable, by `mmap` or `mprotect`, unless `noreserve`; never cleared, so an
    /// area that was once writable does not merge with one that never was, as on Linux.
    pub(crate) accounted: bool,
    /// `MAP_NORESERVE` (or `MAP_DROPPABLE`): never charged (`VM_NORESERVE`).
    pub(crate) noreserve: bool,
    /// `MADV_HUGEPAGE` (`VM_HUGEPAGE`): the `madvise` settings of the [`thp`](crate::thp)
    /// policy fill huge pages here. Areas with different advice stay apart, as on Linux.
    pub(crate) hugepage: bool,
    /// `MADV_NOHUGEPAGE` or `MAP_STACK` (`VM_NOHUGEPAGE`, Linux >= 6.7 for `MAP_STACK`).
    pub(crate) nohugepage: bool,
    /// Linux's `VM_SOFTDIRTY`: every page of the area reads as soft-dirty (a new area, or
    /// one grown or moved by `mremap`) until `clear_refs` 4 clears it.
    pub(crate) softdirty: bool,
    /// The anonymous object of the area's private pages (Linux's `anon_vma`): given by
    /// the first write fault, kept by the pieces of a split area and by a moved area, a
    /// new one in a forked child. Areas with different objects never merge.
    pub(crate) anon: Option<u64>,
    /// The object was inherited through `fork` (Linux: the `anon_vma_chain` is not
    /// singular): such an area does not merge with one without an object.
    pub(crate) anon_forked: bool,
    /// `mbind`'s policy (Linux's `vma->vm_policy`): areas with different policies do not
    /// merge; split pieces, `fork` and `mremap` keep it.
    pub(crate) mempolicy: crate::mempolicy::MemPolicy,
}

impl Attrs {
    /// Whether areas with attributes `self` and `other` may be merged (Linux's
    /// `is_mergeable_anon_vma`: the same object on both sides, or none on one side and
    /// one not inherited through fork on the other).
    pub(crate) fn mergeable(&self, other: &Self) -> bool {
        // VM_SOFTDIRTY does not keep areas apart (Linux's VM_IGNORE_MERGE).
        let strip = |a: &Self| Self {
            anon: None,
            anon_forked: false,
            softdirty: false,
            ..*a
        };
        let objects = match (self.anon, other.anon) {
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => !self.anon_forked,
            (None, Some(_)) => !other.anon_forked,
            (None, None) => true,
        };
        strip(self) == strip(other) && objects
    }

    /// The attributes of the area merged from areas with `self` and `other`.
    pub(crate) fn merged(&self, other: &Self) -> Self {
        Self {
            anon: self.anon.or(other.anon),
            anon_forked: self.anon_forked || other.anon_forked,
            softdirty: self.softdirty || other.softdirty,
            ..*self
        }
    }
}

/// A new anonymous object id (never 0, never reused).
pub(crate) fn new_anon_id() -> u64 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A frame-owning area's state: its source and the frames it maps, by page.
pub(crate) struct Paged<H: PagingHandler> {
    pub(crate) frames: FrameMap<H>,
    pub(crate) source: Source<H>,
    pub(crate) attrs: Attrs,
    /// The area's page range `[lo, hi)`, kept current by the shape hooks.
    lo: usize,
    hi: usize,
}

impl<H: PagingHandler> Paged<H> {
    pub(crate) fn new(
        source: Source<H>,
        start: VirtAddr,
        size: usize,
        reclaim: Arc<Reclaim<H>>,
    ) -> Self {
        source.register(&reclaim);
        Self {
            frames: FrameMap::new(reclaim),
            source,
            attrs: Attrs::default(),
            lo: vpn(start),
            hi: vpn(start) + size / PAGE_SIZE_4K,
        }
    }

    /// Whether page `vpn` lies in the area.
    pub(crate) fn contains(&self, vpn: usize) -> bool {
        (self.lo..self.hi).contains(&vpn)
    }

    /// Takes the frames out, leaving none (the caller moves them to a replacement area).
    pub(crate) fn take_frames(&mut self) -> FrameMap<H> {
        let empty = FrameMap::new(self.frames.reclaim().clone());
        core::mem::replace(&mut self.frames, empty)
    }

    /// Takes over `next`, the state of the area right after this one (merging the two
    /// areas): its frames (`next` keeps none), its attributes merged in, its end. The
    /// caller checked that the two may be one area (same source, continued).
    pub(crate) fn absorb(&mut self, next: &mut Self) {
        let frames = next.take_frames();
        self.frames.append(frames);
        self.attrs = self.attrs.merged(&next.attrs);
        self.hi = next.hi;
    }

    /// An area state over `[start, end)` with existing frames.
    pub(crate) fn with_frames(
        source: Source<H>,
        frames: FrameMap<H>,
        start: VirtAddr,
        end: VirtAddr,
    ) -> Self {
        Self {
            frames,
            source,
            attrs: Attrs::default(),
            lo: vpn(start),
            hi: vpn(end),
        }
    }

    /// A copy for a forked address space: same source, every frame shared (none with
    /// `MADV_WIPEONFORK`); locks are not inherited, as on Linux.
    pub(crate) fn fork(&self, reclaim: Arc<Reclaim<H>>) -> Self {
        self.source.register(&reclaim);
        let frames = if self.attrs.wipeonfork {
            FrameMap::new(reclaim)
        } else {
            self.frames.clone_into(reclaim)
        };
        Self {
            frames,
            source: self.source.clone(),
            attrs: Attrs {
                locked: false,
                anon: self.attrs.anon.map(|_| new_anon_id()),
                anon_forked: self.attrs.anon.is_some(),
                ..self.attrs
            },
            lo: self.lo,
            hi: self.hi,
        }
    }

    /// The page-table flags of a frame in an area with `flags`
    /// ([`entry_flags`](crate::perm::entry_flags)): a private page that someone else also
    /// owns (`!exclusive`) is copy-on-write; shared memory never is. A shared file page is
    /// read-only until its write fault tells the page cache (see [`Source::note_write`]).
    /// A page not `soft_dirty` (not written since it came or since `clear_refs`) is
    /// read-only too, so that its next write faults and marks it.
    pub(crate) fn pte_flags(
        &self,
        flags: MappingFlags,
        exclusive: bool,
        soft_dirty: bool,
    ) -> MappingFlags {
        let cow = if self.source.is_private() && !exclusive {
            Cow::Shared
        } else {
            Cow::Exclusive
        };
        let pte = entry_flags(flags, cow);
        if self.source.is_shared_file() || !soft_dirty {
            pte - MappingFlags::WRITE
        } else {
            pte
        }
    }

    /// Maps every frame held for `[start, start + size)`.
    pub(crate) fn map<M: PagingMetaData<VirtAddr = VirtAddr>, P: GenericPTE>(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        mmu: &mut Mmu<M, P, H>,
    ) -> Result<(), FaultError> {
        if mmu.bookkeeping_only {
            return Ok(());
        }
        let (lo, hi) = (vpn(start), vpn(start) + size / PAGE_SIZE_4K);
        let mut done = Vec::new();
        for (vpn, frame) in self.frames.range(lo, hi) {
            let pte = self.pte_flags(
                flags,
                self.frames.is_exclusive(vpn),
                self.frames.is_soft_dirty(vpn),
            );
            if mmu
                .map_page(page_va(vpn), frame.start_paddr(), pte)
                .is_err()
            {
                for &vpn in &done {
                    let _ = mmu.unmap_range(page_va(vpn), PAGE_SIZE_4K);
                }
                return Err(FaultError::NoMemory);
            }
            done.push(vpn);
        }
        Ok(())
    }

    /// Unmaps `[start, start + size)` from the page table. The frames stay until the shape
    /// hooks release them, so that undoing this (mapping again) restores the contents.
    pub(crate) fn unmap<M: PagingMetaData<VirtAddr = VirtAddr>, P: GenericPTE>(
        &mut self,
        start: VirtAddr,
        size: usize,
        mmu: &mut Mmu<M, P, H>,
    ) -> Result<(), FaultError> {
        let (lo, hi) = (vpn(start), vpn(start) + size / PAGE_SIZE_4K);
        if mmu.bookkeeping_only || !self.frames.any_in(lo, hi) {
            return Ok(());
        }
        // Dirty shared file pages are written back when the page cache evicts them, after
        // the last mapping let go (see `evict_hint`).
        mmu.unmap_range(start, size)
            .map_err(|_| FaultError::NoMemory)
    }

    /// Sets the page-table flags of `[start, start + size)` for new area flags `flags`.
    /// Pages are never made writable here: the next write fault decides between reusing
    /// and copying a private page, and marks the page soft-dirty.
    pub(crate) fn protect<M: PagingMetaData<VirtAddr = VirtAddr>, P: GenericPTE>(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        mmu: &mut Mmu<M, P, H>,
    ) -> Result<(), FaultError> {
        let (lo, hi) = (vpn(start), vpn(start) + size / PAGE_SIZE_4K);
        if mmu.bookkeeping_only || !self.frames.any_in(lo, hi) {
            return Ok(());
        }
        // As if no frame were exclusive nor written: the next write fault decides (and
        // marks the page soft-dirty).
        let pte = self.pte_flags(flags, false, false);
        mmu.protect_range(start, size, pte)
            .map_err(|_| FaultError::NoMemory)
    }

    /// Drops the pages `[lo, hi)` from the area and the page table (`MADV_DONTNEED`,
    /// `mremap`): a later touch fetches them again from the source.
    pub(crate) fn discard<M: PagingMetaData<VirtAddr = VirtAddr>, P: GenericPTE>(
        &mut self,
        lo: usize,
        hi: usize,
        mmu: &mut Mmu<M, P, H>,
    ) -> Result<(), FaultError> {
        if !self.frames.any_in(lo, hi) {
            return Ok(());
        }
        mmu.unmap_range(page_va(lo), (hi - lo) * PAGE_SIZE_4K)
            .map_err(|_| FaultError::NoMemory)?;
        self.release(lo, hi);
        Ok(())
    }

    /// Lets go of the frames of `[lo, hi)` (to the reclaim list).
    fn release(&mut self, lo: usize, hi: usize) {
        self.frames.release(lo, hi);
        self.evict_hint(lo, hi);
    }

    pub(crate) fn evict_hint(&self, lo: usize, hi: usize) {
        if let (Source::File { file, .. }, Some(a), Some(b)) = (
            &self.source,
            self.source.file_index(lo),
            self.source.file_index(hi),
        ) {
            self.frames.reclaim().push_evict(file.clone(), a, b);
        }
    }

    /// Drops the pages of `[self.lo, self.hi)` that show file page `first` or later (file
    /// `id` was truncated there), private copies included.
    pub(crate) fn zap_truncated<M: PagingMetaData<VirtAddr = VirtAddr>, P: GenericPTE>(
        &mut self,
        id: u64,
        first: u64,
        mmu: &mut Mmu<M, P, H>,
    ) -> Result<(), FaultError> {
        let Source::File {
            file,
            base_vpn,
            base_idx,
            ..
        } = &self.source
        else {
            return Ok(());
        };
        if file.cached().id() != id {
            return Ok(());
        }
        // The first page of this area showing `first` or later.
        let lo = match first.checked_sub(*base_idx) {
            Some(d) => usize::try_from(d)
                .ok()
                .and_then(|d| base_vpn.checked_add(d))
                .unwrap_or(usize::MAX),
            None => *base_vpn,
        };
        let lo = lo.max(self.lo);
        if lo >= self.hi {
            return Ok(());
        }
        self.discard(lo, self.hi, mmu)
    }

    pub(crate) fn split(&mut self, at: VirtAddr) -> Self {
        let at = vpn(at);
        let tail = Self {
            frames: self.frames.split_off(at),
            source: self.source.clone(),
            attrs: self.attrs,
            lo: at,
            hi: self.hi,
        };
        self.hi = at;
        tail
    }

    pub(crate) fn shrink_front(&mut self, new_start: VirtAddr) {
        let new_lo = vpn(new_start);
        self.release(self.lo, new_lo);
        self.lo = new_lo;
    }

    pub(crate) fn shrink_back(&mut self, new_end: VirtAddr) {
        let new_hi = vpn(new_end);
        self.release(new_hi, self.hi);
        self.hi = new_hi;
    }
}

impl<H: PagingHandler> Drop for Paged<H> {
    fn drop(&mut self) {
        // The frames go to the reclaim list with the frame map; the cache may then evict.
        self.evict_hint(self.lo, self.hi);
    }
}
