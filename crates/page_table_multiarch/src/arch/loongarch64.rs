//! LoongArch64 4-level paging (4K pages).

use memory_addr::VirtAddr;
pub use page_table_entry::loongarch64::LA64PTE;

use crate::{PageTable64, PagingMetaData};

/// LoongArch64 4-level paging: 48-bit virtual and physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct LA64MetaData;

impl PagingMetaData for LA64MetaData {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 48;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;

    /// `invtlb 0x6` (entries of `vaddr` that are global or of ASID 0) or
    /// `invtlb 0x0` (everything), after a `dbar 0`.
    #[inline]
    fn flush_tlb(vaddr: Option<VirtAddr>) {
        #[cfg(all(target_os = "none", target_arch = "loongarch64"))]
        // SAFETY: TLB invalidation and a barrier only (PLV0 required, where a
        // `target_os = "none"` kernel runs this).
        unsafe {
            match vaddr {
                Some(va) => {
                    core::arch::asm!("dbar 0", "invtlb 0x6, $zero, {0}", in(reg) va.as_usize(), options(nostack))
                }
                None => core::arch::asm!("dbar 0", "invtlb 0x0, $zero, $zero", options(nostack)),
            }
        }
        #[cfg(not(all(target_os = "none", target_arch = "loongarch64")))]
        let _ = vaddr;
    }
}

/// LoongArch64 4-level page table.
pub type LA64PageTable<H> = PageTable64<LA64MetaData, LA64PTE, H>;
