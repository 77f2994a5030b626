//! The operations both executors run, and the proptest strategies that generate them.

use core::fmt;

use proptest::prelude::*;

/// Pages in the window every sequence works in.
pub const WIN_PAGES: u64 = 24;
/// Page size.
pub const PAGE: u64 = 4096;
/// Files (tmpfs memfds on Linux, `MemFile`s on Pagoda) each sequence starts with.
pub const NFILES: usize = 2;
/// Processes a sequence may create with `fork` (the executor's limit too).
pub const MAX_PROCS: usize = 8;

/// `PROT_*` values.
pub mod prot {
    /// `PROT_READ`.
    pub const R: u32 = 1;
    /// `PROT_WRITE`.
    pub const W: u32 = 2;
    /// `PROT_EXEC`.
    pub const X: u32 = 4;
}

/// `MAP_*` values.
pub mod map {
    /// `MAP_SHARED`.
    pub const SHARED: u32 = 0x01;
    /// `MAP_PRIVATE`.
    pub const PRIVATE: u32 = 0x02;
    /// `MAP_SHARED_VALIDATE`.
    pub const SHARED_VALIDATE: u32 = 0x03;
    /// `MAP_FIXED`.
    pub const FIXED: u32 = 0x10;
    /// `MAP_ANONYMOUS`.
    pub const ANON: u32 = 0x20;
    /// `MAP_POPULATE`.
    pub const POPULATE: u32 = 0x8000;
    /// `MAP_FIXED_NOREPLACE`.
    pub const FIXED_NOREPLACE: u32 = 0x10_0000;
    /// `MAP_SYNC` (only valid for DAX files: `EOPNOTSUPP` under `MAP_SHARED_VALIDATE`).
    pub const SYNC: u32 = 0x8_0000;
}

/// Which region an address is relative to: the window (same address on both sides) or
/// the initial program break (random on Linux, fixed on Pagoda).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Region {
    /// The reserved window.
    Win,
    /// The heap (`brk`).
    Heap,
}

/// A byte offset from the base of a region.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addr {
    /// The region.
    pub region: Region,
    /// Offset in bytes (negative: below the base).
    pub off: i64,
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = match self.region {
            Region::Win => "W",
            Region::Heap => "H",
        };
        if self.off < 0 {
            write!(f, "{r}-{:#x}", -self.off)
        } else {
            write!(f, "{r}+{:#x}", self.off)
        }
    }
}

/// One operation, as a program would issue it.
#[derive(Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // field names are the syscall arguments
pub enum Op {
    /// `mmap(addr or NULL, len, prot, flags, file or -1, off)`.
    Mmap {
        addr: Option<Addr>,
        len: u64,
        prot: u32,
        flags: u32,
        file: i32,
        off: i64,
    },
    /// `munmap`.
    Munmap { addr: Addr, len: u64 },
    /// `mprotect`.
    Mprotect { addr: Addr, len: u64, prot: u32 },
    /// `mremap(addr, old_len, new_len, flags, new_addr)`.
    Mremap {
        addr: Addr,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: Addr,
    },
    /// `madvise`.
    Madvise { addr: Addr, len: u64, advice: u32 },
    /// `msync`.
    Msync { addr: Addr, len: u64, flags: u32 },
    /// `brk`.
    Brk { addr: Addr },
    /// Loads `len` bytes (within one page) and hashes them; a fault is reported.
    Read { addr: Addr, len: u64 },
    /// Stores a pattern of `len` bytes (within one page); a fault is reported.
    Write { addr: Addr, len: u64, seed: u8 },
    /// `pread(file, len, off)`.
    Pread { file: usize, off: i64, len: u64 },
    /// `pwrite(file, pattern(seed, len), off)`.
    Pwrite {
        file: usize,
        off: i64,
        len: u64,
        seed: u8,
    },
    /// `ftruncate(file, len)`.
    Ftruncate { file: usize, len: i64 },
    /// `fork`; afterwards the child (`child_active`) or the parent runs the next ops.
    Fork { child_active: bool },
    /// Makes process `proc` (creation order, 0 = the first) the one running the ops.
    Switch { proc: usize },
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Mmap {
                addr,
                len,
                prot,
                flags,
                file,
                off,
            } => {
                write!(
                    f,
                    "mmap({addr:?}, {len:#x}, {}, {}, {file}, {off:#x})",
                    prot_str(prot),
                    map_str(flags)
                )
            }
            Op::Munmap { addr, len } => write!(f, "munmap({addr:?}, {len:#x})"),
            Op::Mprotect { addr, len, prot } => {
                write!(f, "mprotect({addr:?}, {len:#x}, {})", prot_str(prot))
            }
            Op::Mremap {
                addr,
                old_len,
                new_len,
                flags,
                new_addr,
            } => write!(
                f,
                "mremap({addr:?}, {old_len:#x}, {new_len:#x}, {flags}, {new_addr:?})"
            ),
            Op::Madvise { addr, len, advice } => write!(f, "madvise({addr:?}, {len:#x}, {advice})"),
            Op::Msync { addr, len, flags } => write!(f, "msync({addr:?}, {len:#x}, {flags})"),
            Op::Brk { addr } => write!(f, "brk({addr:?})"),
            Op::Read { addr, len } => write!(f, "read({addr:?}, {len:#x})"),
            Op::Write { addr, len, seed } => write!(f, "write({addr:?}, {len:#x}, seed {seed})"),
            Op::Pread { file, off, len } => write!(f, "pread(f{file}, off {off:#x}, {len:#x})"),
            Op::Pwrite {
                file,
                off,
                len,
                seed,
            } => {
                write!(f, "pwrite(f{file}, off {off:#x}, {len:#x}, seed {seed})")
            }
            Op::Ftruncate { file, len } => write!(f, "ftruncate(f{file}, {len:#x})"),
            Op::Fork { child_active } => {
                write!(
                    f,
                    "fork(then {})",
                    if child_active { "child" } else { "parent" }
                )
            }
            Op::Switch { proc } => write!(f, "switch(p{proc})"),
        }
    }
}

