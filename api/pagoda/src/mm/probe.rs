//! Real-MMU accesses to the current user address space, and test patterns built on them.

use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use page_table_entry::MappingFlags;
use pagoda_hal::user_space::take_last_unresolved;
use pagoda_hal::{Fault, Signal};

/// A probe that faulted: where, the access, and the signal a user program would get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeError {
    /// The faulting address.
    pub addr: VirtAddr,
    /// `READ` or `WRITE`.
    pub access: MappingFlags,
    /// `SIGSEGV` (no mapping, or not allowed), `SIGBUS` (nothing behind the page, e.g. past
    /// the end of a file) or `SIGKILL` (out of memory).
    pub signal: Signal,
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // `access` holds exactly one of READ / WRITE / EXECUTE.
        let kind = if self.access.contains(MappingFlags::WRITE) {
            "write"
        } else if self.access.contains(MappingFlags::EXECUTE) {
            "execute"
        } else {
            "read"
        };
        write!(
            f,
            "{} on a {kind} at {:#x}",
            self.signal,
            self.addr.as_usize()
        )
    }
}

fn probe_error(fault: Fault) -> ProbeError {
    let signal = take_last_unresolved()
        .filter(|(va, _)| *va == fault.addr)
        .map_or(Signal::Segv, |(_, why)| why.signal());
    ProbeError {
        addr: fault.addr,
        access: fault.access,
        signal,
    }
}

/// Reads the aligned `u64` at `va` through the MMU of the current address space. A page
/// fault goes to the space (lazy page, copy-on-write, file page) and the read is retried.
///
/// # Errors
/// [`ProbeError`] if the space does not resolve the fault, or `va` is not an aligned user
/// address (`SIGSEGV`).
pub fn probe_read(va: VirtAddr) -> Result<u64, ProbeError> {
    take_last_unresolved();
    pagoda_hal::probe_read_u64(va).map_err(probe_error)
}

/// Writes the aligned `u64` at `va` through the MMU of the current address space; faults
/// as for [`probe_read`].
///
/// # Errors
/// As [`probe_read`].
pub fn probe_write(va: VirtAddr, value: u64) -> Result<(), ProbeError> {
    take_last_unresolved();
    pagoda_hal::probe_write_u64(va, value).map_err(probe_error)
}

/// The test word at byte `offset` of a region under `seed`: differs between offsets and
/// seeds, and does not depend on where the region is mapped (shared memory may sit at
/// different addresses).
pub fn pattern(seed: u64, offset: usize) -> u64 {
    let mut x = seed ^ (offset as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1
}

/// A word that did not read back as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternError {
    /// The access faulted.
    Fault(ProbeError),
    /// The word at `va` held `got` instead of `want`.
    Mismatch {
        /// Where.
        va: VirtAddr,
        /// What was read.
        got: u64,
        /// What was expected.
        want: u64,
    },
}

/// The offsets of the first and last word of each of `pages` pages.
fn words(pages: usize) -> impl Iterator<Item = usize> {
    (0..pages).flat_map(|i| [i * PAGE_SIZE_4K, (i + 1) * PAGE_SIZE_4K - 8])
}

/// Writes [`pattern`]`(seed, offset)` into the first and last word of each of the `pages`
/// pages from `start`, through the MMU (one fault per untouched page).
///
/// # Errors
/// The first [`ProbeError`].
pub fn write_pattern(start: VirtAddr, pages: usize, seed: u64) -> Result<(), ProbeError> {
    words(pages).try_for_each(|off| probe_write(start + off, pattern(seed, off)))
}

/// Checks, through the MMU, what [`write_pattern`] wrote.
///
/// # Errors
/// The first fault or mismatch.
pub fn check_pattern(start: VirtAddr, pages: usize, seed: u64) -> Result<(), PatternError> {
    words(pages).try_for_each(|off| {
        let (va, want) = (start + off, pattern(seed, off));
        match probe_read(va) {
            Ok(got) if got == want => Ok(()),
            Ok(got) => Err(PatternError::Mismatch { va, got, want }),
            Err(f) => Err(PatternError::Fault(f)),
        }
    })
}
