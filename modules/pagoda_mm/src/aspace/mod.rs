//! [`AddrSpace`]: areas + page table, and the operations on them.

mod advise;
mod brk;
mod display;
mod fault;
mod fork;
mod growsdown;
mod huge;
mod mapcount;
pub mod mempolicy;
mod mmap;
mod protect;
mod query;
mod remap;
mod seal;
mod softdirty;
mod truncate;
mod uaccess;

pub use self::growsdown::{DEFAULT_STACK_LIMIT, STACK_GUARD_GAP};
pub use self::mapcount::DEFAULT_MAX_MAP_COUNT;
pub use self::query::{AreaInfo, PageInfo};
pub use self::softdirty::ClearRefs;

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, PhysAddr, VirtAddr, VirtAddrRange};
use memory_set::{MappingError, MemoryArea, MemorySet, OnOverlap};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PageSize, PageTable64, PagingHandler, PagingMetaData, PhysRegion};

use alloc::sync::Arc;

use crate::backend::{Backend, Paged, SharedMem, Source};
use crate::file::File;
use crate::flags::Populate;
use crate::frame::FrameRef;
use crate::mmu::{Mmu, vpn};
use crate::shm::ShmAttachment;

/// One area of an [`AddrSpace`].
pub type Area<M, P, H> = MemoryArea<Backend<M, P, H>>;

/// The program break state (`brk`).
#[derive(Debug, Clone, Copy)]
struct Heap {
    start: VirtAddr,
    brk: VirtAddr,
}

/// A virtual address space: its range, its areas and their page table.
///
/// Generic over the paging metadata `M`, the PTE format `P` and the frame source `H`, so the
/// same code runs in the kernel and on the host with
/// `page_table_multiarch::testing::CountingHandler`.
///
/// Every operation either succeeds or leaves the space unchanged, flushes the TLB entries
/// it changed once at its end, and frees released frames only after that flush.
pub struct AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    va_range: VirtAddrRange,
    areas: MemorySet<Backend<M, P, H>>,
    mmu: Mmu<M, P, H>,
    /// `mmap` without an address places areas top-down below this.
    mmap_top: VirtAddr,
    /// Linux's `vm.mmap_min_addr`: placement never goes below it, and a fixed address
    /// below it needs [`mmap_privileged`](Self::set_mmap_privileged).
    mmap_min_addr: VirtAddr,
    /// Whether the current caller may map below `mmap_min_addr` (Linux: `CAP_SYS_RAWIO`).
    mmap_privileged: bool,
    heap: Option<Heap>,
    /// The largest size a grow-down area may grow to (`RLIMIT_STACK`).
    stack_limit: usize,
    /// Linux's `vm.max_map_count` (`mapcount.rs`).
    max_map_count: usize,
    /// Ranges whose top-level entries are shared with another table (the kernel half).
    borrowed: Vec<(&'static PageTable64<M, P, H>, VirtAddr, usize)>,
}

/// Linux's default `vm.mmap_min_addr` (Debian, and most distributions): 64 KiB.
pub const DEFAULT_MMAP_MIN_ADDR: usize = 0x1_0000;

/// `MappingError` as the errno a Linux syscall returns.
pub(crate) fn errno(err: MappingError) -> LinuxError {
    match err {
        MappingError::InvalidParam => LinuxError::EINVAL,
        MappingError::AlreadyExists => LinuxError::EEXIST,
        MappingError::NoMemory => LinuxError::ENOMEM,
        MappingError::BadState => LinuxError::EFAULT,
    }
}

/// `[start, start + size)` if both are page-aligned, non-empty and without overflow.
pub(crate) fn page_range(start: VirtAddr, size: usize) -> Option<VirtAddrRange> {
    if !start.is_aligned_4k() || size == 0 || !size.is_multiple_of(PAGE_SIZE_4K) {
        return None;
    }
    VirtAddrRange::try_from_start_size(start, size)
}

