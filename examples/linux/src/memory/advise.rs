//! `madvise`, `mincore`, `mlock`, `mlock2`, `munlock`, `mlockall`, `munlockall`.
//!
//! Without swap, "locked" means populated now and kept: `MADV_DONTNEED` and friends
//! refuse locked pages, `msync(MS_INVALIDATE)` is `EBUSY` on them (see `pagoda_mm`'s
//! `advise.rs`). The calling process is root, so `RLIMIT_MEMLOCK` is not enforced
//! (`CAP_IPC_LOCK`).

use alloc::vec::Vec;

use pagoda::mm::{Advice, LinuxError, VirtAddr};
use pagoda_mm::abi::{self, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT};

use super::{FutureLock, Memory, SysResult, put, space};

/// `madvise(addr, len, advice)`: the advice is checked first, as on Linux.
pub(super) fn madvise(addr: usize, len: usize, advice: usize) -> SysResult {
    let advice = u32::try_from(advice)
        .map_err(|_| LinuxError::EINVAL)
        .and_then(Advice::try_from)?;
    space(|s| s.madvise(VirtAddr::from_usize(addr), len, advice)).map(|()| 0)
}

/// `mincore(addr, len, vec)`: the bytes of the pages before a hole are written, then the
/// hole is `ENOMEM`; a vector that cannot be written is `EFAULT`.
pub(super) fn mincore(addr: usize, len: usize, vec: usize) -> SysResult {
    let mut out = Vec::new();
    let r = space(|s| Ok(s.mincore(VirtAddr::from_usize(addr), len, &mut out)))?;
    if r == Err(LinuxError::EINVAL) {
        return r.map(|()| 0);
    }
    if !out.is_empty() {
        put(vec, &out)?;
    }
    r.map(|()| 0)
}

/// `mlock(addr, len)` (`flags` 0) and `mlock2(addr, len, flags)`.
pub(super) fn mlock(addr: usize, len: usize, flags: usize) -> SysResult {
    let populate = abi::mlock2_populate(flags)?;
    space(|s| s.mlock(VirtAddr::from_usize(addr), len, populate)).map(|()| 0)
}

/// `munlock(addr, len)`.
pub(super) fn munlock(addr: usize, len: usize) -> SysResult {
    space(|s| s.munlock(VirtAddr::from_usize(addr), len)).map(|()| 0)
}

impl Memory {
    /// `mlockall(flags)`: `MCL_CURRENT` locks (and, without `MCL_ONFAULT`, populates)
    /// every mapping now; `MCL_FUTURE` every later one; without it, later mappings are no
    /// longer locked.
    pub(super) fn mlockall(&mut self, flags: usize) -> SysResult {
        let flags = abi::mlockall_flags(flags)?;
        let populate = flags & MCL_ONFAULT == 0;
        self.future = match (flags & MCL_FUTURE != 0, populate) {
            (false, _) => FutureLock::Off,
            (true, true) => FutureLock::Populate,
            (true, false) => FutureLock::OnFault,
        };
        if flags & MCL_CURRENT != 0 {
            space(|s| {
                s.mlock_all(true, populate);
                Ok(())
            })?;
        }
        Ok(0)
    }

    /// `munlockall()`: nothing is locked, now or later.
    pub(super) fn munlockall(&mut self) -> SysResult {
        self.future = FutureLock::Off;
        space(|s| {
            s.mlock_all(false, false);
            Ok(0)
        })
    }
}
