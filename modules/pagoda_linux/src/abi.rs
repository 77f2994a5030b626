//! The byte layouts of the structures Linux system calls exchange with user memory, per
//! architecture (all little-endian, LP64). Encoders write exactly the bytes the kernel
//! writes, padding zeroed; decoders read what a C library passes.
//!
//! Layouts are those of the UAPI headers (`asm/stat.h`, `asm-generic/stat.h`,
//! `linux/stat.h` for statx, `asm-generic/siginfo.h`, `linux/utsname.h`, `linux/sysinfo.h`,
//! `asm/signal.h`); the x86_64 ones are checked against the host C library in the tests.

use axerrno::LinuxError;

/// The architectures whose ABI differs in these structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64: its own `struct stat`; `sa_restorer` in `struct sigaction`.
    X86_64,
    /// riscv64: the generic `struct stat`; no `sa_restorer`.
    Riscv64,
    /// aarch64: the generic `struct stat`; `sa_restorer` present.
    Aarch64,
}

impl Arch {
    /// `uname -m`.
    pub const fn machine(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Riscv64 => "riscv64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// `MINSIGSTKSZ`: the smallest alternate signal stack `sigaltstack` accepts.
    pub const fn min_sigstack(self) -> usize {
        match self {
            Arch::X86_64 | Arch::Riscv64 => 2048,
            Arch::Aarch64 => 5120,
        }
    }

    /// Whether `struct sigaction` has an `sa_restorer` field.
    pub const fn has_sa_restorer(self) -> bool {
        !matches!(self, Arch::Riscv64)
    }
}

/// Little-endian stores into a zeroed buffer.
struct Out<const N: usize>([u8; N]);

impl<const N: usize> Out<N> {
    const fn new() -> Self {
        Out([0; N])
    }

    fn put(&mut self, at: usize, bytes: &[u8]) -> &mut Self {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    fn u16(&mut self, at: usize, v: u16) -> &mut Self {
        self.put(at, &v.to_le_bytes())
    }

    fn u32(&mut self, at: usize, v: u32) -> &mut Self {
        self.put(at, &v.to_le_bytes())
    }

    fn u64(&mut self, at: usize, v: u64) -> &mut Self {
        self.put(at, &v.to_le_bytes())
    }

    fn i64(&mut self, at: usize, v: i64) -> &mut Self {
        self.put(at, &v.to_le_bytes())
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// `struct timespec` (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, 0..1_000_000_000.
    pub nsec: i64,
}

impl Timespec {
    /// Size in user memory.
    pub const SIZE: usize = 16;

    /// The bytes of this value.
    pub fn encode(&self) -> [u8; 16] {
        Out::<16>::new().i64(0, self.sec).i64(8, self.nsec).0
    }

    /// A `struct timespec` a program passed.
    ///
    /// # Errors
    /// `EINVAL` (as the kernel answers) when `tv_nsec` is outside `0..1e9` or `tv_sec` < 0.
    pub fn decode(bytes: &[u8; 16]) -> Result<Self, LinuxError> {
        let t = Timespec {
            sec: u64_at(bytes, 0) as i64,
            nsec: u64_at(bytes, 8) as i64,
        };
        if t.sec < 0 || !(0..1_000_000_000).contains(&t.nsec) {
            return Err(LinuxError::EINVAL);
        }
        Ok(t)
    }
}

impl Timespec {
    /// `ns` nanoseconds.
    pub const fn from_ns(ns: u64) -> Self {
        Timespec {
            sec: (ns / NS_PER_SEC) as i64,
            nsec: (ns % NS_PER_SEC) as i64,
        }
    }

    /// The time in nanoseconds (saturating; a decoded value is never negative).
    pub const fn as_ns(&self) -> u64 {
        (self.sec as u64)
            .saturating_mul(NS_PER_SEC)
            .saturating_add(self.nsec as u64)
    }
}

const NS_PER_SEC: u64 = 1_000_000_000;

/// `struct timeval` (16 bytes): seconds and microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Timeval {
    /// Seconds.
    pub sec: i64,
    /// Microseconds, 0..1_000_000.
    pub usec: i64,
}

impl Timeval {
    /// Size in user memory.
    pub const SIZE: usize = 16;

