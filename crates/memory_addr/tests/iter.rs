//! Page iterators.

use memory_addr::{
    DynPageIter, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, PageIter, PageIter1G, PageIter2M,
    PageIter4K, PhysAddr, VirtAddr, pa, va,
};

const TOP_PAGE: usize = usize::MAX & !(PAGE_SIZE_4K - 1);

#[test]
fn yields_each_page() {
    let it = PageIter4K::new(va!(0x1000), va!(0x4000)).unwrap();
    assert_eq!(it.len(), 3);
    assert_eq!(
        it.collect::<Vec<_>>(),
        [va!(0x1000), va!(0x2000), va!(0x3000)]
    );
    let it = PageIter2M::new(pa!(0x20_0000), pa!(0x60_0000)).unwrap();
    assert_eq!(it.collect::<Vec<_>>(), [pa!(0x20_0000), pa!(0x40_0000)]);
    let it = PageIter1G::new(0usize, 2 * PAGE_SIZE_1G).unwrap();
    assert_eq!(it.collect::<Vec<_>>(), [0, PAGE_SIZE_1G]);
    let it = PageIter::<0x1000, usize>::new(0x1000, 0x3000).unwrap();
    assert_eq!(it.count(), 2);
}

#[test]
fn rejects_unaligned_or_bad_size() {
    assert!(PageIter4K::new(va!(0x1001), va!(0x3000)).is_none());
    assert!(PageIter4K::new(va!(0x1000), va!(0x3001)).is_none());
    assert!(PageIter2M::new(pa!(0x1000), pa!(0x40_0000)).is_none());
    assert!(PageIter1G::new(0usize, PAGE_SIZE_2M).is_none());
    assert!(PageIter::<0x3000, usize>::new(0, 0x3000).is_none());
    assert!(PageIter::<0, usize>::new(0, 0).is_none());
    assert!(DynPageIter::new(0usize, 0, 0).is_none());
    assert!(DynPageIter::new(0usize, 0x3000, 0x3000).is_none());
    assert!(DynPageIter::new(0usize, 0x3000, usize::MAX).is_none());
    assert!(DynPageIter::new(0x1000usize, 0x3000, 0x2000).is_none());
}

#[test]
fn empty_and_reversed_bounds() {
    let mut it = PageIter4K::new(va!(0x2000), va!(0x2000)).unwrap();
    assert_eq!((it.len(), it.next(), it.next_back()), (0, None, None));
    // start > end: accepted (arceos-compatible) but yields nothing
    let mut it = PageIter4K::new(va!(0x3000), va!(0x1000)).unwrap();
    assert_eq!(it.size_hint(), (0, Some(0)));
    assert_eq!((it.next(), it.next_back(), it.nth(1)), (None, None, None));
    let mut it = DynPageIter::new(0x3000usize, 0x1000, 0x1000).unwrap();
    assert_eq!((it.len(), it.next(), it.next_back()), (0, None, None));
}

#[test]
fn double_ended_and_fused() {
    let mut it = PageIter4K::new(0usize, 0x5000).unwrap();
    assert_eq!(it.next_back(), Some(0x4000));
    assert_eq!(it.next(), Some(0));
    assert_eq!(it.len(), 3);
    assert_eq!(it.next_back(), Some(0x3000));
    assert_eq!(it.next(), Some(0x1000));
    assert_eq!(it.next_back(), Some(0x2000));
    assert_eq!((it.next(), it.next_back(), it.next()), (None, None, None));
}

#[test]
fn nth_skips_in_constant_time() {
    let mut it = PageIter4K::new(0usize, 0x10000).unwrap();
    assert_eq!(it.nth(3), Some(0x3000));
    assert_eq!(it.next(), Some(0x4000));
    assert_eq!(it.nth(100), None);
    assert_eq!(it.next(), None);
    // almost the whole address space: 2^52 - 1 pages on 64-bit
    let mut it = PageIter4K::new(va!(0), va!(TOP_PAGE)).unwrap();
    let n = it.len();
    assert_eq!(n, TOP_PAGE / PAGE_SIZE_4K);
    assert_eq!(it.nth(n - 1), Some(va!(TOP_PAGE - PAGE_SIZE_4K)));
    assert_eq!(it.next(), None);
}

#[test]
fn pages_at_top_of_address_space() {
    let end = TOP_PAGE;
    let it = PageIter4K::new(pa!(end - 2 * PAGE_SIZE_4K), pa!(end)).unwrap();
    assert_eq!(
        it.collect::<Vec<_>>(),
        [pa!(end - 0x2000), pa!(end - 0x1000)]
    );
    let mut it = DynPageIter::new(va!(end - 0x2000), va!(end), 0x1000).unwrap();
    assert_eq!(it.next_back(), Some(va!(end - 0x1000)));
    assert_eq!(it.next_back(), Some(va!(end - 0x2000)));
    assert_eq!(it.next_back(), None);
}

#[test]
fn dyn_iter() {
    let it = DynPageIter::<PhysAddr>::new(pa!(0), pa!(0x60_0000), PAGE_SIZE_2M).unwrap();
    assert_eq!(it.page_size(), PAGE_SIZE_2M);
    assert_eq!(it.clone().len(), 3);
    assert_eq!(
        it.rev().collect::<Vec<_>>(),
        [pa!(0x40_0000), pa!(0x20_0000), pa!(0)]
    );
    let it = DynPageIter::new(0usize, 4, 1).unwrap();
    assert_eq!(it.collect::<Vec<_>>(), [0, 1, 2, 3]);
    let half = 1usize << (usize::BITS - 1);
    let it = DynPageIter::new(0usize, half, half).unwrap();
    assert_eq!(it.collect::<Vec<_>>(), [0]);
    let mut it = DynPageIter::new(va!(0), va!(0x8000), 0x2000).unwrap();
    assert_eq!(it.nth(2), Some(va!(0x4000)));
    assert_eq!(it.nth(1), None);
}

#[test]
fn clone_and_debug() {
    let it = PageIter4K::new(va!(0x1000), va!(0x2000)).unwrap();
    let c = it.clone();
    assert_eq!(it.collect::<Vec<VirtAddr>>(), c.collect::<Vec<_>>());
    let s = format!("{:?}", PageIter4K::new(0x1000usize, 0x2000).unwrap());
    assert!(s.contains("PageIter") && s.contains("4096"), "{s}");
}
