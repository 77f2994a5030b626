//! Multiboot1 boot: header, 32-bit entry, trampoline to long mode, and the Rust entry that
//! turns the multiboot memory map into a [`crate::BootInfo`].
//!
//! QEMU's `-kernel` loads an ELF64 only through the header's address fields (flag bit 16,
//! the "a.out kludge"): it copies the file from the header on to `load_end_addr`, zeroes up
//! to `bss_end_addr` and jumps to `entry_addr` in 32-bit protected mode with paging off,
//! EAX = 0x2BADB002 and EBX = the physical address of the multiboot information.
//!
//! The trampoline runs at physical addresses while the code is linked high, so it refers
//! to symbols as `sym - KERNEL_IMAGE_VIRT_OFFSET` and only jumps relatively. It builds the
//! boot page table from 2 MiB pages (1 GiB pages are not on QEMU's default CPU):
//! identity 0..4 GiB (PML4\[0\], needed for the jump), the same 4 GiB at `PHYS_VIRT_OFFSET`
//! (PML4\[256\], so Rust can read the multiboot data) and physical 0..2 GiB at
//! `KERNEL_IMAGE_VIRT_OFFSET` (PML4\[511\], the kernel image). The generic kernel-space code
//! replaces this table early.

use core::arch::global_asm;

use memory_addr::{VirtAddr, VirtAddrRange};

use super::{KERNEL_IMAGE_VIRT_OFFSET, PHYS_VIRT_OFFSET, console, exit, init_traps};
use crate::boot::{BootInfo, MemRegionKind};

/// Header magic and flags: bit 1 = give us the memory map, bit 16 = address fields valid.
const MULTIBOOT_HEADER_MAGIC: u32 = 0x1bad_b002;
const MULTIBOOT_HEADER_FLAGS: u32 = 0x0001_0002;
/// EAX value a multiboot1 loader passes to the entry.
const MULTIBOOT_BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
/// QEMU exit code (status `(code << 1) | 1`) when the CPU or loader is unusable.
const BOOT_FAILURE_CODE: u8 = 0x7e;
/// Size of the boot stack the kernel runs on (in `.bss.stack`).
const BOOT_STACK_SIZE: usize = 256 * 1024;
/// Size of the guard page below the boot stack (left unmapped by the kernel address space).
const GUARD_PAGE_SIZE: usize = 4096;
/// RAM below 1 MiB (real-mode IVT, BIOS data, EBDA neighbours) is recorded as reserved.
const LOW_MEMORY_END: u64 = 0x10_0000;
/// Granularity of the RAM regions handed on.
const PAGE_SIZE: u64 = 0x1000;
/// The boot page table maps this much physical memory at `PHYS_VIRT_OFFSET`.
const BOOT_DIRECT_MAP_SIZE: u64 = 4 << 30;