    /// `ns` nanoseconds, truncated to microseconds.
    pub const fn from_ns(ns: u64) -> Self {
        Timeval {
            sec: (ns / NS_PER_SEC) as i64,
            usec: ((ns % NS_PER_SEC) / 1000) as i64,
        }
    }

    /// The time in nanoseconds (saturating; a decoded value is never negative).
    pub const fn as_ns(&self) -> u64 {
        (self.sec as u64)
            .saturating_mul(NS_PER_SEC)
            .saturating_add(self.usec as u64 * 1000)
    }

    /// The bytes of this value.
    pub fn encode(&self) -> [u8; 16] {
        Out::<16>::new().i64(0, self.sec).i64(8, self.usec).0
    }

    /// A `struct timeval` a program passed.
    ///
    /// # Errors
    /// `EINVAL` when `tv_usec` is outside `0..1e6` or `tv_sec` < 0 (`setitimer`'s answer).
    pub fn decode(bytes: &[u8; 16]) -> Result<Self, LinuxError> {
        let t = Timeval {
            sec: u64_at(bytes, 0) as i64,
            usec: u64_at(bytes, 8) as i64,
        };
        if t.sec < 0 || !(0..1_000_000).contains(&t.usec) {
            return Err(LinuxError::EINVAL);
        }
        Ok(t)
    }
}

/// `struct itimerval` (32 bytes): `it_interval`, then `it_value`, in nanoseconds.
pub fn encode_itimerval(interval_ns: u64, value_ns: u64) -> [u8; 32] {
    let mut o = Out::<32>::new();
    o.put(0, &Timeval::from_ns(interval_ns).encode())
        .put(16, &Timeval::from_ns(value_ns).encode());
    o.0
}

/// Reads a `struct itimerval`: `(interval, value)` in nanoseconds.
///
/// # Errors
/// `EINVAL` for a bad `timeval` in either field.
pub fn decode_itimerval(bytes: &[u8; 32]) -> Result<(u64, u64), LinuxError> {
    let mut half = [0u8; 16];
    half.copy_from_slice(&bytes[..16]);
    let interval = Timeval::decode(&half)?.as_ns();
    half.copy_from_slice(&bytes[16..]);
    Ok((interval, Timeval::decode(&half)?.as_ns()))
}

/// `struct rusage` (144 bytes) with user and system time; every other field 0.
pub fn encode_rusage(utime_ns: u64, stime_ns: u64) -> [u8; 144] {
    let mut o = Out::<144>::new();
    o.put(0, &Timeval::from_ns(utime_ns).encode())
        .put(16, &Timeval::from_ns(stime_ns).encode());
    o.0
}

/// `stack_t` of `sigaltstack` (24 bytes): `ss_sp`, `ss_flags`, `ss_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StackT {
    /// `ss_sp`.
    pub sp: u64,
    /// `ss_flags`.
    pub flags: i32,
    /// `ss_size`.
    pub size: u64,
}

impl StackT {
    /// Size in user memory.
    pub const SIZE: usize = 24;

    /// The bytes of this value.
    pub fn encode(&self) -> [u8; 24] {
        Out::<24>::new()
            .u64(0, self.sp)
            .u32(8, self.flags as u32)
            .u64(16, self.size)
            .0
    }

    /// Reads one (padding ignored).
    pub fn decode(bytes: &[u8; 24]) -> Self {
        StackT {
            sp: u64_at(bytes, 0),
            flags: i32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            size: u64_at(bytes, 16),
        }
    }
}

/// What `stat`, `fstat` and `newfstatat` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stat {
    /// Device of the file system.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Type and permissions.
    pub mode: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device a device node names.
    pub rdev: u64,
    /// Size in bytes.
    pub size: i64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// 512-byte blocks allocated.
    pub blocks: i64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
}

/// The size of `struct stat` on `arch`.
pub const fn stat_size(arch: Arch) -> usize {
    match arch {
        Arch::X86_64 => 144,
        Arch::Riscv64 | Arch::Aarch64 => 128,
    }
}

