//! `shmget`, `shmat`, `shmdt`, `shmctl` on the kernel's segment table
//! (`pagoda::mm::shm::registry()`). Every process is uid/gid 0 for now: the permission
//! checks (`abi::ipc_permits`) pass, and segments are owned by uid 0.

use pagoda::mm::shm::{self, ShmId, ShmKey};
use pagoda::mm::{LinuxError, PAGE_SIZE_4K, VirtAddr};
use pagoda_mm::abi::{self, SHMID_DS_SIZE};

use super::{Memory, SysResult, get, put, space};

/// The caller's credentials (root until there are users).
const UID: u32 = 0;
const GID: u32 = 0;

/// A segment id from a register (`int`): negative ones never exist.
fn shm_id(raw: usize) -> Result<ShmId, LinuxError> {
    let id = raw as i32;
    if id < 0 {
        return Err(LinuxError::EINVAL);
    }
    Ok(ShmId(id))
}

/// `EACCES` unless the caller may access a segment of `mode` for `want` (`0o4`/`0o6`).
fn check_access(mode: u32, want: u32) -> Result<(), LinuxError> {
    match abi::ipc_permits(mode, UID, GID, want) {
        true => Ok(()),
        false => Err(LinuxError::EACCES),
    }
}

impl Memory {
    /// `shmget(key, size, shmflg)`.
    pub(super) fn shmget(&self, key: usize, size: usize, flags: usize) -> SysResult {
        let ctx = shm::context(self.pid);
        let id = shm::registry().shmget(ShmKey(key as i32), size, flags as u32, ctx)?;
        let ds = shm::registry().stat(id)?;
        check_access(ds.mode, (flags as u32 >> 6) & 0o6)?;
        Ok(id.0 as usize)
    }

    /// `shmat(id, addr, shmflg)`: the segment counts against `RLIMIT_AS`.
    pub(super) fn shmat(&self, id: usize, addr: usize, flags: usize) -> SysResult {
        let id = shm_id(id)?;
        let ds = shm::registry().stat(id)?;
        let want = if flags as u32 & shm::SHM_RDONLY != 0 {
            0o4
        } else {
            0o6
        };
        check_access(ds.mode, want)?;
        let ctx = shm::context(self.pid);
        let addr = (addr != 0).then(|| VirtAddr::from_usize(addr));
        let size = ds.size.div_ceil(PAGE_SIZE_4K) * PAGE_SIZE_4K;
        space(|s| {
            let (total, data) = (s.areas().map(|a| a.size()).sum(), 0);
            if !abi::may_expand(&self.limits, total, data, size, false) {
                return Err(LinuxError::ENOMEM);
            }
            let at = shm::registry().shmat(s, id, addr, flags as u32, ctx)?;
            self.lock_new(s, at.as_usize(), size);
            Ok(at.as_usize())
        })
    }

    /// `shmdt(addr)`.
    pub(super) fn shmdt(&self, addr: usize) -> SysResult {
        let ctx = shm::context(self.pid);
        space(|s| shm::registry().shmdt(s, VirtAddr::from_usize(addr), ctx)).map(|()| 0)
    }

    /// `shmctl(id, cmd, buf)`: `IPC_STAT`, `IPC_SET`, `IPC_RMID`, `IPC_INFO`, `SHM_INFO`,
    /// `SHM_STAT(_ANY)` (the index is the id here), `SHM_LOCK`, `SHM_UNLOCK`.
    pub(super) fn shmctl(&self, id: usize, cmd: usize, buf: usize) -> SysResult {
        let reg = shm::registry();
        let highest = || reg.highest_id().map_or(0, |id| id.0 as usize);
        match cmd {
            abi::IPC_INFO => {
                put(buf, &abi::encode_shminfo(&reg.limits()))?;
                return Ok(highest());
            }
            abi::SHM_INFO => {
                put(buf, &abi::encode_shm_info(reg.len(), reg.total_pages()))?;
                return Ok(highest());
            }
            _ => {}
        }
        let id = shm_id(id)?;
        match cmd {
            abi::IPC_STAT | abi::SHM_STAT | abi::SHM_STAT_ANY => {
                let ds = reg.stat(id)?;
                if cmd != abi::SHM_STAT_ANY {
                    check_access(ds.mode, 0o4)?;
                }
                put(buf, &abi::encode_shmid_ds(&ds, UID, GID))?;
                Ok(if cmd == abi::IPC_STAT {
                    0
                } else {
                    id.0 as usize
                })
            }
            abi::IPC_SET => {
                let mut raw = [0u8; SHMID_DS_SIZE];
                get(buf, &mut raw)?;
                reg.set_mode(id, abi::shmid_ds_mode(&raw), shm::context(self.pid))?;
                Ok(0)
            }
            abi::IPC_RMID => reg.remove(id).map(|()| 0),
            abi::SHM_LOCK | abi::SHM_UNLOCK => reg.set_locked(id, cmd == abi::SHM_LOCK).map(|()| 0),
            _ => Err(LinuxError::EINVAL),
        }
    }
}