global_asm!(
    r#"
    .pushsection .text.multiboot, "ax"
    .balign 4
__pagoda_multiboot_header:
    .long {mb_magic}
    .long {mb_flags}
    .long -({mb_magic} + {mb_flags})
    .long __pagoda_multiboot_header - {voff}
    .long _skernel - {voff}
    .long __pagoda_load_end - {voff}
    .long _ekernel - {voff}
    .long __pagoda_entry32 - {voff}
    .popsection

    .pushsection .text.boot, "ax"
    .code32
    .global __pagoda_entry32
__pagoda_entry32:
    cli
    cld
    mov ebp, eax                        # multiboot magic
    mov esi, ebx                        # multiboot information (physical)
    mov esp, offset __pagoda_boot_stack_top - {voff}

    # Long mode (CPUID 0x8000_0001 EDX bit 29) or a message and a failure exit.
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 8f
    mov eax, 0x80000001
    cpuid
    bt edx, 29
    jnc 8f
    mov edi, edx                        # keep the feature bits (NX = bit 20)

    # 2048 PD entries: 2 MiB pages (P | RW | PS) over physical 0..4 GiB.
    mov ebx, offset __pagoda_boot_pd - {voff}
    xor ecx, ecx
2:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    mov dword ptr [ebx + ecx * 8], eax
    mov dword ptr [ebx + ecx * 8 + 4], 0
    inc ecx
    cmp ecx, 2048
    jb 2b

    # The low PDPT points at the four PDs (4 GiB).
    mov ebx, offset __pagoda_boot_pdpt_low - {voff}
    mov eax, offset __pagoda_boot_pd - {voff} + 3
    mov dword ptr [ebx], eax
    add eax, 4096
    mov dword ptr [ebx + 8], eax
    add eax, 4096
    mov dword ptr [ebx + 16], eax
    add eax, 4096
    mov dword ptr [ebx + 24], eax

    # The high PDPT maps 0xffff_ffff_8000_0000 + (0..2 GiB) to physical 0..2 GiB.
    mov ebx, offset __pagoda_boot_pdpt_high - {voff}
    mov eax, offset __pagoda_boot_pd - {voff} + 3
    mov dword ptr [ebx + 510 * 8], eax
    add eax, 4096
    mov dword ptr [ebx + 511 * 8], eax

    # PML4: [0] identity, [256] direct map, [511] kernel image.
    mov ebx, offset __pagoda_boot_pml4 - {voff}
    mov eax, offset __pagoda_boot_pdpt_low - {voff} + 3
    mov dword ptr [ebx], eax
    mov dword ptr [ebx + 256 * 8], eax
    mov eax, offset __pagoda_boot_pdpt_high - {voff} + 3
    mov dword ptr [ebx + 511 * 8], eax

    # CR4: PAE | PGE | OSFXSR | OSXMMEXCPT; then CR3.
    mov eax, cr4
    or eax, 0x6a0
    mov cr4, eax
    mov cr3, ebx

    # EFER: LME | SCE, and NXE if the CPU has NX.
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x101
    bt edi, 20
    jnc 3f
    or eax, 0x800
3:
    wrmsr

    # CR0: PG | WP | MP | PE, EM off: paging on, long mode active.
    mov eax, cr0
    and eax, 0xfffffffb
    or eax, 0x80010003
    mov cr0, eax

    # Far jump into the 64-bit code segment: ljmp 0x08:__pagoda_entry64_low (physical).
    lgdt [__pagoda_boot_gdt_ptr - {voff}]
    .byte 0xea
    .long __pagoda_entry64_low - {voff}
    .word 0x08

8:
    mov ebx, offset __pagoda_no_long_mode_msg - {voff}
    mov dx, 0x3f8
4:
    mov al, byte ptr [ebx]
    test al, al
    jz 5f
    out dx, al
    inc ebx
    jmp 4b
5:
    mov dx, 0xf4
    mov al, {fail_code}
    out dx, al
6:
    hlt
    jmp 6b

    .code64
__pagoda_entry64_low:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    movabs rax, offset __pagoda_entry64_high  # continue at the linked (high) address
    jmp rax
__pagoda_entry64_high:
    lea rsp, [rip + __pagoda_boot_stack_top]
    mov edi, ebp                        # rust_entry(magic, mbi): zero-extended
    mov esi, esi
    xor ebp, ebp                        # end of frame-pointer chain
    call {rust_entry}
    ud2
    .popsection

    .pushsection .rodata.pagoda_boot, "a"
    .balign 16
__pagoda_boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
__pagoda_boot_gdt_end:
    .balign 4
__pagoda_boot_gdt_ptr:
    .word __pagoda_boot_gdt_end - __pagoda_boot_gdt - 1
    .long __pagoda_boot_gdt - {voff}
__pagoda_no_long_mode_msg:
    .asciz "pagoda: this CPU has no long mode (x86-64)\n"
    .popsection

    .pushsection .bss.pagoda_boot_tables, "aw", @nobits
    .balign 4096
__pagoda_boot_pml4:
    .space 4096
__pagoda_boot_pdpt_low:
    .space 4096
__pagoda_boot_pdpt_high:
    .space 4096
__pagoda_boot_pd:
    .space 4096 * 4
    .popsection

    .pushsection .bss.stack, "aw", @nobits
    .balign 4096
    .global __pagoda_boot_stack_guard
__pagoda_boot_stack_guard:
    .space {guard_size}
    .global __pagoda_boot_stack
__pagoda_boot_stack:
    .space {stack_size}
    .global __pagoda_boot_stack_top
__pagoda_boot_stack_top:
    .popsection
"#,
    mb_magic = const MULTIBOOT_HEADER_MAGIC,
    mb_flags = const MULTIBOOT_HEADER_FLAGS,
    voff = const KERNEL_IMAGE_VIRT_OFFSET,
    fail_code = const BOOT_FAILURE_CODE,
    stack_size = const BOOT_STACK_SIZE,
    guard_size = const GUARD_PAGE_SIZE,
    rust_entry = sym rust_entry,
);

unsafe extern "C" {
    /// The guard page below the boot stack (defined in the assembly above).
    static __pagoda_boot_stack_guard: [u8; GUARD_PAGE_SIZE];
}

/// The guard page below the boot stack (linked addresses): a kernel stack overflow faults
/// there once the kernel address space is installed.
pub fn stack_guard_page() -> VirtAddrRange {
    let start = VirtAddr::from_usize(&raw const __pagoda_boot_stack_guard as usize);
    VirtAddrRange::from_start_size(start, GUARD_PAGE_SIZE)
}

/// First Rust code: runs on the boot stack with the boot page table, interrupts off.
extern "C" fn rust_entry(magic: u32, mbi_pa: usize) -> ! {
    console::init();
    init_traps();
    if magic != MULTIBOOT_BOOTLOADER_MAGIC {
        boot_failure(format_args!(
            "not started by a multiboot1 loader (eax {magic:#x})"
        ));
    }
    let mut info = BootInfo::new();
    let mut ram_found = false;
    let mut low_reserved = false;
    for_each_ram_region(mbi_pa as u64, |start, end| {
        // Whole pages only.
        let (start, end) = (start.next_multiple_of(PAGE_SIZE), end & !(PAGE_SIZE - 1));
        if start >= end {
            return;
        }
        ram_found = true;
        record(&mut info, start, end, MemRegionKind::Ram);
        if start < LOW_MEMORY_END && !low_reserved {
            low_reserved = true;
            record(&mut info, 0, LOW_MEMORY_END, MemRegionKind::Reserved);
        }
    });
    if !ram_found {
        boot_failure(format_args!(
            "the multiboot information lists no usable RAM"
        ));
    }
    if let Some((start, end)) = first_module(mbi_pa as u64)
        && info.set_initrd(start as usize, end as usize).is_err()
    {
        crate::console::print_unlocked(format_args!(
            "pagoda: boot info full, dropping the initrd {start:#x}..{end:#x}\n"
        ));
    }
    crate::boot::rust_main(crate::boot::set_boot_info(info))
}

