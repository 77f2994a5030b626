//! The pure parts of the Linux memory system calls, kept here so they are host-tested:
//! `PROT_*` decoding, the flag checks of `mlock2`/`mlockall`, resource limits
//! (`prlimit64`/`getrlimit`/`setrlimit`) and the `shmctl` structures as user memory sees
//! them (identical on x86-64 and riscv64).

use axerrno::LinuxError;
use page_table_entry::MappingFlags;

use crate::shm::{ShmIdDs, ShmLimits};

/// `PROT_SEM` (accepted and ignored, as on Linux).
pub const PROT_SEM: usize = 0x8;
/// `PROT_GROWSDOWN` / `PROT_GROWSUP`.
pub const PROT_GROWS: usize = 0x0100_0000 | 0x0200_0000;

/// `mmap`'s `prot`: the access bits; Linux ignores everything else.
pub fn mmap_prot(bits: usize) -> MappingFlags {
    MappingFlags::from_bits_truncate(bits) & MappingFlags::ACCESS
}

/// `mprotect`'s `prot`: access bits and `PROT_SEM`.
///
/// # Errors
///
/// [`LinuxError::EINVAL`] for any other bit, `PROT_GROWSDOWN/UP` included: no mapping
/// grows here, and Linux refuses them on a mapping that does not.
pub fn mprotect_prot(bits: usize) -> Result<MappingFlags, LinuxError> {
    if bits & !(MappingFlags::ACCESS.bits() | PROT_SEM) != 0 {
        return Err(LinuxError::EINVAL);
    }
    Ok(mmap_prot(bits))
}

/// `MLOCK_ONFAULT`.
pub const MLOCK_ONFAULT: usize = 1;
/// `MCL_CURRENT`, `MCL_FUTURE`, `MCL_ONFAULT`.
pub const MCL_CURRENT: usize = 1;
/// Lock mappings made from now on.
pub const MCL_FUTURE: usize = 2;
/// With the others: lock pages as they are faulted in, not now.
pub const MCL_ONFAULT: usize = 4;

/// `mlock2` flags: whether to populate now.
///
/// # Errors
///
/// [`LinuxError::EINVAL`] for bits other than `MLOCK_ONFAULT`.
pub fn mlock2_populate(flags: usize) -> Result<bool, LinuxError> {
    match flags {
        0 => Ok(true),
        MLOCK_ONFAULT => Ok(false),
        _ => Err(LinuxError::EINVAL),
    }
}

/// `mlockall` flags, checked as Linux does.
///
/// # Errors
///
/// [`LinuxError::EINVAL`] for 0, unknown bits or `MCL_ONFAULT` alone.
pub fn mlockall_flags(flags: usize) -> Result<usize, LinuxError> {
    let all = MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT;
    if flags == 0 || flags & !all != 0 || flags == MCL_ONFAULT {
        return Err(LinuxError::EINVAL);
    }
    Ok(flags)
}

