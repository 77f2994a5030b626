//! `AddrRange` and the range macros.

use memory_addr::{
    AddrRange, PhysAddr, PhysAddrRange, VirtAddr, VirtAddrRange, addr_range, pa, pa_range, va,
    va_range,
};
use std::collections::HashSet;
use std::ops::Range;
use std::panic::catch_unwind;

fn r(start: usize, end: usize) -> AddrRange<usize> {
    AddrRange::new(start, end)
}

#[test]
fn constructors() {
    let a = VirtAddrRange::new(va!(0x1000), va!(0x2000));
    assert_eq!((a.start, a.end), (va!(0x1000), va!(0x2000)));
    assert_eq!(r(5, 5).size(), 0);
    assert_eq!(r(0, usize::MAX).size(), usize::MAX);
    assert!(catch_unwind(|| r(2, 1)).is_err());
    assert!(catch_unwind(|| r(usize::MAX, 0)).is_err());
    assert_eq!(AddrRange::try_new(1usize, 2), Some(r(1, 2)));
    assert_eq!(AddrRange::try_new(3usize, 3), Some(r(3, 3)));
    assert_eq!(AddrRange::try_new(3usize, 2), None);
    // SAFETY: 1 <= 2.
    let u = unsafe { AddrRange::new_unchecked(1usize, 2) };
    assert_eq!(u, r(1, 2));
    const C: PhysAddrRange = unsafe {
        // SAFETY: 0x1000 <= 0x2000.
        AddrRange::new_unchecked(pa!(0x1000), pa!(0x2000))
    };
    assert_eq!(C.size(), 0x1000);
}

#[test]
fn start_size_constructors() {
    assert_eq!(
        AddrRange::from_start_size(0x1000usize, 0x1000),
        r(0x1000, 0x2000)
    );
    assert_eq!(
        AddrRange::from_start_size(0usize, usize::MAX),
        r(0, usize::MAX)
    );
    assert_eq!(
        AddrRange::from_start_size(usize::MAX, 0),
        r(usize::MAX, usize::MAX)
    );
    assert!(catch_unwind(|| AddrRange::from_start_size(1usize, usize::MAX)).is_err());
    assert_eq!(
        AddrRange::try_from_start_size(1usize, usize::MAX - 1),
        Some(r(1, usize::MAX))
    );
    assert_eq!(AddrRange::try_from_start_size(1usize, usize::MAX), None);
    assert_eq!(AddrRange::try_from_start_size(va!(usize::MAX), 1), None);
    // SAFETY: no overflow here.
    let u = unsafe { AddrRange::from_start_size_unchecked(va!(0x10), 0x10) };
    assert_eq!(u, va_range!(0x10..0x20));
}

#[test]
fn empty_and_size() {
    assert!(r(0, 0).is_empty());
    assert!(r(usize::MAX, usize::MAX).is_empty());
    assert!(!r(0, 1).is_empty());
    assert_eq!(r(0x1000, 0x3000).size(), 0x2000);
    // An invalid range (only constructible by hand) is empty; size wraps.
    let bad = AddrRange {
        start: 2usize,
        end: 1,
    };
    assert!(bad.is_empty());
    assert_eq!(bad.size(), usize::MAX);
    assert!(!bad.contains(1) && !bad.contains(2));
}

#[test]
fn contains_bounds() {
    let a = r(0x1000, 0x2000);
    assert!(!a.contains(0xfff));
    assert!(a.contains(0x1000));
    assert!(a.contains(0x1fff));
    assert!(!a.contains(0x2000));
    assert!(!r(5, 5).contains(5));
    assert!(r(0, usize::MAX).contains(usize::MAX - 1));
    assert!(!r(0, usize::MAX).contains(usize::MAX));
}

#[test]
fn contains_range_and_contained_in() {
    let a = r(0x1000, 0x2000);
    assert!(a.contains_range(a));
    assert!(a.contains_range(r(0x1001, 0x1fff)));
    assert!(!a.contains_range(r(0xfff, 0x1fff)));
    assert!(!a.contains_range(r(0x1001, 0x2001)));
    assert!(!a.contains_range(r(0x2001, 0x3001)));
    // empty ranges: compared by their bounds
    assert!(a.contains_range(r(0x2000, 0x2000)));
    assert!(a.contains_range(r(0x1000, 0x1000)));
    assert!(!a.contains_range(r(0x2001, 0x2001)));
    assert!(a.contained_in(r(0xfff, 0x2001)));
    assert!(a.contained_in(a));
    assert!(!a.contained_in(r(0x1001, 0x2001)));
    assert!(!a.contained_in(r(0xfff, 0x1fff)));
}

