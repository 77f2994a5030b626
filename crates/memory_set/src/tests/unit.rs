//! One test per overlap case of map / unmap / protect, plus the small API.

use alloc::format;
use alloc::vec::Vec;

use memory_addr::AddrRange;

use super::*;
use crate::OnOverlap::{Fail, Replace};

const P: usize = PAGE;

/// Areas A = [1, 5), B = [7, 9), C = [9, 12) pages, flags 1, 2, 3.
fn three() -> (Set, MockPt) {
    let mut set = Set::new();
    let mut pt = MockPt::default();
    set.map(area(P, 4 * P, 1, 1), &mut pt, Fail).unwrap();
    set.map(area(7 * P, 2 * P, 2, 2), &mut pt, Fail).unwrap();
    set.map(area(9 * P, 3 * P, 3, 3), &mut pt, Fail).unwrap();
    check_consistent(&set, &pt);
    (set, pt)
}

fn range(start: usize, end: usize) -> AddrRange<VirtAddr> {
    AddrRange {
        start: va(start),
        end: va(end),
    }
}

#[test]
fn map_fail_on_overlap_changes_nothing() {
    let (mut set, mut pt) = three();
    let before = snapshot(&set, &pt);
    for (s, n) in [(0, 2), (4, 1), (2, 1), (5, 3), (0, 20)] {
        let r = set.map(area(s * P, n * P, 9, 9), &mut pt, Fail);
        assert_eq!(r, Err(MappingError::AlreadyExists), "map at page {s}");
        assert_eq!(snapshot(&set, &pt), before);
    }
    // Exactly into the hole [5, 7): fine, and not merged with its neighbours.
    set.map(area(5 * P, 2 * P, 1, 4), &mut pt, Fail).unwrap();
    assert_eq!(set.len(), 4);
    check_consistent(&set, &pt);
}

#[test]
fn map_replace_every_overlap_shape() {
    // Covering B, the tail of A, the head of C, and a hole in between.
    let (mut set, mut pt) = three();
    set.map(area(3 * P, 7 * P, 9, 9), &mut pt, Replace).unwrap();
    check_consistent(&set, &pt);
    let expect = [
        (P, 3 * P, 1, 1),
        (3 * P, 10 * P, 9, 9),
        (10 * P, 12 * P, 3, 3),
    ];
    assert_eq!(layout(&set), expect);

    // Inside one area: split in three.
    let (mut set, mut pt) = three();
    set.map(area(2 * P, P, 9, 9), &mut pt, Replace).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(
        &layout(&set)[..3],
        [(P, 2 * P, 1, 1), (2 * P, 3 * P, 9, 9), (3 * P, 5 * P, 1, 1)]
    );

    // Exactly one area.
    let (mut set, mut pt) = three();
    set.map(area(7 * P, 2 * P, 9, 9), &mut pt, Replace).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(layout(&set)[1], (7 * P, 9 * P, 9, 9));
    assert_eq!(set.len(), 3);
}

