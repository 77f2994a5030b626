//! riscv64 (`-machine virt`, OpenSBI, Sv39). See `super` for the list of exported names.

mod boot;
mod paging;
mod platform;
mod timer;
mod trap;
mod uaccess;
mod user;

pub use boot::stack_guard_page;
pub use paging::{activate_page_table, current_page_table, flush_tlb};
pub use platform::{console_read_byte, console_write_byte, exit, mmio_regions, wall_clock_secs};
pub use timer::{monotonic_ns, set_timer_deadline, timer_frequency_hz, wait_for_interrupt};
pub use trap::init_traps;
pub use uaccess::{probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64};
pub use user::{UserContext, exception_signal};

/// Sv39 paging metadata.
pub type PagingMeta = page_table_multiarch::riscv::Sv39MetaData;
/// Sv39 page-table entry.
pub type Pte = page_table_entry::riscv::Rv64PTE;

/// Direct map: `va = pa + PHYS_VIRT_OFFSET`; the kernel is linked at `0x8020_0000 + this`.
pub const PHYS_VIRT_OFFSET: usize = 0xffff_ffc0_0000_0000;
/// Kernel image: `va = pa + KERNEL_IMAGE_VIRT_OFFSET`; on riscv64 the image lies inside the
/// direct map.
pub const KERNEL_IMAGE_VIRT_OFFSET: usize = PHYS_VIRT_OFFSET;
/// First user virtual address: 0, as on Linux (page 0 is unmapped unless a privileged
/// program maps it below `vm.mmap_min_addr`; NULL pointers fault through the page table).
pub const USER_VA_START: usize = 0;
/// End of the user half (Sv39: 256 GiB).
pub const USER_VA_END: usize = 0x40_0000_0000;
/// First virtual address of the kernel half (Sv39 root entries 256..512).
pub const KERNEL_HALF_START: usize = 0xffff_ffc0_0000_0000;

/// Linux system-call numbers of this arch (the user ABI).
pub const SYS_WRITE: usize = 64;
/// `exit`.
pub const SYS_EXIT: usize = 93;
/// `exit_group`.
pub const SYS_EXIT_GROUP: usize = 94;
/// The ELF machine of user programs for this arch.
pub const ELF_MACHINE: pagoda_mm::elf::ElfMachine = pagoda_mm::elf::ElfMachine::RiscV64;

/// The largest leaf the kernel address space uses: Sv39 always has 1 GiB pages.
pub fn max_page_size() -> page_table_multiarch::PageSize {
    page_table_multiarch::PageSize::Size1G
}