#[test]
fn overlaps_and_intersection() {
    let a = r(0x1000, 0x2000);
    let cases = [
        (r(0xfff, 0xfff), None),
        (r(0x2000, 0x2000), None),
        (r(0xfff, 0x1000), None),
        (r(0x2000, 0x3000), None),
        (r(0xfff, 0x1001), Some(r(0x1000, 0x1001))),
        (r(0x1fff, 0x2001), Some(r(0x1fff, 0x2000))),
        (r(0, usize::MAX), Some(a)),
        (r(0x1200, 0x1300), Some(r(0x1200, 0x1300))),
        (a, Some(a)),
    ];
    for (b, want) in cases {
        assert_eq!(a.overlaps(b), want.is_some(), "{a:?} vs {b:?}");
        assert_eq!(b.overlaps(a), want.is_some(), "{b:?} vs {a:?}");
        assert_eq!(a.intersection(b), want, "{a:?} & {b:?}");
        assert_eq!(b.intersection(a), want, "{b:?} & {a:?}");
    }
    assert!(!r(0, 0).overlaps(r(0, 0)));
    // arceos-compatible: an empty range strictly inside counts as overlapping,
    // but shares no address.
    assert!(a.overlaps(r(0x1500, 0x1500)));
    assert!(r(0x1500, 0x1500).overlaps(a));
    assert_eq!(a.intersection(r(0x1500, 0x1500)), None);
    assert!(!a.overlaps(r(0x1000, 0x1000)));
}

#[test]
#[expect(clippy::reversed_empty_ranges, reason = "invalid ranges are the point")]
fn conversions_and_default() {
    let a: AddrRange<VirtAddr> = AddrRange::try_from(0x1000usize..0x2000).unwrap();
    assert_eq!(a, va_range!(0x1000..0x2000));
    assert_eq!(AddrRange::<PhysAddr>::try_from(2usize..1), Err(()));
    let b: Range<VirtAddr> = a.into();
    assert_eq!(b, va!(0x1000)..va!(0x2000));
    assert_eq!(AddrRange::<PhysAddr>::default(), pa_range!(0..0));
    assert!(VirtAddrRange::default().is_empty());
}

#[test]
fn formatting() {
    let a = va_range!(0xfec000..0xfff000);
    assert_eq!(format!("{a:?}"), "[0xfec000, 0xfff000)");
    assert_eq!(format!("{a:x}"), "[0xfec000, 0xfff000)");
    assert_eq!(format!("{a:X}"), "[0xFEC000, 0xFFF000)");
    assert_eq!(format!("{:?}", r(0, 0)), "[0x0, 0x0)");
    assert_eq!(format!("{:?}", pa_range!(1..2)), "[0x1, 0x2)");
}

#[test]
#[expect(clippy::reversed_empty_ranges, reason = "invalid ranges are the point")]
fn macros() {
    let a: AddrRange<usize> = addr_range!(0x1000usize..0x2000);
    assert_eq!(a, r(0x1000, 0x2000));
    let v = va_range!(0x1000..0x2000);
    let v2 = va_range!(va!(0x1000)..va!(0x2000));
    assert_eq!(v, v2);
    let p = pa_range!(0x1000..0x2000);
    assert_eq!((p.start, p.end), (pa!(0x1000), pa!(0x2000)));
    assert_eq!(va_range!(5..5).size(), 0);
    assert!(catch_unwind(|| addr_range!(2usize..1) as AddrRange<usize>).is_err());
    assert!(catch_unwind(|| va_range!(2..1)).is_err());
    assert!(catch_unwind(|| pa_range!(usize::MAX..0)).is_err());
}

#[test]
fn hash_and_eq() {
    let s: HashSet<VirtAddrRange> = [va_range!(1..2), va_range!(1..2), va_range!(1..3)]
        .into_iter()
        .collect();
    assert_eq!(s.len(), 2);
}
