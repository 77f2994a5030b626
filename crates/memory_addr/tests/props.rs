//! Property tests against simple reference models (u128 / i128 arithmetic,
//! bit-set ranges, naive page loops).

use memory_addr::{
    AddrRange, DynPageIter, MemoryAddr, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, PageIter1G,
    PageIter2M, PageIter4K, VirtAddr, align_down, align_offset, align_up, checked_align_down,
    checked_align_up, is_aligned, va,
};
use proptest::prelude::*;

const MAX: u128 = usize::MAX as u128;

/// Any `usize`, biased towards the edges where overflow happens.
fn any_addr() -> impl Strategy<Value = usize> {
    prop_oneof![
        any::<usize>(),
        0usize..4096,
        (0usize..4096).prop_map(|d| usize::MAX - d),
        (0usize..4096).prop_map(|d| (isize::MAX as usize).wrapping_add(d).wrapping_sub(2048)),
    ]
}

fn pow2() -> impl Strategy<Value = usize> {
    (0..usize::BITS).prop_map(|k| 1usize << k)
}

/// Reference: the smallest multiple of `align` >= `a`, if representable.
fn model_align_up(a: usize, align: usize) -> Option<usize> {
    let al = align as u128;
    let up = (a as u128).div_ceil(al) * al;
    (up <= MAX).then_some(up as usize)
}

fn isize_model(v: i128) -> Option<isize> {
    isize::try_from(v).ok()
}

proptest! {
    // `PROPTEST_CASES` overrides the default.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)))]

    #[test]
    fn align_matches_arithmetic(a in any_addr(), align in pow2()) {
        prop_assert_eq!(align_down(a, align), a - a % align);
        prop_assert_eq!(checked_align_down(a, align), Some(a - a % align));
        prop_assert_eq!(align_offset(a, align), a % align);
        prop_assert_eq!(is_aligned(a, align), a % align == 0);
        prop_assert_eq!(checked_align_up(a, align), model_align_up(a, align));
        if let Some(up) = model_align_up(a, align) {
            prop_assert_eq!(align_up(a, align), up);
        }
        let v = va!(a);
        prop_assert_eq!(v.align_down(align).as_usize(), a - a % align);
        prop_assert_eq!(v.checked_align_up(align).map(VirtAddr::as_usize), model_align_up(a, align));
    }

    #[test]
    fn bad_align_is_rejected(a in any_addr(), align in any::<usize>()) {
        prop_assume!(!align.is_power_of_two());
        prop_assert_eq!(checked_align_down(a, align), None);
        prop_assert_eq!(checked_align_up(a, align), None);
        prop_assert_eq!(va!(a).checked_align_down(align), None);
    }

    #[test]
    fn unsigned_arith_matches_u128(a in any_addr(), b in any_addr()) {
        let (va_, sum, diff) = (va!(a), a as u128 + b as u128, a as i128 - b as i128);
        let sum_fits = sum <= MAX;
        prop_assert_eq!(va_.checked_add(b).map(VirtAddr::as_usize), sum_fits.then_some(sum as usize));
        prop_assert_eq!(va_.wrapping_add(b).as_usize(), (sum % (MAX + 1)) as usize);
        prop_assert_eq!(va_.overflowing_add(b), (va_.wrapping_add(b), !sum_fits));
        let sub_ok = diff >= 0;
        prop_assert_eq!(va_.checked_sub(b).map(VirtAddr::as_usize), sub_ok.then_some(diff as usize));
        prop_assert_eq!(va_.wrapping_sub(b).as_usize(), diff.rem_euclid(MAX as i128 + 1) as usize);
        prop_assert_eq!(va_.overflowing_sub(b), (va_.wrapping_sub(b), !sub_ok));
        prop_assert_eq!(va_.checked_sub_addr(va!(b)), sub_ok.then_some(diff as usize));
        prop_assert_eq!(va_.wrapping_sub_addr(va!(b)), a.wrapping_sub(b));
        prop_assert_eq!(va_.overflowing_sub_addr(va!(b)), (a.wrapping_sub(b), !sub_ok));
        if sum_fits {
            prop_assert_eq!(MemoryAddr::add(va_, b), va!(sum as usize));
            prop_assert_eq!(va_ + b, va!(sum as usize));
        }
        if sub_ok {
            prop_assert_eq!(MemoryAddr::sub(va_, b), va!(diff as usize));
            prop_assert_eq!(va_.sub_addr(va!(b)), diff as usize);
            prop_assert_eq!(va_ - va!(b), diff as usize);
        }
    }

    #[test]
    fn signed_arith_matches_i128(a in any_addr(), b in any_addr(), off in any::<isize>()) {
        let v = va!(a);
        let target = a as i128 + off as i128;
        let fits = (0..=MAX as i128).contains(&target);
        prop_assert_eq!(v.checked_offset(off).map(VirtAddr::as_usize), fits.then_some(target as usize));
        prop_assert_eq!(v.wrapping_offset(off).as_usize(), target.rem_euclid(MAX as i128 + 1) as usize);
        prop_assert_eq!(v.overflowing_offset(off), (v.wrapping_offset(off), !fits));
        if fits {
            prop_assert_eq!(v.offset(off).as_usize(), target as usize);
        }
        let dist = isize_model(a as i128 - b as i128);
        prop_assert_eq!(v.checked_offset_from(va!(b)), dist);
        if let Some(d) = dist {
            prop_assert_eq!(v.offset_from(va!(b)), d);
            prop_assert_eq!(va!(b).offset(d), v);
        }
    }
}