/// Adds a region to `info`; a full table loses the region with a warning (QEMU reports a
/// handful of regions, far below the limit).
fn record(info: &mut BootInfo, start: u64, end: u64, kind: MemRegionKind) {
    if info
        .add_region(start as usize, (end - start) as usize, kind)
        .is_err()
    {
        crate::console::print_unlocked(format_args!(
            "pagoda: boot info full, dropping {kind:?} {start:#x}..{end:#x}\n"
        ));
    }
}

/// Reports an unusable boot environment and stops QEMU with a failure status.
fn boot_failure(reason: core::fmt::Arguments<'_>) -> ! {
    crate::console::print_unlocked(format_args!("pagoda: boot failed: {reason}\n"));
    exit(false, BOOT_FAILURE_CODE)
}

/// Reads a little-endian `u32` at physical address `pa` through the boot direct map.
fn read_phys_u32(pa: u64) -> Option<u32> {
    if pa.checked_add(4)? > BOOT_DIRECT_MAP_SIZE {
        return None;
    }
    let va = (pa as usize + PHYS_VIRT_OFFSET) as *const u32;
    // SAFETY: the boot page table maps physical 0..4 GiB at PHYS_VIRT_OFFSET (checked
    // above); the multiboot structures are plain memory the loader wrote. They may be
    // unaligned, hence `read_unaligned`.
    Some(unsafe { va.read_unaligned() })
}

/// Reads a little-endian `u64` at physical address `pa` through the boot direct map.
fn read_phys_u64(pa: u64) -> Option<u64> {
    let low = read_phys_u32(pa)?;
    let high = read_phys_u32(pa + 4)?;
    Some((u64::from(high) << 32) | u64::from(low))
}

/// The physical range `[mod_start, mod_end)` of the first multiboot module (QEMU `-initrd`
/// passes each comma-separated file as one module): flags bit 3, `mods_count` at +20,
/// `mods_addr` at +24, 16-byte entries `{mod_start, mod_end, string, reserved}`.
fn first_module(mbi: u64) -> Option<(u64, u64)> {
    const FLAG_MODS: u32 = 1 << 3;
    if read_phys_u32(mbi)? & FLAG_MODS == 0 || read_phys_u32(mbi + 20)? == 0 {
        return None;
    }
    let entry = u64::from(read_phys_u32(mbi + 24)?);
    let (start, end) = (read_phys_u32(entry)?, read_phys_u32(entry + 4)?);
    (start < end).then_some((u64::from(start), u64::from(end)))
}

/// Calls `f(start, end)` for every usable RAM range of the multiboot information at `mbi`:
/// the memory map (flags bit 6) if present, else `mem_lower`/`mem_upper` (flags bit 0).
/// Entries that do not fit the 64-bit address space or lie outside the boot direct map
/// are skipped.
fn for_each_ram_region(mbi: u64, mut f: impl FnMut(u64, u64)) {
    const FLAG_MEM: u32 = 1 << 0;
    const FLAG_MMAP: u32 = 1 << 6;
    const MMAP_AVAILABLE: u32 = 1;
    let Some(flags) = read_phys_u32(mbi) else {
        return;
    };
    if flags & FLAG_MMAP != 0 {
        let (Some(len), Some(addr)) = (read_phys_u32(mbi + 44), read_phys_u32(mbi + 48)) else {
            return;
        };
        let (mut entry, end) = (u64::from(addr), u64::from(addr) + u64::from(len));
        // Each entry: size (u32, not counting itself), base (u64), length (u64), type (u32).
        while entry + 24 <= end {
            let (Some(size), Some(base), Some(length), Some(kind)) = (
                read_phys_u32(entry),
                read_phys_u64(entry + 4),
                read_phys_u64(entry + 12),
                read_phys_u32(entry + 20),
            ) else {
                return;
            };
            if let Some(top) = base.checked_add(length)
                && kind == MMAP_AVAILABLE
            {
                f(base, top);
            }
            entry += u64::from(size) + 4;
        }
    } else if flags & FLAG_MEM != 0 {
        let (Some(lower), Some(upper)) = (read_phys_u32(mbi + 4), read_phys_u32(mbi + 8)) else {
            return;
        };
        f(0, u64::from(lower) * 1024);
        f(LOW_MEMORY_END, LOW_MEMORY_END + u64::from(upper) * 1024);
    }
}
