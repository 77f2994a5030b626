//! `satp` and `sfence.vma`.

use core::arch::asm;

use memory_addr::{PhysAddr, VirtAddr};

const SATP_MODE_SV39: usize = 8 << 60;
const SATP_PPN_MASK: usize = (1 << 44) - 1;

/// Switches to the Sv39 table at `root` and flushes the whole TLB.
/// Crate-internal callers pass a table that maps the running kernel.
pub fn activate_page_table(root: PhysAddr) {
    let satp = SATP_MODE_SV39 | (root.as_usize() >> 12);
    // SAFETY: callers (this crate only) pass the root of a live table that maps the kernel's
    // code, data, stack and MMIO at the addresses in use, so execution continues unchanged.
    unsafe { asm!("csrw satp, {0}", "sfence.vma", in(reg) satp) };
}

/// The root of the active page table.
pub fn current_page_table() -> PhysAddr {
    let satp: usize;
    // SAFETY: reading `satp` has no side effects.
    unsafe { asm!("csrr {0}, satp", out(reg) satp) };
    PhysAddr::from_usize((satp & SATP_PPN_MASK) << 12)
}

/// Flushes the TLB entry of one page, or everything.
pub fn flush_tlb(va: Option<VirtAddr>) {
    // SAFETY: `sfence.vma` only drops cached translations.
    unsafe {
        match va {
            Some(va) => asm!("sfence.vma {0}, zero", in(reg) va.as_usize()),
            None => asm!("sfence.vma"),
        }
    }
}
