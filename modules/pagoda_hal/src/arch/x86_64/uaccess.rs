//! uaccess probes: real MMU accesses to user memory that report a fault instead of
//! panicking.
//!
//! Each probe is one `mov` whose address is recorded, together with the address right
//! after it (the fixup), in the `pagoda_extable` section (collected by `linker/x86_64.ld`
//! between `__pagoda_extable_start` and `__pagoda_extable_end`). A page fault at a probe
//! first goes to the registered kernel page-fault handler, which may resolve it (lazy
//! page, COW); if it does not, `kernel_trap` resumes at the fixup with `rdx = 1` and
//! `rcx = CR2`, which the probe turns into `Err(Fault)`.
//!
//! SMAP is off (see the module docs), so no `stac`/`clac` is needed around the access;
//! CR0.WP is on, so a write to a read-only (e.g. COW) user page faults here as it would in
//! user mode.

use core::arch::asm;
use core::mem::size_of;

use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

use super::{USER_VA_END, USER_VA_START};
use crate::trap::Fault;

/// One exception-table entry: the probing instruction and where to resume if it faults.
#[repr(C)]
struct ExEntry {
    insn: u64,
    fixup: u64,
}

unsafe extern "C" {
    static __pagoda_extable_start: [ExEntry; 0];
    static __pagoda_extable_end: [ExEntry; 0];
}

/// The fixup address for a fault at `rip`, if `rip` is a probing instruction.
pub(super) fn fixup_for(rip: u64) -> Option<u64> {
    let start = (&raw const __pagoda_extable_start).cast::<ExEntry>();
    let end = (&raw const __pagoda_extable_end).cast::<ExEntry>();
    let len = (end as usize - start as usize) / size_of::<ExEntry>();
    // SAFETY: the linker script places the whole `pagoda_extable` section, an array of
    // 16-byte `ExEntry` records emitted by the probes below, between the two symbols; the
    // section is read-only and lives as long as the kernel.
    let table = unsafe { core::slice::from_raw_parts(start, len) };
    table.iter().find(|e| e.insn == rip).map(|e| e.fixup)
}

/// Checks that `[va, va + size)` lies in the user half and, for `size > 1`, that `va` is
/// `size`-aligned (so the access never straddles two pages).
fn check(va: VirtAddr, size: usize, access: MappingFlags) -> Result<usize, Fault> {
    let addr = va.as_usize();
    let inside = (USER_VA_START..USER_VA_END).contains(&addr)
        && addr.checked_add(size).is_some_and(|e| e <= USER_VA_END);
    if inside && addr.is_multiple_of(size) {
        Ok(addr)
    } else {
        Err(Fault { addr: va, access })
    }
}

/// Converts the probe's fault flag and CR2 copy into a result.
fn finish(failed: u64, fault_addr: u64, access: MappingFlags) -> Result<(), Fault> {
    if failed == 0 {
        Ok(())
    } else {
        Err(Fault {
            addr: VirtAddr::from_usize(fault_addr as usize),
            access,
        })
    }
}

/// Runs one probing instruction `$insn` (at label 2, fixup at label 3, recorded in
/// `pagoda_extable`) with the given operands and evaluates to `(failed, fault_addr)` for
/// [`finish`]. Must be used inside an `unsafe` block whose comment justifies the access.
macro_rules! probe_asm {
    ($insn:literal, $($operand:tt)*) => {{
        let (failed, fault_addr): (u64, u64);
        asm!(
            concat!("2: ", $insn),
            "3:",
            ".pushsection pagoda_extable, \"a\"",
            ".balign 8",
            ".quad 2b, 3b",
            ".popsection",
            $($operand)*
            inout("rdx") 0u64 => failed,
            inout("rcx") 0u64 => fault_addr,
            options(nostack, preserves_flags),
        );
        (failed, fault_addr)
    }};
}

/// Reads one byte of user memory.
///
/// # Errors
/// `Fault { addr, access: READ }` if `va` is outside the user half or the page fault it
/// causes is not resolved by the registered handler.
#[inline(never)]
pub fn probe_read_u8(va: VirtAddr) -> Result<u8, Fault> {
    let addr = check(va, 1, MappingFlags::READ)?;
    let value: u8;
    // SAFETY: `addr` is a user-half address; the load either succeeds or page-faults, and a
    // fault is resolved or diverted to label 3 by `kernel_trap` through the table entry.
    let (failed, fault_addr) = unsafe {
        probe_asm!(
            "mov {value}, byte ptr [{addr}]",
            addr = in(reg) addr,
            value = out(reg_byte) value,
        )
    };
    finish(failed, fault_addr, MappingFlags::READ).map(|()| value)
}

/// Reads one 8-byte-aligned `u64` of user memory.
///
/// # Errors
/// `Fault { addr, access: READ }` if `va` is unaligned, outside the user half, or the page
/// fault it causes is not resolved by the registered handler.
#[inline(never)]
pub fn probe_read_u64(va: VirtAddr) -> Result<u64, Fault> {
    let addr = check(va, 8, MappingFlags::READ)?;
    let value: u64;
    // SAFETY: as in `probe_read_u8`.
    let (failed, fault_addr) = unsafe {
        probe_asm!(
            "mov {value}, qword ptr [{addr}]",
            addr = in(reg) addr,
            value = out(reg) value,
        )
    };
    finish(failed, fault_addr, MappingFlags::READ).map(|()| value)
}

/// Writes one byte of user memory.
///
/// # Errors
/// `Fault { addr, access: WRITE }` if `va` is outside the user half or the page fault it
/// causes (missing page, read-only page) is not resolved by the registered handler.
#[inline(never)]
pub fn probe_write_u8(va: VirtAddr, v: u8) -> Result<(), Fault> {
    let addr = check(va, 1, MappingFlags::WRITE)?;
    // SAFETY: `addr` is a user-half address, never kernel memory; the store either succeeds
    // or page-faults, and a fault is resolved or diverted to label 3 by `kernel_trap`.
    let (failed, fault_addr) = unsafe {
        probe_asm!(
            "mov byte ptr [{addr}], {v}",
            addr = in(reg) addr,
            v = in(reg_byte) v,
        )
    };
    finish(failed, fault_addr, MappingFlags::WRITE)
}

/// Writes one 8-byte-aligned `u64` of user memory.
///
/// # Errors
/// `Fault { addr, access: WRITE }` if `va` is unaligned, outside the user half, or the
/// page fault it causes is not resolved by the registered handler.
#[inline(never)]
pub fn probe_write_u64(va: VirtAddr, v: u64) -> Result<(), Fault> {
    let addr = check(va, 8, MappingFlags::WRITE)?;
    // SAFETY: as in `probe_write_u8`.
    let (failed, fault_addr) = unsafe {
        probe_asm!(
            "mov qword ptr [{addr}], {v}",
            addr = in(reg) addr,
            v = in(reg) v,
        )
    };
    finish(failed, fault_addr, MappingFlags::WRITE)
}
