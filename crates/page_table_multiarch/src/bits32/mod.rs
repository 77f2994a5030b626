//! `PageTable32`: two-level tables of 4-byte entries (RISC-V Sv32, ARMv7-A
//! short descriptors), with the operations and guarantees of
//! [`PageTable64`](crate::PageTable64): failing operations change nothing,
//! changes return `#[must_use]` flushes, emptied second-level tables are
//! freed after a full flush issued by the operation, `Drop` frees every
//! table frame (never drop an active table).
//!
//! Addresses are handled as page numbers, so ranges may end at `2^32` even
//! where `usize` has 32 bits.

mod cursor;
mod ops;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr;

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

pub use self::cursor::PageTable32Cursor;
use crate::{GenericPTE, PageSize, PagingError, PagingHandler, PagingMetaData, PagingResult};

/// The layout of a two-level table of 4-byte entries.
pub trait PagingMetaData32: PagingMetaData {
    /// Bit position of the first-level index (bytes per first-level entry
    /// = `1 << L1_SHIFT`).
    const L1_SHIFT: usize;
    /// Entries of the root table.
    const L1_ENTRIES: usize;
    /// Entries of a second-level table (it occupies one 4K frame).
    const L2_ENTRIES: usize;
    /// 4K frames of the root table (also its alignment).
    const ROOT_FRAMES: usize;
}

/// A two-level page table with 4-byte entries: `M` gives the layout and the
/// flush, `PTE` the format, `H` the frames. Leaves are 4K pages and, where
/// the first-level span is a [`PageSize`] (1 MiB ARM sections), blocks.
/// Sv32 4 MiB megapages are not created (`PageSize` has no 4M).
pub struct PageTable32<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> {
    pub(crate) root: PhysAddr,
    _phantom: Marker<M, PTE, H>,
}

/// Variance/auto-trait marker: the table owns PTEs, not `M` or `H` values.
type Marker<M, PTE, H> = PhantomData<(fn() -> M, PTE, fn() -> H)>;

