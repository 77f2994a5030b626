//! AArch64 VMSAv8-64, 4K granule, 4 levels.

use memory_addr::VirtAddr;
pub use page_table_entry::aarch64::A64PTE;

use crate::{PageTable64, PageTable64Cursor, PagingMetaData, VaLayout};

/// AArch64 4-level translation (4K granule): 48-bit virtual and physical addresses.
///
/// `TTBR0_EL1` translates `[0, 2^48)` and `TTBR1_EL1`
/// `[0xffff_0000_0000_0000, 2^64)` (`T0SZ = T1SZ = 16`), each with a table
/// indexed by VA bits 47..0 (Arm ARM DDI 0487, D8.2 "Translation table
/// walk", VA ranges of the two halves). So both ranges are valid here
/// ([`VaLayout::SplitHalves`]), and an address of one
/// half uses the same entries as the address with the other top bits: a table
/// loaded into both registers shows the same mappings in both halves, and
/// mapping a page already mapped through the other half fails with
/// `AlreadyMapped`. [`PageTable64::iter`] reports leaves at their lower-half
/// addresses; `iter_range` over an upper-half range reports upper-half ones.
#[derive(Debug, Clone, Copy)]
pub struct A64PagingMetaData;

impl PagingMetaData for A64PagingMetaData {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 48;
    const VA_MAX_BITS: usize = 48;
    const VA_LAYOUT: VaLayout = VaLayout::SplitHalves;
    type VirtAddr = VirtAddr;

    /// `tlbi vaae1is` (by VA, all ASIDs, inner shareable) or `tlbi vmalle1is`,
    /// preceded by `dsb ishst` (table stores visible to the walker) and
    /// followed by `dsb ish; isb`.
    #[inline]
    fn flush_tlb(vaddr: Option<VirtAddr>) {
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: TLB invalidation and barriers only; EL1 is required, which
        // is where a `target_os = "none"` kernel runs this.
        unsafe {
            match vaddr {
                Some(va) => {
                    let arg = (va.as_usize() >> 12) & ((1 << 44) - 1);
                    core::arch::asm!("dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb", in(reg) arg, options(nostack));
                }
                None => core::arch::asm!(
                    "dsb ishst",
                    "tlbi vmalle1is",
                    "dsb ish",
                    "isb",
                    options(nostack)
                ),
            }
        }
        #[cfg(not(all(target_os = "none", target_arch = "aarch64")))]
        let _ = vaddr;
    }
}

/// AArch64 4-level page table. Use [`page_table_entry::aarch64::MAIR_VALUE`]
/// for `MAIR_EL1`.
pub type A64PageTable<H> = PageTable64<A64PagingMetaData, A64PTE, H>;
/// Cursor over an [`A64PageTable`] (arceos 0.6 name).
pub type A64PageTableCursor<'a, H> = PageTable64Cursor<'a, A64PagingMetaData, A64PTE, H>;

#[cfg(test)]
mod tests {
    use memory_addr::{PhysAddr, VirtAddr};

    use super::*;
    use crate::testing::{CountingHandler, FlushRecord, RecordingMeta, take_flushes};
    use crate::{MappingFlags, PageSize, PagingError};

    type Pt = PageTable64<RecordingMeta<A64PagingMetaData>, A64PTE, CountingHandler>;
    const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
    const KERNEL: usize = 0xffff_0000_4008_0000;

    fn va(x: usize) -> VirtAddr {
        VirtAddr::from_usize(x)
    }

    // Regression: the upper half starts at 0xffff_0000_0000_0000 (TTBR1 with
    // T1SZ = 16), not at the x86 boundary 0xffff_8000_0000_0000.
    #[test]
    fn both_ttbr_halves_are_valid() {
        CountingHandler::reset();
        let mut pt = Pt::try_new().unwrap();
        for a in [
            KERNEL,
            0xffff_7fff_ffff_f000,
            0x8000_0000_0000,
            0xffff_ffff_ffff_f000,
        ] {
            take_flushes();
            pt.map(
                va(a),
                PhysAddr::from_usize(0x4008_0000),
                PageSize::Size4K,
                RW,
            )
            .unwrap()
            .flush();
            assert_eq!(take_flushes(), [FlushRecord::Page(a)]);
            assert_eq!(
                pt.query(va(a + 0x123)).unwrap().0,
                PhysAddr::from_usize(0x4008_0123)
            );
            pt.unmap(va(a)).unwrap().3.flush();
        }
        for bad in [
            0x1_0000_0000_0000,
            0xfffe_ffff_ffff_f000,
            0x8000_0000_0000_0000,
        ] {
            assert_eq!(pt.query(va(bad)), Err(PagingError::InvalidAddress));
        }
        // A range may not cross from one half into the other.
        assert_eq!(
            pt.map_region(
                va(0xffff_ffff_ffff_f000),
                |_| PhysAddr::from_usize(0),
                0x2000,
                RW,
                PageSize::Size4K
            )
            .err(),
            Some(PagingError::InvalidAddress)
        );
        take_flushes();
    }

    #[test]
    fn upper_half_ranges_report_upper_addresses() {
        CountingHandler::reset();
        let mut pt = Pt::try_new().unwrap();
        let base = 0xffff_0000_4000_0000;
        let off = base - 0x4000_0000;
        pt.map_region(
            va(base),
            |v| PhysAddr::from_usize(v.as_usize() - off),
            0x20_3000,
            RW,
            PageSize::Size1G,
        )
        .unwrap()
        .flush();
        // get_paddr saw upper-half addresses, so the frames are right.
        assert_eq!(
            pt.query(va(base + 0x20_1000)).unwrap(),
            (PhysAddr::from_usize(0x4020_1000), RW, PageSize::Size4K)
        );
        assert_eq!(pt.query(va(base)).unwrap().2, PageSize::Size2M);
        let starts: Vec<_> = pt
            .iter_range(va(base), 0x40_0000)
            .unwrap()
            .map(|m| m.vaddr.as_usize())
            .collect();
        assert_eq!(
            starts,
            [base, base + 0x20_0000, base + 0x20_1000, base + 0x20_2000]
        );
        take_flushes();
        let mut seen = Vec::new();
        let (bytes, batch) = pt
            .unmap_region_with(va(base + 0x10_0000), 0x11_0000, |v, _, _, _| {
                seen.push(v.as_usize())
            })
            .unwrap();
        batch.flush();
        assert_eq!(bytes, 0x10_3000); // half the 2M page and three 4K pages
        assert_eq!(seen.first(), Some(&(base + 0x10_0000)));
        assert!(take_flushes().iter().all(|f| match f {
            FlushRecord::Page(a) => *a >= base,
            FlushRecord::All => true,
        }));
        // The lower-half alias of a mapped page is the same entry: refused.
        assert_eq!(
            pt.map(
                va(0x4000_0000),
                PhysAddr::from_usize(0),
                PageSize::Size4K,
                RW
            )
            .err(),
            Some(PagingError::AlreadyMapped)
        );
        drop(pt);
        assert_eq!(CountingHandler::live_frames(), 0);
    }
}
