//! LoongArch64 4-level paging (4K pages).

use memory_addr::VirtAddr;
pub use page_table_entry::loongarch64::LA64PTE;

use crate::{PageTable64, PageTable64Cursor, PagingMetaData};

/// LoongArch64 4-level paging: 48-bit virtual and physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct LA64MetaData;

impl LA64MetaData {
    /// `CSR.PWCL` for this layout (LoongArch Reference Manual Vol. 1, CSR
    /// "Page Walk Controller for Lower Half Address Space"): `PTbase` = 12
    /// (bits 4..0), `PTwidth` = 9 (9..5), `Dir1_base` = 21 (14..10),
    /// `Dir1_width` = 9 (19..15), `Dir2_base` = 30 (24..20), `Dir2_width` = 9
    /// (29..25), `PTEWidth` = 0 (31..30: 8-byte entries).
    pub const PWCL_VALUE: u32 = 12 | (9 << 5) | (21 << 10) | (9 << 15) | (30 << 20) | (9 << 25);
    /// `CSR.PWCH` ("Page Walk Controller for Higher Half Address Space"):
    /// `Dir3_base` = 39 (bits 5..0), `Dir3_width` = 9 (11..6); directory 4
    /// unused (`Dir4_base` = `Dir4_width` = 0), `HPTW_En` = 0.
    pub const PWCH_VALUE: u32 = 39 | (9 << 6);
}

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
/// Cursor over an [`LA64PageTable`] (arceos 0.6 name).
pub type LA64PageTableCursor<'a, H> = PageTable64Cursor<'a, LA64MetaData, LA64PTE, H>;
