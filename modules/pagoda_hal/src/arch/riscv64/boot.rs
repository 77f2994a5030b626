//! OpenSBI entry: early Sv39 table, jump to the high half, boot info from the device tree.

use core::arch::naked_asm;

use fdt::Fdt;
use memory_addr::{VirtAddr, VirtAddrRange};

use super::PHYS_VIRT_OFFSET;
use crate::{BootInfo, HalError, MemRegionKind};

const BOOT_STACK_SIZE: usize = 256 * 1024;
/// The early table maps the whole Sv39 high half (256 GiB) as the direct map; RAM above that
/// is not reported.
const DIRECT_MAP_LIMIT: usize = 256 << 30;
/// Exit code when the device tree cannot be used.
const BAD_FDT_EXIT_CODE: u8 = 3;

/// Size of the unmapped guard page below the boot stack.
pub(super) const GUARD_PAGE_SIZE: usize = 4096;

/// The guard page (its first 4 KiB, left unmapped by the kernel address space) and the
/// stack above it.
#[repr(C, align(4096))]
pub(super) struct BootStack([u8; GUARD_PAGE_SIZE + BOOT_STACK_SIZE]);

/// The boot stack, in its own section placed before `.bss` so clearing `.bss` spares it.
#[unsafe(link_section = ".bss.stack")]
pub(super) static mut BOOT_STACK: BootStack = BootStack([0; GUARD_PAGE_SIZE + BOOT_STACK_SIZE]);

/// The guard page below the boot stack (linked addresses): a kernel stack overflow faults
/// there once the kernel address space is installed.
pub fn stack_guard_page() -> VirtAddrRange {
    let start = VirtAddr::from_usize(&raw const BOOT_STACK as usize);
    VirtAddrRange::from_start_size(start, GUARD_PAGE_SIZE)
}

#[repr(C, align(4096))]
struct BootPageTable([u64; 512]);

/// Gigapage leaves: identity for the first 4 GiB (to survive enabling paging) and the direct
/// map of the first 256 GiB at `PHYS_VIRT_OFFSET` (root entries 256..512). V|R|W|X|G|A|D,
/// with A and D preset so the hardware never writes this read-only table.
const fn boot_page_table() -> BootPageTable {
    const FLAGS: u64 = 0xef;
    let mut t = [0u64; 512];
    let mut i = 0;
    while i < 256 {
        // PPN = i GiB >> 12, stored from bit 10.
        let leaf = ((i as u64) << 28) | FLAGS;
        if i < 4 {
            t[i] = leaf;
        }
        t[256 + i] = leaf;
        i += 1;
    }
    BootPageTable(t)
}

static BOOT_PAGE_TABLE: BootPageTable = boot_page_table();

/// The kernel's first instruction (OpenSBI jumps here in S-mode, MMU off, a0 = hart id,
/// a1 = device tree). Placed first in the image by the linker script.
#[unsafe(naked)]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.boot")]
unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "mv s0, a0",
        "mv s1, a1",
        // Zero .bss at its physical address (pc-relative `lla`, the MMU is off).
        "lla t0, _sbss",
        "lla t1, _ebss",
        "2: bgeu t0, t1, 3f",
        "sd zero, 0(t0)",
        "addi t0, t0, 8",
        "j 2b",
        "3:",
        // FS = Initial: the hard-float kernel may touch FP registers.
        "li t0, {fs_initial}",
        "csrs sstatus, t0",
        "lla t0, {page_table}",
        "srli t0, t0, 12",
        "li t1, {satp_sv39}",
        "or t0, t0, t1",
        "sfence.vma",
        "csrw satp, t0",
        "sfence.vma",
        // Continue at the linked (high-half) addresses.
        "li t2, {offset}",
        "lla sp, {stack}",
        "li t0, {stack_size}",
        "add sp, sp, t0",
        "add sp, sp, t2",
        "lla t0, {entry}",
        "add t0, t0, t2",
        "mv a0, s0",
        "mv a1, s1",
        "jr t0",
        fs_initial = const 1 << 13,
        page_table = sym BOOT_PAGE_TABLE,
        satp_sv39 = const 8usize << 60,
        offset = const PHYS_VIRT_OFFSET,
        stack = sym BOOT_STACK,
        stack_size = const GUARD_PAGE_SIZE + BOOT_STACK_SIZE,
        entry = sym rust_entry,
    )
}

