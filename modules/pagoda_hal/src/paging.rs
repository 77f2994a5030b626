//! The kernel's page-table types.

use page_table_multiarch::PageTable64;

use crate::arch::{PagingMeta, Pte};

/// The kernel's `PagingHandler`: frames from the global frame allocator, reached through the
/// direct map at [`PHYS_VIRT_OFFSET`](crate::PHYS_VIRT_OFFSET).
pub type KernelPaging = pagoda_alloc::KernelFrames;

/// A page table of the running arch whose frames come from the kernel frame allocator.
pub type KernelPageTable = PageTable64<PagingMeta, Pte, KernelPaging>;
