//! The kernel image layout (linker symbols) and the frame allocator set-up from [`BootInfo`].

use memory_addr::{PhysAddr, PhysAddrRange, VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;

use crate::arch::{KERNEL_IMAGE_VIRT_OFFSET, PHYS_VIRT_OFFSET};
use crate::{BootInfo, HalError};

unsafe extern "C" {
    static _skernel: u8;
    static _etext: u8;
    static _srodata: u8;
    static _erodata: u8;
    static _sdata: u8;
    static _ekernel: u8;
}

fn sym(p: *const u8) -> VirtAddr {
    VirtAddr::from_usize(p as usize)
}

/// One section of the kernel image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSection {
    /// `"text"`, `"rodata"` or `"data"` (data, bss and the boot stack).
    pub name: &'static str,
    /// Its virtual range (4 KiB aligned; `pa = va - KERNEL_IMAGE_VIRT_OFFSET`).
    pub range: VirtAddrRange,
    /// The permissions it is mapped with.
    pub flags: MappingFlags,
}

/// The kernel image sections with their permissions, from the linker-script symbols.
pub fn kernel_sections() -> [KernelSection; 3] {
    let range = |s, e| VirtAddrRange::new(sym(s), sym(e));
    let (r, w, x) = (
        MappingFlags::READ,
        MappingFlags::WRITE,
        MappingFlags::EXECUTE,
    );
    [
        KernelSection {
            name: "text",
            range: range(&raw const _skernel, &raw const _etext),
            flags: r | x,
        },
        KernelSection {
            name: "rodata",
            range: range(&raw const _srodata, &raw const _erodata),
            flags: r,
        },
        KernelSection {
            name: "data",
            range: range(&raw const _sdata, &raw const _ekernel),
            flags: r | w,
        },
    ]
}

/// Physical address of a kernel-image virtual address (text, data, statics, boot stack).
pub fn image_virt_to_phys(va: VirtAddr) -> PhysAddr {
    PhysAddr::from_usize(va.as_usize().wrapping_sub(KERNEL_IMAGE_VIRT_OFFSET))
}

/// Physical address of a direct-map virtual address.
pub fn virt_to_phys(va: VirtAddr) -> PhysAddr {
    PhysAddr::from_usize(va.as_usize().wrapping_sub(PHYS_VIRT_OFFSET))
}

/// Direct-map virtual address of a physical address.
pub fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    VirtAddr::from_usize(pa.as_usize().wrapping_add(PHYS_VIRT_OFFSET))
}

/// The physical range of the kernel image.
pub fn kernel_image() -> PhysAddrRange {
    let s = image_virt_to_phys(sym(&raw const _skernel));
    let e = image_virt_to_phys(sym(&raw const _ekernel));
    PhysAddrRange::new(s, e)
}

/// Initializes the global frame allocator with the RAM of `info` minus every reserved region
/// (firmware, kernel image, boot data).
///
/// # Errors
/// [`HalError::Frames`] from [`pagoda_alloc::init`] (e.g. `AlreadyInitialized`).
pub fn init_frame_allocator(info: &BootInfo) -> Result<(), HalError> {
    let mut ram = [PhysAddrRange::new(PhysAddr::from_usize(0), PhysAddr::from_usize(0));
        crate::boot::MAX_MEM_REGIONS];
    let mut reserved = ram;
    let (mut nr, mut nres) = (0, 0);
    for r in info.regions() {
        if r.kind == crate::MemRegionKind::Ram {
            ram[nr] = r.range();
            nr += 1;
        } else {
            reserved[nres] = r.range();
            nres += 1;
        }
    }
    // SAFETY: `BootInfo` is only built by the arch entry from the firmware's memory map, with
    // every range the firmware, the kernel image or boot data occupy recorded as non-RAM; the
    // early page table and every kernel page table map all RAM at `PHYS_VIRT_OFFSET`.
    unsafe { pagoda_alloc::init(&ram[..nr], &reserved[..nres], PHYS_VIRT_OFFSET)? };
    Ok(())
}
