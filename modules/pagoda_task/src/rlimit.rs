//! Resource limits (`getrlimit`, `setrlimit`, `prlimit64`): the values each process carries
//! (inherited by `fork`, kept by `execve`) and Linux's rules for changing them. Enforcing a
//! limit is the job of the layer that owns the resource (descriptors, memory, stack).

use axerrno::LinuxError;

/// `RLIM_INFINITY`.
pub const INFINITY: u64 = u64::MAX;
/// How many limits there are (`RLIM_NLIMITS`).
pub const NLIMITS: usize = 16;

/// Resource numbers (the same on every architecture Pagoda supports).
pub mod resource {
    #![allow(missing_docs)]
    pub const CPU: usize = 0;
    pub const FSIZE: usize = 1;
    pub const DATA: usize = 2;
    pub const STACK: usize = 3;
    pub const CORE: usize = 4;
    pub const RSS: usize = 5;
    pub const NPROC: usize = 6;
    pub const NOFILE: usize = 7;
    pub const MEMLOCK: usize = 8;
    pub const AS: usize = 9;
    pub const LOCKS: usize = 10;
    pub const SIGPENDING: usize = 11;
    pub const MSGQUEUE: usize = 12;
    pub const NICE: usize = 13;
    pub const RTPRIO: usize = 14;
    pub const RTTIME: usize = 15;
}

/// One limit: soft (`rlim_cur`) and hard (`rlim_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rlimit {
    /// The soft limit, which the kernel enforces.
    pub cur: u64,
    /// The ceiling for the soft limit.
    pub max: u64,
}

impl Rlimit {
    /// The 16 bytes of a `struct rlimit`.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.cur.to_le_bytes());
        out[8..].copy_from_slice(&self.max.to_le_bytes());
        out
    }

    /// A `struct rlimit` a program passed.
    pub fn decode(bytes: &[u8; 16]) -> Self {
        let mut cur = [0u8; 8];
        let mut max = [0u8; 8];
        cur.copy_from_slice(&bytes[..8]);
        max.copy_from_slice(&bytes[8..]);
        Rlimit {
            cur: u64::from_le_bytes(cur),
            max: u64::from_le_bytes(max),
        }
    }
}

/// The limits of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    limits: [Rlimit; NLIMITS],
    nofile_ceiling: u64,
}

impl Limits {
    /// Linux's defaults for init, with the given stack size, descriptor limits (soft and
    /// the most a hard limit may be raised to, `nr_open`).
    pub fn new(stack: u64, nofile: u64, nr_open: u64) -> Self {
        let inf = Rlimit {
            cur: INFINITY,
            max: INFINITY,
        };
        let mut limits = [inf; NLIMITS];
        limits[resource::STACK] = Rlimit {
            cur: stack,
            max: INFINITY,
        };
        // No core files are written.
        limits[resource::CORE] = Rlimit {
            cur: 0,
            max: INFINITY,
        };
        limits[resource::NOFILE] = Rlimit {
            cur: nofile,
            max: nr_open,
        };
        limits[resource::MEMLOCK] = Rlimit {
            cur: 8 << 20,
            max: 8 << 20,
        };
        limits[resource::MSGQUEUE] = Rlimit {
            cur: 819_200,
            max: 819_200,
        };
        for r in [resource::NICE, resource::RTPRIO] {
            limits[r] = Rlimit { cur: 0, max: 0 };
        }
        Self {
            limits,
            nofile_ceiling: nr_open,
        }
    }

    /// The limit of `resource`.
    ///
    /// # Errors
    /// `EINVAL` for an unknown resource.
    pub fn get(&self, resource: usize) -> Result<Rlimit, LinuxError> {
        self.limits.get(resource).copied().ok_or(LinuxError::EINVAL)
    }

    /// `setrlimit(resource, new)`; `privileged`: the caller may raise hard limits
    /// (`CAP_SYS_RESOURCE`). Returns the old limit.
    ///
    /// # Errors
    /// `EINVAL` for an unknown resource or `cur > max`; `EPERM` for raising the hard limit
    /// unprivileged, or `RLIMIT_NOFILE` above `nr_open`. Nothing changes on error.
    pub fn set(
        &mut self,
        resource: usize,
        new: Rlimit,
        privileged: bool,
    ) -> Result<Rlimit, LinuxError> {
        let old = self.get(resource)?;
        if new.cur > new.max {
            return Err(LinuxError::EINVAL);
        }
        if resource == resource::NOFILE && new.max > self.nofile_ceiling {
            return Err(LinuxError::EPERM);
        }
        if new.max > old.max && !privileged {
            return Err(LinuxError::EPERM);
        }
        self.limits[resource] = new;
        Ok(old)
    }
}