/// Where a leaf was found.
#[derive(Clone, Copy)]
pub(crate) struct Slot<PTE> {
    pub(crate) ptr: *mut PTE,
    /// Whether it is a first-level entry.
    pub(crate) l1: bool,
}

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> PageTable32<M, PTE, H> {
    /// 4K pages per first-level entry.
    pub(crate) const PAGES_PER_L1: usize = 1 << (M::L1_SHIFT - 12);
    /// Number of 4K pages of the address space.
    pub(crate) const PAGES: usize = M::L1_ENTRIES * Self::PAGES_PER_L1;
    const CHECKS: () = assert!(
        size_of::<PTE>() == 4
            && M::LEVELS == 2
            && M::L1_SHIFT > 12
            && Self::PAGES_PER_L1 == M::L2_ENTRIES
            && M::L2_ENTRIES * 4 <= PAGE_SIZE_4K
            && M::L1_ENTRIES * 4 == M::ROOT_FRAMES * PAGE_SIZE_4K
            && M::L1_SHIFT - 12 + M::L1_ENTRIES.trailing_zeros() as usize + 12 == M::VA_MAX_BITS,
        "unsupported 32-bit paging layout"
    );

    /// Creates an empty table: allocates and zeroes the root
    /// (`ROOT_FRAMES` contiguous frames, aligned to their size).
    ///
    /// # Errors
    /// [`PagingError::NoMemory`].
    pub fn try_new() -> PagingResult<Self> {
        let () = Self::CHECKS;
        let n = M::ROOT_FRAMES;
        let root = if n == 1 {
            H::alloc_frame()
        } else {
            H::alloc_frames(n, n * PAGE_SIZE_4K)
        }
        .ok_or(PagingError::NoMemory)?;
        if root.as_usize() > M::PA_MAX_ADDR - (n * PAGE_SIZE_4K - 1) {
            // The format cannot point at it (e.g. above 4 GiB on ARM).
            Self::free_root(root);
            return Err(PagingError::NoMemory);
        }
        for i in 0..n {
            Self::zero(PhysAddr::from_usize(root.as_usize() + i * PAGE_SIZE_4K));
        }
        Ok(Self {
            root,
            _phantom: PhantomData,
        })
    }

    /// Physical address of the root table (`satp` PPN, `TTBR0`).
    pub const fn root_paddr(&self) -> PhysAddr {
        self.root
    }

    /// The block size of first-level leaves, if this crate creates them.
    pub(crate) const fn block_size() -> Option<PageSize> {
        match M::L1_SHIFT {
            20 => Some(PageSize::Size1M),
            21 => Some(PageSize::Size2M),
            _ => None,
        }
    }

    fn zero(frame: PhysAddr) {
        // SAFETY: a frame we own, writable through `phys_to_virt`.
        unsafe { ptr::write_bytes(H::phys_to_virt(frame).as_mut_ptr(), 0, PAGE_SIZE_4K) };
    }

    /// Pointer to root entry `i` (`i < L1_ENTRIES`); the root frames need
    /// not be virtually contiguous.
    #[inline(always)]
    pub(crate) fn l1(&self, i: usize) -> *mut PTE {
        let per = PAGE_SIZE_4K / 4;
        let frame = PhysAddr::from_usize(self.root.as_usize() + (i / per) * PAGE_SIZE_4K);
        H::phys_to_virt(frame)
            .as_mut_ptr()
            .cast::<PTE>()
            .wrapping_add(i % per)
    }

    /// Pointer to entry `j` of the second-level table at `pa`.
    #[inline(always)]
    pub(crate) fn l2(pa: PhysAddr, j: usize) -> *mut PTE {
        H::phys_to_virt(pa)
            .as_mut_ptr()
            .cast::<PTE>()
            .wrapping_add(j)
    }

    #[inline(always)]
    pub(crate) fn is_table(e: &PTE) -> bool {
        e.is_present() && !e.is_huge()
    }

    /// Validates a page-aligned range; returns its first page number and
    /// page count.
    pub(crate) fn check_range(va: usize, size: usize) -> PagingResult<(usize, usize)> {
        if size == 0 {
            return Err(PagingError::InvalidAddress);
        }
        if !va.is_multiple_of(PAGE_SIZE_4K) || !size.is_multiple_of(PAGE_SIZE_4K) {
            return Err(PagingError::NotAligned);
        }
        let (first, n) = (va / PAGE_SIZE_4K, size / PAGE_SIZE_4K);
        if first >= Self::PAGES || n > Self::PAGES - first {
            return Err(PagingError::InvalidAddress);
        }
        let last = va + (size - PAGE_SIZE_4K);
        if !M::vaddr_is_valid(va) || !M::vaddr_is_valid(last) {
            return Err(PagingError::InvalidAddress);
        }
        Ok((first, n))
    }

    /// Validates a frame of `size` bytes at `pa`.
    pub(crate) fn check_pa(pa: usize, size: usize) -> PagingResult {
        if !pa.is_multiple_of(size) {
            return Err(PagingError::NotAligned);
        }
        match pa.checked_add(size - 1) {
            Some(last) if last <= M::PA_MAX_ADDR && M::paddr_is_valid(last) => Ok(()),
            _ => Err(PagingError::InvalidAddress),
        }
    }

    /// The entry of page `vpn` (the leaf, or the unused entry met).
    pub(crate) fn slot(&self, vpn: usize) -> Slot<PTE> {
        let p1 = self.l1(vpn / Self::PAGES_PER_L1);
        // SAFETY: `p1` points into our live root.
        let e = unsafe { p1.read() };
        if Self::is_table(&e) {
            Slot {
                ptr: Self::l2(e.paddr(), vpn % Self::PAGES_PER_L1),
                l1: false,
            }
        } else {
            Slot { ptr: p1, l1: true }
        }
    }

    /// Allocates a zeroed second-level table frame (`NoMemory` also when
    /// the frame lies beyond what a table descriptor can hold).
    pub(crate) fn alloc_l2() -> PagingResult<PhysAddr> {
        let pa = H::alloc_frame().ok_or(PagingError::NoMemory)?;
        if pa.as_usize() > M::PA_MAX_ADDR - (PAGE_SIZE_4K - 1) {
            // SAFETY: just allocated, never linked anywhere.
            unsafe { free_frames::<H>(pa, 1) };
            return Err(PagingError::NoMemory);
        }
        Self::zero(pa);
        Ok(pa)
    }

    fn free_root(root: PhysAddr) {
        // SAFETY: the root run is freed once, by `drop` or by a constructor that failed
        // after allocating it; a table being dropped is active on no CPU (`Drop`'s contract).
        unsafe { free_frames::<H>(root, M::ROOT_FRAMES) };
    }

    /// Visits the used entries, tables included (arceos 0.6): `pre(level,
    /// index, vaddr, &entry)` before descending into a table and `post`
    /// after, level 0 being the root. At most `limit` used entries are
    /// visited per table.
    pub fn walk<F>(&self, limit: usize, pre: Option<&F>, post: Option<&F>)
    where
        F: Fn(usize, usize, M::VirtAddr, &PTE),
    {
        let per = Self::PAGES_PER_L1;
        let used = |p: *mut PTE| {
            // SAFETY: `p` points into a live table of ours.
            let e = unsafe { p.read() };
            (!e.is_unused()).then_some(e)
        };
        let visit = |f: Option<&F>, level, i, vpn: usize, e: &PTE| {
            if let Some(f) = f {
                f(level, i, (vpn * PAGE_SIZE_4K).into(), e);
            }
        };
        let l1 = (0..M::L1_ENTRIES).filter_map(|i| used(self.l1(i)).map(|e| (i, e)));
        for (i, e) in l1.take(limit) {
            visit(pre, 0, i, i * per, &e);
            if Self::is_table(&e) {
                let l2 =
                    (0..M::L2_ENTRIES).filter_map(|j| used(Self::l2(e.paddr(), j)).map(|x| (j, x)));
                for (j, x) in l2.take(limit) {
                    visit(pre, 1, j, i * per + j, &x);
                    visit(post, 1, j, i * per + j, &x);
                }
            }
            visit(post, 0, i, i * per, &e);
        }
    }

    /// Whether the second-level table at `pa` has no used entry.
    pub(crate) fn l2_is_empty(pa: PhysAddr) -> bool {
        // SAFETY: `pa` is a live second-level table of ours.
        (0..M::L2_ENTRIES).all(|j| unsafe { Self::l2(pa, j).read() }.is_unused())
    }
}

