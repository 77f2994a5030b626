//! Op classes the default run does not generate, as data: deliberate differences (never
//! run: Pagoda differs from Linux on purpose) and known bugs (run only when asked, with
//! `DIFF_INCLUDE_KNOWN=1` or `DIFF_INCLUDE_KNOWN=name,name`). Every skipped op is counted
//! per class and the counts are printed, so nothing is hidden silently.

use memory_addr::{VirtAddr, VirtAddrRange};

use crate::ops::{Addr, Op, PAGE, prot};
use crate::pagoda::Pagoda;

/// Why a class is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Pagoda differs on purpose; never run.
    Deliberate,
    /// A known Pagoda bug, being fixed by the named helper branch; run on request.
    Known(&'static str),
    /// A Pagoda bug this tester found that no branch is fixing yet; run on request.
    Found,
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
    if !start.is_multiple_of(PAGE) || len == 0 {
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

/// Whether `[addr, addr + len)` (page-rounded) is not inside a single area.
fn not_one_area(p: &Pagoda, addr: Addr, len: u64) -> bool {
    range(p, addr, len).is_some_and(|r| {
        p.procs[p.active]
            .find_area(r.start)
            .is_none_or(|a| a.end() < r.end)
    })
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
            Op::Mmap { prot, .. } | Op::Mprotect { prot, .. } => {
                prot & (prot::R | prot::W | prot::X) == prot::X
            }
            _ => false,
        },
    },
    Class {
        name: "eof_tail",
        status: Status::Deliberate,
        why: "stores to the bytes past EOF in the last page of a file mapping: Linux keeps \
              them in its page cache after the mapping is gone (visible to a later mapping \
              until the page is evicted); Pagoda evicts a file page when its last mapping \
              goes, so a later mapping sees the zero fill POSIX specifies. Both never write \
              them to the file",
        applies: |p, _, op| match *op {
            Op::Write { addr, len, .. } => {
                let va = VirtAddr::from_usize(crate::pagoda::addr_of(addr) as usize);
                p.procs[p.active].find_area(va).is_some_and(|a| {
                    let b = a.backend();
                    match (b.file(), b.file_offset(va)) {
                        (Some(f), Some(off)) => off + len > f.size(),
                        _ => false,
                    }
                })
            }
            _ => false,
        },
    },
    Class {
        name: "mremap_move_multi",
        status: Status::Found,
        why: "MREMAP_FIXED without a size change over several mappings (holes allowed): \
              Linux >= 6.17 moves them all; Pagoda requires one area (EFAULT)",
        applies: |p, _, op| match *op {
            Op::Mremap {
                addr,
                old_len,
                new_len,
                flags,
                ..
            } => {
                flags & 2 != 0
                    && old_len.next_multiple_of(PAGE) == new_len.next_multiple_of(PAGE)
                    && not_one_area(p, addr, old_len)
            }
            _ => false,
        },
    },
    Class {
        name: "mremap_fixed_over_source",
        status: Status::Deliberate,
        why: "mremap(old, 0, len, MAYMOVE|FIXED, new) with [new, new + len) covering old: \
              Linux unmaps the target range first (taking the source with it) and then fails \
              with EFAULT; Pagoda fails with EFAULT and changes nothing (failing calls never \
              leave a half-done change)",
        applies: |_, _, op| match *op {
            Op::Mremap {
                addr,
                old_len: 0,
                new_len,
                new_addr,
                flags,
            } if flags & 2 != 0 => {
                let (old, new) = (
                    crate::pagoda::addr_of(addr),
                    crate::pagoda::addr_of(new_addr),
                );
                old >= new && old < new.saturating_add(new_len)
            }
            _ => false,
        },
    },
    Class {
        name: "unknown_prot_bits",
        status: Status::Found,
        why: "prot with bits other than R/W/X: Linux's mmap ignores them and its mprotect \
              accepts PROT_SEM (0x8) and rejects the rest with EINVAL; Pagoda rejects every \
              unknown bit (0x8 also happens to be MappingFlags::USER), also where Linux \
              returns 0 first (mprotect of length 0)",
        applies: |_, _, op| match *op {
            Op::Mmap { prot, .. } | Op::Mprotect { prot, .. } => prot & !7 != 0,
            _ => false,
        },
    },
];

/// Differences in how things are represented, removed before comparing (not op classes:
/// they apply to every op). Name and reason.
pub const NORMALIZATIONS: &[(&str, &str)] = &[
    (
        "area_splitting",
        "maps: neighbouring entries with equal permissions, equal backing and contiguous \
         offsets are merged on both sides (both merge such areas, by rules that may differ \
         in corner cases; mremap, which needs one area, compares the merging itself)",
    ),
    (
        "placement_outside_window",
        "mmap/mremap results outside the window are compared as 'outside' and unmapped \
         at once on both sides: Linux places them below its mmap base, Pagoda below the top \
         of its space; the window itself is always compared exactly",
    ),
    (
        "heap_base",
        "the program break starts at a random address on Linux and at a fixed one on Pagoda: \
         heap-region addresses, brk results and heap layouts are compared relative to it",
    ),
    (
        "maps_names",
        "Linux names a memfd '/memfd:diffN (deleted)' with its inode, Pagoda 'fN': both become \
         file N; '[heap]' counts as anonymous memory; only the window and the heap region are \
         compared",
    ),
];

/// Which classes run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Known-bug classes to include (by name); `all` includes every one.
    pub include: Vec<String>,
    /// Include every known-bug class.
    pub all: bool,
    /// Also run the deliberate differences (only for the tester's self-test: they must
    /// show as mismatches).
    pub deliberate: bool,
}

impl Selection {
    /// From `DIFF_INCLUDE_KNOWN`: unset/empty/0 = none, `1` = all, else a comma list.
    pub fn from_env() -> Self {
        match std::env::var("DIFF_INCLUDE_KNOWN").as_deref() {
            Err(_) | Ok("") | Ok("0") => Self::default(),
            Ok("1") | Ok("all") => Self {
                all: true,
                ..Self::default()
            },
            Ok(list) => Self {
                include: list.split(',').map(str::to_string).collect(),
                ..Self::default()
            },
        }
    }

    /// The class that makes `op` skipped, if any.
    pub fn skip(&self, p: &Pagoda, h: &History, op: &Op) -> Option<&'static Class> {
        CLASSES.iter().find(|c| {
            let run = match c.status {
                Status::Deliberate => self.deliberate,
                Status::Known(_) | Status::Found => {
                    self.all || self.include.iter().any(|n| n == c.name)
                }
            };
            !run && (c.applies)(p, h, op)
        })
    }
}
