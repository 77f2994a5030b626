//! What an operation returned, in a form both executors produce and compare.

use core::fmt;

/// The observable result of one operation.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// Success with a value (addresses are region-relative, see [`crate::ops::Addr`]).
    Val(i64),
    /// Success: an address in the heap region, relative to the heap start.
    HeapAddr(i64),
    /// Success: an address outside the window (the placement is not compared).
    Outside,
    /// Failure with an errno.
    Err(i32),
    /// A load succeeded; the hash of the bytes.
    Hash(u64),
    /// A store succeeded.
    Stored,
    /// The access faulted: signal number and `si_code` (`si_addr` was the access address
    /// unless `addr_delta` is not 0).
    Fault {
        /// `SIGSEGV` or `SIGBUS`.
        signo: i32,
        /// `si_code`.
        code: i32,
        /// `si_addr` minus the first address accessed.
        addr_delta: i64,
    },
    /// `pread`/`pwrite`: bytes transferred and (pread) their hash.
    Io(u64, u64),
    /// Pagoda only: the access could not be resolved (the fault handler kept saying
    /// "resolved" but the page table still refuses the access: a fault loop), or another
    /// internal inconsistency.
    Broken(String),
    /// The op was not run: it belongs to a skipped class (see `known.rs`).
    Skipped(&'static str),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Val(v) if *v < 0 => write!(f, "-{:#x}", -v),
            Reply::Val(v) => write!(f, "{v:#x}"),
            Reply::HeapAddr(v) => write!(f, "H+{v:#x}"),
            Reply::Outside => f.write_str("placed outside the window"),
            Reply::Err(e) => write!(f, "{}", errno_name(*e)),
            Reply::Hash(h) => write!(f, "data {h:016x}"),
            Reply::Stored => f.write_str("stored"),
            Reply::Fault {
                signo,
                code,
                addr_delta,
            } => {
                let sig = match signo {
                    11 => "SIGSEGV",
                    7 => "SIGBUS",
                    _ => "signal?",
                };
                let code = match (signo, code) {
                    (11, 1) => "SEGV_MAPERR".to_string(),
                    (11, 2) => "SEGV_ACCERR".into(),
                    (7, 2) => "BUS_ADRERR".into(),
                    (_, c) => format!("code {c}"),
                };
                write!(f, "{sig}/{code}")?;
                if *addr_delta != 0 {
                    write!(f, " at +{addr_delta:#x}")?;
                }
                Ok(())
            }
            Reply::Io(n, h) => write!(f, "{n:#x} bytes, data {h:016x}"),
            Reply::Broken(why) => write!(f, "BROKEN: {why}"),
            Reply::Skipped(why) => write!(f, "skipped ({why})"),
        }
    }
}

/// The symbolic name of an errno value (x86-64 numbering).
pub fn errno_name(e: i32) -> String {
    let name = match e {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        5 => "EIO",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        27 => "EFBIG",
        75 => "EOVERFLOW",
        95 => "EOPNOTSUPP",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// One line of a normalized `maps` listing.
#[derive(Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// Start (window: absolute; heap: relative to the heap base).
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// `rwxp`-style permissions.
    pub perms: String,
    /// What backs it.
    pub kind: Kind,
}

/// What backs a mapping, as far as `/proc/self/maps` tells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Private anonymous memory.
    Anon,
    /// The program break area.
    Heap,
    /// Shared anonymous memory, at this byte offset of its object.
    Shm(u64),
    /// File `i` at this byte offset.
    File(usize, u64),
    /// Anything else (never expected in the window).
    Other,
}

impl fmt::Debug for MapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}-{:#x} {} {:?}",
            self.start, self.end, self.perms, self.kind
        )
    }
}

impl Kind {
    /// The kind of the bytes `delta` bytes further on, if it continues this one.
    pub fn advanced(self, delta: u64) -> Self {
        match self {
            Kind::Shm(o) => Kind::Shm(o + delta),
            Kind::File(i, o) => Kind::File(i, o + delta),
            k => k,
        }
    }
}

/// Merges neighbours that only differ in how the kernel split them into areas: same
/// permissions, same backing, contiguous offsets (Linux merges such VMAs, Pagoda may keep
/// them apart; the difference is not observable by a program except through maps).
pub fn normalize(mut entries: Vec<MapEntry>) -> Vec<MapEntry> {
    entries.sort_by_key(|e| e.start);
    let mut out: Vec<MapEntry> = Vec::new();
    for e in entries {
        if let Some(last) = out.last_mut()
            && last.end == e.start
            && last.perms == e.perms
            && last.kind.advanced(last.end - last.start) == e.kind
        {
            last.end = e.end;
            continue;
        }
        out.push(e);
    }
    out
}

/// One page of a content dump: its hash, or the signal a load took.
#[derive(Clone, PartialEq, Eq)]
pub enum PageState {
    /// Readable; hash of the 4096 bytes.
    Data(u64),
    /// A load faulted with this signal and `si_code`.
    Fault(i32, i32),
    /// Pagoda only: the load hit an internal inconsistency ([`Reply::Broken`]: a fault
    /// loop, a uaccess error after the emulated CPU's access succeeded, a wrong frame).
    Broken(String),
}

impl fmt::Debug for PageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageState::Data(h) => write!(f, "{:08x}", h >> 32),
            PageState::Broken(why) => write!(f, "BROKEN({why})"),
            PageState::Fault(s, c) => write!(f, "sig{s}.{c}"),
        }
    }
}
