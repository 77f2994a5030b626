//! The anchor (crates.io `page_table_multiarch` 0.6.2) set up for the host.
//!
//! Its arch metadata types flush with privileged instructions and its RISC-V, AArch64 and
//! LoongArch types only exist on builds for those targets, so the benchmark supplies metadata
//! with no-op flushes and, for those modes, small entry types written from the architecture
//! manuals (same work per entry as the anchor's own: a few bit operations).

use anchor_memory_addr::{PhysAddr, VirtAddr};
use anchor_page_table_entry::x86_64::X64PTE;
use anchor_page_table_multiarch::{GenericPTE, MappingFlags, PageTable64, PagingMetaData};

use super::common::{Frames, GIB, Table, VA_BASE, pa_of};

impl anchor_page_table_multiarch::PagingHandler for Frames {
    fn alloc_frame() -> Option<PhysAddr> {
        pagoda_bench::alloc_frame().map(PhysAddr::from_usize)
    }
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr> {
        // Only single frames are used by page tables.
        if num == 1 && align <= pagoda_bench::FRAME {
            Self::alloc_frame()
        } else {
            None
        }
    }
    fn dealloc_frame(paddr: PhysAddr) {
        pagoda_bench::dealloc_frame(paddr.as_usize());
    }
    fn dealloc_frames(paddr: PhysAddr, num: usize) {
        assert_eq!(num, 1, "only single frames are allocated");
        Self::dealloc_frame(paddr);
    }
    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from_usize(paddr.as_usize())
    }
}

/// x86-64 4-level paging without the `invlpg` flush.
pub struct X64Meta;

impl PagingMetaData for X64Meta {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 52;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;
    fn flush_tlb(_vaddr: Option<VirtAddr>) {}
}

/// Sv39 paging without the `sfence.vma` flush.
pub struct Sv39Meta;

impl PagingMetaData for Sv39Meta {
    const LEVELS: usize = 3;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 39;
    type VirtAddr = VirtAddr;
    fn flush_tlb(_vaddr: Option<VirtAddr>) {}
}

/// An Sv39/Sv48 entry: V R W X U G A D in bits 0..8, PPN in bits 10..54.
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub struct SvPte(u64);

const V: u64 = 1 << 0;
const R: u64 = 1 << 1;
const W: u64 = 1 << 2;
const X: u64 = 1 << 3;
const U: u64 = 1 << 4;
const A: u64 = 1 << 6;
const D: u64 = 1 << 7;
const PPN_MASK: u64 = ((1 << 44) - 1) << 10;

impl SvPte {
    fn leaf_bits(flags: MappingFlags) -> u64 {
        let mut bits = V | A | D;
        if flags.contains(MappingFlags::READ) {
            bits |= R;
        }
        if flags.contains(MappingFlags::WRITE) {
            bits |= W;
        }
        if flags.contains(MappingFlags::EXECUTE) {
            bits |= X;
        }
        if flags.contains(MappingFlags::USER) {
            bits |= U;
        }
        bits
    }

    fn ppn(paddr: PhysAddr) -> u64 {
        ((paddr.as_usize() as u64) >> 2) & PPN_MASK
    }
}

impl GenericPTE for SvPte {
    fn new_page(paddr: PhysAddr, flags: MappingFlags, _is_huge: bool) -> Self {
        Self(Self::leaf_bits(flags) | Self::ppn(paddr))
    }
    fn new_table(paddr: PhysAddr) -> Self {
        Self(V | Self::ppn(paddr))
    }
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from_usize(((self.0 & PPN_MASK) << 2) as usize)
    }
    fn flags(&self) -> MappingFlags {
        let mut f = MappingFlags::empty();
        if self.0 & V == 0 {
            return f;
        }
        for (bit, flag) in [
            (R, MappingFlags::READ),
            (W, MappingFlags::WRITE),
            (X, MappingFlags::EXECUTE),
            (U, MappingFlags::USER),
        ] {
            if self.0 & bit != 0 {
                f |= flag;
            }
        }
        f
    }
    fn set_paddr(&mut self, paddr: PhysAddr) {
        self.0 = (self.0 & !PPN_MASK) | Self::ppn(paddr);
    }
    fn set_flags(&mut self, flags: MappingFlags, _is_huge: bool) {
        self.0 = (self.0 & PPN_MASK) | Self::leaf_bits(flags);
    }
    fn bits(self) -> usize {
        self.0 as usize
    }
    fn is_unused(&self) -> bool {
        self.0 == 0
    }
    fn is_present(&self) -> bool {
        self.0 & V != 0
    }
    fn is_huge(&self) -> bool {
        // A valid entry with R or X set is a leaf; above the last level that is a huge page.
        self.0 & (R | X) != 0
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
}

/// The anchor for x86-64 4-level paging.
pub type X64 = PageTable64<X64Meta, X64PTE, Frames>;
/// The anchor for Sv39.
pub type Sv39 = PageTable64<Sv39Meta, SvPte, Frames>;

macro_rules! impl_anchor {
    ($ty:ty) => {
        impl Table for $ty {
            fn new() -> Self {
                Self::try_new().expect("root frame")
            }
            fn map_4k(&mut self, va: usize, size: usize) {
                self.cursor()
                    .map_region(
                        VirtAddr::from_usize(va),
                        |va: VirtAddr| PhysAddr::from_usize(pa_of(va.as_usize())),
                        size,
                        MappingFlags::READ | MappingFlags::WRITE,
                        false,
                    )
                    .expect("map_region");
            }
            fn unmap_gib(&mut self) {
                self.cursor()
                    .unmap_region(VirtAddr::from_usize(VA_BASE), GIB)
                    .expect("unmap_region");
            }
            fn protect_gib(&mut self, write: bool) {
                let flags = if write {
                    MappingFlags::READ | MappingFlags::WRITE
                } else {
                    MappingFlags::READ
                };
                self.cursor()
                    .protect_region(VirtAddr::from_usize(VA_BASE), GIB, flags)
                    .expect("protect_region");
            }
            // Inlined into the measuring loop for both sides alike.
            #[inline(always)]
            fn query(&self, va: usize) -> usize {
                let (pa, _, _) = <$ty>::query(self, VirtAddr::from_usize(va)).expect("query");
                pa.as_usize()
            }
            fn probe(&self, va: usize) -> Option<bool> {
                let (_, flags, _) = <$ty>::query(self, VirtAddr::from_usize(va)).ok()?;
                Some(flags.contains(MappingFlags::WRITE))
            }
        }
    };
}
impl_anchor!(X64);
impl_anchor!(Sv39);

// After the macro, so that the module sees it.
#[path = "anchor_more.rs"]
mod more;
#[allow(unused_imports)] // the criterion bench uses only the x86-64 and Sv39 anchors
pub use self::more::{A64, LA64, Sv48};
