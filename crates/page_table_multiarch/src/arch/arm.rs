//! ARMv7-A short-descriptor translation (VMSAv7 without LPAE), for
//! [`PageTable32`](crate::PageTable32).

use memory_addr::VirtAddr;
pub use page_table_entry::arm::A32PTE;

use crate::{PageTable32, PageTable32Cursor, PagingMetaData, PagingMetaData32};

/// ARMv7-A short descriptors: 4096 first-level entries of 1 MiB (a 16 KiB,
/// 16 KiB-aligned table for `TTBR0` with `TTBCR.N` = 0) and second-level
/// tables of 256 small pages; 32-bit virtual and physical addresses. Every
/// 32-bit address is valid. Program the registers as
/// [`page_table_entry::arm`] documents (TEX remap, `DACR`).
#[derive(Debug, Clone, Copy)]
pub struct A32PagingMetaData;

impl PagingMetaData for A32PagingMetaData {
    const LEVELS: usize = 2;
    const PA_MAX_BITS: usize = 32;
    const VA_MAX_BITS: usize = 32;
    type VirtAddr = VirtAddr;

    fn vaddr_is_valid(vaddr: usize) -> bool {
        vaddr <= u32::MAX as usize
    }

    /// `TLBIMVAAIS` (by address, all ASIDs, Inner Shareable) or `TLBIALLIS`,
    /// after a `dsb` that makes the table stores visible and followed by
    /// `dsb; isb` (ARMv7-A ARM, B4.2.2 "TLB maintenance operations").
    #[inline]
    fn flush_tlb(vaddr: Option<VirtAddr>) {
        #[cfg(all(target_os = "none", target_arch = "arm"))]
        // SAFETY: TLB maintenance and barriers only (PL1 required, where a
        // `target_os = "none"` kernel runs this).
        unsafe {
            match vaddr {
                Some(va) => core::arch::asm!(
                    "dsb",
                    "mcr p15, 0, {0}, c8, c3, 3",
                    "dsb",
                    "isb",
                    in(reg) va.as_usize() & !0xfff,
                    options(nostack)
                ),
                None => core::arch::asm!(
                    "dsb",
                    "mcr p15, 0, {0}, c8, c3, 0",
                    "dsb",
                    "isb",
                    in(reg) 0usize,
                    options(nostack)
                ),
            }
        }
        #[cfg(not(all(target_os = "none", target_arch = "arm")))]
        let _ = vaddr;
    }
}

/// First level: VA bits 31..20; second level: bits 19..12 (B3.5 "Short-descriptor
/// translation table format").
impl PagingMetaData32 for A32PagingMetaData {
    const L1_SHIFT: usize = 20;
    const L1_ENTRIES: usize = 4096;
    const L2_ENTRIES: usize = 256;
    const ROOT_FRAMES: usize = 4;
}

/// ARMv7-A short-descriptor page table.
pub type A32PageTable<H> = PageTable32<A32PagingMetaData, A32PTE, H>;
/// Cursor over an [`A32PageTable`] (arceos 0.6 name).
pub type A32PageCursor<'a, H> = PageTable32Cursor<'a, A32PagingMetaData, A32PTE, H>;
/// Cursor over an [`A32PageTable`].
pub type A32PageTableCursor<'a, H> = A32PageCursor<'a, H>;
