//! The tester itself: it must see a difference where there is one (a deliberate one, so
//! that this stays true when the known bugs are fixed), agree where Linux and Pagoda
//! agree, and normalize layouts as documented.
#![cfg(target_os = "linux")]

use linux_diff::known::Selection;
use linux_diff::ops::{Addr, Case, Op, PAGE, Region, map, prot};
use linux_diff::reply::{Kind, MapEntry, normalize};
use linux_diff::{Stats, run_case};

fn w(page: i64) -> Addr {
    Addr {
        region: Region::Win,
        off: page * PAGE as i64,
    }
}

fn anon(page: i64, pages: u64, flags: u32) -> Op {
    Op::Mmap {
        addr: Some(w(page)),
        len: pages * PAGE,
        prot: prot::R | prot::W,
        flags: flags | map::ANON | map::FIXED,
        file: -1,
        off: 0,
    }
}

#[test]
fn a_deliberate_difference_is_reported() {
    // mprotect over a hole: Linux changes the pages before it, Pagoda nothing.
    let case = Case {
        file_sizes: vec![0, 0],
        ops: vec![
            Op::Munmap {
                addr: w(3),
                len: PAGE,
            },
            Op::Mprotect {
                addr: w(1),
                len: 4 * PAGE,
                prot: prot::R,
            },
        ],
    };
    let mut stats = Stats::default();
    let sel = Selection {
        deliberate: true,
        ..Selection::default()
    };
    let err = run_case(&case, &sel, &mut stats, None).expect_err("Linux and Pagoda differ here");
    assert_eq!(
        (err.at, err.what.as_str()),
        (Some(1), "window layout"),
        "{err:?}"
    );
    // Skipped by default, and counted.
    let mut stats = Stats::default();
    run_case(&case, &Selection::default(), &mut stats, None).unwrap();
    assert_eq!(stats.skipped.get("mprotect_hole"), Some(&1));
    assert_eq!(stats.ops, 1);
}

#[test]
fn fork_cow_and_shared_memory_agree() {
    let case = Case {
        file_sizes: vec![5000, 0],
        ops: vec![
            anon(2, 2, map::PRIVATE),
            anon(4, 2, map::SHARED),
            Op::Write {
                addr: w(2),
                len: 8,
                seed: 1,
            },
            Op::Write {
                addr: w(4),
                len: 8,
                seed: 1,
            },
            Op::Fork { child_active: true },
            Op::Write {
                addr: w(2),
                len: 8,
                seed: 2,
            },
            Op::Write {
                addr: w(4),
                len: 8,
                seed: 2,
            },
            Op::Switch { proc: 0 },
            Op::Read { addr: w(2), len: 8 },
            Op::Read { addr: w(4), len: 8 },
            Op::Mmap {
                addr: Some(w(8)),
                len: 2 * PAGE,
                prot: prot::R,
                flags: map::PRIVATE | map::FIXED,
                file: 0,
                off: 0,
            },
            Op::Read { addr: w(9), len: 8 },
            Op::Read {
                addr: w(10),
                len: 8,
            },
        ],
    };
    let mut stats = Stats::default();
    run_case(&case, &Selection::default(), &mut stats, None).unwrap();
    assert_eq!((stats.ops, stats.panics, stats.leaks), (13, 0, 0));
}

#[test]
fn normalize_merges_only_continuations() {
    let e = |start: u64, end: u64, perms: &str, kind| MapEntry {
        start,
        end,
        perms: perms.into(),
        kind,
    };
    let merged = normalize(vec![
        e(0x3000, 0x4000, "rw-p", Kind::File(0, 0x1000)),
        e(0x0, 0x1000, "rw-p", Kind::Anon),
        e(0x1000, 0x2000, "rw-p", Kind::Anon),
        e(0x2000, 0x3000, "rw-p", Kind::File(0, 0)),
        e(0x4000, 0x5000, "rw-p", Kind::File(0, 0x3000)),
        e(0x5000, 0x6000, "r--p", Kind::File(0, 0x4000)),
    ]);
    assert_eq!(
        merged,
        vec![
            e(0x0, 0x2000, "rw-p", Kind::Anon),
            e(0x2000, 0x4000, "rw-p", Kind::File(0, 0)),
            e(0x4000, 0x5000, "rw-p", Kind::File(0, 0x3000)),
            e(0x5000, 0x6000, "r--p", Kind::File(0, 0x4000)),
        ]
    );
}
