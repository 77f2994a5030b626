//! aarch64 under QEMU `-machine virt -cpu cortex-a72` (ELF `-kernel`, no firmware): EL1
//! kernel, PL011 console, PL031 RTC, semihosting exit, VBAR_EL1 traps, EL0 user mode.
//!
//! Address-space layout (4 KiB granule, 4 levels, [`PagingMeta`] = 48-bit tables):
//!
//! | range | translated by | use |
//! |---|---|---|
//! | `0x1000..0x8000_0000_0000` | `TTBR0_EL1` (T0SZ = 17) | user half |
//! | `0xffff_8000_0000_0000..` | `TTBR1_EL1` (T1SZ = 16) | direct map of RAM and MMIO, kernel image inside it |
//!
//! Every page table of this arch is one `PageTable64` indexed by the low 48 VA bits, like
//! the other arches: the kernel half is root slots 256..512 (`0xffff_8000_0000_0000` up),
//! the user half slots 0..256. `TTBR1_EL1` holds the kernel table for good (the first
//! table [`activate_page_table`] sees, which is `kernel_space::install`'s);
//! [`activate_page_table`] itself loads `TTBR0_EL1`. A user root's kernel slots are shared
//! copies of the kernel's (the HAL's generic sharing), and T0SZ = 17 makes `TTBR0_EL1`
//! translate only bits 0..47, i.e. only slots 0..256: the user table's copies of the kernel
//! half are never reachable below the `TTBR1` range. When the kernel table is "active"
//! (no user space), `TTBR0_EL1` holds it too, whose slots 0..256 are empty: every user
//! address faults. (The kernel half cannot start at `0xffff_0000_0000_0000`, T1SZ's
//! natural base: `PageTable64` accepts only addresses sign-extended from bit 47, and such a
//! kernel would share root slots with the user half.)
//!
//! One ASID (0): user leaves are non-global and every [`activate_page_table`] flushes the
//! whole TLB, as on riscv64. PAN does not exist on cortex-a72 (ARMv8.0), and on later CPUs
//! exceptions leave it off (`SCTLR_EL1.SPAN` = 1), so the uaccess probes are plain
//! `ldr`/`str`; a write to a read-only user page faults at EL1 too, so copy-on-write works
//! for probes. The generic timer (`CNTVCT_EL0`, `CNTFRQ_EL0`) is readable at EL1 and EL0. FP/SIMD is enabled for EL1 and EL0 (`CPACR_EL1.FPEN`);
//! kernel traps and `UserContext` save `q0..q31`.
//!
//! Interrupts: the kernel runs with IRQs masked (`DAIF.I`); EL0 runs with IRQs unmasked,
//! and `wait_for_interrupt` unmasks them briefly (see `timer.rs`: the GICv2 forwards only
//! the virtual timer's PPI 27). Single CPU.

mod boot;
mod platform;
mod timer;
mod trap;
mod uaccess;
mod user;

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{PageSize, PagingMetaData};

pub use boot::stack_guard_page;
pub use platform::{console_read_byte, console_write_byte, exit, mmio_regions, wall_clock_secs};
pub use timer::{monotonic_ns, set_timer_deadline, timer_frequency_hz, wait_for_interrupt};
pub use trap::init_traps;
pub use uaccess::{probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64};
pub use user::{UserContext, exception_signal};

/// AArch64 4-level paging metadata (4 KiB granule).
pub type PagingMeta = page_table_multiarch::aarch64::A64PagingMetaData;
/// VMSAv8-64 descriptor; `MAIR_EL1` holds [`page_table_entry::aarch64::MAIR_VALUE`].
pub type Pte = page_table_entry::aarch64::A64PTE;

