//! Op classes the default run does not generate, as data: deliberate differences (never
//! run: Pagoda differs from Linux on purpose) and known bugs (run only when asked, with
//! `DIFF_INCLUDE_KNOWN=1` or `DIFF_INCLUDE_KNOWN=name,name`). Every skipped op is counted
//! per class and the counts are printed, so nothing is hidden silently.

use memory_addr::{VirtAddr, VirtAddrRange};

use crate::ops::{Addr, Op, PAGE, map, prot};
use crate::pagoda::Pagoda;

/// Why a class is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Pagoda differs on purpose; never run.
    Deliberate,
    /// A known Pagoda bug, being fixed by the named helper branch; run on request.
    Known(&'static str),
}

/// One class of ops.
pub struct Class {
    /// Short name (for `DIFF_INCLUDE_KNOWN`).
    pub name: &'static str,
    /// Deliberate or known bug.
    pub status: Status,
    /// What differs, and why.
    pub why: &'static str,
    /// Whether `op`, about to run on the state `p` (Pagoda's, which equals Linux's so far),
    /// belongs to the class.
    pub applies: fn(&Pagoda, &History, &Op) -> bool,
}

/// What happened earlier in the sequence (for classes that depend on it).
#[derive(Debug, Default, Clone)]
pub struct History {
    /// Files that have been mapped (successfully) at some point.
    pub file_mapped: Vec<bool>,
}

fn range(p: &Pagoda, a: Addr, len: u64) -> Option<VirtAddrRange> {
    let start = crate::pagoda::addr_of(a);
    let len = len.checked_next_multiple_of(PAGE)?;
    if start % PAGE != 0 || len == 0 {
        return None;
    }
    let _ = p;
    VirtAddrRange::try_from_start_size(VirtAddr::from_usize(start as usize), len as usize)
}

/// Whether some page of the range belongs to no area of the active process.
fn has_hole(p: &Pagoda, r: VirtAddrRange) -> bool {
    let mut cur = r.start;
    for a in p.procs[p.active].areas_in(r) {
        if a.start() > cur {
            return true;
        }
        cur = a.end();
    }
    cur < r.end
}

fn write_only(prot: u32) -> bool {
    prot & (prot::R | prot::W) == prot::W
}

/// The classes, in the order they are checked.
pub const CLASSES: &[Class] = &[
    Class {
        name: "mprotect_hole",
        status: Status::Deliberate,
        why: "mprotect over a range with unmapped pages: Linux changes the pages before the \
              hole and fails with ENOMEM; Pagoda fails with ENOMEM and changes nothing \
              (every Pagoda operation is all-or-nothing)",
        applies: |p, _, op| match *op {
            Op::Mprotect { addr, len, .. } => range(p, addr, len).is_some_and(|r| has_hole(p, r)),
            _ => false,
        },
    },
    Class {
        name: "exec_only",
        status: Status::Deliberate,
        why: "PROT_EXEC without PROT_READ: on CPUs with protection keys Linux makes such \
              pages execute-only (a load is SIGSEGV/SEGV_PKUERR); without them they are \
              readable. Host-dependent, so not compared",
        applies: |_, _, op| match *op {
            Op::Mmap { prot, .. } | Op::Mprotect { prot, .. } => prot & (prot::R | prot::W | prot::X) == prot::X,
            _ => false,
        },
    },
    Class {
        name: "write_only",
        status: Status::Known("mmsem"),
        why: "PROT_WRITE alone (a write-only page loops in the fault handler)",
        applies: |_, _, op| match *op {
            Op::Mmap { prot, .. } | Op::Mprotect { prot, .. } => write_only(prot),
            _ => false,
        },
    },
    Class {
        name: "file_io_coherence",
        status: Status::Known("cache"),
        why: "pread/pwrite/ftruncate of a file that is or was mapped: Linux's file I/O and \
              mappings share one page cache; Pagoda's MemFile I/O bypasses the page cache",
        applies: |_, h, op| match *op {
            Op::Pread { file, .. } | Op::Pwrite { file, .. } | Op::Ftruncate { file, .. } => {
                h.file_mapped.get(file).copied().unwrap_or(false)
            }
            _ => false,
        },
    },
    Class {
        name: "populate_private_file",
        status: Status::Known("cache"),
        why: "MAP_POPULATE of a private file mapping",
        applies: |_, _, op| match *op {
            Op::Mmap { flags, .. } => {
                flags & map::ANON == 0 && flags & 3 == map::PRIVATE && flags & map::POPULATE != 0
            }
            _ => false,
        },
    },
];

/// Which classes run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Known-bug classes to include (by name); `all` includes every one.
    pub include: Vec<String>,
    /// Include every known-bug class.
    pub all: bool,
}

impl Selection {
    /// From `DIFF_INCLUDE_KNOWN`: unset/empty/0 = none, `1` = all, else a comma list.
    pub fn from_env() -> Self {
        match std::env::var("DIFF_INCLUDE_KNOWN").as_deref() {
            Err(_) | Ok("") | Ok("0") => Self::default(),
            Ok("1") | Ok("all") => Self { include: Vec::new(), all: true },
            Ok(list) => Self { include: list.split(',').map(str::to_string).collect(), all: false },
        }
    }

    /// The class that makes `op` skipped, if any.
    pub fn skip(&self, p: &Pagoda, h: &History, op: &Op) -> Option<&'static Class> {
        CLASSES.iter().find(|c| {
            let run = match c.status {
                Status::Deliberate => false,
                Status::Known(_) => self.all || self.include.iter().any(|n| n == c.name),
            };
            !run && (c.applies)(p, h, op)
        })
    }
}
