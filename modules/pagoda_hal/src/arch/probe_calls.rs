//! The Rust side of the uaccess probes on the arches whose probe routines (in each arch's
//! `uaccess.rs`, `global_asm!`) return `(err, value)` in the two return registers: riscv64
//! and aarch64. The routines and the fixup range are the arch's; the argument checks, the
//! fault report and the public probe functions are the same for both.

use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

use super::{USER_VA_END, USER_VA_START};
use crate::trap::Fault;

/// The two return registers of a probe routine: `err` is 0 or 1.
#[repr(C)]
struct ProbeResult {
    err: usize,
    value: usize,
}

unsafe extern "C" {
    fn __pagoda_probe_read_u8(addr: usize) -> ProbeResult;
    fn __pagoda_probe_read_u64(addr: usize) -> ProbeResult;
    fn __pagoda_probe_write_u8(addr: usize, value: usize) -> ProbeResult;
    fn __pagoda_probe_write_u64(addr: usize, value: usize) -> ProbeResult;
    fn __pagoda_uaccess_start();
    fn __pagoda_uaccess_end();
    fn __pagoda_uaccess_fault();
}

/// Where a fault at `pc` continues, if `pc` is a probe instruction.
pub(crate) fn fixup(pc: usize) -> Option<usize> {
    let range =
        __pagoda_uaccess_start as *const () as usize..__pagoda_uaccess_end as *const () as usize;
    range
        .contains(&pc)
        .then_some(__pagoda_uaccess_fault as *const () as usize)
}

/// Rejects accesses not entirely in the user half or misaligned for their size.
fn check(va: VirtAddr, size: usize, access: MappingFlags) -> Result<usize, Fault> {
    let a = va.as_usize();
    let ok = (USER_VA_START..USER_VA_END).contains(&a)
        && a.checked_add(size).is_some_and(|end| end <= USER_VA_END)
        && a.is_multiple_of(size);
    if ok {
        Ok(a)
    } else {
        Err(Fault { addr: va, access })
    }
}

fn result(r: ProbeResult, va: VirtAddr, access: MappingFlags) -> Result<usize, Fault> {
    if r.err == 0 {
        Ok(r.value)
    } else {
        Err(Fault { addr: va, access })
    }
}

/// Reads a byte at a user address.
///
/// # Errors
/// `Fault` if `va` is outside the user half or the access faults and the registered page-fault
/// handler does not resolve it.
pub fn probe_read_u8(va: VirtAddr) -> Result<u8, Fault> {
    let a = check(va, 1, MappingFlags::READ)?;
    // SAFETY: a single load from a user-half address; a fault is fixed up into `err = 1`.
    let r = unsafe { __pagoda_probe_read_u8(a) };
    result(r, va, MappingFlags::READ).map(|v| v as u8)
}

/// Reads an aligned `u64` at a user address.
///
/// # Errors
/// As [`probe_read_u8`], and `Fault` if `va` is not 8-byte aligned.
pub fn probe_read_u64(va: VirtAddr) -> Result<u64, Fault> {
    let a = check(va, 8, MappingFlags::READ)?;
    // SAFETY: as in `probe_read_u8`.
    let r = unsafe { __pagoda_probe_read_u64(a) };
    result(r, va, MappingFlags::READ).map(|v| v as u64)
}

/// Writes a byte at a user address.
///
/// # Errors
/// As [`probe_read_u8`].
pub fn probe_write_u8(va: VirtAddr, value: u8) -> Result<(), Fault> {
    let a = check(va, 1, MappingFlags::WRITE)?;
    // SAFETY: a single store to a user-half address (never kernel memory); faults are fixed up.
    let r = unsafe { __pagoda_probe_write_u8(a, value.into()) };
    result(r, va, MappingFlags::WRITE).map(drop)
}

/// Writes an aligned `u64` at a user address.
///
/// # Errors
/// As [`probe_read_u64`].
pub fn probe_write_u64(va: VirtAddr, value: u64) -> Result<(), Fault> {
    let a = check(va, 8, MappingFlags::WRITE)?;
    // SAFETY: as in `probe_write_u8`.
    let r = unsafe { __pagoda_probe_write_u64(a, value as usize) };
    result(r, va, MappingFlags::WRITE).map(drop)
}
