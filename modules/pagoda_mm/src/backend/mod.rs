//! The backends of the areas of an [`AddrSpace`](crate::AddrSpace).

mod paged;
mod shared;

use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;

use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use memory_set::{MappingBackend, MappingError, MappingResult};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PageSize, PagingError, PagingHandler, PagingMetaData, PhysRegion};

pub(crate) use self::paged::{Attrs, Paged, Source, new_anon_id};
pub use self::shared::SharedMem;
use crate::file::File;
use crate::mmu::{Mmu, vpn};
use crate::perm::{Cow, entry_flags};
use crate::shm::ShmAttachment;

/// What kind of memory an area maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// A [`PhysRegion`] (device memory or frames that are never freed) mapped at a fixed
    /// offset, with huge leaves where aligned: MMIO, static frames.
    Linear,
    /// Private anonymous memory, allocated on first touch or up front.
    Alloc,
    /// A private (copy-on-write) file mapping.
    FilePrivate,
    /// A shared file mapping: writes reach the file.
    FileShared,
    /// Anonymous shared memory ([`SharedMem`]).
    Shared,
}

pub(crate) enum Inner<H: PagingHandler> {
    Linear(Linear),
    Paged(Paged<H>),
}

/// A linear area: `region` mapped from `va` on, with leaves up to `max_page`. It keeps the
/// whole region (pieces of a split area each keep a copy), so every page it ever maps is
/// checked to lie inside it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Linear {
    pub(crate) region: PhysRegion,
    pub(crate) va: VirtAddr,
    pub(crate) max_page: PageSize,
}

impl Linear {
    /// The part of the region that `[start, start + size)` maps.
    fn part(&self, start: VirtAddr, size: usize) -> MappingResult<PhysRegion> {
        let offset = start
            .as_usize()
            .checked_sub(self.va.as_usize())
            .ok_or(MappingError::InvalidParam)?;
        self.region
            .sub_region(offset, size)
            .map_err(|_| MappingError::InvalidParam)
    }
}

/// The backend of one area (the [`MappingBackend`] of the address space's
/// [`MemorySet`](memory_set::MemorySet)).
///
/// Frame-owning backends keep the frames they map (one [`FrameRef`](crate::FrameRef) per
/// touched page) and hand them to the address space's reclaim list when they let go, so a
/// frame is freed only after the TLB flush of the operation that unmapped it.
pub struct Backend<M, P, H: PagingHandler> {
    pub(crate) inner: Inner<H>,
    /// `mseal`: the area's shape, protection and contents may no longer change (Linux's
    /// `VM_SEALED`). Both pieces of a split area keep it; fork copies it.
    pub(crate) sealed: bool,
    _marker: PhantomData<fn() -> (M, P)>,
}

impl<M, P, H: PagingHandler> Backend<M, P, H> {
    pub(crate) fn linear(va: VirtAddr, region: PhysRegion, max_page: PageSize) -> Self {
        Self::from_inner(Inner::Linear(Linear {
            region,
            va,
            max_page,
        }))
    }

    pub(crate) fn from_paged(paged: Paged<H>) -> Self {
        Self::from_inner(Inner::Paged(paged))
    }

