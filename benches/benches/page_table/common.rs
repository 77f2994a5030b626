//! What the page-table benches share: the frame handler, the `Table` abstraction over ours and
//! the anchor, the mapped gigabyte and the sanity check.

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{MappingFlags, PageSize};
use pagoda_bench::{FRAME, Rng};

pub const GIB: usize = 1 << 30;
/// Start of the mapped gigabyte: 1 GiB-aligned, in the lower half of every mode.
pub const VA_BASE: usize = 0x10_0000_0000;
/// Gigabytes touched by [`Table::map_spread`] (all in the lower half of every mode).
pub const SPREAD_BLOCKS: usize = 64;
/// Physical address of the first leaf (leaves are never accessed).
pub const PA_BASE: usize = 0x8000_0000;

/// The frame handler of every page table here: the shared arena, identity-mapped.
pub struct Frames;

// SAFETY: the arena hands out distinct 4K-aligned 4K host allocations that stay valid for the
// whole process; with `phys_to_virt` as the identity, every frame is writable through it.
unsafe impl page_table_multiarch::PagingHandler for Frames {
    fn alloc_frame() -> Option<PhysAddr> {
        pagoda_bench::alloc_frame().map(PhysAddr::from_usize)
    }
    unsafe fn dealloc_frame(paddr: PhysAddr) {
        pagoda_bench::dealloc_frame(paddr.as_usize());
    }
    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from_usize(paddr.as_usize())
    }
}

/// One page-table implementation, reduced to what the benchmarks do.
pub trait Table: Sized {
    fn new() -> Self;
    /// Maps `[va, va + size)` with 4K leaves, read+write, to the frames of [`pa_of`].
    fn map_4k(&mut self, va: usize, size: usize);
    /// Maps `[VA_BASE, VA_BASE + 1 GiB)`.
    fn map_gib(&mut self) {
        self.map_4k(VA_BASE, GIB);
    }
    /// Unmaps the gigabyte.
    fn unmap_gib(&mut self);
    /// Makes the gigabyte read-only (`false`) or read+write (`true`).
    fn protect_gib(&mut self, write: bool);
    /// Maps the first 4K page of each of [`SPREAD_BLOCKS`] gigabytes from `VA_BASE` on.
    fn map_spread(&mut self) {
        for b in 0..SPREAD_BLOCKS {
            self.map_4k(VA_BASE + b * GIB, FRAME);
        }
    }
    /// The physical address `va` translates to.
    fn query(&self, va: usize) -> usize;
    /// Whether `va` is mapped, and if so whether writable (for the sanity check).
    fn probe(&self, va: usize) -> Option<bool>;
}

/// `n` random 8-byte-aligned addresses (fixed seed): inside the mapped gigabyte, or with
/// `spread` inside the pages of [`Table::map_spread`], a random gigabyte each.
pub fn query_addrs(n: usize, spread: bool) -> Vec<usize> {
    let mut rng = Rng::new(0x5eed);
    (0..n)
        .map(|_| match spread {
            false => VA_BASE + rng.below(GIB / 8) * 8,
            true => VA_BASE + rng.below(SPREAD_BLOCKS) * GIB + rng.below(FRAME / 8) * 8,
        })
        .collect()
}

/// Checks that the operations do what the benchmarks assume, on a throwaway table.
pub fn check<T: Table>(who: &str) {
    let mut t = T::new();
    let (first, last) = (VA_BASE, VA_BASE + GIB - FRAME);
    t.map_gib();
    assert_eq!(t.query(last + 8), pa_of(last) + 8, "{who}: map");
    assert_eq!(t.probe(first), Some(true), "{who}: map flags");
    t.protect_gib(false);
    assert_eq!(
        (t.probe(first), t.probe(last)),
        (Some(false), Some(false)),
        "{who}: protect"
    );
    t.unmap_gib();
    assert_eq!(
        (t.probe(first), t.probe(last)),
        (None, None),
        "{who}: unmap"
    );
}

/// Frame of the page at `va` (huge leaves can never be chosen: `PA_BASE` and `VA_BASE` agree
/// on 2M alignment, but both sides are asked for 4K leaves explicitly anyway).
pub fn pa_of(va: usize) -> usize {
    PA_BASE + (va - VA_BASE)
}

pub type OursX64 = page_table_multiarch::x86_64::X64PageTable<Frames>;
pub type OursSv39 = page_table_multiarch::riscv::Sv39PageTable<Frames>;
pub type OursSv48 = page_table_multiarch::riscv::Sv48PageTable<Frames>;
pub type OursA64 = page_table_multiarch::aarch64::A64PageTable<Frames>;
pub type OursLA64 = page_table_multiarch::loongarch64::LA64PageTable<Frames>;

macro_rules! impl_ours {
    ($($ty:ty),*) => {$(
        impl Table for $ty {
            fn new() -> Self {
                Self::try_new().expect("root frame")
            }
            fn map_4k(&mut self, va: usize, size: usize) {
                self.map_region(
                    VirtAddr::from_usize(va),
                    |va: VirtAddr| PhysAddr::from_usize(pa_of(va.as_usize())),
                    size,
                    MappingFlags::READ | MappingFlags::WRITE,
                    PageSize::Size4K,
                )
                .expect("map_region")
                .ignore();
            }
            fn unmap_gib(&mut self) {
                let (_, batch) = self
                    .unmap_region(VirtAddr::from_usize(VA_BASE), GIB)
                    .expect("unmap_region");
                batch.ignore();
            }
            fn protect_gib(&mut self, write: bool) {
                let flags = if write {
                    MappingFlags::READ | MappingFlags::WRITE
                } else {
                    MappingFlags::READ
                };
                self.protect_region(VirtAddr::from_usize(VA_BASE), GIB, flags)
                    .expect("protect_region")
                    .ignore();
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
    )*};
}
impl_ours!(OursX64, OursSv39, OursSv48, OursA64, OursLA64);
