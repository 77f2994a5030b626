//! `find_free_area` and its top-down twin on hand-made layouts.

use memory_addr::AddrRange;

use super::*;
use crate::OnOverlap::Fail;

const P: usize = PAGE;

/// Areas at pages [2, 4), [5, 6), [8, 16).
fn layout_set() -> Set {
    let mut set = Set::new();
    let mut pt = MockPt::default();
    for (i, (s, e)) in [(2, 4), (5, 6), (8, 16)].into_iter().enumerate() {
        set.map(area(s * P, (e - s) * P, 1, i as u32), &mut pt, Fail)
            .unwrap();
    }
    set
}

fn lim(start: usize, end: usize) -> AddrRange<VirtAddr> {
    AddrRange {
        start: va(start),
        end: va(end),
    }
}

fn up(set: &Set, hint: usize, size: usize, l: (usize, usize), align: usize) -> Option<usize> {
    set.find_free_area(va(hint), size, lim(l.0, l.1), align)
        .map(|a| a.as_usize())
}

fn down(set: &Set, hint: usize, size: usize, l: (usize, usize), align: usize) -> Option<usize> {
    set.find_free_area_top_down(va(hint), size, lim(l.0, l.1), align)
        .map(|a| a.as_usize())
}

#[test]
fn bottom_up() {
    let set = layout_set();
    let all = (0, 64 * P);
    assert_eq!(up(&set, 0, P, all, P), Some(0));
    assert_eq!(up(&set, 0, 3 * P, all, P), Some(16 * P));
    assert_eq!(up(&set, 0, 2 * P, all, P), Some(0));
    assert_eq!(up(&set, 3 * P, P, all, P), Some(4 * P));
    assert_eq!(up(&set, 3 * P, 2 * P, all, P), Some(6 * P));
    // The hint inside an area, unaligned.
    assert_eq!(up(&set, 9 * P + 5, P, all, P), Some(16 * P));
    // Alignment larger than a page skips gaps that would fit unaligned.
    assert_eq!(up(&set, P, 2 * P, all, 4 * P), Some(16 * P));
    assert_eq!(up(&set, 0, P, all, 4 * P), Some(0));
    assert_eq!(up(&set, P, P, all, 4 * P), Some(4 * P));
    // Byte alignment: the first free byte.
    assert_eq!(up(&set, 3 * P, 1, all, 1), Some(4 * P));
    // The limit bounds both ends.
    assert_eq!(up(&set, 0, P, (3 * P, 64 * P), P), Some(4 * P));
    assert_eq!(up(&set, 0, 3 * P, (0, 18 * P), P), None);
    assert_eq!(up(&set, 0, 2 * P, (0, 18 * P), P), Some(0));
    assert_eq!(up(&set, 17 * P, 2 * P, (0, 18 * P), P), None);
    // Never wraps below the hint.
    assert_eq!(up(&set, 63 * P, 2 * P, all, P), None);
}

#[test]
fn bottom_up_bad_input() {
    let set = layout_set();
    let all = (0, 64 * P);
    assert_eq!(up(&set, 0, 0, all, P), None);
    assert_eq!(up(&set, 0, P, all, 0), None);
    assert_eq!(up(&set, 0, P, all, 3 * P), None);
    assert_eq!(up(&set, 0, P, (5 * P, 5 * P), P), None);
    assert_eq!(up(&set, 0, P, (6 * P, 5 * P), P), None);
    assert_eq!(up(&set, usize::MAX, P, (0, usize::MAX), P), None);
    assert_eq!(up(&set, 0, usize::MAX, (0, usize::MAX), P), None);
    assert_eq!(up(&set, 0, P, (0, usize::MAX), 1 << 63), Some(0));
    assert_eq!(up(&set, 1, P, (0, usize::MAX), 1 << 63), Some(1 << 63));
    assert_eq!(up(&set, (1 << 63) + 1, P, (0, usize::MAX), 1 << 63), None);
    // The last page below usize::MAX is usable (its end usize::MAX is representable).
    let top = usize::MAX - P;
    assert_eq!(up(&set, top, P, (0, usize::MAX), 1), Some(top));
}

#[test]
fn top_down() {
    let set = layout_set();
    let all = (0, 64 * P);
    assert_eq!(down(&set, 64 * P, P, all, P), Some(63 * P));
    assert_eq!(down(&set, usize::MAX, P, all, P), Some(63 * P));
    assert_eq!(down(&set, 15 * P, P, all, P), Some(7 * P));
    assert_eq!(down(&set, 15 * P, 2 * P, all, P), Some(6 * P));
    assert_eq!(down(&set, 15 * P, 3 * P, all, P), None);
    assert_eq!(down(&set, 7 * P, 2 * P, all, P), Some(6 * P));
    assert_eq!(down(&set, 6 * P + 7, P, all, P), Some(6 * P));
    assert_eq!(down(&set, 4 * P, P, all, P), Some(4 * P));
    assert_eq!(down(&set, 3 * P, P, all, P), Some(P));
    assert_eq!(down(&set, 3 * P, 2 * P, all, P), Some(0));
    assert_eq!(down(&set, 15 * P, 2 * P, all, 4 * P), Some(0));
    assert_eq!(down(&set, 15 * P, P, all, 4 * P), Some(4 * P));
    assert_eq!(down(&set, 15 * P, P, (5 * P, 64 * P), 4 * P), None);
    assert_eq!(down(&set, 63 * P, P, (0, 20 * P), P), Some(19 * P));
    assert_eq!(down(&set, 15 * P, 1, all, 1), Some(8 * P - 1));
    // Bad input.
    assert_eq!(down(&set, 15 * P, 0, all, P), None);
    assert_eq!(down(&set, 15 * P, P, all, 0), None);
    assert_eq!(down(&set, 15 * P, P, all, 6), None);
    assert_eq!(down(&set, 15 * P, P, (9 * P, 9 * P), P), None);
    assert_eq!(down(&set, 15 * P, 65 * P, all, P), None);
    assert_eq!(down(&set, usize::MAX, usize::MAX, (0, usize::MAX), 1), None);
    assert_eq!(
        down(&set, usize::MAX, P, (0, usize::MAX), P),
        Some(usize::MAX - 2 * P + 1)
    );
}