impl<M: PagingMetaData32, PTE: GenericPTE, H: PagingHandler> Drop for PageTable32<M, PTE, H> {
    /// Frees every table frame without flushing, after
    /// [`PagingHandler::table_dropping`] (which must make sure no CPU has the
    /// table active).
    fn drop(&mut self) {
        H::table_dropping(self.root);
        for i in 0..M::L1_ENTRIES {
            // SAFETY: `i` indexes our live root.
            let e = unsafe { self.l1(i).read() };
            if Self::is_table(&e) {
                // SAFETY: a second-level table of ours; the whole table goes away.
                unsafe { free_frames::<H>(e.paddr(), 1) };
            }
        }
        Self::free_root(self.root);
    }
}

/// Returns `n` frames of one allocation to the handler. The only place this
/// module frees frames.
///
/// # Safety
/// `pa` is a table frame (or the root's run of `n`) this table owns, that no
/// entry points to any more and that no CPU caches (see `Unlinked`).
unsafe fn free_frames<H: PagingHandler>(pa: PhysAddr, n: usize) {
    if n == 1 {
        // SAFETY: the caller's contract is `dealloc_frame`'s.
        unsafe { H::dealloc_frame(pa) };
    } else {
        // SAFETY: as above, for the whole run.
        unsafe { H::dealloc_frames(pa, n) };
    }
}

/// Table frames unlinked by an operation, freed after one full flush
/// (a batch at a time, so no heap is needed).
pub(crate) struct Unlinked<M: PagingMetaData, H: PagingHandler> {
    frames: [PhysAddr; 8],
    len: usize,
    _p: Marker<M, (), H>,
}

impl<M: PagingMetaData, H: PagingHandler> Unlinked<M, H> {
    pub(crate) const fn new() -> Self {
        Self {
            frames: [PhysAddr::from_usize(0); 8],
            len: 0,
            _p: PhantomData,
        }
    }

    /// Queues an unlinked table frame (frees the queue first when full).
    pub(crate) fn push(&mut self, pa: PhysAddr) {
        if self.len == self.frames.len() {
            self.release();
        }
        self.frames[self.len] = pa;
        self.len += 1;
    }

    /// Flushes everything and frees the queued frames.
    pub(crate) fn release(&mut self) {
        if self.len > 0 {
            M::flush_tlb(None);
            self.frames[..self.len]
                .iter()
                // SAFETY: queued frames are unlinked, and the full flush above dropped them
                // from every TLB.
                .for_each(|&pa| unsafe { free_frames::<H>(pa, 1) });
            self.len = 0;
        }
    }
}

impl<M: PagingMetaData, H: PagingHandler> Drop for Unlinked<M, H> {
    fn drop(&mut self) {
        self.release();
    }
}