impl Stat {
    /// The bytes of `struct stat` on `arch` ([`stat_size`] of them, the rest of the 144 zero).
    pub fn encode(&self, arch: Arch) -> [u8; 144] {
        let mut o = Out::<144>::new();
        let times = [self.atime, self.mtime, self.ctime];
        match arch {
            Arch::X86_64 => {
                o.u64(0, self.dev)
                    .u64(8, self.ino)
                    .u64(16, u64::from(self.nlink));
                o.u32(24, self.mode)
                    .u32(28, self.uid)
                    .u32(32, self.gid)
                    .u64(40, self.rdev);
                o.i64(48, self.size)
                    .i64(56, i64::from(self.blksize))
                    .i64(64, self.blocks);
            }
            Arch::Riscv64 | Arch::Aarch64 => {
                o.u64(0, self.dev)
                    .u64(8, self.ino)
                    .u32(16, self.mode)
                    .u32(20, self.nlink);
                o.u32(24, self.uid)
                    .u32(28, self.gid)
                    .u64(32, self.rdev)
                    .i64(48, self.size);
                o.u32(56, self.blksize).i64(64, self.blocks);
            }
        }
        for (i, t) in times.iter().enumerate() {
            o.put(72 + 16 * i, &t.encode());
        }
        o.0
    }

    /// `struct statx` (256 bytes) with every basic field (`STATX_BASIC_STATS`) filled.
    pub fn encode_statx(&self) -> [u8; 256] {
        const STATX_BASIC_STATS: u32 = 0x7ff;
        let mut o = Out::<256>::new();
        o.u32(0, STATX_BASIC_STATS)
            .u32(4, self.blksize)
            .u32(16, self.nlink);
        o.u32(20, self.uid)
            .u32(24, self.gid)
            .u16(28, self.mode as u16)
            .u64(32, self.ino);
        o.u64(40, self.size as u64).u64(48, self.blocks as u64);
        // stx_atime, stx_btime (left zero: not in the basic mask), stx_ctime, stx_mtime.
        for (at, t) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            o.i64(at, t.sec).u32(at + 8, t.nsec as u32);
        }
        o.u32(128, dev_major(self.rdev))
            .u32(132, dev_minor(self.rdev));
        o.u32(136, dev_major(self.dev))
            .u32(140, dev_minor(self.dev));
        o.0
    }
}

/// The major number of a Linux `dev_t`.
pub const fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// The minor number of a Linux `dev_t`.
pub const fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// The `dev_t` of (major, minor).
pub const fn make_dev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// The six fields of `struct utsname`, 65 bytes each.
pub fn encode_utsname(fields: [&str; 6]) -> [u8; 390] {
    let mut o = Out::<390>::new();
    for (i, f) in fields.iter().enumerate() {
        let bytes = &f.as_bytes()[..f.len().min(64)];
        o.put(65 * i, bytes);
    }
    o.0
}

/// `struct sigaction` as the kernel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KernelSigaction {
    /// `sa_handler` (0 `SIG_DFL`, 1 `SIG_IGN`, else an address).
    pub handler: usize,
    /// `sa_flags`.
    pub flags: u64,
    /// `sa_restorer` (0 where the arch has none).
    pub restorer: usize,
    /// `sa_mask`.
    pub mask: u64,
}

impl KernelSigaction {
    /// Its size on `arch`: 32 bytes with `sa_restorer`, 24 without.
    pub const fn size(arch: Arch) -> usize {
        if arch.has_sa_restorer() { 32 } else { 24 }
    }

    /// Reads one from the first [`size`](Self::size) bytes of `bytes`.
    pub fn decode(arch: Arch, bytes: &[u8; 32]) -> Self {
        let (restorer, mask_at) = if arch.has_sa_restorer() {
            (u64_at(bytes, 16) as usize, 24)
        } else {
            (0, 16)
        };
        KernelSigaction {
            handler: u64_at(bytes, 0) as usize,
            flags: u64_at(bytes, 8),
            restorer,
            mask: u64_at(bytes, mask_at),
        }
    }

    /// Its bytes on `arch` (the first [`size`](Self::size) are meaningful).
    pub fn encode(&self, arch: Arch) -> [u8; 32] {
        let mut o = Out::<32>::new();
        o.u64(0, self.handler as u64).u64(8, self.flags);
        if arch.has_sa_restorer() {
            o.u64(16, self.restorer as u64).u64(24, self.mask);
        } else {
            o.u64(16, self.mask);
        }
        o.0
    }
}