    /// Takes over the backend of the area right after this one (see [`Paged::absorb`]);
    /// `false`, both unchanged, for linear areas, which never merge.
    pub(crate) fn absorb(&mut self, next: &mut Self) -> bool {
        match (&mut self.inner, &mut next.inner) {
            (Inner::Paged(p), Inner::Paged(q)) => {
                p.absorb(q);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn from_inner(inner: Inner<H>) -> Self {
        Self {
            inner,
            sealed: false,
            _marker: PhantomData,
        }
    }

    /// The kind of memory this backend maps.
    pub fn kind(&self) -> BackendKind {
        match &self.inner {
            Inner::Linear(_) => BackendKind::Linear,
            Inner::Paged(p) => match &p.source {
                Source::Anon => BackendKind::Alloc,
                Source::File { shared: false, .. } => BackendKind::FilePrivate,
                Source::File { shared: true, .. } => BackendKind::FileShared,
                Source::Shared { .. } => BackendKind::Shared,
            },
        }
    }

    /// Whether the area is sealed (`mseal`).
    pub fn sealed(&self) -> bool {
        self.sealed
    }

    /// The shared memory object of a [`BackendKind::Shared`] backend.
    pub fn shared_object(&self) -> Option<&Arc<SharedMem<H>>> {
        match &self.inner {
            Inner::Paged(Paged {
                source: Source::Shared { obj, .. },
                ..
            }) => Some(obj),
            _ => None,
        }
    }

    /// The byte offset in the shared object that `va` maps; `None` if `va` is outside
    /// this backend's area.
    pub fn shared_offset(&self, va: VirtAddr) -> Option<usize> {
        match &self.inner {
            Inner::Paged(
                p @ Paged {
                    source:
                        Source::Shared {
                            base_vpn, base_idx, ..
                        },
                    ..
                },
            ) if p.contains(vpn(va)) => base_idx
                .checked_add(vpn(va) - base_vpn)?
                .checked_mul(PAGE_SIZE_4K),
            _ => None,
        }
    }

    /// The System V attachment of a shared backend mapping a segment.
    pub fn shm_attachment(&self) -> Option<&ShmAttachment> {
        match &self.inner {
            Inner::Paged(Paged {
                source: Source::Shared { attach, .. },
                ..
            }) => attach.as_ref(),
            _ => None,
        }
    }

    /// The file of a file backend.
    pub fn file(&self) -> Option<&Arc<dyn File>> {
        match &self.inner {
            Inner::Paged(Paged {
                source: Source::File { file, .. },
                ..
            }) => Some(file),
            _ => None,
        }
    }

    /// The file offset that `va` maps; `None` if `va` is outside this backend's area.
    pub fn file_offset(&self, va: VirtAddr) -> Option<u64> {
        match &self.inner {
            Inner::Paged(p) if p.contains(vpn(va)) => {
                let idx = p.source.file_index(vpn(va))?;
                idx.checked_mul(PAGE_SIZE_4K as u64)?
                    .checked_add((va.as_usize() % PAGE_SIZE_4K) as u64)
            }
            _ => None,
        }
    }

    /// The physical region a [`BackendKind::Linear`] backend maps (the whole region it was
    /// created with, also after the area was split or shrunk).
    pub fn phys_region(&self) -> Option<&PhysRegion> {
        match &self.inner {
            Inner::Linear(lin) => Some(&lin.region),
            Inner::Paged(_) => None,
        }
    }

    /// The number of pages that currently have a frame in this area.
    pub fn resident_pages(&self) -> usize {
        match &self.inner {
            Inner::Paged(p) => p.frames.len(),
            Inner::Linear(_) => 0,
        }
    }

    pub(crate) fn paged(&self) -> Option<&Paged<H>> {
        match &self.inner {
            Inner::Paged(p) => Some(p),
            Inner::Linear(_) => None,
        }
    }

    pub(crate) fn paged_mut(&mut self) -> Option<&mut Paged<H>> {
        match &mut self.inner {
            Inner::Paged(p) => Some(p),
            Inner::Linear(_) => None,
        }
    }
}

fn page_range(start: VirtAddr, size: usize) -> MappingResult {
    crate::aspace::page_range(start, size)
        .map(drop)
        .ok_or(MappingError::InvalidParam)
}

fn paging_err(err: PagingError) -> MappingError {
    match err {
        PagingError::NoMemory => MappingError::NoMemory,
        PagingError::NotAligned | PagingError::InvalidAddress => MappingError::InvalidParam,
        _ => MappingError::BadState,
    }
}

impl<M, P, H> MappingBackend for Backend<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    type Addr = VirtAddr;
    type Flags = MappingFlags;
    type PageTable = Mmu<M, P, H>;

    fn map(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        mmu: &mut Mmu<M, P, H>,
    ) -> MappingResult {
        page_range(start, size)?;
        match &mut self.inner {
            Inner::Linear(_) if mmu.bookkeeping_only => Ok(()),
            Inner::Linear(lin) => {
                let part = lin.part(start, size)?;
                mmu.map_linear(
                    start,
                    part,
                    entry_flags(flags, Cow::Exclusive),
                    lin.max_page,
                )
                .map_err(paging_err)
            }
            Inner::Paged(p) => p
                .map(start, size, flags, mmu)
                .map_err(|_| MappingError::NoMemory),
        }
    }

    fn unmap(&mut self, start: VirtAddr, size: usize, mmu: &mut Mmu<M, P, H>) -> MappingResult {
        page_range(start, size)?;
        match &mut self.inner {
            Inner::Linear(_) if mmu.bookkeeping_only => Ok(()),
            Inner::Linear(_) => mmu.unmap_range(start, size).map_err(paging_err),
            Inner::Paged(p) => p
                .unmap(start, size, mmu)
                .map_err(|_| MappingError::NoMemory),
        }
    }

    fn protect(
        &mut self,
        start: VirtAddr,
        size: usize,
        new_flags: MappingFlags,
        mmu: &mut Mmu<M, P, H>,
    ) -> MappingResult {
        page_range(start, size)?;
        match &mut self.inner {
            Inner::Linear(_) if mmu.bookkeeping_only => Ok(()),
            Inner::Linear(_) => mmu
                .protect_range(start, size, entry_flags(new_flags, Cow::Exclusive))
                .map_err(paging_err),
            Inner::Paged(p) => p
                .protect(start, size, new_flags, mmu)
                .map_err(|_| MappingError::NoMemory),
        }
    }

    fn split(&mut self, _start: VirtAddr, at: VirtAddr) -> Self {
        let mut tail = match &mut self.inner {
            Inner::Linear(lin) => Self::from_inner(Inner::Linear(*lin)),
            Inner::Paged(p) => Self::from_paged(p.split(at)),
        };
        tail.sealed = self.sealed;
        tail
    }

    fn shrink_front(&mut self, _old_start: VirtAddr, new_start: VirtAddr) {
        if let Inner::Paged(p) = &mut self.inner {
            p.shrink_front(new_start);
        }
    }

    fn shrink_back(&mut self, _start: VirtAddr, new_end: VirtAddr) {
        if let Inner::Paged(p) = &mut self.inner {
            p.shrink_back(new_end);
        }
    }
}

impl<M, P, H: PagingHandler> fmt::Debug for Backend<M, P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("kind", &self.kind())
            .field("resident_pages", &self.resident_pages())
            .finish()
    }
}
