//! ELF entry (QEMU `-kernel`, no firmware): EL2 → EL1 if needed, early tables, MMU on, jump
//! to the high half, boot info from the device tree.

use core::arch::naked_asm;

use fdt::Fdt;

use super::PHYS_VIRT_OFFSET;
use crate::{BootInfo, HalError, MemRegionKind};

const BOOT_STACK_SIZE: usize = 256 * 1024;
/// The boot table maps the first 256 GiB of physical memory; RAM above is not reported.
const DIRECT_MAP_LIMIT: usize = 256 << 30;
/// Start of RAM on `virt`: where QEMU puts the device tree for an ELF kernel that does not
/// cover it (the kernel is linked 2 MiB above).
const RAM_BASE: usize = 0x4000_0000;
/// Exit code when the device tree cannot be used.
const BAD_FDT_EXIT_CODE: u8 = 3;

/// `SCTLR_EL1`: the ARMv8.0 RES1 bits (11, 20, 22, 23, 28, 29), plus M (MMU), C and I
/// (caches), SA and SA0 (stack alignment checks), DZE and UCT (EL0 may use `dc zva` and read
/// `CTR_EL0`, as on Linux). A = 0: no alignment faults for normal memory. WXN = 0.
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (3 << 22) | (3 << 28);
const SCTLR_EL1: u64 =
    SCTLR_RES1 | 1 | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12) | (1 << 14) | (1 << 15);
/// `TCR_EL1` without IPS (filled in from `ID_AA64MMFR0_EL1`): T0SZ = 17 (47-bit user half,
/// see `super`), T1SZ = 16, 4 KiB granules (TG0 = 0, TG1 = 2), walks inner/outer write-back
/// cacheable (IRGN/ORGN = 1) and inner shareable (SH = 3), 8-bit ASIDs from `TTBR0_EL1`.
const TCR_EL1: u64 = 17
    | (1 << 8)
    | (1 << 10)
    | (3 << 12)
    | (16 << 16)
    | (1 << 24)
    | (1 << 26)
    | (3 << 28)
    | (2 << 30);
/// `CPACR_EL1.FPEN = 3`: FP/SIMD does not trap at EL1 or EL0 (the target uses NEON).
const CPACR_FPEN: u64 = 3 << 20;
/// `CNTKCTL_EL1.EL0VCTEN`: EL0 may read `CNTVCT_EL0` and `CNTFRQ_EL0` (as on Linux).
const CNTKCTL_EL0VCTEN: u64 = 1 << 1;
/// `HCR_EL2.RW`: EL1 is AArch64.
const HCR_EL2_RW: u64 = 1 << 31;
/// `SPSR_EL2` for entering EL1h with D, A, I, F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;

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
pub fn stack_guard_page() -> memory_addr::VirtAddrRange {
    let start = memory_addr::VirtAddr::from_usize(&raw const BOOT_STACK as usize);
    memory_addr::VirtAddrRange::from_start_size(start, GUARD_PAGE_SIZE)
}

#[repr(C, align(4096))]
struct BootTable([u64; 512]);

/// Level-1 table of the boot map: 1 GiB blocks of physical 0..256 GiB. Block 0 holds the
/// `virt` MMIO (Device-nGnRE, never executable), the others normal write-back memory,
/// EL1-only, executable at EL1. Both level-0 slots of `__pagoda_boot_l0` point here, so it
/// serves as identity map (`TTBR0`, to survive enabling the MMU) and as the direct map at
/// `PHYS_VIRT_OFFSET` (`TTBR1`).
const fn boot_l1() -> BootTable {
    const VALID: u64 = 1;
    const DEVICE: u64 = 1 << 2; // AttrIndx 1 of MAIR_VALUE
    const INNER_SHAREABLE: u64 = 3 << 8;
    const AF: u64 = 1 << 10;
    const PXN: u64 = 1 << 53;
    const UXN: u64 = 1 << 54;
    let mut t = [0u64; 512];
    t[0] = VALID | DEVICE | AF | PXN | UXN;
    let mut i = 1;
    while i < DIRECT_MAP_LIMIT >> 30 {
        t[i] = ((i as u64) << 30) | VALID | INNER_SHAREABLE | AF | UXN;
        i += 1;
    }
    BootTable(t)
}

static BOOT_L1: BootTable = boot_l1();

// The level-0 boot table: slot 0 (identity, via TTBR0) and slot 256 (`PHYS_VIRT_OFFSET`,
// via TTBR1) point at `BOOT_L1`'s physical address (a link-time constant).
core::arch::global_asm!(
    r#"
    .pushsection .rodata.pagoda_boot_l0, "a"
    .balign 4096
    .global __pagoda_boot_l0
__pagoda_boot_l0:
    .quad {l1} - {offset} + 3
    .fill 255, 8, 0
    .quad {l1} - {offset} + 3
    .fill 255, 8, 0
    .popsection
    "#,
    l1 = sym BOOT_L1,
    offset = const PHYS_VIRT_OFFSET,
);