/// First Rust code, in the high half on the boot stack.
extern "C" fn rust_entry(_hart_id: usize, fdt_paddr: usize) -> ! {
    super::trap::init_traps();
    let info = match boot_info_from_fdt(fdt_paddr) {
        Ok(info) => info,
        Err(msg) => {
            crate::console::print_unlocked(format_args!(
                "pagoda: unusable device tree at {fdt_paddr:#x}: {msg}\n"
            ));
            super::exit(false, BAD_FDT_EXIT_CODE);
        }
    };
    crate::boot::rust_main(crate::boot::set_boot_info(info))
}

fn boot_info_from_fdt(fdt_paddr: usize) -> Result<BootInfo, &'static str> {
    if fdt_paddr == 0 || fdt_paddr >= DIRECT_MAP_LIMIT || !fdt_paddr.is_multiple_of(8) {
        return Err("bad address");
    }
    // SAFETY: OpenSBI passes the device tree's physical address in a1; the early table maps
    // everything below `DIRECT_MAP_LIMIT` at `PHYS_VIRT_OFFSET`, and the blob is never written
    // (it is recorded as boot data, so the frame allocator never hands it out).
    let fdt = unsafe { Fdt::from_ptr((fdt_paddr + PHYS_VIRT_OFFSET) as *const u8) }
        .map_err(|_| "invalid header")?;
    let full = |_: HalError| "too many memory regions";
    let mut info = BootInfo::new();
    let root = fdt.find_node("/").ok_or("no root node")?;
    for node in root
        .children()
        .filter(|n| n.name == "memory" || n.name.starts_with("memory@"))
    {
        for r in node.reg().into_iter().flatten() {
            let start = r.starting_address as usize;
            let end = start
                .saturating_add(r.size.unwrap_or(0))
                .min(DIRECT_MAP_LIMIT);
            if start < end {
                info.add_region(start, end - start, MemRegionKind::Ram)
                    .map_err(full)?;
            }
        }
    }
    if info.ram_regions().next().is_none() {
        return Err("no memory node");
    }
    for r in fdt.memory_reservations() {
        info.add_region(r.address() as usize, r.size(), MemRegionKind::Reserved)
            .map_err(full)?;
    }
    if let Some(reserved) = fdt.find_node("/reserved-memory") {
        for child in reserved.children() {
            for r in child.reg().into_iter().flatten() {
                let size = r.size.unwrap_or(0);
                info.add_region(r.starting_address as usize, size, MemRegionKind::Reserved)
                    .map_err(full)?;
            }
        }
    }
    let timebase = fdt
        .find_node("/cpus")
        .and_then(|cpus| cpus.property("timebase-frequency"))
        .and_then(|p| p.as_usize());
    super::timer::set_timebase(timebase.unwrap_or(0) as u64);
    info.add_region(fdt_paddr, fdt.total_size(), MemRegionKind::BootData)
        .map_err(full)?;
    // QEMU `-initrd`: the loader writes its range into `/chosen` (4- or 8-byte cells).
    if let Some(chosen) = fdt.find_node("/chosen") {
        let cell = |name| chosen.property(name).and_then(|p| p.as_usize());
        if let (Some(start), Some(end)) = (cell("linux,initrd-start"), cell("linux,initrd-end")) {
            info.set_initrd(start, end).map_err(full)?;
        }
    }
    info.set_fdt(fdt_paddr);
    Ok(info)
}