/// A user length rounded up to whole pages; `None` for 0 or overflow.
pub(crate) fn page_len(len: usize) -> Option<usize> {
    memory_addr::checked_align_up(len, PAGE_SIZE_4K).filter(|&l| l != 0)
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// An empty address space covering `va_range` (page-aligned, non-empty).
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for a bad range, [`LinuxError::ENOMEM`] if the root table
    /// cannot be allocated.
    pub fn new(va_range: VirtAddrRange) -> LinuxResult<Self> {
        if va_range.is_empty() || !va_range.start.is_aligned_4k() || !va_range.end.is_aligned_4k() {
            return Err(LinuxError::EINVAL);
        }
        let mmu = Mmu::try_new().map_err(|_| LinuxError::ENOMEM)?;
        Ok(Self {
            va_range,
            areas: MemorySet::new(),
            mmu,
            mmap_top: va_range.end,
            mmap_min_addr: VirtAddr::from_usize(DEFAULT_MMAP_MIN_ADDR),
            mmap_privileged: false,
            heap: None,
            stack_limit: growsdown::DEFAULT_STACK_LIMIT,
            max_map_count: mapcount::DEFAULT_MAX_MAP_COUNT,
            borrowed: Vec::new(),
        })
    }

    /// The range of addresses areas may occupy.
    pub fn va_range(&self) -> VirtAddrRange {
        self.va_range
    }

    /// The page table (activate it with its `root_paddr()`).
    pub fn page_table(&self) -> &PageTable64<M, P, H> {
        self.mmu.page_table()
    }

    /// The physical address of the root table.
    pub fn root_paddr(&self) -> PhysAddr {
        self.mmu.page_table().root_paddr()
    }

    /// The areas, in address order.
    pub fn areas(&self) -> impl DoubleEndedIterator<Item = &Area<M, P, H>> {
        self.areas.iter()
    }

    /// The area containing `va`.
    pub fn find_area(&self, va: VirtAddr) -> Option<&Area<M, P, H>> {
        self.areas.find(va)
    }

    /// The frame mapped at `va` by a frame-owning area, if the page has been touched.
    pub fn frame_at(&self, va: VirtAddr) -> Option<&FrameRef<H>> {
        self.areas.find(va)?.backend().paged()?.frames.get(vpn(va))
    }

    /// Whether the frame at `va` is owned by this address space alone (a write would reuse
    /// it rather than copy it); `None` if no frame is there.
    pub fn frame_is_exclusive(&self, va: VirtAddr) -> Option<bool> {
        let paged = self.areas.find(va)?.backend().paged()?;
        paged.frames.get(vpn(va))?;
        Some(paged.frames.is_exclusive(vpn(va)))
    }

    /// Sets the address below which `mmap` places areas top-down (clamped to the range).
    pub fn set_mmap_top(&mut self, top: VirtAddr) {
        self.mmap_top = top
            .align_down_4k()
            .clamp(self.va_range.start, self.va_range.end);
    }

    /// Sets Linux's `vm.mmap_min_addr` (rounded up to a page; [`DEFAULT_MMAP_MIN_ADDR`] in a
    /// new space): `mmap`, `mremap` and `shmat` never place an area below it (nor below
    /// the first page), and a fixed address below it is `EPERM` for an unprivileged caller.
    pub fn set_mmap_min_addr(&mut self, min: usize) {
        self.mmap_min_addr = VirtAddr::from_usize(memory_addr::align_up_4k(
            min.min(usize::MAX - PAGE_SIZE_4K + 1),
        ));
    }

    /// The current `vm.mmap_min_addr` ([`set_mmap_min_addr`](Self::set_mmap_min_addr)).
    pub fn mmap_min_addr(&self) -> VirtAddr {
        self.mmap_min_addr
    }

    /// Sets whether the caller of the next `mmap`/`mremap`/`shmat` may map at a fixed
    /// address below `mmap_min_addr` (Linux's `CAP_SYS_RAWIO`: root). The syscall layer
    /// sets it from the caller's credentials before each of those calls (threads sharing
    /// this space may differ); a new space and a fork child start unprivileged.
    pub fn set_mmap_privileged(&mut self, privileged: bool) {
        self.mmap_privileged = privileged;
    }

    /// The lowest address placement may choose: Linux's `max(PAGE_SIZE, mmap_min_addr)`,
    /// and never below the space.
    pub(crate) fn low_limit(&self) -> VirtAddr {
        self.mmap_min_addr
            .max(VirtAddr::from_usize(PAGE_SIZE_4K))
            .max(self.va_range.start)
    }

    /// Linux's `security_mmap_addr` for a fixed address: `EPERM` below `mmap_min_addr`
    /// unless the caller is privileged; below the space it is `EPERM` for everyone.
    pub(crate) fn check_fixed_low(&self, addr: VirtAddr) -> LinuxResult {
        if addr < self.va_range.start || (addr < self.mmap_min_addr && !self.mmap_privileged) {
            return Err(LinuxError::EPERM);
        }
        Ok(())
    }

    /// Shares the top-level entries of `kernel` covering `[start, start + size)` (the kernel
    /// half); fork shares them again in the child. Those tables stay owned by `kernel`,
    /// which lives forever (`'static`), so they never dangle.
    ///
    /// The range must lie in the upper half of the address space (bit `VA_MAX_BITS - 1`
    /// set: where kernels live) and outside [`va_range`](Self::va_range), so that no area
    /// of this space can ever reach the borrowed tables.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] if the range is empty, not in the upper half, overlaps
    /// [`va_range`](Self::va_range), is not aligned to top-level entries, or this space has
    /// mappings there. Nothing changes then.
    pub fn share_kernel_mappings(
        &mut self,
        kernel: &'static PageTable64<M, P, H>,
        start: VirtAddr,
        size: usize,
    ) -> LinuxResult {
        let upper_half = usize::MAX << (M::VA_MAX_BITS - 1);
        let last = size
            .checked_sub(1)
            .and_then(|n| start.as_usize().checked_add(n))
            .ok_or(LinuxError::EINVAL)?;
        let overlaps_areas = start < self.va_range.end && self.va_range.start.as_usize() <= last;
        if start.as_usize() < upper_half || overlaps_areas {
            return Err(LinuxError::EINVAL);
        }
        let batch = self
            .mmu
            .pt_mut()
            .share_from(kernel, start, size)
            .map_err(|_| LinuxError::EINVAL)?;
        self.mmu.record(batch);
        self.mmu.commit();
        let same = |&(k, s, n): &(&PageTable64<M, P, H>, VirtAddr, usize)| {
            core::ptr::eq(k, kernel) && s == start && n == size
        };
        if !self.borrowed.iter().any(same) {
            self.borrowed.push((kernel, start, size));
        }
        Ok(())
    }

    fn check_fixed(&self, start: VirtAddr, size: usize) -> LinuxResult<VirtAddrRange> {
        let range = page_range(start, size).ok_or(LinuxError::EINVAL)?;
        if !self.va_range.contains_range(range) {
            return Err(LinuxError::EINVAL);
        }
        Ok(range)
    }

    /// Maps all of `region` at `[start, start + region.size())`, with leaves up to
    /// `max_page_size` where `start` and the region are aligned alike (pass the largest
    /// leaf the CPU supports: not every x86-64 CPU has 1 GiB pages). Use
    /// [`PhysRegion::sub_region`] to map a part. Fails on overlap.
    ///
    /// The region, not a raw physical address, is what makes this safe: it is memory that
    /// nobody owns and that stays valid forever, so neither this mapping nor the copies
    /// `fork` makes can outlive it.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for an unaligned `start` or a range outside the space,
    /// [`LinuxError::EEXIST`] on overlap, [`LinuxError::ENOMEM`] without memory for tables.
    pub fn map_linear(
        &mut self,
        start: VirtAddr,
        region: PhysRegion,
        flags: MappingFlags,
        max_page_size: PageSize,
    ) -> LinuxResult {
        let size = region.size();
        self.check_fixed(start, size)?;
        let backend = Backend::linear(start, region, max_page_size);
        let area = MemoryArea::new(start, size, flags, backend);
        let r = self.areas.map(area, &mut self.mmu, OnOverlap::Fail);
        self.mmu.commit();
        r.map_err(errno)
    }

    /// Maps private anonymous memory at `[start, start + size)`, lazily or populated.
    /// Fails on overlap.
    ///
    /// # Errors
    ///
    /// As [`map_linear`](Self::map_linear); with [`Populate::Eager`], running out of frames
    /// is [`LinuxError::ENOMEM`] and nothing stays mapped or allocated.
    pub fn map_alloc(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        populate: Populate,
    ) -> LinuxResult {
        self.check_fixed(start, size)?;
        self.map_source(start, size, flags, Source::Anon, populate, OnOverlap::Fail)
    }

    /// Maps `[start, start + size)` to a private copy-on-write view of `file` from byte
    /// `offset` (page-aligned), lazily. Fails on overlap.
    ///
    /// # Errors
    ///
    /// As [`map_linear`](Self::map_linear); [`LinuxError::EINVAL`] for an unaligned offset.
    pub fn map_file_private(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        file: Arc<dyn File>,
        offset: u64,
    ) -> LinuxResult
    where
        H: 'static,
    {
        self.check_fixed(start, size)?;
        let source = Source::file(file, start, offset, false)?;
        self.map_source(start, size, flags, source, Populate::Lazy, OnOverlap::Fail)
    }

    /// Maps pages `first_page..` of the shared object `obj` at `[start, start + size)`
    /// (`shmat` at a known address), lazily; `attach` rides along with the area and its
    /// pieces. Fails if anything is mapped there.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for an unaligned range, one outside the space or past the end
    /// of `obj`; [`LinuxError::EEXIST`] on overlap; [`LinuxError::ENOMEM`] without memory.
    pub fn map_shared(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        obj: Arc<SharedMem<H>>,
        first_page: usize,
        attach: Option<ShmAttachment>,
    ) -> LinuxResult {
        self.check_fixed(start, size)?;
        let end_page = first_page
            .checked_add(size / PAGE_SIZE_4K)
            .ok_or(LinuxError::EINVAL)?;
        if end_page > obj.size() / PAGE_SIZE_4K {
            return Err(LinuxError::EINVAL);
        }
        let source = Source::Shared {
            obj,
            base_vpn: vpn(start),
            base_idx: first_page,
            attach,
        };
        self.map_source(start, size, flags, source, Populate::Lazy, OnOverlap::Fail)
    }

    /// The areas overlapping `range`, in address order.
    pub fn areas_in(
        &self,
        range: VirtAddrRange,
    ) -> impl DoubleEndedIterator<Item = &Area<M, P, H>> {
        self.areas.iter_range(range)
    }

    /// The highest free page-aligned range of `size` bytes at or below `hint` and below the
    /// mmap top (`hint` 0: the mmap top), as `mmap` without an address would choose; never
    /// below `mmap_min_addr` ([`set_mmap_min_addr`](Self::set_mmap_min_addr)).
    pub fn find_free_area(&self, hint: VirtAddr, size: usize) -> Option<VirtAddr> {
        let limit = VirtAddrRange::try_new(self.low_limit(), self.mmap_top)?;
        let hint = if hint.as_usize() == 0 {
            self.mmap_top
        } else {
            hint
        };
        self.find_clear_of_stacks(hint, size, limit)
    }

    /// Adds an area backed by `source`: populates it first if asked (so running out of
    /// memory changes nothing), then maps it.
    pub(crate) fn map_source(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        source: Source<H>,
        populate: Populate,
        on_overlap: OnOverlap,
    ) -> LinuxResult {
        self.map_source_attrs(start, size, flags, source, populate, on_overlap, false)
    }

    /// [`map_source`](Self::map_source), with `MAP_NORESERVE` (`noreserve`): otherwise a
    /// private writable area is charged (`Attrs::accounted`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_source_attrs(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        source: Source<H>,
        populate: Populate,
        on_overlap: OnOverlap,
        noreserve: bool,
    ) -> LinuxResult {
        // A truncation posted earlier must not zap pages populated below after it.
        self.apply_truncations();
        // Checked up front only to spare populating an area that cannot be mapped;
        // `MemorySet::map` checks again anyway.
        if populate == Populate::Eager
            && on_overlap == OnOverlap::Fail
            && self
                .areas
                .overlaps(VirtAddrRange::from_start_size(start, size))
        {
            return Err(LinuxError::EEXIST);
        }
        let mut paged = Paged::new(source, start, size, self.mmu.reclaim.clone());
        paged.attrs.noreserve = noreserve;
        // A new area is soft-dirty as a whole (Linux's VM_SOFTDIRTY).
        paged.attrs.softdirty = true;
        paged.attrs.accounted =
            !noreserve && paged.source.is_private() && flags.contains(MappingFlags::WRITE);
        let r = match populate {
            Populate::Lazy => Ok(()),
            Populate::Eager => populate_all(&mut paged, start, size, flags),
        };
        let r = r.and_then(|()| {
            let area = MemoryArea::new(start, size, flags, Backend::from_paged(paged));
            self.areas
                .map(area, &mut self.mmu, on_overlap)
                .map_err(errno)
        });
        self.mmu.commit();
        r
    }
}