/// A range over a 64-address window at `base`, as a bit set.
fn mask(r: AddrRange<usize>, base: usize) -> u64 {
    (r.start..r.end).fold(0, |m, a| m | 1 << (a - base))
}

fn window_range(base: usize) -> impl Strategy<Value = AddrRange<usize>> {
    (0usize..=63, 0usize..=63).prop_map(move |(x, y)| {
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        AddrRange::new(base + lo, base + hi)
    })
}

fn two_ranges() -> impl Strategy<Value = (usize, AddrRange<usize>, AddrRange<usize>)> {
    prop_oneof![Just(0usize), Just(usize::MAX - 64), Just(1usize << 40)]
        .prop_flat_map(|base| (Just(base), window_range(base), window_range(base)))
}

proptest! {
    // `PROPTEST_CASES` overrides the default.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)))]

    #[test]
    fn range_ops_match_sets((base, a, b) in two_ranges(), x in 0usize..64) {
        let (ma, mb) = (mask(a, base), mask(b, base));
        prop_assert_eq!(a.size(), ma.count_ones() as usize);
        prop_assert_eq!(a.is_empty(), ma == 0);
        prop_assert_eq!(a.contains(base + x), ma >> x & 1 == 1);
        let inter = a.intersection(b);
        prop_assert_eq!(inter.map_or(0, |r| mask(r, base)), ma & mb);
        prop_assert!(inter.is_none_or(|r| !r.is_empty()));
        prop_assert_eq!(inter, b.intersection(a));
        if ma != 0 && mb != 0 {
            prop_assert_eq!(a.overlaps(b), ma & mb != 0);
            prop_assert_eq!(a.contains_range(b), mb & !ma == 0);
            prop_assert_eq!(b.contained_in(a), mb & !ma == 0);
        }
        // bound-based definitions hold for every range, empty ones included
        prop_assert_eq!(a.overlaps(b), a.start < b.end && b.start < a.end);
        prop_assert_eq!(a.contains_range(b), a.start <= b.start && b.end <= a.end);
    }

    #[test]
    fn range_constructors_match_u128(s in any_addr(), e in any_addr(), size in any_addr()) {
        prop_assert_eq!(AddrRange::try_new(s, e).is_some(), s <= e);
        let end = s as u128 + size as u128;
        let r = AddrRange::try_from_start_size(va!(s), size);
        prop_assert_eq!(r.map(|r| (r.start.as_usize(), r.end.as_usize())),
                        (end <= MAX).then_some((s, end as usize)));
        if let Some(r) = r {
            prop_assert_eq!(r.size(), size);
        }
    }
}