/// Direct map: `va = pa + PHYS_VIRT_OFFSET`; the kernel is linked at `0x4020_0000 + this`.
pub const PHYS_VIRT_OFFSET: usize = 0xffff_8000_0000_0000;
/// Kernel image: `va = pa + KERNEL_IMAGE_VIRT_OFFSET`; the image lies inside the direct map.
pub const KERNEL_IMAGE_VIRT_OFFSET: usize = PHYS_VIRT_OFFSET;
/// First user virtual address: 0, as on Linux (page 0 is unmapped unless a privileged
/// program maps it below `vm.mmap_min_addr`; NULL pointers fault through the page table).
pub const USER_VA_START: usize = 0;
/// End of the user half: `TTBR0_EL1` with T0SZ = 17 translates 47 bits (128 TiB).
pub const USER_VA_END: usize = 0x8000_0000_0000;
/// First virtual address of the kernel half (root slots 256..512, `TTBR1_EL1`).
pub const KERNEL_HALF_START: usize = 0xffff_8000_0000_0000;

/// Linux system-call numbers of this arch (the generic table, as riscv64).
pub const SYS_WRITE: usize = 64;
/// `exit`.
pub const SYS_EXIT: usize = 93;
/// `exit_group`.
pub const SYS_EXIT_GROUP: usize = 94;
/// The ELF machine of user programs for this arch.
pub const ELF_MACHINE: pagoda_mm::elf::ElfMachine = pagoda_mm::elf::ElfMachine::AArch64;

/// The largest leaf the kernel address space uses: 1 GiB blocks exist on every ARMv8-A CPU
/// with the 4 KiB granule.
pub fn max_page_size() -> PageSize {
    PageSize::Size1G
}

/// `TTBR1_EL1`'s table once the kernel table is installed (0 while the boot table runs).
static KERNEL_ROOT: AtomicUsize = AtomicUsize::new(0);

/// Loads `root` into `TTBR0_EL1` and flushes the whole TLB. The first call after boot (the
/// kernel table, from `kernel_space::install`) also makes `root` the `TTBR1_EL1` table for
/// good, replacing the boot table.
///
/// Crate-private through `lib.rs`.
///
/// # Safety
/// `root` is the root of a well-formed AArch64 table whose kernel half is the kernel table's
/// (or the kernel table itself), so the running kernel stays mapped exactly as before; it maps
/// no memory that Rust code owns to user mode, and stays allocated and unchanged (except
/// through its owner's flushed operations) for as long as it is active.
pub unsafe fn activate_page_table(root: PhysAddr) {
    let root = root.as_usize();
    let first = KERNEL_ROOT
        .compare_exchange(0, root, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if first {
        // SAFETY: the kernel table maps the kernel image, stack, direct map and MMIO at the
        // addresses the boot table used (`kernel_space::build`), so execution continues;
        // `TTBR1_EL1` takes the 4 KiB-aligned root (ASID field unused: TCR_EL1.A1 = 0). The
        // `dsb` makes the table's stores visible to the walker first.
        unsafe { asm!("dsb ishst", "msr ttbr1_el1, {0}", "isb", in(reg) root, options(nostack)) };
    }
    // SAFETY: `TTBR0_EL1` only translates the user half, which the kernel does not execute
    // from; the root is a live table (contract above). ASID 0 in bits 48..64.
    unsafe { asm!("dsb ishst", "msr ttbr0_el1, {0}", "isb", in(reg) root, options(nostack)) };
    flush_tlb(None);
}

/// The root of the active user-half table (`TTBR0_EL1`; the kernel table when no user
/// address space is installed).
pub fn current_page_table() -> PhysAddr {
    let ttbr0: usize;
    // SAFETY: reading `TTBR0_EL1` has no side effects.
    unsafe { asm!("mrs {0}, ttbr0_el1", out(reg) ttbr0, options(nomem, nostack)) };
    PhysAddr::from_usize(ttbr0 & 0x0000_ffff_ffff_f000)
}

/// Flushes the TLB entry of one page (every ASID), or everything.
pub fn flush_tlb(va: Option<VirtAddr>) {
    PagingMeta::flush_tlb(va);
}
