//! AArch64 VMSAv8-64, 4K granule, 4 levels.

use memory_addr::VirtAddr;
pub use page_table_entry::aarch64::A64PTE;

use crate::{PageTable64, PageTable64Cursor, PagingMetaData};

/// AArch64 4-level translation (4K granule): 48-bit virtual and physical addresses.
///
/// `TTBR0_EL1` translates `[0, 2^48)` and `TTBR1_EL1`
/// `[0xffff_0000_0000_0000, 2^64)` (`T0SZ = T1SZ = 16`), each with a table
/// indexed by VA bits 47..0 (Arm ARM DDI 0487, D8.2 "Translation table
/// walk", VA ranges of the two halves). So both ranges are valid here
/// ([`SPLIT_HALVES`](PagingMetaData::SPLIT_HALVES)), and an address of one
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
    const SPLIT_HALVES: bool = true;
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
