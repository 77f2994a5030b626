#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(all(feature = "testing", not(test)))]
extern crate std;

mod arch;
mod bits32;
mod cache;
mod clone;
mod compat;
mod cursor;
mod deferred;
mod flush;
pub mod frame;
mod iter;
mod map;
mod query;
mod region;
mod share;
mod single;
mod table;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use core::fmt;

use memory_addr::{MemoryAddr, PAGE_SIZE_4K, PhysAddr, VirtAddr};

pub use self::arch::{aarch64, arm, loongarch64, riscv, x86_64};
pub use self::bits32::{PageTable32, PageTable32Cursor, PagingMetaData32};
pub use self::cursor::PageTable64Cursor;
pub use self::flush::{FLUSH_BATCH_PAGES, FlushBatch, TlbFlush};
pub use self::frame::PhysRegion;
pub use self::iter::{Mapping, Mappings};
pub use self::table::{OnPresent, PageTable64};
#[doc(no_inline)]
pub use page_table_entry::{GenericPTE, MappingFlags};

/// Architecture facts of one paging mode, and the only place that runs
/// TLB-maintenance instructions.
///
/// Virtual addresses are `VA_MAX_BITS`-bit canonical addresses: the bits
/// above bit `VA_MAX_BITS - 1` repeat it (lower and upper half).
/// [`vaddr_is_valid`](Self::vaddr_is_valid) may restrict them further.
/// `PageTable64` requires `2 <= LEVELS <= 5`, `VA_MAX_BITS <= 12 + 9 * LEVELS`
/// and `PA_MAX_BITS < 64` (checked at compile time when the table type is
/// used).
pub trait PagingMetaData: Sync + Send + 'static {
    /// Number of translation levels (3 for Sv39, 4 for Sv48/x86-64/AArch64/LoongArch64).
    const LEVELS: usize;
    /// Physical address width: frames must lie below `1 << PA_MAX_BITS`.
    const PA_MAX_BITS: usize;
    /// Virtual address width.
    const VA_MAX_BITS: usize;
    /// The highest valid physical address (`2^PA_MAX_BITS - 1`).
    const PA_MAX_ADDR: usize = usize::MAX >> (usize::BITS as usize - Self::PA_MAX_BITS);
    /// Which addresses the `2^VA_MAX_BITS` bytes a table translates are
    /// (default [`VaLayout::Canonical`]).
    const VA_LAYOUT: VaLayout = VaLayout::Canonical;
    /// Whether the TLB may cache an entry that is not valid, so that making an
    /// entry valid needs a flush of its page (default `true`: RISC-V allows it).
    /// `false` where the architecture never caches a not-present entry (x86-64:
    /// Intel SDM Vol. 3A §4.10.4.3), which lets callers skip that flush, as
    /// Linux does on a page fault.
    const CACHES_INVALID: bool = true;
    /// The virtual address type (usually [`VirtAddr`]).
    type VirtAddr: MemoryAddr;

    /// Whether `paddr` is a valid physical address (default: at most
    /// [`PA_MAX_ADDR`](Self::PA_MAX_ADDR)). The page tables check frames
    /// against `PA_MAX_BITS`; the cursor layer also asks this function.
    #[inline]
    fn paddr_is_valid(paddr: usize) -> bool {
        paddr <= Self::PA_MAX_ADDR
    }

    /// Whether `vaddr` may be translated. Default: the addresses of
    /// [`VA_LAYOUT`](Self::VA_LAYOUT). Overrides can only restrict them.
    fn vaddr_is_valid(vaddr: usize) -> bool {
        // The same function as `PageTable64`'s own check, so that the
        // compiler merges this default with it.
        Self::VA_LAYOUT.contains(vaddr, Self::VA_MAX_BITS)
    }

    /// Invalidates the TLB entry of `vaddr`, or every entry (including global
    /// ones) when `None`. The arch types run the instruction only when built
    /// for `target_os = "none"` on their own arch; elsewhere this is a no-op,
    /// so host tests never execute a privileged instruction.
    ///
    /// `None` must also drop cached intermediate tables (paging-structure
    /// caches): page-table operations call it themselves right before they
    /// free table frames they unlinked (see [Freeing table
    /// frames](crate#freeing-table-frames)). On SMP it must reach every CPU
    /// on which the table may be active.
    fn flush_tlb(vaddr: Option<Self::VirtAddr>);
}

/// Whether `vaddr` is canonical for `bits`-bit addresses (`1..=64`): bits
/// `bits - 1` and up are all equal. Adding `2^(bits - 1)` (wrapping) maps
/// exactly the canonical addresses below `2^bits`: one add and one compare.
#[inline(always)]
pub(crate) const fn is_canonical(vaddr: usize, bits: usize) -> bool {
    vaddr.wrapping_add(1 << (bits - 1)) >> (bits - 1) <= 1
}

