//! The gap index against a linear scan of the areas (the algorithm it replaced), on random
//! layouts with many areas, and on the adversarial layout it exists for.

use memory_addr::AddrRange;
use proptest::prelude::*;

use super::*;
use crate::OnOverlap;

const P: usize = PAGE;

/// Proptest cases: `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lim(start: usize, end: usize) -> AddrRange<VirtAddr> {
    AddrRange {
        start: va(start),
        end: va(end),
    }
}

/// Compares both searches with the references.
fn check_find(set: &Set, hint: usize, size: usize, l: (usize, usize), align: usize) {
    let got = set.find_free_area(va(hint), size, lim(l.0, l.1), align);
    let expect = set.scan_free_area(hint, size, l, align, false);
    assert_eq!(
        got.map(|a| a.as_usize()),
        expect,
        "up {hint:#x} {size:#x} {l:x?} {align:#x}"
    );
    let got = set.find_free_area_top_down(va(hint), size, lim(l.0, l.1), align);
    let expect = set.scan_free_area(hint, size, l, align, true);
    assert_eq!(
        got.map(|a| a.as_usize()),
        expect,
        "down {hint:#x} {size:#x} {l:x?} {align:#x}"
    );
}

/// n one-page areas separated by one-page holes from page 16 on, plus one area at the very
/// top of the address space.
fn comb(n: usize) -> (Set, MockPt) {
    let mut set = Set::new();
    let mut pt = MockPt::default();
    for i in 0..n {
        let a = area((16 + 2 * i) * P, P, 1, i as u32);
        set.map(a, &mut pt, OnOverlap::Fail).unwrap();
    }
    let top = usize::MAX - 2 * P + 1;
    set.map(area(top, P, 1, u32::MAX), &mut pt, OnOverlap::Fail)
        .unwrap();
    check_consistent(&set, &pt);
    (set, pt)
}

#[test]
fn adversarial_comb() {
    let n = if cfg!(miri) { 40 } else { 2000 };
    let (set, _) = comb(n);
    // The end of the last area of the comb.
    let end = (15 + 2 * n) * P;
    // No hole fits two pages: bottom-up lands after the comb, top-down below it.
    assert_eq!(
        set.find_free_area(va(16 * P), 2 * P, lim(0, usize::MAX), P),
        Some(va(end))
    );
    assert_eq!(
        set.find_free_area_top_down(va(end - P), 2 * P, lim(0, usize::MAX), P),
        Some(va(14 * P))
    );
    assert_eq!(
        set.find_free_area_top_down(va(end - P), 2 * P, lim(15 * P, usize::MAX), P),
        None
    );
    // One page fits in every hole; the hint picks which.
    assert_eq!(
        set.find_free_area(va(101 * P), P, lim(0, usize::MAX), P),
        Some(va(101 * P))
    );
    for (hint, size, align) in [
        (0, P, P),
        (16 * P, P, 2 * P),
        (17 * P, P, 4 * P),
        (17 * P + 1, P, 1),
        (end, 2 * P, P),
        (end - 1, P, 2 * P),
        (usize::MAX, P, P),
        (usize::MAX, 3 * P, 1 << 40),
    ] {
        for l in [
            (0, usize::MAX),
            (16 * P, end),
            (20 * P + 7, end - 3),
            (0, 17 * P),
        ] {
            check_find(&set, hint, size, l, align);
        }
    }
}

#[test]
fn unmap_merges_and_clear_resets() {
    let (mut set, mut pt) = comb(64);
    // Unmap across 10 areas and their holes, starting and ending in holes.
    set.unmap(va(17 * P), 20 * P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    check_find(&set, 0, 19 * P, (0, usize::MAX), P);
    // Unmap touching the gaps on both sides exactly.
    set.unmap(va(16 * P), P, &mut pt).unwrap();
    set.unmap(va(38 * P), 2 * P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    // Replace over areas and holes occupies them all.
    set.map(area(20 * P, 40 * P, 2, 999), &mut pt, OnOverlap::Replace)
        .unwrap();
    check_consistent(&set, &pt);
    // Protect splits areas but changes no gap.
    set.protect(va(30 * P), P, |_| Some(3), &mut pt).unwrap();
    check_consistent(&set, &pt);
    set.clear(&mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(set.find_free_area(va(0), P, lim(0, P), P), Some(va(0)));
}

/// Operations per case (fewer under Miri, where each check is ~1000x slower).
fn max_ops() -> usize {
    if cfg!(miri) { 16 } else { 120 }
}

#[derive(Debug, Clone)]
enum Op {
    Map(usize, usize, bool),
    Unmap(usize, usize),
    Protect(usize, usize, u8),
    Clear,
    Find(usize, usize, (usize, usize), usize),
}

/// Page-aligned areas in 512 pages (dense enough to collide), finds with any arguments.
fn op() -> impl Strategy<Value = Op> {
    let page = || (0..512usize).prop_map(|p| p * P);
    let pages = || (1..24usize).prop_map(|n| n * P);
    let addr = prop_oneof![
        4 => 0..520 * P,
        1 => page(),
        1 => Just(usize::MAX),
        1 => (0..4096usize).prop_map(|x| usize::MAX - x),
    ];
    let size = prop_oneof![3 => pages(), 1 => 0..8 * P, 1 => Just(usize::MAX)];
    let align = (0..42u32).prop_map(|k| 1usize << k);
    let align = prop_oneof![8 => align, 1 => Just(0usize), 1 => Just(3 * P), 1 => Just(1 << 63)];
    let lim = (
        addr.clone(),
        prop_oneof![3 => 0..520 * P, 1 => Just(usize::MAX)],
    );
    prop_oneof![
        8 => (page(), pages(), any::<bool>()).prop_map(|(s, n, r)| Op::Map(s, n, r)),
        3 => (page(), pages()).prop_map(|(s, n)| Op::Unmap(s, n)),
        2 => (page(), pages(), 0..4u8).prop_map(|(s, n, f)| Op::Protect(s, n, f)),
        1 => Just(Op::Clear),
        8 => (addr, size, lim, align).prop_map(|(h, s, l, a)| Op::Find(h, s, l, a)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn index_matches_scan(ops in proptest::collection::vec(op(), 1..max_ops())) {
        let mut set = Set::new();
        let mut pt = MockPt::default();
        for (tag, op) in ops.iter().enumerate() {
            match *op {
                Op::Map(s, n, replace) => {
                    let how = if replace { OnOverlap::Replace } else { OnOverlap::Fail };
                    let _ = set.map(area(s, n, 1, tag as u32), &mut pt, how);
                }
                Op::Unmap(s, n) => set.unmap(va(s), n, &mut pt).unwrap(),
                Op::Protect(s, n, f) => set.protect(va(s), n, |_| Some(f), &mut pt).unwrap(),
                Op::Clear => set.clear(&mut pt).unwrap(),
                Op::Find(hint, size, l, align) => check_find(&set, hint, size, l, align),
            }
            check_consistent(&set, &pt);
        }
    }
}