/// The naive reference loop.
fn naive_pages(start: usize, end: usize, size: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut a = start as u128;
    while a < end as u128 {
        v.push(a as usize);
        a += size as u128;
    }
    v
}

fn check_iter<I>(mut it: I, want: &[usize], skip: usize) -> Result<(), TestCaseError>
where
    I: DoubleEndedIterator<Item = VirtAddr> + ExactSizeIterator + Clone,
{
    prop_assert_eq!(it.len(), want.len());
    let fwd: Vec<usize> = it.clone().map(VirtAddr::as_usize).collect();
    prop_assert_eq!(&fwd, want);
    let mut back: Vec<usize> = it.clone().rev().map(VirtAddr::as_usize).collect();
    back.reverse();
    prop_assert_eq!(&back, want);
    prop_assert_eq!(
        it.clone().nth(skip).map(VirtAddr::as_usize),
        want.get(skip).copied()
    );
    // alternate ends
    let mut got = Vec::new();
    let mut tail = Vec::new();
    while let Some(a) = it.next() {
        got.push(a.as_usize());
        match it.next_back() {
            Some(a) => tail.push(a.as_usize()),
            None => break,
        }
    }
    tail.reverse();
    got.extend(tail);
    prop_assert_eq!(&got, want);
    prop_assert_eq!(it.next(), None);
    Ok(())
}

fn page_bounds(size: usize) -> impl Strategy<Value = (usize, usize)> {
    let pages = (usize::MAX / size) as u128; // number of aligned addresses - 1
    let hi = pages.min(1 << 40) as usize;
    (0..=hi, 0usize..8, any::<bool>()).prop_map(move |(first, n, top)| {
        // either near 0 or near the top of the address space
        let first = if top {
            (pages as usize).saturating_sub(first % 16 + n)
        } else {
            first
        };
        let last = (first + n).min(pages as usize);
        (first * size, last * size)
    })
}

proptest! {
    // `PROPTEST_CASES` overrides the default.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)))]

    #[test]
    fn fixed_iters_match_naive_loop((s, e) in page_bounds(PAGE_SIZE_4K), skip in 0usize..10) {
        check_iter(PageIter4K::new(va!(s), va!(e)).unwrap(), &naive_pages(s, e, PAGE_SIZE_4K), skip)?;
    }

    #[test]
    fn huge_iters_match_naive_loop((s, e) in page_bounds(PAGE_SIZE_2M), (s1, e1) in page_bounds(PAGE_SIZE_1G)) {
        check_iter(PageIter2M::new(va!(s), va!(e)).unwrap(), &naive_pages(s, e, PAGE_SIZE_2M), 1)?;
        check_iter(PageIter1G::new(va!(s1), va!(e1)).unwrap(), &naive_pages(s1, e1, PAGE_SIZE_1G), 2)?;
    }

    #[test]
    fn dyn_iter_matches_naive_loop(k in 0..usize::BITS, seed in any::<(usize, usize)>(), skip in 0usize..10) {
        let size = 1usize << k;
        let (s, e) = (seed.0 & !(size - 1), seed.1 & !(size - 1));
        let (s, e) = (s.min(e), s.max(e));
        // keep the walk short: at most 64 pages
        let e = e.min(s.saturating_add(size.saturating_mul(64))) & !(size - 1);
        let it = DynPageIter::new(va!(s), va!(e), size).unwrap();
        check_iter(it, &naive_pages(s, e, size), skip)?;
    }

    #[test]
    fn iter_rejects_exactly_unaligned(s in any_addr(), e in any_addr(), size in any::<usize>()) {
        let ok = size.is_power_of_two() && s % size == 0 && e % size == 0;
        prop_assert_eq!(DynPageIter::new(va!(s), va!(e), size).is_some(), ok);
        let ok4k = s % PAGE_SIZE_4K == 0 && e % PAGE_SIZE_4K == 0;
        prop_assert_eq!(PageIter4K::new(va!(s), va!(e)).is_some(), ok4k);
    }
}