/// How the virtual addresses of a paging mode map onto the `VA_MAX_BITS`
/// bits its tables translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VaLayout {
    /// Sign-extended from bit `VA_MAX_BITS - 1`: a lower half from 0 and an
    /// upper half ending at `2^64` (RISC-V, x86-64, LoongArch64).
    Canonical,
    /// Two halves of `2^VA_MAX_BITS` bytes each, `[0, 2^VA_MAX_BITS)` and
    /// `[2^64 - 2^VA_MAX_BITS, 2^64)`, translated alike by one table (AArch64
    /// `TTBR0`/`TTBR1`): bits `VA_MAX_BITS..64` are all equal.
    SplitHalves,
    /// `[0, 2^VA_MAX_BITS)` without sign extension: guest-physical address
    /// spaces (EPT, NPT, AArch64 stage 2).
    ZeroExtended,
}

impl VaLayout {
    /// Whether `vaddr` belongs to the layout with `bits` translated bits.
    #[inline(always)]
    pub const fn contains(self, vaddr: usize, bits: usize) -> bool {
        match self {
            Self::Canonical => is_canonical(vaddr, bits),
            Self::SplitHalves => is_canonical(vaddr, bits + 1),
            Self::ZeroExtended => vaddr >> bits == 0,
        }
    }
}

/// Services of the OS: physical frames and the kernel's view of them.
///
/// # Safety
///
/// Implementations promise that
/// - `alloc_frame` returns 4 KiB-aligned frames of 4 KiB that the caller owns
///   exclusively until it passes them to `dealloc_frame`, and never returns a
///   frame twice without it being freed in between;
/// - `phys_to_virt(pa)` of an allocated frame gives a pointer through which
///   the whole frame can be read and written, from any thread the frame's
///   owner may be on, for as long as the frame is allocated;
/// - `dealloc_frame` accepts every frame `alloc_frame` returned;
/// - `alloc_frames(num, align)` returns `num` physically contiguous frames
///   starting at a multiple of `align`, each writable through `phys_to_virt`
///   (the frames of one call need not be virtually contiguous), and
///   `dealloc_frames(paddr, num)` accepts exactly what it returned;
/// - `alloc_frames_separable(num, align)` returns such a run whose frames
///   `dealloc_frame` accepts one at a time, in any order;
/// - at least one method of each pair `alloc_frame`/`alloc_frames` and
///   `dealloc_frame`/`dealloc_frames` is implemented (the defaults call
///   each other, as in arceos 0.6).
///
/// The page table writes table frames through `phys_to_virt` and hands their
/// physical addresses to hardware, so a wrong implementation corrupts memory.
pub unsafe trait PagingHandler: Sized + 'static {
    /// Allocates one 4K frame (contents unspecified), or `None` when out of
    /// memory. Default: `alloc_frames(1, PAGE_SIZE_4K)`.
    fn alloc_frame() -> Option<PhysAddr> {
        Self::alloc_frames(1, PAGE_SIZE_4K)
    }
    /// Allocates `num` contiguous 4K frames whose first address is a multiple
    /// of `align` (a power of two, at least 4K). Only the 32-bit ARM tables
    /// need more than one frame (a 16 KiB root). Default: one frame through
    /// [`alloc_frame`](Self::alloc_frame), `None` for anything larger.
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr> {
        if num == 1 && align <= PAGE_SIZE_4K {
            Self::alloc_frame()
        } else {
            None
        }
    }
    /// Allocates `num` contiguous 4K frames starting at a multiple of `align`
    /// (as [`alloc_frames`](Self::alloc_frames)) that are later freed one at
    /// a time with [`dealloc_frame`](Self::dealloc_frame): the frames of a
    /// huge page, which may be split and freed piecemeal. Default: `None`
    /// (no such runs; callers fall back to single frames).
    fn alloc_frames_separable(num: usize, align: usize) -> Option<PhysAddr> {
        let _ = (num, align);
        None
    }
    /// Called by a table's `Drop` with its root before any of its frames is
    /// freed. A handler whose tables a CPU may have active (a kernel's)
    /// switches that CPU to another table here, so that dropping an active
    /// table never leaves the hardware walking freed frames. Default: nothing
    /// (tables that are never activated, as in tests and on the host).
    fn table_dropping(root: PhysAddr) {
        let _ = root;
    }
    /// Frees a frame returned by [`alloc_frame`](Self::alloc_frame).
    /// Default: `dealloc_frames(paddr, 1)`.
    ///
    /// # Safety
    /// `paddr` came from this handler's `alloc_frame`, has not been freed
    /// since, and nothing uses it any more: no page table links it (as a
    /// table or, unless it was flushed from every TLB, as a mapped frame), no
    /// CPU has it active, and no Rust reference or pointer into it is used
    /// again. Freeing a frame that is still in use gives it two owners.
    ///
    /// Safe code cannot free a frame (here the root of a live table):
    ///
    /// ```compile_fail,E0133
    /// use page_table_multiarch::{PagingHandler, testing::CountingHandler};
    /// use page_table_multiarch::x86_64::X64PageTable;
    ///
    /// let pt = X64PageTable::<CountingHandler>::try_new().unwrap();
    /// CountingHandler::dealloc_frame(pt.root_paddr());
    /// ```
    unsafe fn dealloc_frame(paddr: PhysAddr) {
        // SAFETY: the caller's contract is the one `dealloc_frames` asks for one frame.
        unsafe { Self::dealloc_frames(paddr, 1) }
    }
    /// Frees `num` frames returned by one [`alloc_frames`](Self::alloc_frames)
    /// call (`num` as passed to it). Default: one
    /// [`dealloc_frame`](Self::dealloc_frame) per frame.
    ///
    /// # Safety
    /// As [`dealloc_frame`](Self::dealloc_frame), for every frame of the run.
    unsafe fn dealloc_frames(paddr: PhysAddr, num: usize) {
        for i in 0..num {
            let frame = PhysAddr::from_usize(paddr.as_usize().wrapping_add(i * PAGE_SIZE_4K));
            // SAFETY: each frame of the run is one `alloc_frames` gave out; the caller
            // guarantees none is used any more.
            unsafe { Self::dealloc_frame(frame) };
        }
    }
    /// The virtual address through which the kernel accesses `paddr`.
    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr;
}

