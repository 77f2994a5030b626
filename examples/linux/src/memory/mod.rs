//! The memory system calls of the Linux personality: the mmap family (`map.rs`), advice,
//! locks and residency (`advise.rs`), System V shared memory (`shm.rs`) and resource
//! the resource limits they enforce (the process layer's `pagoda_task::rlimit::Limits`, the
//! only copy, passed to every call), each with Linux's argument checks in Linux's order. They work on
//! the current address space (`pagoda::mm::with_current`); the semantics live in
//! `pagoda_mm` (`AddrSpace`, `shm`), the pure checks in `pagoda_mm::abi`.

mod advise;
mod map;
mod mdwe;
mod policy;

mod shm;

use pagoda::linux::Sysno;
use pagoda::mm::{self, LinuxError, VirtAddr};
use pagoda_mm::Mdwe;
use pagoda_mm::abi::Rlimits;
use pagoda_task::rlimit::Limits;

use crate::mmap_source::MmapSource;

pub use self::policy::syscall as policy_call;

type SysResult = Result<usize, LinuxError>;

/// What `mlockall(MCL_FUTURE)` asked for new mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FutureLock {
    /// Nothing (the default, and after `munlockall` or `exec`).
    Off,
    /// Lock and populate every new mapping.
    Populate,
    /// Lock new mappings, populate on fault (`MCL_ONFAULT`).
    OnFault,
}

/// The per-process state of the memory calls.
pub struct Memory {
    /// The process id, for the `shmid_ds` stamps.
    pid: u32,
    /// The limits of the call being served (`RLIMIT_AS`, `RLIMIT_DATA`, `RLIMIT_MEMLOCK`
    /// taken from the process layer's at its start, in `pagoda_mm::abi`'s form).
    limits: Rlimits,
    future: FutureLock,
    /// The caller's effective uid and gid (System V permission checks; euid 0 may map below
    /// `vm.mmap_min_addr`).
    creds: (u32, u32),
    /// `prctl(PR_SET_MDWE)`'s policy.
    mdwe: Mdwe,
}

impl Memory {
    /// The state of pid 1 at boot: Linux's default limits, no locks.
    pub fn new() -> Self {
        Self {
            pid: 1,
            limits: Rlimits::new(crate::ids::STACK_LIMIT),
            future: FutureLock::Off,
            creds: (0, 0),
            mdwe: Mdwe::OFF,
        }
    }

    /// Sets the process id (a forked child's, before it runs).
    pub fn set_pid(&mut self, pid: u32) {
        self.pid = pid;
    }

    /// Sets the effective uid and gid the System V calls check (the process layer owns the
    /// credentials and passes them before each of those calls).
    pub fn set_creds(&mut self, euid: u32, egid: u32) {
        self.creds = (euid, egid);
    }

    /// What a forked child inherits: the limits (and the pid until
    /// [`set_pid`](Self::set_pid)), the MDWE policy unless `PR_MDWE_NO_INHERIT`; not
    /// `mlockall(MCL_FUTURE)`, as on Linux.
    pub fn fork(&self) -> Memory {
        Self {
            pid: self.pid,
            limits: self.limits.clone(),
            future: FutureLock::Off,
            creds: self.creds,
            mdwe: self.mdwe.inherited(),
        }
    }

    /// `execve` keeps the limits and the MDWE policy (unless `PR_MDWE_NO_INHERIT`) and
    /// drops `mlockall(MCL_FUTURE)`, as on Linux. (The
    /// caller tears the old space down with `shm::registry().exit` so that System V
    /// detaches are stamped.)
    pub fn on_exec(&mut self) {
        self.future = FutureLock::Off;
        self.mdwe = self.mdwe.inherited();
    }

