//! `shmget`, `shmat`, `shmdt`, `shmctl` on the kernel's segment table
//! (`pagoda::mm::shm::registry()`), with Linux's `ipcperms` checks against the caller's
//! effective ids ([`Memory::set_creds`]; uid 0 has `CAP_IPC_OWNER`, `CAP_SYS_ADMIN` and
//! `CAP_IPC_LOCK`). The registry keeps no owners, so this layer records each segment's
//! owner and creator when its `shmget` creates it (a system call runs to completion, so
//! looking the key up first cannot race).

use alloc::collections::BTreeMap;

use kspin::SpinNoIrq;
use pagoda::mm::shm::{self, IPC_PRIVATE, ShmId, ShmKey};
use pagoda::mm::{LinuxError, PAGE_SIZE_4K, VirtAddr};
use pagoda_mm::abi::{self, SHMID_DS_SIZE};

use super::{Memory, SysResult, get, placing, put, space};

/// `RLIMIT_MEMLOCK`: 0 forbids `SHM_LOCK` without the capability.
const RLIMIT_MEMLOCK: usize = 8;

/// `shm_perm.uid`, `gid`, `cuid`, `cgid` of a segment.
#[derive(Debug, Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
}

/// The owners by segment id (ids are reused: a creation overwrites the entry).
static OWNERS: SpinNoIrq<BTreeMap<i32, Owner>> = SpinNoIrq::new(BTreeMap::new());

/// Segments made before any entry (none in practice) belong to root.
fn owner(id: ShmId) -> Owner {
    OWNERS.lock().get(&id.0).copied().unwrap_or(Owner {
        uid: 0,
        gid: 0,
        cuid: 0,
        cgid: 0,
    })
}

/// A segment id from a register (`int`): negative ones never exist.
fn shm_id(raw: usize) -> Result<ShmId, LinuxError> {
    let id = raw as i32;
    if id < 0 {
        return Err(LinuxError::EINVAL);
    }
    Ok(ShmId(id))
}

impl Memory {
    /// Linux's `ipcperms`: `EACCES` unless the caller may access segment `id` of `mode`
    /// as `flag` asks (`0o444`-style bits; only their `rwx` meaning counts).
    fn check_access(&self, id: ShmId, mode: u32, flag: u32) -> Result<(), LinuxError> {
        let (euid, egid) = self.creds;
        let o = owner(id);
        let want = (flag >> 6 | flag >> 3 | flag) & 7;
        let granted = if euid == o.uid || euid == o.cuid {
            mode >> 6
        } else if egid == o.gid || egid == o.cgid {
            mode >> 3
        } else {
            mode
        };
        if euid != 0 && want & !granted & 7 != 0 {
            return Err(LinuxError::EACCES);
        }
        Ok(())
    }

    /// `IPC_SET`, `IPC_RMID`, `SHM_(UN)LOCK` without the capability: owner or creator only.
    fn check_owner(&self, id: ShmId) -> Result<(), LinuxError> {
        let (euid, _) = self.creds;
        let o = owner(id);
        match euid == 0 || euid == o.uid || euid == o.cuid {
            true => Ok(()),
            false => Err(LinuxError::EPERM),
        }
    }

    /// `shmget(key, size, shmflg)`.
    pub(super) fn shmget(&self, key: usize, size: usize, flags: usize) -> SysResult {
        let ctx = shm::context(self.pid);
        let key = ShmKey(key as i32);
        let reg = shm::registry();
        let existed = key != IPC_PRIVATE && reg.shmget(key, 0, 0, ctx).is_ok();
        let id = reg.shmget(key, size, flags as u32, ctx)?;
        if existed {
            let ds = reg.stat(id)?;
            self.check_access(id, ds.mode, flags as u32)?;
        } else {
            let (uid, gid) = self.creds;
            let o = Owner {
                uid,
                gid,
                cuid: uid,
                cgid: gid,
            };
            OWNERS.lock().insert(id.0, o);
        }
        Ok(id.0 as usize)
    }

    /// `shmat(id, addr, shmflg)`: the segment counts against `RLIMIT_AS`.
    pub(super) fn shmat(&self, id: usize, addr: usize, flags: usize) -> SysResult {
        let id = shm_id(id)?;
        let ds = shm::registry().stat(id)?;
        let want = if flags as u32 & shm::SHM_RDONLY != 0 {
            0o444
        } else {
            0o666
        };
        self.check_access(id, ds.mode, want)?;
        let ctx = shm::context(self.pid);
        let addr = (addr != 0).then(|| VirtAddr::from_usize(addr));
        let size = ds.size.div_ceil(PAGE_SIZE_4K) * PAGE_SIZE_4K;
        placing(self.creds.0, |s| {
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
                put(
                    buf,
                    &abi::encode_shm_info(reg.len(), reg.total_pages(), reg.resident_pages()),
                )?;
                return Ok(highest());
            }
            _ => {}
        }
        let id = shm_id(id)?;
        match cmd {
            abi::IPC_STAT | abi::SHM_STAT | abi::SHM_STAT_ANY => {
                let ds = reg.stat(id)?;
                if cmd != abi::SHM_STAT_ANY {
                    self.check_access(id, ds.mode, 0o444)?;
                }
                let o = owner(id);
                let mut raw = abi::encode_shmid_ds(&ds, o.uid, o.gid);
                raw[12..16].copy_from_slice(&o.cuid.to_le_bytes());
                raw[16..20].copy_from_slice(&o.cgid.to_le_bytes());
                put(buf, &raw)?;
                Ok(if cmd == abi::IPC_STAT {
                    0
                } else {
                    id.0 as usize
                })
            }
            abi::IPC_SET => {
                let mut raw = [0u8; SHMID_DS_SIZE];
                get(buf, &mut raw)?;
                reg.stat(id)?;
                self.check_owner(id)?;
                reg.set_mode(id, abi::shmid_ds_mode(&raw), shm::context(self.pid))?;
                // shm_perm.uid and gid change with the mode.
                let word = |at: usize| {
                    u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]])
                };
                let mut o = owner(id);
                (o.uid, o.gid) = (word(4), word(8));
                OWNERS.lock().insert(id.0, o);
                Ok(0)
            }
            abi::IPC_RMID => {
                reg.stat(id)?;
                self.check_owner(id)?;
                reg.remove(id).map(|()| 0)
            }
            abi::SHM_LOCK | abi::SHM_UNLOCK => {
                reg.stat(id)?;
                self.check_owner(id)?;
                let memlock = self.limits.get(RLIMIT_MEMLOCK).cur;
                if cmd == abi::SHM_LOCK && self.creds.0 != 0 && memlock == 0 {
                    return Err(LinuxError::EPERM);
                }
                reg.set_locked(id, cmd == abi::SHM_LOCK).map(|()| 0)
            }
            _ => Err(LinuxError::EINVAL),
        }
    }
}