/// The size of a leaf mapping.
#[repr(usize)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 4 KiB page (last-level entry).
    Size4K = 0x1000,
    /// 1 MiB section (ARMv7 short descriptors, [`PageTable32`] only).
    Size1M = 0x10_0000,
    /// 2 MiB huge page (entry one level above the last).
    Size2M = 0x20_0000,
    /// 1 GiB huge page (entry two levels above the last).
    Size1G = 0x4000_0000,
}

impl PageSize {
    /// Whether this is a huge page (larger than 4K).
    pub const fn is_huge(self) -> bool {
        !matches!(self, Self::Size4K)
    }

    /// Whether `addr_or_size` is a multiple of this page size.
    pub const fn is_aligned(self, addr_or_size: usize) -> bool {
        addr_or_size & (self as usize - 1) == 0
    }

    /// The offset of `addr` inside its page of this size.
    pub const fn align_offset(self, addr: usize) -> usize {
        addr & (self as usize - 1)
    }

    /// The level (0 = last level) of [`PageTable64`] leaves of this size;
    /// for `Size1M`, which those tables cannot hold, the level of the
    /// largest leaf not larger (4K): `map` refuses it, `map_region` takes
    /// it as a limit.
    pub const fn level(self) -> usize {
        match self {
            Self::Size4K | Self::Size1M => 0,
            Self::Size2M => 1,
            Self::Size1G => 2,
        }
    }

    /// The page size of leaves at `level` (0 = last level), if any.
    pub const fn from_level(level: usize) -> Option<Self> {
        match level {
            0 => Some(Self::Size4K),
            1 => Some(Self::Size2M),
            2 => Some(Self::Size1G),
            _ => None,
        }
    }
}

impl From<PageSize> for usize {
    fn from(size: PageSize) -> usize {
        size as usize
    }
}

/// Why a page-table operation failed. A failed operation changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PagingError {
    /// A table frame could not be allocated (the operation was rolled back).
    NoMemory,
    /// An address, size or physical address is not aligned to the page size.
    NotAligned,
    /// Nothing is mapped at the address.
    NotMapped,
    /// Something is already mapped where a new mapping was requested, or a
    /// present frame would be replaced without being asked to.
    AlreadyMapped,
    /// The address lies inside a huge page but not at its start (use the
    /// range operations, which split huge pages).
    MappedToHugePage,
    /// Bad input: empty or overflowing range, a virtual address outside the
    /// paging mode's range (non-canonical), a physical address at or beyond
    /// `1 << PA_MAX_BITS`, or a page size the format cannot hold.
    InvalidAddress,
    /// The range touches a top-level slot borrowed from another table with
    /// [`PageTable64::share_from`] / [`PageTable64::copy_from`]. The tables
    /// below such a slot belong to the lender (and may be active on a CPU):
    /// the borrower only reads them, so every operation that would change a
    /// mapping there (`map`, `unmap`, `protect`, `remap`, the range
    /// operations, `clone_range_into` on either side) fails with this error
    /// and changes nothing. Only `copy_from`/`share_from` may replace a
    /// shared slot.
    Shared,
}

impl fmt::Display for PagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoMemory => "out of memory for page-table frames",
            Self::NotAligned => "address or size not aligned to the page size",
            Self::NotMapped => "address not mapped",
            Self::AlreadyMapped => "address already mapped",
            Self::MappedToHugePage => "address inside a huge page",
            Self::InvalidAddress => "invalid address or range",
            Self::Shared => "range shared with another page table",
        })
    }
}

impl core::error::Error for PagingError {}

/// The result of a page-table operation.
pub type PagingResult<T = ()> = Result<T, PagingError>;