/// The fields of `siginfo_t` a signal carries (a subset of the union's members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiginfoFields {
    /// No union member.
    None,
    /// `si_pid`, `si_uid` (kill, tgkill).
    Kill {
        /// Sender.
        pid: i32,
        /// Sender's real uid.
        uid: u32,
    },
    /// `si_pid`, `si_uid`, `si_value` (sigqueue).
    Queue {
        /// Sender.
        pid: i32,
        /// Sender's real uid.
        uid: u32,
        /// `si_value`.
        value: u64,
    },
    /// `si_pid`, `si_uid`, `si_status`, `si_utime`, `si_stime` (SIGCHLD).
    Child {
        /// The child.
        pid: i32,
        /// Its real uid.
        uid: u32,
        /// Exit code or signal.
        status: i32,
        /// User time in clock ticks.
        utime: i64,
        /// System time in clock ticks.
        stime: i64,
    },
    /// `si_addr` (faults).
    Fault {
        /// The faulting address.
        addr: u64,
    },
}

/// The 128 bytes of a `siginfo_t` (the same on every 64-bit architecture).
pub fn encode_siginfo(signo: i32, errno: i32, code: i32, fields: SiginfoFields) -> [u8; 128] {
    let mut o = Out::<128>::new();
    o.u32(0, signo as u32)
        .u32(4, errno as u32)
        .u32(8, code as u32);
    match fields {
        SiginfoFields::None => {}
        SiginfoFields::Kill { pid, uid } => {
            o.u32(16, pid as u32).u32(20, uid);
        }
        SiginfoFields::Queue { pid, uid, value } => {
            o.u32(16, pid as u32).u32(20, uid).u64(24, value);
        }
        SiginfoFields::Child {
            pid,
            uid,
            status,
            utime,
            stime,
        } => {
            o.u32(16, pid as u32)
                .u32(20, uid)
                .u32(24, status as u32)
                .i64(32, utime)
                .i64(40, stime);
        }
        SiginfoFields::Fault { addr } => {
            o.u64(16, addr);
        }
    }
    o.0
}

/// `struct sysinfo` (112 bytes on 64-bit) from its meaningful fields; memory in bytes
/// (`mem_unit` 1), loads in the kernel's fixed point (`1 << 16` = 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sysinfo {
    /// Seconds since boot.
    pub uptime: i64,
    /// 1, 5 and 15 minute load averages.
    pub loads: [u64; 3],
    /// Total usable RAM.
    pub totalram: u64,
    /// Free RAM.
    pub freeram: u64,
    /// Shared memory.
    pub sharedram: u64,
    /// Number of processes.
    pub procs: u16,
}

impl Sysinfo {
    /// Its bytes.
    pub fn encode(&self) -> [u8; 112] {
        let mut o = Out::<112>::new();
        o.i64(0, self.uptime);
        for (i, l) in self.loads.iter().enumerate() {
            o.u64(8 + 8 * i, *l);
        }
        o.u64(32, self.totalram)
            .u64(40, self.freeram)
            .u64(48, self.sharedram);
        o.u16(80, self.procs).u32(104, 1);
        o.0
    }
}

/// One `struct linux_dirent64` record of `getdents64`: the record length is the header (19
/// bytes) plus the name and its NUL, rounded up to 8. `None` if the record does not fit in
/// `room` bytes.
pub fn encode_dirent64(
    ino: u64,
    next_off: i64,
    d_type: u8,
    name: &[u8],
    room: usize,
) -> Option<alloc::vec::Vec<u8>> {
    let len = (19 + name.len() + 1).next_multiple_of(8);
    if len > room || len > usize::from(u16::MAX) {
        return None;
    }
    let mut rec = alloc::vec![0u8; len];
    rec[0..8].copy_from_slice(&ino.to_le_bytes());
    rec[8..16].copy_from_slice(&next_off.to_le_bytes());
    rec[16..18].copy_from_slice(&(len as u16).to_le_bytes());
    rec[18] = d_type;
    rec[19..19 + name.len()].copy_from_slice(name);
    Some(rec)
}
