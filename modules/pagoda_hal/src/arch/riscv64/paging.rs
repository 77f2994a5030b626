//! `satp` and `sfence.vma`.

use core::arch::asm;

use memory_addr::{PhysAddr, VirtAddr};

const SATP_MODE_SV39: usize = 8 << 60;
const SATP_PPN_MASK: usize = (1 << 44) - 1;

/// Switches to the Sv39 table at `root` and flushes the whole TLB.
///
/// # Safety
/// `root` is the root of a well-formed Sv39 table that maps the running kernel (image,
/// stack, direct map, MMIO) exactly as the current one does, maps no memory that Rust code
/// owns to user mode, and stays allocated and unchanged (except through its owner's
/// flushed operations) for as long as it is active.
pub unsafe fn activate_page_table(root: PhysAddr) {
    let satp = SATP_MODE_SV39 | (root.as_usize() >> 12);
    // SAFETY: per the contract above the new table maps the kernel identically, so
    // execution continues unchanged.
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
