//! `prctl(PR_SET_MDWE)` / `prctl(PR_GET_MDWE)`: memory-deny-write-execute, a policy of the
//! process's memory (rules in `pagoda_mm::mdwe`). `mmap` refuses writable+executable
//! mappings under it and `mprotect` also refuses making a mapping executable (`map.rs`).

use pagoda_mm::mdwe::{PR_GET_MDWE, PR_SET_MDWE};

use super::{Memory, SysResult};

impl Memory {
    /// The memory options of `prctl(option, a[1], ..)`; `None` for other options.
    pub fn prctl(&mut self, option: usize, a: [usize; 6]) -> Option<SysResult> {
        Some(match option {
            PR_SET_MDWE => self.mdwe.set(a[1], a[2], a[3], a[4]).map(|m| {
                self.mdwe = m;
                0
            }),
            PR_GET_MDWE => self.mdwe.get(a[1], a[2], a[3], a[4]),
            _ => return None,
        })
    }
}