/// Fetches every page of a new area into its frame map. Pages of a file wholly past EOF
/// stay lazy (an access there is a bus error, as on Linux). As on Linux, a writable private
/// area is populated by write faults: page-cache pages are copied at once, so later changes
/// to the file do not show through.
fn populate_all<H: PagingHandler>(
    paged: &mut Paged<H>,
    start: VirtAddr,
    size: usize,
    flags: MappingFlags,
) -> LinuxResult {
    let lo = vpn(start);
    let copy = paged.source.is_private() && flags.contains(MappingFlags::WRITE);
    for vpn in lo..lo + size / PAGE_SIZE_4K {
        match paged.source.fetch(vpn) {
            Ok(frame) if copy && Arc::strong_count(&frame) > 1 => {
                let copy = crate::frame::alloc_copy(&frame).ok_or(LinuxError::ENOMEM)?;
                paged.frames.insert(vpn, copy);
                // The cache page fetched for nothing leaves after the commit.
                paged.evict_hint(vpn, vpn + 1);
            }
            Ok(frame) => paged.frames.insert(vpn, frame),
            Err(crate::FaultError::NoMemory) => return Err(LinuxError::ENOMEM),
            Err(_) => break,
        }
        // Populated by write faults on Linux: written, so soft-dirty, and the area has
        // its anonymous object.
        if copy {
            paged.frames.set_soft_dirty(vpn);
            paged
                .attrs
                .anon
                .get_or_insert_with(crate::backend::new_anon_id);
        }
    }
    Ok(())
}

impl<M, P, H> Drop for AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    fn drop(&mut self) {
        // Dropping the areas lets the page caches evict (and write back) their dirty pages;
        // on failure the tables go with the table.
        if self.areas.clear(&mut self.mmu).is_err() {
            log::warn!("address space teardown: unmapping failed");
        }
        self.mmu.commit();
    }
}

impl<M, P, H> core::fmt::Debug for AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AddrSpace")
            .field("va_range", &self.va_range)
            .field("areas", &self.areas)
            .finish_non_exhaustive()
    }
}