/// The kernel's first instruction: QEMU enters at the ELF entry (`_start`'s physical
/// address, see the linker script) at EL1 (or EL2 with `virtualization=on`), MMU off,
/// x0 = device tree or 0. Placed first in the image by the linker script.
#[unsafe(naked)]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.boot")]
unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "mov x19, x0",
        "mrs x9, CurrentEL",
        "ubfx x9, x9, #2, #2",
        "cmp x9, #2",
        "b.lo 2f",
        "b.hi 9f",
        // EL2: EL1 in AArch64 with the counters accessible, MMU off; enter EL1h masked.
        "ldr x9, ={hcr}",
        "msr hcr_el2, x9",
        "mov x9, #3",
        "msr cnthctl_el2, x9",
        "msr cntvoff_el2, xzr",
        "ldr x9, ={sctlr_res1}",
        "msr sctlr_el1, x9",
        "mov x9, #{spsr}",
        "msr spsr_el2, x9",
        "adr x9, 2f",
        "msr elr_el2, x9",
        "eret",
        "2:",
        "ldr x9, ={cpacr}",
        "msr cpacr_el1, x9",
        "mov x9, #{cntkctl}",
        "msr cntkctl_el1, x9",
        "isb",
        // Zero .bss at its physical address (pc-relative, the MMU is off).
        "adrp x9, _sbss",
        "add x9, x9, :lo12:_sbss",
        "adrp x10, _ebss",
        "add x10, x10, :lo12:_ebss",
        "3: cmp x9, x10",
        "b.hs 4f",
        "str xzr, [x9], #8",
        "b 3b",
        "4:",
        "ldr x9, ={mair}",
        "msr mair_el1, x9",
        // IPS = ID_AA64MMFR0_EL1.PARange, at most 5 (48 bits, the tables' limit).
        "mrs x10, id_aa64mmfr0_el1",
        "and x10, x10, #0xf",
        "mov x11, #5",
        "cmp x10, x11",
        "csel x10, x10, x11, ls",
        "ldr x9, ={tcr}",
        "orr x9, x9, x10, lsl #32",
        "msr tcr_el1, x9",
        "adrp x9, __pagoda_boot_l0",
        "msr ttbr0_el1, x9",
        "msr ttbr1_el1, x9",
        "isb",
        "tlbi vmalle1",
        "dsb nsh",
        "isb",
        "ldr x9, ={sctlr}",
        "msr sctlr_el1, x9",
        "isb",
        // Continue at the linked (high-half) addresses on the boot stack.
        "ldr x9, ={stack} + {stack_size}",
        "mov sp, x9",
        "mov x29, xzr",
        "mov x30, xzr",
        "mov x0, x19",
        "ldr x9, ={entry}",
        "br x9",
        // EL3 is not supported: stop.
        "9: wfe",
        "b 9b",
        ".ltorg",
        hcr = const HCR_EL2_RW,
        sctlr_res1 = const SCTLR_RES1,
        spsr = const SPSR_EL1H_MASKED,
        cpacr = const CPACR_FPEN,
        cntkctl = const CNTKCTL_EL0VCTEN,
        mair = const page_table_entry::aarch64::MAIR_VALUE,
        tcr = const TCR_EL1,
        sctlr = const SCTLR_EL1,
        stack = sym BOOT_STACK,
        stack_size = const GUARD_PAGE_SIZE + BOOT_STACK_SIZE,
        entry = sym rust_entry,
    )
}

/// First Rust code, in the high half on the boot stack, MMU and caches on.
extern "C" fn rust_entry(x0: usize) -> ! {
    super::trap::init_traps();
    let fdt_paddr = if is_fdt(x0) { x0 } else { RAM_BASE };
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

/// Whether a device-tree header (magic 0xd00dfeed, big-endian) is at physical `pa`.
fn is_fdt(pa: usize) -> bool {
    if pa == 0 || pa >= DIRECT_MAP_LIMIT || !pa.is_multiple_of(8) {
        return false;
    }
    // SAFETY: the boot table maps all of `0..DIRECT_MAP_LIMIT` at `PHYS_VIRT_OFFSET`; one
    // aligned 32-bit load (RAM, or device space that reads as zero on `virt`).
    let magic = unsafe { ((pa + PHYS_VIRT_OFFSET) as *const u32).read_volatile() };
    u32::from_be(magic) == 0xd00d_feed
}

fn boot_info_from_fdt(fdt_paddr: usize) -> Result<BootInfo, &'static str> {
    if !is_fdt(fdt_paddr) {
        return Err("no device tree");
    }
    // SAFETY: a device-tree header is at `fdt_paddr` (checked), mapped through the boot
    // table's direct map; the blob is never written (it is recorded as boot data, so the
    // frame allocator never hands it out).
    let fdt = unsafe { Fdt::from_ptr((fdt_paddr + PHYS_VIRT_OFFSET) as *const u8) }
        .map_err(|_| "invalid header")?;
    let full = |_: HalError| "too many memory regions";
    let mut info = BootInfo::new();
    let root = fdt.find_node("/").ok_or("no root node")?;
    let memory_nodes = root
        .children()
        .filter(|n| n.name == "memory" || n.name.starts_with("memory@"));
    for r in memory_nodes.flat_map(|n| n.reg().into_iter().flatten()) {
        let start = r.starting_address as usize;
        let end = start
            .saturating_add(r.size.unwrap_or(0))
            .min(DIRECT_MAP_LIMIT);
        if start < end {
            info.add_region(start, end - start, MemRegionKind::Ram)
                .map_err(full)?;
        }
    }
    if info.ram_regions().next().is_none() {
        return Err("no memory node");
    }
    for r in fdt.memory_reservations() {
        info.add_region(r.address() as usize, r.size(), MemRegionKind::Reserved)
            .map_err(full)?;
    }
    let reserved_nodes = fdt.find_node("/reserved-memory").into_iter();
    for r in reserved_nodes
        .flat_map(|n| n.children())
        .flat_map(|n| n.reg().into_iter().flatten())
    {
        let size = r.size.unwrap_or(0);
        info.add_region(r.starting_address as usize, size, MemRegionKind::Reserved)
            .map_err(full)?;
    }
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
