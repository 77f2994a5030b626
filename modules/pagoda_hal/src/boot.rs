//! Boot information and the hand-over to the application.

use memory_addr::{PhysAddr, PhysAddrRange};

use crate::HalError;
use crate::mem::kernel_image;

/// The most memory regions a [`BootInfo`] records.
pub const MAX_MEM_REGIONS: usize = 32;

/// What a [`MemRegion`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemRegionKind {
    /// RAM as reported by the firmware (other regions may lie inside it).
    Ram,
    /// Firmware-owned memory inside RAM (e.g. OpenSBI, BIOS areas): never allocated.
    Reserved,
    /// The kernel image: text, rodata, data, bss and the boot stack.
    KernelImage,
    /// Data the firmware handed over (device tree, multiboot information).
    BootData,
}

/// A physical memory range and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRegion {
    /// First byte.
    pub start: PhysAddr,
    /// Size in bytes.
    pub size: usize,
    /// What it holds.
    pub kind: MemRegionKind,
}

impl MemRegion {
    /// The region as an address range (the end saturates at the top of the address space).
    pub fn range(&self) -> PhysAddrRange {
        let end = self.start.as_usize().saturating_add(self.size);
        PhysAddrRange::new(self.start, PhysAddr::from_usize(end))
    }
}

/// What the firmware told the kernel: memory regions, the kernel image and the device tree.
#[derive(Clone, Debug)]
pub struct BootInfo {
    regions: [MemRegion; MAX_MEM_REGIONS],
    len: usize,
    fdt: Option<PhysAddr>,
    initrd: Option<PhysAddrRange>,
}

impl BootInfo {
    /// A boot info that holds only the kernel image region (from the linker symbols).
    pub(crate) fn new() -> Self {
        let image = kernel_image();
        let region = MemRegion {
            start: image.start,
            size: image.size(),
            kind: MemRegionKind::KernelImage,
        };
        Self {
            regions: [region; MAX_MEM_REGIONS],
            len: 1,
            fdt: None,
            initrd: None,
        }
    }

    /// Records a region; empty regions are ignored.
    pub(crate) fn add_region(
        &mut self,
        start: usize,
        size: usize,
        kind: MemRegionKind,
    ) -> Result<(), HalError> {
        if size == 0 {
            return Ok(());
        }
        let slot = self
            .regions
            .get_mut(self.len)
            .ok_or(HalError::TooManyRegions)?;
        *slot = MemRegion {
            start: PhysAddr::from_usize(start),
            size,
            kind,
        };
        self.len += 1;
        Ok(())
    }

    /// Records the physical address of the flattened device tree.
    #[allow(dead_code, reason = "only device-tree platforms record one")]
    pub(crate) fn set_fdt(&mut self, paddr: usize) {
        self.fdt = Some(PhysAddr::from_usize(paddr));
    }

    /// Records the initial RAM disk the loader placed at physical `[start, end)` and
    /// reserves its pages (a [`MemRegionKind::BootData`] region rounded out to 4 KiB), so
    /// the frame allocator never hands them out. An empty or wrapping range is ignored.
    pub(crate) fn set_initrd(&mut self, start: usize, end: usize) -> Result<(), HalError> {
        const PAGE: usize = 4096;
        let Some(top) = end.checked_next_multiple_of(PAGE) else {
            return Ok(());
        };
        if start >= end {
            return Ok(());
        }
        let base = start - start % PAGE;
        self.add_region(base, top - base, MemRegionKind::BootData)?;
        self.initrd = Some(PhysAddrRange::new(
            PhysAddr::from_usize(start),
            PhysAddr::from_usize(end),
        ));
        Ok(())
    }

    /// The physical range of the initial RAM disk (QEMU `-initrd`), if the loader passed
    /// one: riscv64 and aarch64 from the device tree's `/chosen` `linux,initrd-start` /
    /// `linux,initrd-end`, x86_64 from the first multiboot module.
    pub fn initrd_range(&self) -> Option<PhysAddrRange> {
        self.initrd
    }

    /// All recorded regions, in the order the firmware reported them.
    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.len]
    }

    /// The RAM regions.
    pub fn ram_regions(&self) -> impl Iterator<Item = &MemRegion> {
        self.regions()
            .iter()
            .filter(|r| r.kind == MemRegionKind::Ram)
    }

    /// Everything inside RAM that is not free: firmware, kernel image, boot data.
    pub fn reserved_regions(&self) -> impl Iterator<Item = &MemRegion> {
        self.regions()
            .iter()
            .filter(|r| r.kind != MemRegionKind::Ram)
    }

    /// Total bytes of RAM.
    pub fn total_ram(&self) -> usize {
        self.ram_regions()
            .fold(0, |sum, r| sum.saturating_add(r.size))
    }

    /// The kernel image's physical range.
    pub fn kernel_image(&self) -> PhysAddrRange {
        self.regions[0].range()
    }

    /// The physical address of the flattened device tree (riscv64).
    pub fn fdt_paddr(&self) -> Option<PhysAddr> {
        self.fdt
    }
}

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// Stores the boot information once; later calls return the first one.
pub(crate) fn set_boot_info(info: BootInfo) -> &'static BootInfo {
    BOOT_INFO.call_once(|| info)
}

/// The boot information, once the arch entry recorded it.
pub fn boot_info() -> Option<&'static BootInfo> {
    BOOT_INFO.get()
}

/// The initial RAM disk's bytes (QEMU `-initrd`), read through the direct map; `None` if
/// the loader passed none or it does not lie entirely inside one RAM region. Its frames
/// are reserved at boot ([`BootInfo::initrd_range`]), so the slice stays valid forever.
pub fn initrd() -> Option<&'static [u8]> {
    let range = boot_info()?.initrd_range()?;
    let info = boot_info()?;
    if !info.ram_regions().any(|r| r.range().contains_range(range)) {
        return None;
    }
    let va = crate::mem::phys_to_virt(range.start);
    // SAFETY: `range` lies inside RAM, which every kernel page table (and the boot table)
    // maps at `PHYS_VIRT_OFFSET`; its frames are recorded as boot data, so the frame
    // allocator never hands them out and nothing in the kernel writes them: the bytes are
    // immutable for the rest of the run.
    Some(unsafe { core::slice::from_raw_parts(va.as_ptr(), range.size()) })
}

/// Hands over to the application: called by the arch entry once the CPU runs in the high
/// half with a stack, traps installed and the boot information recorded.
pub(crate) fn rust_main(info: &'static BootInfo) -> ! {
    unsafe extern "Rust" {
        /// Defined by the application through `pagoda::main!`.
        fn __pagoda_main(info: &'static BootInfo) -> !;
    }
    // SAFETY: `pagoda::main!` is the only definition of this symbol and gives it exactly this
    // signature; a missing definition is a link error, not undefined behaviour.
    unsafe { __pagoda_main(info) }
}
