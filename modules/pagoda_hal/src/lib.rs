#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

extern crate alloc;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod kernel_space;
#[cfg(target_os = "none")]
pub mod logging;
#[cfg(target_os = "none")]
pub mod mem;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
pub mod static_frames;
#[cfg(target_os = "none")]
pub mod time;
#[cfg(target_os = "none")]
pub mod trap;
#[cfg(target_os = "none")]
pub mod user_space;

#[cfg(target_os = "none")]
pub use arch::{
    ARCH, ELF_MACHINE, KERNEL_HALF_START, KERNEL_IMAGE_VIRT_OFFSET, PHYS_VIRT_OFFSET, PagingMeta,
    Pte, SYS_EXIT, SYS_EXIT_GROUP, SYS_WRITE, USER_VA_END, USER_VA_START, UserContext,
    console_read_byte, console_write_byte, current_page_table, exit, flush_tlb, init_traps,
    max_page_size, mmio_regions,
};
#[cfg(target_os = "none")]
pub use arch::{
    monotonic_ns, set_timer_deadline, stack_guard_page, timer_frequency_hz, wait_for_interrupt,
};
#[cfg(target_os = "none")]
pub use boot::{BootInfo, MemRegion, MemRegionKind, initrd};
#[cfg(target_os = "none")]
pub use trap::{Fault, Signal, UserTrap};
#[cfg(target_os = "none")]
pub use trap::{probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64};

/// Errors of the HAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalError {
    /// A page-table operation failed.
    Paging(page_table_multiarch::PagingError),
    /// The frame allocator refused.
    Frames(pagoda_alloc::FrameError),
    /// A one-time initialization ran twice.
    AlreadyInitialized,
    /// The boot information has no room for another memory region.
    TooManyRegions,
    /// The kernel page table is not installed yet.
    NotInstalled,
    /// A page table does not share the kernel half with the kernel page table.
    KernelHalfMismatch,
    /// The current user address space is in use (a call from inside
    /// [`user_space::with_current`]).
    Busy,
    /// An offset outside a memory block, or misaligned for the access.
    OutOfBounds,
    /// An address-space operation failed.
    Mm(pagoda_mm::LinuxError),
}

impl core::fmt::Display for HalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Paging(e) => write!(f, "page table: {e}"),
            Self::Frames(e) => write!(f, "frame allocator: {e}"),
            Self::AlreadyInitialized => f.write_str("already initialized"),
            Self::TooManyRegions => f.write_str("too many memory regions"),
            Self::NotInstalled => f.write_str("kernel page table not installed"),
            Self::KernelHalfMismatch => f.write_str("page table does not share the kernel half"),
            Self::Busy => f.write_str("the current address space is in use"),
            Self::OutOfBounds => f.write_str("offset out of bounds or misaligned"),
            Self::Mm(e) => write!(f, "address space: {e}"),
        }
    }
}

impl From<page_table_multiarch::PagingError> for HalError {
    fn from(e: page_table_multiarch::PagingError) -> Self {
        Self::Paging(e)
    }
}

impl From<pagoda_alloc::FrameError> for HalError {
    fn from(e: pagoda_alloc::FrameError) -> Self {
        Self::Frames(e)
    }
}
