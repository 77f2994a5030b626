//! Architecture selection: the only place in the workspace that says `cfg(target_arch)`.
//!
//! Every arch module (`riscv64`, `x86_64`, `aarch64`) exports exactly these names (docs/DESIGN.md,
//! "HAL arch interface"); generic code in this crate uses nothing else from it:
//!
//! - `pub type PagingMeta`, `pub type Pte` — page_table_multiarch metadata and PTE of this arch.
//! - `pub const PHYS_VIRT_OFFSET: usize` (direct map `va = pa + PHYS_VIRT_OFFSET`),
//!   `pub const USER_VA_START: usize`, `pub const USER_VA_END: usize`,
//!   `pub const KERNEL_HALF_START: usize`.
//! - Added here beyond DESIGN.md: `pub const KERNEL_IMAGE_VIRT_OFFSET: usize` (kernel image
//!   `va = pa + KERNEL_IMAGE_VIRT_OFFSET`; equal to `PHYS_VIRT_OFFSET` where the image lies in
//!   the direct map, as on riscv64) and `pub fn max_page_size() -> PageSize` (largest leaf the
//!   kernel address space may use: x86_64 CPUs may lack 1 GiB pages).
//! - Also added: `pub fn wall_clock_secs() -> u64` (Unix time from the platform RTC),
//!   `pub const SYS_WRITE, SYS_EXIT, SYS_EXIT_GROUP: usize` (Linux numbers of this arch),
//!   `pub const ELF_MACHINE: pagoda_mm::elf::ElfMachine`, and
//!   `pub fn exception_signal(cause: usize) -> crate::trap::Signal` (the signal for a user
//!   exception, given `UserTrap::Exception::cause`).
//! - Time and interrupts (added for preemption): `pub fn monotonic_ns() -> u64`
//!   (nanoseconds since boot, never decreasing), `pub fn set_timer_deadline(ns: u64)`
//!   (one-shot, absolute monotonic ns; replaces the previous deadline; `u64::MAX` = never),
//!   `pub fn timer_frequency_hz() -> u64` (the counter behind `monotonic_ns`) and
//!   `pub fn wait_for_interrupt()` (idle with interrupts enabled until one arrives, which
//!   the kernel trap handler acknowledges; returns with them disabled). The kernel runs
//!   with interrupts disabled; they are enabled only in user mode and inside
//!   `wait_for_interrupt`. A timer interrupt in user mode makes `UserContext::run` return
//!   `UserTrap::Timer` with the pc unchanged; other interrupts are acknowledged and ignored
//!   (user code resumes). riscv64: `time` CSR at the device tree's timebase, SBI `set_timer`,
//!   `sie.STIE`. x86_64: HPET counter (TSC calibrated against the PIT without an HPET), PIT
//!   channel 0 one-shot on IRQ0 of the remapped 8259 PIC (vectors 0x20..0x30). aarch64:
//!   `CNTVCT_EL0` at `CNTFRQ_EL0`, the EL1 virtual timer (PPI 27) through the GICv2.
//! - `pub fn stack_guard_page() -> VirtAddrRange`: the 4 KiB below the boot stack, left
//!   unmapped by [`crate::kernel_space::build`]. An overflow into it prints
//!   `FATAL: kernel stack overflow` and exits with `FATAL_TRAP_EXIT_CODE` (riscv64: the
//!   trap entry sees `sp` inside the guard and switches to an emergency stack; x86_64: the
//!   page fault cannot push its frame, the #DF runs on its IST stack and checks CR2;
//!   aarch64: the EL1 vector checks `sp` before saving, as on riscv64).
//! - `pub fn mmio_regions() -> &'static [(usize, usize)]` — `(paddr, size)` pairs the kernel
//!   address space maps (direct-mapped, `DEVICE`).
//! - `pub fn console_write_byte(b: u8)`.
//! - `pub fn exit(success: bool, code: u8) -> !`.
//! - `pub unsafe fn activate_page_table(root: PhysAddr)` (`# Safety`: `root` is a
//!   well-formed table that maps the running kernel exactly as the current one does, maps
//!   no Rust-owned memory to user mode, and stays alive and unchanged — but for its owner's
//!   flushed operations — while active), `pub fn current_page_table() -> PhysAddr`,
//!   `pub fn flush_tlb(va: Option<VirtAddr>)`. `activate_page_table` stays crate-private
//!   (`lib.rs` does not re-export it): the safe public entries are
//!   [`crate::kernel_space::install`], which builds the kernel table itself and keeps it
//!   alive forever, and [`crate::user_space::install`], which owns the user space it
//!   activates and checks its kernel half.
//! - `pub fn init_traps()` — idempotent. Kernel-mode page faults call
//!   [`crate::trap::handle_kernel_page_fault`]; unexpected kernel traps print the registers
//!   and `exit(false, crate::trap::FATAL_TRAP_EXIT_CODE)`.
//! - `pub fn probe_read_u8(va: VirtAddr) -> Result<u8, Fault>`, `probe_read_u64`,
//!   `pub fn probe_write_u8(va: VirtAddr, v: u8) -> Result<(), Fault>`, `probe_write_u64`
//!   ([`crate::trap::Fault`]). They return `Err` without touching memory when the access is
//!   not entirely inside `USER_VA_START..USER_VA_END` or (u64) not 8-byte aligned.
//! - `pub struct UserContext` with `new(entry: usize, sp: usize)`, `run(&mut self) -> UserTrap`,
//!   `syscall_number(&self) -> usize`, `syscall_args(&self) -> [usize; 6]`,
//!   `set_syscall_return(&mut self, usize)` ([`crate::trap::UserTrap`]). When `run` returns `UserTrap::Syscall` the pc already points
//!   past the syscall instruction. Added: `set_thread_pointer(&mut self, usize) -> bool`
//!   (x86_64 FS base, riscv64 `tp`, aarch64 `TPIDR_EL0`; x86_64 refuses non-user addresses).
//! - Added: the arch entry records the initrd with `BootInfo::set_initrd(start, end)`
//!   (riscv64/aarch64: FDT `/chosen`; x86_64: the first multiboot module).
//! - Boot: the entry builds a [`crate::BootInfo`] with its `pub(crate)` builder
//!   (`BootInfo::new()` already holds the kernel image region from the linker symbols; then
//!   `add_region(start, size, MemRegionKind)` for RAM, firmware-reserved ranges and boot data
//!   such as the FDT or multiboot info; `set_fdt(paddr)`), stores it with
//!   `crate::boot::set_boot_info` and calls [`crate::boot::rust_main`].
//!
//! The linker script (`linker/<arch>.ld`) defines these symbols, each 4 KiB aligned, as
//! linked virtual addresses (`pa = va - KERNEL_IMAGE_VIRT_OFFSET`):
//! `_skernel` ≤ `_stext` < `_etext` ≤ `_srodata` < `_erodata` ≤ `_sdata` < `_ekernel`.
//! [`crate::kernel_space`] maps `[_skernel, _etext)` RX, `[_srodata, _erodata)` R and
//! `[_sdata, _ekernel)` RW (data, bss and the boot stack).
//!
//! IRQ-safe locks: `kspin` 0.2 (without its `preempt` feature) disables interrupts through
//! `kernel_guard`'s own per-arch code, so no `KernelGuardIf` impl and no `irq_save` /
//! `irq_restore` exports are needed.

/// Name of the running architecture (`"riscv64"`, `"x86_64"` or `"aarch64"`), for choosing
/// data such as test machine code at run time.
#[cfg(target_arch = "riscv64")]
pub const ARCH: &str = "riscv64";
/// Name of the running architecture.
#[cfg(target_arch = "x86_64")]
pub const ARCH: &str = "x86_64";
/// Name of the running architecture.
#[cfg(target_arch = "aarch64")]
pub const ARCH: &str = "aarch64";

#[cfg(any(target_arch = "riscv64", target_arch = "aarch64"))]
mod probe_calls;

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
pub use riscv64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
