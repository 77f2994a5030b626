//! AArch64 VMSAv8-64, 4K granule, 4 levels.

use memory_addr::VirtAddr;
pub use page_table_entry::aarch64::A64PTE;

use crate::{PageTable64, PagingMetaData};

/// AArch64 4-level translation (4K granule): 48-bit virtual and physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct A64PagingMetaData;

impl PagingMetaData for A64PagingMetaData {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 48;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;

    /// The two VMSAv8-64 translation ranges with 48-bit regions (T0SZ = T1SZ = 16):
    /// `TTBR0_EL1` covers `[0, 2^48)`, `TTBR1_EL1` covers `[0xffff_0000_0000_0000, 2^64)`.
    /// Unlike x86-64 there is no sign extension from bit 47: the range is chosen by bits
    /// 48..64 being all zeros or all ones.
    #[inline]
    fn vaddr_is_valid(vaddr: usize) -> bool {
        let top = vaddr >> Self::VA_MAX_BITS;
        top == 0 || top == usize::MAX >> Self::VA_MAX_BITS
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ttbr_ranges_are_valid() {
        let valid = A64PagingMetaData::vaddr_is_valid;
        // TTBR0: the whole lower 2^48, including its top half (no bit-47 rule).
        for va in [
            0,
            0x1000,
            0x7fff_ffff_ffff,
            0x8000_0000_0000,
            0xffff_ffff_ffff,
        ] {
            assert!(valid(va), "{va:#x}");
        }
        // TTBR1: the whole upper 2^48, e.g. a kernel at 0xffff_0000_4008_0000.
        for va in [
            0xffff_0000_0000_0000,
            0xffff_0000_4008_0000,
            0xffff_7fff_ffff_ffff,
            0xffff_8000_0000_0000,
            usize::MAX,
        ] {
            assert!(valid(va), "{va:#x}");
        }
        // Neither range: bits 48..64 mixed.
        for va in [
            0x0001_0000_0000_0000,
            0x8000_0000_0000_0000,
            0xfffe_ffff_ffff_ffff,
            0x7fff_0000_0000_0000,
        ] {
            assert!(!valid(va), "{va:#x}");
        }
    }
}
