//! x86_64 under QEMU `-machine q35`: multiboot1 boot, COM1 console, IDT/TSS traps,
//! `syscall`/`sysretq` user mode, uaccess probes and isa-debug-exit.
//!
//! Address-space layout (4-level paging, 48-bit VAs):
//!
//! | range | use |
//! |---|---|
//! | `0x1000..0x7fff_ffff_f000` | user half |
//! | `0xffff_8000_0000_0000..` | direct map of all RAM ([`PHYS_VIRT_OFFSET`]) |
//! | `0xffff_ffff_8020_0000..` | kernel image ([`KERNEL_IMAGE_VIRT_OFFSET`], code-model=kernel) |
//!
//! The kernel image is *not* inside the direct map: `x86_64-unknown-none` compiles with
//! `code-model=kernel`, which requires every symbol in the top 2 GiB, while the direct map
//! must cover all RAM. Image addresses translate with [`KERNEL_IMAGE_VIRT_OFFSET`].
//!
//! CPU state the rest of the kernel relies on (set by the boot trampoline, `boot.rs`):
//! CR0.WP (kernel writes to read-only pages fault, so COW works for uaccess), EFER.NXE
//! (when the CPU has NX), EFER.SCE, CR4.PGE and CR4.OSFXSR (user SSE; the state is saved per
//! [`UserContext`]).
//!
//! SMAP and SMEP stay off. QEMU's default `qemu64` CPU has neither; the kernel is meant to
//! touch user memory only through the probes in `uaccess.rs`, which would need `stac`/`clac`
//! around them under SMAP. A kernel bug that dereferences a user pointer directly therefore
//! goes unnoticed by the hardware.
//!
//! Interrupts: the kernel runs with IF = 0; ring 3 runs with IF = 1 and `hlt` in
//! `wait_for_interrupt` with IF = 1 (see `timer.rs`: the PIC is remapped to 0x20..0x30 with
//! only IRQ0, the PIT one-shot timer, unmasked while a deadline is armed).
//!
//! Single CPU: the syscall entry and the user-trap return use global scratch slots.

mod boot;
mod console;
mod gdt;
mod rtc;
mod timer;
mod trap;
mod uaccess;
mod user;

use core::arch::asm;
use core::arch::x86_64::__cpuid;

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::PageSize;

pub use self::boot::stack_guard_page;
pub use self::console::{console_read_byte, console_write_byte};
pub use self::rtc::wall_clock_secs;
pub use self::timer::{monotonic_ns, set_timer_deadline, timer_frequency_hz, wait_for_interrupt};
pub use self::trap::init_traps;
pub use self::uaccess::{probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64};
pub use self::user::{UserContext, exception_signal};

/// Paging metadata of this arch: x86-64 4-level paging.
pub type PagingMeta = page_table_multiarch::x86_64::X64PagingMetaData;
/// Page-table entry format of this arch.
pub type Pte = page_table_entry::x86_64::X64PTE;

/// Direct map of all physical memory: `va = pa + PHYS_VIRT_OFFSET`.
pub const PHYS_VIRT_OFFSET: usize = 0xffff_8000_0000_0000;
/// Kernel image mapping: `va = pa + KERNEL_IMAGE_VIRT_OFFSET` for addresses between
/// `_skernel` and `_ekernel` (the image is linked at `0xffff_ffff_8020_0000`, loaded at
/// physical `0x20_0000`; see `linker/x86_64.ld`).
pub const KERNEL_IMAGE_VIRT_OFFSET: usize = 0xffff_ffff_8000_0000;
/// First user virtual address: 0, as on Linux (page 0 is unmapped unless a privileged
/// program maps it below `vm.mmap_min_addr`; NULL pointers fault through the page table).
pub const USER_VA_START: usize = 0;
/// End (exclusive) of the user half; one page below the canonical hole so a `syscall`
/// at the very top cannot leave a non-canonical return address for `sysretq`.
pub const USER_VA_END: usize = 0x7fff_ffff_f000;
/// First VA of the kernel half: PML4 entries 256..512 are shared by every address space.
pub const KERNEL_HALF_START: usize = 0xffff_8000_0000_0000;

/// Linux system-call numbers of this arch (the user ABI).
pub const SYS_WRITE: usize = 1;
/// `exit`.
pub const SYS_EXIT: usize = 60;
/// `exit_group`.
pub const SYS_EXIT_GROUP: usize = 231;
/// The ELF machine of user programs for this arch.
pub const ELF_MACHINE: pagoda_mm::elf::ElfMachine = pagoda_mm::elf::ElfMachine::X86_64;