fn prot_str(p: u32) -> String {
    let mut s = String::new();
    for (bit, name) in [(prot::R, "R"), (prot::W, "W"), (prot::X, "X")] {
        if p & bit != 0 {
            s.push_str(name);
        }
    }
    if p & !7 != 0 {
        s.push_str(&format!("|{:#x}", p & !7));
    }
    if s.is_empty() { "NONE".into() } else { s }
}

fn map_str(fl: u32) -> String {
    let mut parts = Vec::new();
    match fl & 3 {
        0 => parts.push("TYPE0".to_string()),
        1 => parts.push("SHARED".into()),
        2 => parts.push("PRIVATE".into()),
        _ => parts.push("SHARED_VALIDATE".into()),
    }
    let mut rest = fl & !3;
    for (bit, name) in [
        (map::ANON, "ANON"),
        (map::FIXED, "FIXED"),
        (map::FIXED_NOREPLACE, "FIXED_NOREPLACE"),
        (map::POPULATE, "POPULATE"),
    ] {
        if rest & bit != 0 {
            parts.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

impl Op {
    /// Whether the op may change the layout (then both layouts are compared after it).
    pub fn changes_layout(&self) -> bool {
        !matches!(
            self,
            Op::Read { .. } | Op::Write { .. } | Op::Pread { .. } | Op::Pwrite { .. }
        )
    }
}

fn win(page: u64, byte: i64) -> Addr {
    Addr {
        region: Region::Win,
        off: (page * PAGE) as i64 + byte,
    }
}

/// A window address: page-aligned mostly, sometimes a little off.
fn win_addr() -> impl Strategy<Value = Addr> {
    (
        0..WIN_PAGES,
        prop_oneof![8 => Just(0i64), 1 => 1i64..PAGE as i64],
    )
        .prop_map(|(p, b)| win(p, b))
}

/// Mostly a window address, sometimes a page of the heap region (near the break).
fn any_addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        8 => win_addr(),
        1 => (0i64..24).prop_map(|p| Addr { region: Region::Heap, off: p * PAGE as i64 }),
    ]
}

/// A length in bytes: whole pages mostly, sometimes 0 or a partial page.
fn len() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => (1u64..=6).prop_map(|p| p * PAGE),
        1 => Just(0u64),
        2 => 1u64..6 * PAGE,
    ]
}

fn prot_any() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(prot::R | prot::W),
        2 => Just(prot::R),
        2 => Just(0),
        1 => Just(prot::W),
        1 => Just(prot::R | prot::X),
        1 => Just(prot::R | prot::W | prot::X),
        1 => Just(prot::W | prot::X),
        1 => prop_oneof![Just(0x8u32), Just(0x10), Just(prot::R | 0x20)],
    ]
}

fn mmap_op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        6 => Just(map::PRIVATE | map::ANON),
        3 => Just(map::SHARED | map::ANON),
        4 => Just(map::PRIVATE),
        4 => Just(map::SHARED),
        1 => Just(map::SHARED_VALIDATE),
        1 => Just(map::SHARED_VALIDATE | map::ANON),
        1 => Just(map::ANON),
        1 => Just(map::SHARED_VALIDATE | map::SYNC),
    ];
    let place = prop_oneof![
        6 => Just(map::FIXED),
        2 => Just(map::FIXED_NOREPLACE),
        3 => Just(0u32),
    ];
    let extra = prop_oneof![
        8 => Just(0u32),
        2 => Just(map::POPULATE),
        1 => prop_oneof![Just(0x4000u32), Just(0x2_0000), Just(0x1_0000), Just(0x400_0000)],
    ];
    let addr = prop_oneof![5 => any_addr().prop_map(Some), 1 => Just(None)];
    let off = prop_oneof![
        8 => (0i64..8).prop_map(|p| p * PAGE as i64),
        1 => 1i64..PAGE as i64,
        1 => Just(-(PAGE as i64)),
    ];
    let file = prop_oneof![8 => 0..NFILES as i32, 1 => Just(-1)];
    (addr, len(), prot_any(), kind, place, extra, file, off).prop_map(
        |(addr, len, prot, kind, place, extra, file, off)| Op::Mmap {
            // MAP_FIXED at 0 would leave the window (and works for root only).
            addr: if place != 0 {
                addr.or(Some(win(0, 0)))
            } else {
                addr
            },
            len,
            prot,
            flags: kind | place | extra,
            file,
            off,
        },
    )
}

