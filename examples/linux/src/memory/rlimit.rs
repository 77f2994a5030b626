//! `prlimit64`, `getrlimit`, `setrlimit`: the limits are stored per process
//! (`pagoda_mm::abi::Rlimits`); `RLIMIT_AS` and `RLIMIT_DATA` are honoured by `mmap`,
//! `mremap`, `brk` and `shmat`; `RLIMIT_STACK` is reported (the loader's stack is fixed).

use pagoda::mm::LinuxError;
use pagoda_mm::abi::Rlimit;

use super::{Memory, SysResult, get, put};

/// The caller may raise hard limits (root: `CAP_SYS_RESOURCE`).
const PRIVILEGED: bool = true;

impl Memory {
    /// `prlimit64(pid, resource, new, old)` (also `getrlimit`/`setrlimit` with pid 0), in
    /// Linux's order: read `new` (`EFAULT`), find the process (`ESRCH`: only this one),
    /// check and set (`EINVAL`, `EPERM`), then write `old` (`EFAULT`, the limit is set).
    pub(super) fn prlimit(
        &mut self,
        pid: usize,
        resource: usize,
        new: usize,
        old: usize,
    ) -> SysResult {
        let new = match new {
            0 => None,
            at => {
                let mut raw = [0u8; 16];
                get(at, &mut raw)?;
                Some(Rlimit::from_bytes(raw))
            }
        };
        if pid != 0 && pid != self.pid as usize {
            return Err(LinuxError::ESRCH);
        }
        let was = self.limits.prlimit(resource, new, PRIVILEGED)?;
        if old != 0 {
            put(old, &was.to_bytes())?;
        }
        Ok(0)
    }
}