/// Physical MMIO ranges the kernel address space must map: the HPET (the clock). The
/// console (COM1), the exit device (isa-debug-exit), the PIC and the PIT are I/O ports.
pub fn mmio_regions() -> &'static [(usize, usize)] {
    &[(timer::HPET_PADDR, 0x1000)]
}

/// The largest leaf the kernel address space may use for the direct map: 1 GiB pages only
/// where the CPU has them (CPUID 0x8000_0001 EDX bit 26; QEMU's default `qemu64` CPU does
/// not), else 2 MiB. A 1 GiB leaf on a CPU without them is a reserved-bit page fault.
pub fn max_page_size() -> PageSize {
    const PDPE1GB: u32 = 1 << 26;
    let max_extended_leaf = __cpuid(0x8000_0000).eax;
    if max_extended_leaf >= 0x8000_0001 && __cpuid(0x8000_0001).edx & PDPE1GB != 0 {
        PageSize::Size1G
    } else {
        PageSize::Size2M
    }
}

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;
/// Value written on success: QEMU exits with `(0x10 << 1) | 1 = 33`.
const DEBUG_EXIT_SUCCESS: u8 = 0x10;

/// Ends the machine: QEMU exits with status 33 on success, `(code << 1) | 1` on failure.
///
/// A failure `code` equal to the success value (0x10) is sent as 0x11 so a failure can
/// never read as success. If the exit device is missing, the CPU halts forever.
pub fn exit(success: bool, code: u8) -> ! {
    let value = if success {
        DEBUG_EXIT_SUCCESS
    } else if code == DEBUG_EXIT_SUCCESS {
        DEBUG_EXIT_SUCCESS + 1
    } else {
        code
    };
    // SAFETY: writing to the isa-debug-exit port only stops QEMU; no memory is touched.
    unsafe { outb(DEBUG_EXIT_PORT, value) };
    halt_forever()
}

/// Stops this CPU for good (interrupts disabled, so `hlt` never returns).
fn halt_forever() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops the CPU; it touches no memory.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Loads `root` into CR3 and flushes the whole TLB, global entries included.
///
/// # Safety
/// `root` is a well-formed PML4 that maps the running kernel (image, stack, direct map)
/// exactly as the current one does, maps no memory that Rust code owns to user mode, and
/// stays allocated and unchanged (except through its owner's flushed operations) for as
/// long as it is active.
pub unsafe fn activate_page_table(root: PhysAddr) {
    // SAFETY: per the contract above the new table maps the kernel identically, so
    // execution continues; CR3 only takes the frame address.
    unsafe { asm!("mov cr3, {}", in(reg) root.as_usize(), options(nostack, preserves_flags)) };
    flush_tlb(None);
}

/// Physical address of the active PML4 (CR3 without PCID/flag bits).
pub fn current_page_table() -> PhysAddr {
    let cr3: usize;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags)) };
    PhysAddr::from_usize(cr3 & 0x000f_ffff_ffff_f000)
}

/// Flushes the TLB entry of `va` (`invlpg`, global entries included), or, for `None`, the
/// whole TLB including global entries (reloading CR3 and toggling CR4.PGE).
pub fn flush_tlb(va: Option<VirtAddr>) {
    match va {
        // SAFETY: `invlpg` only drops a cached translation.
        Some(va) => unsafe {
            asm!("invlpg [{}]", in(reg) va.as_usize(), options(nostack, preserves_flags));
        },
        // SAFETY: rewriting CR3 with its own value and clearing then restoring CR4.PGE
        // (bit 7) flush every TLB entry and change nothing else; interrupts are off.
        None => unsafe {
            asm!(
                "mov {tmp}, cr3",
                "mov cr3, {tmp}",
                "mov {tmp}, cr4",
                "mov {orig}, {tmp}",
                "and {tmp}, ~0x80",
                "mov cr4, {tmp}",
                "mov cr4, {orig}",
                tmp = out(reg) _,
                orig = out(reg) _,
                options(nostack, preserves_flags),
            );
        },
    }
}

/// Writes one byte to an I/O port.
///
/// # Safety
/// The port write must not break memory safety (device side effects are the caller's call).
unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack)) };
}

/// Reads one byte from an I/O port.
///
/// # Safety
/// The port read must not break memory safety (some device registers clear on read).
unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: forwarded to the caller.
    unsafe { asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack)) };
    value
}

/// Reads a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (otherwise #GP).
unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded to the caller.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes a model-specific register.
///
/// # Safety
/// `msr` must exist and `value` must keep the CPU in a state the kernel expects.
unsafe fn wrmsr(msr: u32, value: u64) {
    let (lo, hi) = (value as u32, (value >> 32) as u32);
    // SAFETY: forwarded to the caller.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack)) };
}