fn mremap_op() -> impl Strategy<Value = Op> {
    let flags = prop_oneof![3 => Just(0u32), 3 => Just(1u32), 3 => Just(3u32), 1 => Just(2u32), 1 => Just(8u32)];
    (win_addr(), len(), len(), flags, win_addr()).prop_map(
        |(addr, old_len, new_len, flags, new_addr)| Op::Mremap {
            addr,
            old_len,
            new_len,
            flags,
            new_addr,
        },
    )
}

/// An access inside one page of the window (or, rarely, of the heap).
fn access() -> impl Strategy<Value = (Addr, u64)> {
    let region = prop_oneof![6 => Just(Region::Win), 1 => Just(Region::Heap)];
    (region, 0..WIN_PAGES, 0..PAGE, 1..=PAGE).prop_map(|(region, page, off, len)| {
        let len = len.min(PAGE - off).max(1);
        (
            Addr {
                region,
                off: (page * PAGE + off) as i64,
            },
            len,
        )
    })
}

fn heap_addr() -> impl Strategy<Value = Addr> {
    (
        -2i64..20,
        prop_oneof![3 => Just(0i64), 1 => 1i64..PAGE as i64],
    )
        .prop_map(|(p, b)| Addr {
            region: Region::Heap,
            off: p * PAGE as i64 + b,
        })
}

fn file_off() -> impl Strategy<Value = i64> {
    prop_oneof![4 => 0i64..(8 * PAGE as i64), 1 => (0i64..8).prop_map(|p| p * PAGE as i64)]
}

/// Any operation, with rough real-world frequencies.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => mmap_op(),
        8 => (any_addr(), len()).prop_map(|(addr, len)| Op::Munmap { addr, len }),
        10 => (any_addr(), len(), prot_any()).prop_map(|(addr, len, prot)| Op::Mprotect { addr, len, prot }),
        8 => mremap_op(),
        4 => (win_addr(), len(), prop_oneof![4 => Just(4u32), 1 => Just(0u32), 1 => Just(99u32), 1 => Just(14u32), 1 => Just(15u32)])
            .prop_map(|(addr, len, advice)| Op::Madvise { addr, len, advice }),
        3 => (win_addr(), len(), prop_oneof![Just(4u32), Just(1), Just(2), Just(5), Just(8)])
            .prop_map(|(addr, len, flags)| Op::Msync { addr, len, flags }),
        4 => heap_addr().prop_map(|addr| Op::Brk { addr }),
        15 => access().prop_map(|(addr, len)| Op::Read { addr, len }),
        15 => (access(), any::<u8>()).prop_map(|((addr, len), seed)| Op::Write { addr, len, seed }),
        2 => (0..NFILES, file_off(), 1..2 * PAGE).prop_map(|(file, off, len)| Op::Pread { file, off, len }),
        2 => (0..NFILES, file_off(), 1..2 * PAGE, any::<u8>())
            .prop_map(|(file, off, len, seed)| Op::Pwrite { file, off, len, seed }),
        1 => (0..NFILES, file_off()).prop_map(|(file, len)| Op::Ftruncate { file, len }),
        2 => any::<bool>().prop_map(|child_active| Op::Fork { child_active }),
        3 => (0..4usize).prop_map(|proc| Op::Switch { proc }),
    ]
}

/// A sequence: initial file sizes and the ops.
#[derive(Clone, Debug)]
pub struct Case {
    /// Initial size of each file in bytes.
    pub file_sizes: Vec<u64>,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

/// Cases of up to `max_ops` operations.
pub fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    let size = prop_oneof![3 => (0u64..=6).prop_map(|p| p * PAGE), 2 => 0u64..6 * PAGE];
    (
        prop::collection::vec(size, NFILES),
        prop::collection::vec(op(), 1..=max_ops.max(1)),
    )
        .prop_map(|(file_sizes, ops)| Case { file_sizes, ops })
}

/// The byte a write with `seed` stores at index `i` (the executor's `pat`).
pub fn pattern(seed: u64, i: u64) -> u8 {
    (seed.wrapping_add(i.wrapping_mul(13)).wrapping_add(i >> 8)) as u8
}

/// Byte `j` of file `f` at the start of a sequence (the executor's `file_byte`).
pub fn file_byte(f: usize, j: u64) -> u8 {
    ((f as u64 * 101)
        .wrapping_add(j.wrapping_mul(7))
        .wrapping_add(j >> 9)
        ^ 0x5a) as u8
}

/// FNV-1a over `bytes` (the executor's hash).
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
