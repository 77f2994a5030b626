//! RISC-V Sv39 and Sv48.

use memory_addr::VirtAddr;
pub use page_table_entry::riscv::Rv64PTE;

use crate::{PageTable64, PagingMetaData};

/// Sv39: 3 levels, 39-bit virtual addresses, 56-bit physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct Sv39MetaData;

/// Sv48: 4 levels, 48-bit virtual addresses, 56-bit physical addresses.
#[derive(Debug, Clone, Copy)]
pub struct Sv48MetaData;

/// `sfence.vma vaddr` (or a global `sfence.vma`) on the current hart.
#[inline]
fn flush(vaddr: Option<VirtAddr>) {
    #[cfg(all(target_os = "none", target_arch = "riscv64"))]
    // SAFETY: `sfence.vma` only orders page-table accesses and invalidates
    // address-translation caches; it touches no memory or registers we own.
    unsafe {
        match vaddr {
            Some(va) => {
                core::arch::asm!("sfence.vma {0}, zero", in(reg) va.as_usize(), options(nostack))
            }
            None => core::arch::asm!("sfence.vma", options(nostack)),
        }
    }
    #[cfg(not(all(target_os = "none", target_arch = "riscv64")))]
    let _ = vaddr;
}

impl PagingMetaData for Sv39MetaData {
    const LEVELS: usize = 3;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 39;
    type VirtAddr = VirtAddr;

    fn flush_tlb(vaddr: Option<VirtAddr>) {
        flush(vaddr);
    }
}

impl PagingMetaData for Sv48MetaData {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;

    fn flush_tlb(vaddr: Option<VirtAddr>) {
        flush(vaddr);
    }
}

/// Sv39 page table.
pub type Sv39PageTable<H> = PageTable64<Sv39MetaData, Rv64PTE, H>;
/// Sv48 page table.
pub type Sv48PageTable<H> = PageTable64<Sv48MetaData, Rv64PTE, H>;