    /// Serves `sys` if it is a memory call; `None` otherwise. `limits`: the process's
    /// resource limits (`prlimit64` sets them in the process layer).
    pub fn syscall(
        &mut self,
        sys: Sysno,
        a: [usize; 6],
        files: &dyn MmapSource,
        limits: &Limits,
    ) -> Option<SysResult> {
        if matches!(
            sys,
            Sysno::Mmap | Sysno::Mremap | Sysno::Brk | Sysno::Shmat | Sysno::Shmctl
        ) {
            self.limits = enforced(limits);
        }
        // `int` arguments are the low 32 bits of their register (as Linux reads them).
        let int = |i: usize| a[i] as u32 as usize;
        Some(match sys {
            Sysno::Mmap => self.mmap(a, files),
            Sysno::Munmap => self.munmap(a[0], a[1]),
            Sysno::Mprotect => map::mprotect(a[0], a[1], a[2], self.mdwe),
            Sysno::Mremap => self.mremap(a),
            Sysno::Msync => map::msync(a[0], a[1], int(2)),
            Sysno::Brk => self.brk(a[0]),
            Sysno::Madvise => advise::madvise(a[0], a[1], int(2)),
            Sysno::Mincore => advise::mincore(a[0], a[1], a[2]),
            Sysno::Mlock => advise::mlock(a[0], a[1], 0),
            Sysno::Mlock2 => advise::mlock(a[0], a[1], int(2)),
            Sysno::Munlock => advise::munlock(a[0], a[1]),
            Sysno::Mlockall => self.mlockall(int(0)),
            Sysno::Munlockall => self.munlockall(),
            Sysno::Mseal => space(|s| s.mseal(VirtAddr::from_usize(a[0]), a[1], a[2])).map(|()| 0),
            Sysno::Shmget => self.shmget(int(0), a[1], int(2)),
            Sysno::Shmat => self.shmat(int(0), a[1], int(2)),
            Sysno::Shmdt => self.shmdt(a[0]),
            Sysno::Shmctl => self.shmctl(int(0), int(1), a[2]),
            _ => return None,
        })
    }

    /// Locks `[start, start + len)` if `mlockall(MCL_FUTURE)` asked for new mappings to
    /// be locked (populate errors are ignored, as on Linux).
    fn lock_new(&self, s: &mut mm::AddrSpace, start: usize, len: usize) {
        let populate = match self.future {
            FutureLock::Off => return,
            FutureLock::Populate => true,
            FutureLock::OnFault => false,
        };
        let _ = s.mlock(VirtAddr::from_usize(start), len, populate);
    }
}

/// The limits the memory calls enforce, from the process layer's.
fn enforced(limits: &Limits) -> Rlimits {
    use pagoda_task::rlimit::resource::{AS, DATA, MEMLOCK, STACK};
    let stack = limits.get(STACK).map_or(crate::ids::STACK_LIMIT, |l| l.cur);
    let mut out = Rlimits::new(stack);
    for r in [AS, DATA, MEMLOCK] {
        if let Ok(l) = limits.get(r) {
            let l = pagoda_mm::abi::Rlimit {
                cur: l.cur,
                max: l.max,
            };
            // Within the same rules (cur <= max), so this cannot fail.
            let _ = out.prlimit(r, Some(l), true);
        }
    }
    out
}

/// Runs `f` on the current address space (`EFAULT` if there is none).
fn space<R>(f: impl FnOnce(&mut mm::AddrSpace) -> Result<R, LinuxError>) -> Result<R, LinuxError> {
    mm::with_current(f).unwrap_or(Err(LinuxError::EFAULT))
}

/// [`space`] for a call that may place a mapping at a fixed address: below
/// `vm.mmap_min_addr` only root may (Linux's `CAP_SYS_RAWIO`, `cap_mmap_addr`).
fn placing<R>(
    euid: u32,
    f: impl FnOnce(&mut mm::AddrSpace) -> Result<R, LinuxError>,
) -> Result<R, LinuxError> {
    space(|s| {
        s.set_mmap_privileged(euid == 0);
        f(s)
    })
}

/// Copies `buf.len()` bytes from user address `at`.
fn get(at: usize, buf: &mut [u8]) -> Result<(), LinuxError> {
    space(|s| s.read_bytes(VirtAddr::from_usize(at), buf))
}

/// Copies `data` to user address `at`.
fn put(at: usize, data: &[u8]) -> Result<(), LinuxError> {
    space(|s| s.write_bytes(VirtAddr::from_usize(at), data))
}
