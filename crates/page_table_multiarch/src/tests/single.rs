//! Single-page operations, for every paging mode.

use memory_addr::VirtAddr;

use super::*;
use crate::testing::{FlushRecord, take_flushes};
use crate::{OnPresent, PageSize, PagingError};

fn new<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    CountingHandler::reset();
    take_flushes();
    Pt::<M, PTE>::try_new().unwrap()
}

/// Drops the table and checks every frame came back.
fn finish<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(pt: Pt<M, PTE>) {
    check_tables(&pt);
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0, "leak");
}

fn map_query_unmap_4k<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let flags = PTE::normalize_flags(RW);
    pt.map(va(0x1000_0000), pa(0x5000), PageSize::Size4K, RW)
        .unwrap()
        .flush();
    assert_eq!(take_flushes(), [FlushRecord::Page(0x1000_0000)]);
    assert_eq!(
        pt.query(va(0x1000_0abc)),
        Ok((pa(0x5abc), flags, PageSize::Size4K))
    );
    assert_eq!(pt.query(va(0x1000_1000)), Err(PagingError::NotMapped));
    assert_eq!(pt.query(va(0x0fff_f000)), Err(PagingError::NotMapped));
    let before = snapshot(&pt);
    let again = pt.map(va(0x1000_0000), pa(0x6000), PageSize::Size4K, R);
    assert_eq!(again.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(snapshot(&pt), before);
    check_tables(&pt);

    // A neighbour in the same leaf table, then unmap both.
    pt.map(va(0x1000_1000), pa(0x7000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let (p, f, s, fl) = pt.unmap(va(0x1000_0000)).unwrap();
    assert_eq!((p, f, s), (pa(0x5000), flags, PageSize::Size4K));
    fl.flush();
    take_flushes();
    let (p, _, _, fl) = pt.unmap(va(0x1000_1000)).unwrap();
    assert_eq!(p, pa(0x7000));
    fl.flush();
    // The leaf table (and on 4 levels the one above) became empty and was
    // freed: `unmap` issued the full flush itself before freeing it, and the
    // returned flush covers just the unmapped page.
    assert_eq!(
        take_flushes(),
        [FlushRecord::All, FlushRecord::Page(0x1000_1000)]
    );
    assert_eq!(
        CountingHandler::live_frames(),
        2,
        "root + the table below the root remain"
    );
    assert_eq!(
        pt.unmap(va(0x1000_0000)).err(),
        Some(PagingError::NotMapped)
    );
    assert!(pt.iter().next().is_none());
    finish(pt);
}

fn map_huge<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let flags = PTE::normalize_flags(RX);
    pt.map(va(0x4020_0000), pa(0x60_0000), PageSize::Size2M, RX)
        .unwrap()
        .flush();
    pt.map(va(0x8000_0000), pa(0xc000_0000), PageSize::Size1G, RW)
        .unwrap()
        .flush();
    assert_eq!(
        pt.query(va(0x4030_0008)),
        Ok((pa(0x70_0008), flags, PageSize::Size2M))
    );
    let big = pt.query(va(0xbfff_fff0)).unwrap();
    assert_eq!(
        big,
        (pa(0xffff_fff0), PTE::normalize_flags(RW), PageSize::Size1G)
    );
    let before = snapshot(&pt);
    // Anything inside a huge page is refused.
    let inner = pt.map(va(0x4021_0000), pa(0x1000), PageSize::Size4K, R);
    assert_eq!(inner.err(), Some(PagingError::AlreadyMapped));
    let over = pt.map(va(0x8020_0000), pa(0), PageSize::Size2M, R);
    assert_eq!(over.err(), Some(PagingError::AlreadyMapped));
    // A 1G page over a table with mappings is refused too.
    let around = pt.map(va(0x4000_0000), pa(0), PageSize::Size1G, R);
    assert_eq!(around.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(
        pt.unmap(va(0x4021_0000)).err(),
        Some(PagingError::MappedToHugePage)
    );
    assert_eq!(
        pt.protect(va(0x8000_1000), R).err(),
        Some(PagingError::MappedToHugePage)
    );
    assert_eq!(snapshot(&pt), before);

    let (p, f, s, fl) = pt.unmap(va(0x4020_0000)).unwrap();
    fl.flush();
    assert_eq!((p, f, s), (pa(0x60_0000), flags, PageSize::Size2M));
    let (p, _, s, fl) = pt.unmap(va(0x8000_0000)).unwrap();
    fl.flush();
    assert_eq!((p, s), (pa(0xc000_0000), PageSize::Size1G));
    assert!(pt.iter().next().is_none());
    // The same 1G slot can take a 1G page again (on Sv39 it replaces the
    // kept, empty table below the root).
    pt.map(va(0x4000_0000), pa(0x4000_0000), PageSize::Size1G, R)
        .unwrap()
        .flush();
    assert_eq!(pt.query(va(0x4000_0000)).unwrap().2, PageSize::Size1G);
    finish(pt);
}

fn bad_inputs<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x20_0000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let before = snapshot(&pt);
    let half = 1usize << (M::VA_MAX_BITS - 1);
    let pa_max = 1usize << M::PA_MAX_BITS;
    let cases: &[(usize, usize, PageSize, PagingError)] = &[
        (
            0x1000_0800,
            0x1000,
            PageSize::Size4K,
            PagingError::NotAligned,
        ),
        (0x1000_1000, 0, PageSize::Size2M, PagingError::NotAligned),
        (
            0x1020_0000,
            0x1000,
            PageSize::Size2M,
            PagingError::NotAligned,
        ),
        (
            0x4000_0000,
            0x20_0000,
            PageSize::Size1G,
            PagingError::NotAligned,
        ),
        (half, 0, PageSize::Size4K, PagingError::InvalidAddress),
        (half - 0x1000, 0, PageSize::Size2M, PagingError::NotAligned),
        (
            0x1000_0000,
            pa_max,
            PageSize::Size4K,
            PagingError::InvalidAddress,
        ),
        (
            0x1000_0000,
            pa_max - 0x1000,
            PageSize::Size2M,
            PagingError::NotAligned,
        ),
        (
            0x1000_0000,
            pa_max - 0x20_0000,
            PageSize::Size1G,
            PagingError::NotAligned,
        ),
        (
            0x1000_0000,
            pa_max + 0x20_0000,
            PageSize::Size2M,
            PagingError::InvalidAddress,
        ),
    ];
    for &(v, p, size, err) in cases {
        let res = pt.map(va(v), pa(p), size, RW);
        assert_eq!(res.err(), Some(err), "map({v:#x}, {p:#x}, {size:?})");
        assert_eq!(snapshot(&pt), before);
    }
    // The last 2M page below the hole and the last one below PA_MAX are fine.
    for (v, p) in [(half - 0x20_0000, 0), (0x1000_0000, pa_max - 0x20_0000)] {
        pt.map(va(v), pa(p), PageSize::Size2M, RW).unwrap().flush();
        pt.unmap(va(v)).unwrap().3.flush();
    }
    // (The table kept below the root for `half - 2M` stays until drop.)
    let before = snapshot(&pt);
    for v in [half, half + 0x1000, usize::MAX & !0xfff & !half] {
        assert_eq!(
            pt.query(va(v)).err(),
            Some(PagingError::InvalidAddress),
            "{v:#x}"
        );
        assert_eq!(
            pt.unmap(va(v)).err(),
            Some(PagingError::InvalidAddress),
            "{v:#x}"
        );
        assert_eq!(
            pt.protect(va(v), R).err(),
            Some(PagingError::InvalidAddress),
            "{v:#x}"
        );
    }
    assert_eq!(pt.unmap(va(0x20_0800)).err(), Some(PagingError::NotAligned));
    let remap = pt.remap(va(0x20_0000), pa(pa_max), R, OnPresent::Replace);
    assert_eq!(remap.err(), Some(PagingError::InvalidAddress));
    assert_eq!(snapshot(&pt), before);
    finish(pt);
}

fn upper_half<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let first = usize::MAX << (M::VA_MAX_BITS - 1);
    let last = usize::MAX & !0xfff;
    pt.map(va(first), pa(0x3000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    pt.map(va(last), pa(0x4000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let big = (last & !(M2 - 1)) - M2;
    pt.map(va(big), pa(M2), PageSize::Size2M, R)
        .unwrap()
        .flush();
    pt.map(va(0x1000), pa(0x5000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    assert_eq!(pt.query(va(last + 0xfff)).unwrap().0, pa(0x4fff));
    let order: Vec<usize> = pt.iter().map(|m| m.vaddr.as_usize()).collect();
    assert_eq!(order, [0x1000, first, big, last]);
    let top: Vec<usize> = pt
        .iter_range(va(last), 0x1000)
        .unwrap()
        .map(|m| m.vaddr.as_usize())
        .collect();
    assert_eq!(top, [last]);
    assert_eq!(pt.unmap(va(last)).unwrap().0, pa(0x4000));
    finish(pt);
}

fn protect_and_reserved<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x40_0000), pa(0x9000), PageSize::Size4K, RW)
        .unwrap()
        .flush();
    pt.map(va(0x60_0000), pa(0x20_0000), PageSize::Size2M, RW)
        .unwrap()
        .flush();
    take_flushes();
    let (size, fl) = pt.protect(va(0x40_0000), R).unwrap();
    fl.flush();
    assert_eq!(size, PageSize::Size4K);
    assert_eq!(take_flushes(), [FlushRecord::Page(0x40_0000)]);
    assert_eq!(pt.query(va(0x40_0000)).unwrap().1, PTE::normalize_flags(R));
    // PROT_NONE keeps the frame: reserved, reported with empty flags.
    for (v, size) in [(0x40_0000, PageSize::Size4K), (0x60_0000, PageSize::Size2M)] {
        assert_eq!(pt.protect(va(v), MappingFlags::empty()).unwrap().0, size);
        let (p, f, s) = pt.query(va(v)).unwrap();
        assert_eq!((f, s), (MappingFlags::empty(), size));
        assert_eq!(
            p.as_usize(),
            if v == 0x40_0000 { 0x9000 } else { 0x20_0000 }
        );
    }
    assert_eq!(pt.protect(va(0x40_0000), RX).unwrap().0, PageSize::Size4K);
    assert_eq!(
        pt.query(va(0x40_0000)).unwrap(),
        (pa(0x9000), PTE::normalize_flags(RX), PageSize::Size4K)
    );
    let (p, f, s, fl) = pt.unmap(va(0x60_0000)).unwrap();
    fl.ignore();
    assert_eq!(
        (p, f, s),
        (pa(0x20_0000), MappingFlags::empty(), PageSize::Size2M)
    );
    assert_eq!(
        pt.protect(va(0x60_0000), R).err(),
        Some(PagingError::NotMapped)
    );
    // Mapping with flags granting no access makes a reserved entry directly.
    pt.map(
        va(0x80_0000),
        pa(0xa000),
        PageSize::Size4K,
        MappingFlags::USER,
    )
    .unwrap()
    .flush();
    assert_eq!(
        pt.query(va(0x80_0000)),
        Ok((pa(0xa000), MappingFlags::empty(), PageSize::Size4K))
    );
    finish(pt);
}

fn remap_refuses_present<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x40_0000), pa(0x9000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let before = snapshot(&pt);
    let refused = pt.remap(va(0x40_0000), pa(0xa000), RW, OnPresent::Fail);
    assert_eq!(refused.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(snapshot(&pt), before);
    // Same frame: just new flags.
    let (old, size, fl) = pt
        .remap(va(0x40_0000), pa(0x9000), RW, OnPresent::Fail)
        .unwrap();
    fl.flush();
    assert_eq!((old, size), (pa(0x9000), PageSize::Size4K));
    assert_eq!(pt.query(va(0x40_0000)).unwrap().1, PTE::normalize_flags(RW));
    // Explicit replacement (copy-on-write resolution).
    let (old, _, fl) = pt
        .remap(va(0x40_0000), pa(0xb000), RW, OnPresent::Replace)
        .unwrap();
    fl.flush();
    assert_eq!(old, pa(0x9000));
    assert_eq!(pt.query(va(0x40_0000)).unwrap().0, pa(0xb000));
    // A reserved entry is not present: it may get a frame without asking.
    pt.protect(va(0x40_0000), MappingFlags::empty())
        .unwrap()
        .1
        .flush();
    let (old, _, fl) = pt
        .remap(va(0x40_0000), pa(0xc000), R, OnPresent::Fail)
        .unwrap();
    fl.flush();
    assert_eq!(old, pa(0xb000));
    assert_eq!(
        pt.query(va(0x40_0000)).unwrap(),
        (pa(0xc000), PTE::normalize_flags(R), PageSize::Size4K)
    );
    // Huge pages keep their size; the frame must be aligned to it.
    pt.map(va(0x60_0000), pa(0x20_0000), PageSize::Size2M, R)
        .unwrap()
        .flush();
    let bad = pt.remap(va(0x60_0000), pa(0x1000), R, OnPresent::Replace);
    assert_eq!(bad.err(), Some(PagingError::NotAligned));
    let (_, size, fl) = pt
        .remap(va(0x60_0000), pa(0x40_0000), R, OnPresent::Replace)
        .unwrap();
    fl.flush();
    assert_eq!(size, PageSize::Size2M);
    let hole = pt.remap(va(0x1000), pa(0x1000), R, OnPresent::Replace);
    assert_eq!(hole.err(), Some(PagingError::NotMapped));
    finish(pt);
}

fn oom_single_map<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let before = snapshot(&pt);
    // A far address needs LEVELS - 1 new tables; fail each in turn.
    let far = 1usize << (M::VA_MAX_BITS - 2);
    for k in 0..M::LEVELS - 1 {
        CountingHandler::fail_after(k);
        let res = pt.map(va(far), pa(0x2000), PageSize::Size4K, R);
        assert_eq!(res.err(), Some(PagingError::NoMemory), "k = {k}");
        assert_eq!(snapshot(&pt), before);
    }
    CountingHandler::clear_failure();
    pt.map(va(far), pa(0x2000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    finish(pt);
}

all_modes!(
    map_query_unmap_4k,
    map_huge,
    bad_inputs,
    upper_half,
    protect_and_reserved,
    remap_refuses_present,
    oom_single_map,
);
