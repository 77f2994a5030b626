//! Memory information: the boot memory map, frame and heap statistics, the kernel mappings.

pub use memory_addr::{PhysAddr, PhysAddrRange, VirtAddr};
pub use page_table_entry::MappingFlags;
pub use page_table_multiarch::PageSize;
pub use pagoda_alloc::{FrameStats, HeapStats};
pub use pagoda_hal::HalError;
pub use pagoda_hal::kernel_space::MappingRun;
pub use pagoda_hal::{BootInfo, MemRegion, MemRegionKind};

/// The unmapped guard page below the kernel stack (linked virtual addresses): a kernel
/// stack overflow faults there and is reported as `FATAL: kernel stack overflow`.
pub fn stack_guard_page() -> memory_addr::VirtAddrRange {
    pagoda_hal::stack_guard_page()
}

/// An owned 4 KiB frame from the kernel frame allocator, freed on drop.
pub type Frame = page_table_multiarch::frame::PhysFrame<pagoda_hal::paging::KernelPaging>;

/// The boot information (always `Some` once the application runs).
pub fn boot_info() -> Option<&'static BootInfo> {
    pagoda_hal::boot::boot_info()
}

/// The initial RAM disk QEMU's `-initrd` passed (read-only, in the direct map; its frames
/// are reserved at boot), or `None`.
pub fn initrd() -> Option<&'static [u8]> {
    pagoda_hal::initrd()
}

/// All memory regions the firmware reported, plus the kernel image and boot data.
pub fn regions() -> &'static [MemRegion] {
    boot_info().map_or(&[], BootInfo::regions)
}

/// Total bytes of RAM.
pub fn total_ram() -> usize {
    boot_info().map_or(0, BootInfo::total_ram)
}

/// Physical frame statistics (4 KiB frames).
pub fn frame_stats() -> FrameStats {
    pagoda_alloc::frame_stats()
}

/// Kernel heap statistics.
pub fn heap_stats() -> HeapStats {
    pagoda_runtime::heap_stats()
}

/// The direct-map offset: physical address `pa` is at virtual `pa + phys_virt_offset()`.
pub fn phys_virt_offset() -> usize {
    pagoda_hal::PHYS_VIRT_OFFSET
}

/// Calls `f` for each run of kernel mappings (same page size and flags, contiguous), in
/// address order. Returns `false` before the kernel page table is installed. `f` may print
/// but must not call this function again.
pub fn for_each_kernel_mapping(f: impl FnMut(&MappingRun)) -> bool {
    pagoda_hal::kernel_space::for_each_run(f)
}

/// The kernel's mapping of `va`: physical address, flags and page size.
pub fn query_kernel(va: VirtAddr) -> Option<(PhysAddr, MappingFlags, PageSize)> {
    pagoda_hal::kernel_space::with_kernel_space(|pt| pt.query(va).ok()).flatten()
}
