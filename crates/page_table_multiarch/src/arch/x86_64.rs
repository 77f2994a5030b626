//! x86-64 4-level paging.

use memory_addr::VirtAddr;
pub use page_table_entry::x86_64::X64PTE;

use crate::{PageTable64, PageTable64Cursor, PagingMetaData};

/// x86-64 4-level paging: 48-bit virtual, 52-bit physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct X64PagingMetaData;

impl PagingMetaData for X64PagingMetaData {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 52;
    const VA_MAX_BITS: usize = 48;
    const CACHES_INVALID: bool = false;
    type VirtAddr = VirtAddr;

    /// `invlpg` for one page; a full flush toggles `CR4.PGE` (which also
    /// drops global entries) or, without global pages, reloads `CR3`.
    #[inline]
    fn flush_tlb(vaddr: Option<VirtAddr>) {
        #[cfg(all(target_os = "none", target_arch = "x86_64"))]
        // SAFETY: `invlpg` and rewriting CR4/CR3 with their current values
        // (PGE toggled back) only invalidate TLB entries; ring 0 is required,
        // which is the only place a `target_os = "none"` kernel runs this.
        unsafe {
            const PGE: usize = 1 << 7;
            match vaddr {
                Some(va) => {
                    core::arch::asm!("invlpg [{0}]", in(reg) va.as_usize(), options(nostack, preserves_flags))
                }
                None => {
                    let cr4: usize;
                    core::arch::asm!("mov {0}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
                    if cr4 & PGE != 0 {
                        core::arch::asm!("mov cr4, {0}", "mov cr4, {1}", in(reg) cr4 & !PGE, in(reg) cr4, options(nostack, preserves_flags));
                    } else {
                        core::arch::asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags));
                    }
                }
            }
        }
        #[cfg(not(all(target_os = "none", target_arch = "x86_64")))]
        let _ = vaddr;
    }
}

/// x86-64 4-level page table.
pub type X64PageTable<H> = PageTable64<X64PagingMetaData, X64PTE, H>;
/// Cursor over an [`X64PageTable`] (arceos 0.6 name).
pub type X64PageTableCursor<'a, H> = PageTable64Cursor<'a, X64PagingMetaData, X64PTE, H>;