/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Number of resources (`RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
/// `RLIMIT_DATA`: private writable memory (heap and mappings), in bytes.
pub const RLIMIT_DATA: usize = 2;
/// `RLIMIT_STACK`: the main stack, in bytes.
pub const RLIMIT_STACK: usize = 3;
/// `RLIMIT_NOFILE`: open descriptors.
pub const RLIMIT_NOFILE: usize = 7;
/// `RLIMIT_AS`: the whole address space, in bytes.
pub const RLIMIT_AS: usize = 9;
/// Linux's `fs.nr_open`: the most `RLIMIT_NOFILE` may be.
pub const NR_OPEN: u64 = 1 << 20;

/// One resource limit (`struct rlimit64`): soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `rlim_cur`: what is enforced.
    pub cur: u64,
    /// `rlim_max`: the ceiling for `cur`.
    pub max: u64,
}

impl Rlimit {
    /// The 16 bytes of `struct rlimit64` (little-endian).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.cur.to_le_bytes());
        out[8..].copy_from_slice(&self.max.to_le_bytes());
        out
    }

    /// A limit from the 16 bytes of `struct rlimit64`.
    pub fn from_bytes(raw: [u8; 16]) -> Self {
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        Self {
            cur: word(&raw[..8]),
            max: word(&raw[8..]),
        }
    }
}

/// The resource limits of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimits([Rlimit; RLIM_NLIMITS]);

impl Rlimits {
    /// Linux's defaults for a process started by the kernel, except `RLIMIT_STACK`'s soft
    /// limit, which is `stack` (the stack the loader maps).
    pub fn new(stack: u64) -> Self {
        const INF: Rlimit = Rlimit {
            cur: RLIM_INFINITY,
            max: RLIM_INFINITY,
        };
        let mut all = [INF; RLIM_NLIMITS];
        let set = |all: &mut [Rlimit; RLIM_NLIMITS], r: usize, cur, max| {
            all[r] = Rlimit { cur, max };
        };
        set(&mut all, RLIMIT_STACK, stack, RLIM_INFINITY);
        set(&mut all, 4, 0, RLIM_INFINITY); // RLIMIT_CORE
        set(&mut all, 6, 4096, 4096); // RLIMIT_NPROC
        set(&mut all, RLIMIT_NOFILE, 1024, 4096);
        set(&mut all, 8, 8 << 20, 8 << 20); // RLIMIT_MEMLOCK
        set(&mut all, 11, 4096, 4096); // RLIMIT_SIGPENDING
        set(&mut all, 12, 819_200, 819_200); // RLIMIT_MSGQUEUE
        set(&mut all, 13, 0, 0); // RLIMIT_NICE
        set(&mut all, 14, 0, 0); // RLIMIT_RTPRIO
        Self(all)
    }

    /// The limit of `resource` (`RLIM_INFINITY` for one out of range).
    pub fn get(&self, resource: usize) -> Rlimit {
        self.0.get(resource).copied().unwrap_or(Rlimit {
            cur: RLIM_INFINITY,
            max: RLIM_INFINITY,
        })
    }

    /// The soft limit of `resource`, if finite.
    pub fn finite(&self, resource: usize) -> Option<u64> {
        Some(self.get(resource).cur).filter(|&c| c != RLIM_INFINITY)
    }

    /// `do_prlimit`: returns the old limit of `resource` and, with `new`, replaces it.
    /// `privileged` is `CAP_SYS_RESOURCE` (may raise the hard limit).
    ///
    /// # Errors
    ///
    /// In Linux's order: [`LinuxError::EINVAL`] for a resource out of range or a soft
    /// limit above the hard one; [`LinuxError::EPERM`] for `RLIMIT_NOFILE` above
    /// [`NR_OPEN`] or, unprivileged, raising the hard limit. Nothing changes then.
    pub fn prlimit(
        &mut self,
        resource: usize,
        new: Option<Rlimit>,
        privileged: bool,
    ) -> Result<Rlimit, LinuxError> {
        let slot = self.0.get_mut(resource).ok_or(LinuxError::EINVAL)?;
        let old = *slot;
        if let Some(new) = new {
            if new.cur > new.max {
                return Err(LinuxError::EINVAL);
            }
            if resource == RLIMIT_NOFILE && new.max > NR_OPEN {
                return Err(LinuxError::EPERM);
            }
            if new.max > old.max && !privileged {
                return Err(LinuxError::EPERM);
            }
            *slot = new;
        }
        Ok(old)
    }
}

/// Whether a mapping of `len` more bytes (`data`: private and writable) fits the limits,
/// given the bytes mapped now (`total`, `data_now`): Linux's `may_expand_vm`.
pub fn may_expand(limits: &Rlimits, total: usize, data_now: usize, len: usize, data: bool) -> bool {
    let fits = |now: usize, limit: Option<u64>| {
        limit.is_none_or(|l| (now as u64).saturating_add(len as u64) <= l)
    };
    fits(total, limits.finite(RLIMIT_AS)) && (!data || fits(data_now, limits.finite(RLIMIT_DATA)))
}

/// `shmctl` commands.
pub const IPC_RMID: usize = 0;
/// Set the permissions.
pub const IPC_SET: usize = 1;
/// Read `struct shmid_ds`.
pub const IPC_STAT: usize = 2;
/// Read `struct shminfo` (the limits).
pub const IPC_INFO: usize = 3;
/// Mark the segment locked.
pub const SHM_LOCK: usize = 11;
/// Clear the lock mark.
pub const SHM_UNLOCK: usize = 12;
/// `IPC_STAT` by index.
pub const SHM_STAT: usize = 13;
/// Read `struct shm_info` (usage).
pub const SHM_INFO: usize = 14;
/// `SHM_STAT` without the read permission check.
pub const SHM_STAT_ANY: usize = 15;

/// Size of `struct shmid_ds` (`shmid64_ds`) on x86-64 and riscv64.
pub const SHMID_DS_SIZE: usize = 112;

/// `struct shmid_ds` as user memory holds it; the owner and creator are `uid`/`gid`.
pub fn encode_shmid_ds(ds: &ShmIdDs, uid: u32, gid: u32) -> [u8; SHMID_DS_SIZE] {
    let mut out = [0u8; SHMID_DS_SIZE];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &ds.key.0.to_le_bytes());
    for at in [4, 12] {
        put(at, &uid.to_le_bytes());
    }
    for at in [8, 16] {
        put(at, &gid.to_le_bytes());
    }
    put(20, &ds.mode.to_le_bytes());
    put(48, &(ds.size as u64).to_le_bytes());
    put(56, &ds.atime.to_le_bytes());
    put(64, &ds.dtime.to_le_bytes());
    put(72, &ds.ctime.to_le_bytes());
    put(80, &ds.cpid.to_le_bytes());
    put(84, &ds.lpid.to_le_bytes());
    put(88, &(ds.nattch as u64).to_le_bytes());
    out
}

/// The `shm_perm.mode` that `IPC_SET` reads from a `struct shmid_ds`.
pub fn shmid_ds_mode(raw: &[u8; SHMID_DS_SIZE]) -> u32 {
    u32::from_le_bytes([raw[20], raw[21], raw[22], raw[23]])
}

/// `struct shminfo` (`IPC_INFO`, 72 bytes): the registry's limits.
pub fn encode_shminfo(limits: &ShmLimits) -> [u8; 72] {
    let mut out = [0u8; 72];
    let words = [
        limits.max_size as u64,
        1, // shmmin
        limits.max_segments as u64,
        limits.max_segments as u64, // shmseg: no per-process limit below shmmni
        limits.max_total_pages as u64,
    ];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// `struct shm_info` (`SHM_INFO`, 48 bytes): segments in use, their pages (`shm_tot`) and
/// the pages that have memory (`shm_rss`: a page gets it when first touched; no swap).
pub fn encode_shm_info(used_ids: usize, pages: usize, resident: usize) -> [u8; 48] {
    let mut out = [0u8; 48];
    out[..4].copy_from_slice(&(used_ids as i32).to_le_bytes());
    out[8..16].copy_from_slice(&(pages as u64).to_le_bytes());
    out[16..24].copy_from_slice(&(resident as u64).to_le_bytes());
    out
}

/// The System V permission check (`ipcperms`) for a segment owned by uid/gid 0 with
/// `mode`: `want` is `0o4` (read) or `0o6` (read-write); uid 0 may do anything.
pub fn ipc_permits(mode: u32, uid: u32, gid: u32, want: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let granted = if gid == 0 { (mode >> 3) & 7 } else { mode & 7 };
    granted & want == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::ShmKey;

    #[test]
    fn prot_bits_follow_linux() {
        assert_eq!(mmap_prot(0x7 | 0x1000 | PROT_SEM), MappingFlags::ACCESS);
        assert_eq!(
            mprotect_prot(0x3 | PROT_SEM),
            Ok(MappingFlags::READ | MappingFlags::WRITE)
        );
        assert_eq!(mprotect_prot(0x1000), Err(LinuxError::EINVAL));
        assert_eq!(mprotect_prot(0x0100_0001), Err(LinuxError::EINVAL));
    }

    #[test]
    fn lock_flags_follow_linux() {
        assert_eq!(mlock2_populate(0), Ok(true));
        assert_eq!(mlock2_populate(MLOCK_ONFAULT), Ok(false));
        assert_eq!(mlock2_populate(2), Err(LinuxError::EINVAL));
        assert_eq!(mlockall_flags(0), Err(LinuxError::EINVAL));
        assert_eq!(mlockall_flags(MCL_ONFAULT), Err(LinuxError::EINVAL));
        assert_eq!(mlockall_flags(8), Err(LinuxError::EINVAL));
        assert_eq!(mlockall_flags(MCL_FUTURE | MCL_ONFAULT), Ok(6));
    }

    #[test]
    fn prlimit_checks_in_linux_order_and_changes_nothing_on_error() {
        let mut l = Rlimits::new(1 << 20);
        let old = l.get(RLIMIT_STACK);
        assert_eq!(
            old,
            Rlimit {
                cur: 1 << 20,
                max: RLIM_INFINITY
            }
        );
        let bad = Rlimit { cur: 2, max: 1 };
        assert_eq!(
            l.prlimit(RLIM_NLIMITS, Some(bad), true),
            Err(LinuxError::EINVAL)
        );
        assert_eq!(
            l.prlimit(RLIMIT_AS, Some(bad), true),
            Err(LinuxError::EINVAL)
        );
        let nofile = Rlimit {
            cur: 1,
            max: NR_OPEN + 1,
        };
        assert_eq!(
            l.prlimit(RLIMIT_NOFILE, Some(nofile), true),
            Err(LinuxError::EPERM)
        );
        let low = Rlimit {
            cur: 4096,
            max: 8192,
        };
        let unlimited = l.get(RLIMIT_AS);
        assert_eq!(l.prlimit(RLIMIT_AS, Some(low), false), Ok(unlimited));
        assert_eq!(l.finite(RLIMIT_AS), Some(4096));
        let raise = Rlimit {
            cur: 4096,
            max: 1 << 20,
        };
        assert_eq!(
            l.prlimit(RLIMIT_AS, Some(raise), false),
            Err(LinuxError::EPERM)
        );
        assert_eq!(l.prlimit(RLIMIT_AS, Some(raise), true), Ok(low));
        assert_eq!(l.prlimit(RLIMIT_AS, None, false), Ok(raise));
        assert_eq!(Rlimit::from_bytes(raise.to_bytes()), raise);
    }

    #[test]
    fn may_expand_counts_the_address_space_and_private_writable_data() {
        let mut l = Rlimits::new(1 << 20);
        assert!(may_expand(&l, usize::MAX / 2, 0, usize::MAX / 2, true));
        l.prlimit(RLIMIT_AS, Some(Rlimit { cur: 10, max: 10 }), true)
            .unwrap();
        l.prlimit(RLIMIT_DATA, Some(Rlimit { cur: 4, max: 4 }), true)
            .unwrap();
        assert!(may_expand(&l, 6, 0, 4, true));
        assert!(!may_expand(&l, 7, 0, 4, false));
        assert!(!may_expand(&l, 0, 1, 4, true));
        assert!(may_expand(&l, 0, 1, 4, false));
    }

    #[test]
    fn shm_structures_have_the_user_layout() {
        let ds = ShmIdDs {
            key: ShmKey(0x1234),
            mode: 0o1600,
            size: 100,
            atime: 1,
            dtime: 2,
            ctime: 3,
            cpid: 7,
            lpid: 8,
            nattch: 2,
        };
        let raw = encode_shmid_ds(&ds, 0, 0);
        assert_eq!(&raw[..4], &0x1234i32.to_le_bytes());
        assert_eq!(shmid_ds_mode(&raw), 0o1600);
        assert_eq!(raw[48], 100);
        assert_eq!(
            (raw[56], raw[64], raw[72], raw[80], raw[84], raw[88]),
            (1, 2, 3, 7, 8, 2)
        );
        let info = encode_shminfo(&ShmLimits::default());
        assert_eq!(&info[..8], &(1u64 << 30).to_le_bytes());
        let usage = encode_shm_info(3, 5, 2);
        assert_eq!((usage[0], usage[8], usage[16]), (3, 5, 2));
    }

    #[test]
    fn ipc_permissions_for_a_root_owned_segment() {
        assert!(ipc_permits(0, 0, 0, 0o6));
        assert!(!ipc_permits(0o640, 65534, 65534, 0o4));
        assert!(ipc_permits(0o640, 65534, 0, 0o4));
        assert!(ipc_permits(0o604, 65534, 65534, 0o4));
        assert!(!ipc_permits(0o604, 65534, 65534, 0o6));
    }
}