#[test]
fn unmap_covering_left_right_inner() {
    // Covering: B disappears, holes around it are fine.
    let (mut set, mut pt) = three();
    set.unmap(va(6 * P), 3 * P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(layout(&set), [(P, 5 * P, 1, 1), (9 * P, 12 * P, 3, 3)]);

    // Left overlap (the head of C): shrink_front.
    let (mut set, mut pt) = three();
    set.unmap(va(9 * P), P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(layout(&set)[2], (10 * P, 12 * P, 3, 3));

    // Right overlap (the tail of A): shrink_back.
    let (mut set, mut pt) = three();
    set.unmap(va(3 * P), 3 * P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(layout(&set)[0], (P, 3 * P, 1, 1));

    // Inner: split.
    let (mut set, mut pt) = three();
    set.unmap(va(2 * P), 2 * P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(&layout(&set)[..2], [(P, 2 * P, 1, 1), (4 * P, 5 * P, 1, 1)]);

    // Across everything: tail of A, all of B, head of C.
    let (mut set, mut pt) = three();
    set.unmap(va(4 * P), 7 * P, &mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(layout(&set), [(P, 4 * P, 1, 1), (11 * P, 12 * P, 3, 3)]);
}

#[test]
fn unmap_nothing_and_bad_input() {
    let (mut set, mut pt) = three();
    let before = snapshot(&set, &pt);
    set.unmap(va(20 * P), P, &mut pt).unwrap();
    set.unmap(va(5 * P), 2 * P, &mut pt).unwrap();
    assert_eq!(
        set.unmap(va(P), 0, &mut pt),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        set.unmap(va(P), usize::MAX, &mut pt),
        Err(MappingError::InvalidParam)
    );
    // Unaligned edge inside an area: the backend refuses, nothing changes.
    assert_eq!(
        set.unmap(va(P + 1), P, &mut pt),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        set.unmap(va(0), 8 * P + 5, &mut pt),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(snapshot(&set, &pt), before);
}

#[test]
fn protect_splits_up_to_three_ways() {
    let set_to = |f: Flags| move |_| Some(f);
    // Middle of A: three pieces.
    let (mut set, mut pt) = three();
    set.protect(va(2 * P), 2 * P, set_to(7), &mut pt).unwrap();
    check_consistent(&set, &pt);
    let expect = [(P, 2 * P, 1, 1), (2 * P, 4 * P, 7, 1), (4 * P, 5 * P, 1, 1)];
    assert_eq!(&layout(&set)[..3], expect);

    // Tail of A, all of B, head of C, through the hole.
    let (mut set, mut pt) = three();
    set.protect(va(4 * P), 6 * P, set_to(7), &mut pt).unwrap();
    check_consistent(&set, &pt);
    let expect = [
        (P, 4 * P, 1, 1),
        (4 * P, 5 * P, 7, 1),
        (7 * P, 9 * P, 7, 2),
        (9 * P, 10 * P, 7, 3),
        (10 * P, 12 * P, 3, 3),
    ];
    assert_eq!(layout(&set), expect);

    // Whole areas keep their shape; areas are not merged back.
    set.protect(va(0), 20 * P, set_to(7), &mut pt).unwrap();
    check_consistent(&set, &pt);
    assert_eq!(set.len(), 5);
    assert!(set.iter().all(|a| a.flags() == 7));
}

#[test]
fn protect_skips_unchanged_areas() {
    let (mut set, mut pt) = three();
    let before = snapshot(&set, &pt);
    // `None` and identical flags: no backend call, no split.
    set.protect(va(2 * P), 8 * P, |_| None, &mut pt).unwrap();
    set.protect(va(2 * P), 8 * P, Some, &mut pt).unwrap();
    assert_eq!(pt.calls, 3);
    assert_eq!(snapshot(&set, &pt), before);
    // Only B (flags 2) changes.
    set.protect(va(0), 20 * P, |f| (f == 2).then_some(6), &mut pt)
        .unwrap();
    check_consistent(&set, &pt);
    assert_eq!(layout(&set)[1], (7 * P, 9 * P, 6, 2));
    assert_eq!(
        set.protect(va(P), 0, Some, &mut pt),
        Err(MappingError::InvalidParam)
    );
    let r = set.protect(va(usize::MAX - P + 1), P, Some, &mut pt);
    assert_eq!(r, Err(MappingError::InvalidParam));
}

#[test]
fn bad_areas_are_rejected() {
    let mut set = Set::new();
    let mut pt = MockPt::default();
    assert_eq!(
        set.map(area(P, 0, 1, 1), &mut pt, Fail),
        Err(MappingError::InvalidParam)
    );
    let top = usize::MAX - P + 1;
    assert_eq!(
        set.map(area(top, P, 1, 1), &mut pt, Replace),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        set.map(area(P + 8, P, 1, 1), &mut pt, Fail),
        Err(MappingError::InvalidParam)
    );
    let e = MemoryArea::try_new(
        va(top),
        P,
        1,
        MockBackend {
            tag: 1,
            base: top,
            frames: Vec::new(),
        },
    );
    assert_eq!(e.err(), Some(MappingError::InvalidParam));
    assert!(set.is_empty());
    assert!(pt.pages.is_empty());
}

#[test]
fn lookups() {
    let (mut set, _pt) = three();
    assert_eq!(set.find(va(P)).map(|a| a.flags()), Some(1));
    assert_eq!(set.find(va(5 * P - 1)).map(|a| a.flags()), Some(1));
    assert!(set.find(va(5 * P)).is_none());
    assert!(set.find(va(0)).is_none());
    assert_eq!(set.find(va(9 * P)).map(|a| a.flags()), Some(3));
    assert!(set.find(va(usize::MAX)).is_none());
    set.find_mut(va(8 * P)).unwrap().backend_mut().tag = 42;
    assert_eq!(set.find(va(7 * P)).unwrap().backend().tag, 42);

    assert!(set.overlaps(range(4 * P, 6 * P)));
    assert!(!set.overlaps(range(5 * P, 7 * P)));
    assert!(!set.overlaps(range(3 * P, 3 * P)));
    assert!(!set.overlaps(range(3 * P, 2 * P)));
    assert!(set.overlaps(range(0, usize::MAX)));

    let starts = |r| {
        set.iter_range(r)
            .map(|a| a.start().as_usize())
            .collect::<Vec<_>>()
    };
    assert_eq!(starts(range(2 * P, 8 * P)), [P, 7 * P]);
    assert_eq!(starts(range(5 * P, 7 * P)), []);
    assert_eq!(starts(range(8 * P, 2 * P)), []);
    assert_eq!(starts(range(9 * P - 1, 9 * P + 1)), [7 * P, 9 * P]);
    for a in set.iter_range_mut(range(0, 8 * P)) {
        a.backend_mut().tag = 5;
    }
    let tags: Vec<u32> = set.iter().map(|a| a.backend().tag).collect();
    assert_eq!(tags, [5, 5, 3]);
    assert_eq!(set.iter().rev().count(), 3);
}

#[test]
fn clear_unmaps_everything() {
    let (mut set, mut pt) = three();
    set.clear(&mut pt).unwrap();
    assert!(set.is_empty());
    assert!(pt.pages.is_empty());
    set.clear(&mut pt).unwrap();
}

#[test]
fn debug_and_display() {
    let (set, _pt) = three();
    let text = format!("{set:?}");
    assert_eq!(text.matches("MemoryArea {").count(), 3, "{text}");
    assert!(
        text.contains("flags: 1") && text.contains("flags: 3"),
        "{text}"
    );
    assert_eq!(format!("{}", MappingError::NoMemory), "out of memory");
    assert_eq!(
        format!("{}", MappingError::AlreadyExists),
        "range already mapped"
    );
}

#[test]
fn many_areas_build_and_split() {
    // Appending at the end is O(log n); unmap/protect in the middle touch only their areas.
    let mut set = Set::new();
    let mut pt = MockPt::default();
    let n = 20_000;
    for i in 0..n {
        set.map(area(2 * i * P, P, 1, i as u32), &mut pt, Fail)
            .unwrap();
    }
    assert_eq!(set.len(), n);
    set.unmap(va(2000 * P), 4 * P, &mut pt).unwrap();
    set.protect(va(4000 * P), 4 * P, |_| Some(3), &mut pt)
        .unwrap();
    assert_eq!(set.len(), n - 2);
    check_consistent(&set, &pt);
}

#[test]
fn join_next_merges_only_adjacent_areas_with_equal_flags() {
    let mut set = Set::new();
    let mut pt = MockPt::default();
    for (start, pages, flags, tag) in [(0, 2, 1, 1), (2, 2, 1, 2), (4, 1, 2, 3), (6, 1, 2, 4)] {
        set.map(area(start * PAGE, pages * PAGE, flags, tag), &mut pt, Fail)
            .unwrap();
    }
    let free_before = set.find_free_area(va(0), PAGE, range(0, 16 * PAGE), PAGE);
    let pt_before = snapshot(&set, &pt).1;
    let declined = set.join_next(va(0), |_, _| false);
    assert!(!declined);
    assert_eq!(
        snapshot(&set, &pt).1,
        pt_before,
        "a declined join changes nothing"
    );
    assert_eq!(set.len(), 4);
    let joined = set.join_next(va(0), |first, second| {
        first.frames.append(&mut second.frames);
        true
    });
    assert!(joined);
    assert_eq!(set.len(), 3);
    let a = set.find(va(3 * PAGE)).unwrap();
    assert_eq!(
        (a.start(), a.end(), a.backend().tag),
        (va(0), va(4 * PAGE), 1)
    );
    assert_eq!(a.backend().frames.len(), 4);
    // Bookkeeping only: the page table and the free space are as they were.
    assert_eq!(snapshot(&set, &pt).1, pt_before);
    assert_eq!(
        set.find_free_area(va(0), PAGE, range(0, 16 * PAGE), PAGE),
        free_before
    );
    let untouched = snapshot(&set, &pt);
    let refuse =
        |_: &mut MockBackend, _: &mut MockBackend| -> bool { panic!("join must not be called") };
    assert!(!set.join_next(va(0), refuse), "different flags");
    assert!(!set.join_next(va(4 * PAGE), refuse), "a hole between");
    assert!(!set.join_next(va(6 * PAGE), refuse), "no next area");
    assert!(!set.join_next(va(PAGE), refuse), "not an area's start");
    assert!(snapshot(&set, &pt) == untouched);
    // (Not `check_consistent`: the mock's entries still carry the second area's tag, which
    // is what a join leaves by design.)
    set.check_invariants();
}
