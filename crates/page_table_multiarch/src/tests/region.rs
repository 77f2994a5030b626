//! Range operations: huge-page choice, splits, holes, table freeing, OOM.

use memory_addr::VirtAddr;

use super::*;
use crate::testing::{FlushRecord, take_flushes};
use crate::{FLUSH_BATCH_PAGES, PageSize, PagingError};

fn new<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    CountingHandler::reset();
    take_flushes();
    Pt::<M, PTE>::try_new().unwrap()
}

/// `va -> va + off`.
fn linear(off: usize) -> impl FnMut(VirtAddr) -> PhysAddr {
    move |v| pa(v.as_usize() + off)
}

fn sizes<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
) -> Vec<(usize, PageSize)> {
    pt.iter().map(|m| (m.vaddr.as_usize(), m.size)).collect()
}

fn map_region_picks_huge<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let (start, size) = (G1 - K4, G1 + M2 + 2 * K4);
    let off = 4 * G1;
    pt.map_region(va(start), linear(off), size, RW, PageSize::Size1G)
        .unwrap()
        .flush();
    assert_eq!(take_flushes().len(), 4);
    assert_eq!(
        sizes(&pt),
        [
            (G1 - K4, PageSize::Size4K),
            (G1, PageSize::Size1G),
            (2 * G1, PageSize::Size2M),
            (2 * G1 + M2, PageSize::Size4K)
        ]
    );
    check_tables(&pt);
    let (done, fl) = pt.unmap_region(va(start), size).unwrap();
    fl.flush();
    assert_eq!(done, size);
    assert!(pt.iter().next().is_none());
    check_tables(&pt);

    // At most 2M leaves.
    pt.map_region(va(G1), linear(off), G1, RW, PageSize::Size2M)
        .unwrap()
        .flush();
    assert!(sizes(&pt).iter().all(|&(_, s)| s == PageSize::Size2M));
    assert_eq!(pt.iter().count(), 512);
    pt.unmap_region(va(G1), G1).unwrap().1.flush();
    // Frames not aligned for huge pages: 4K leaves only.
    pt.map_region(va(2 * G1), linear(K4), 4 * M2, R, PageSize::Size1G)
        .unwrap()
        .flush();
    assert_eq!(pt.iter().count(), 4 * 512);
    assert_eq!(
        pt.query(va(2 * G1 + 5 * K4)).unwrap(),
        (
            pa(2 * G1 + 6 * K4),
            PTE::normalize_flags(R),
            PageSize::Size4K
        )
    );
    pt.unmap_region(va(2 * G1), 4 * M2).unwrap().1.flush();
    check_tables(&pt);
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0);
}

fn unmap_region_over_holes<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let base = 3 * G1;
    let mut model = Model::default();
    for (v, size) in [
        (base + K4, K4),
        (base + 7 * K4, K4),
        (base + M2, M2),
        (base + 5 * M2 + 3 * K4, 2 * K4),
    ] {
        let ps = if size == M2 {
            PageSize::Size2M
        } else {
            PageSize::Size4K
        };
        pt.map_region(va(v), linear(G1), size, RW, ps)
            .unwrap()
            .flush();
        model.map(v, size, |x| x + G1, PTE::normalize_flags(RW));
    }
    model.assert_matches(&pt);
    take_flushes();
    let mut seen = Vec::new();
    let (done, fl) = pt
        .unmap_region_with(va(base), 8 * M2, |v, p, s, f| {
            seen.push((v.as_usize(), p.as_usize(), s, f))
        })
        .unwrap();
    assert_eq!(done, 4 * K4 + M2);
    let expected: Vec<_> = [
        (base + K4, K4),
        (base + 7 * K4, K4),
        (base + M2, M2),
        (base + 5 * M2 + 3 * K4, K4),
        (base + 5 * M2 + 4 * K4, K4),
    ]
    .iter()
    .map(|&(v, s)| {
        (
            v,
            v + G1,
            if s == M2 {
                PageSize::Size2M
            } else {
                PageSize::Size4K
            },
            PTE::normalize_flags(RW),
        )
    })
    .collect();
    assert_eq!(seen, expected);
    // Tables were freed: `unmap_region_with` issued a full flush before
    // freeing them; the batch returned covers the unmapped leaves only.
    assert_eq!(take_flushes(), [FlushRecord::All]);
    assert!(!fl.is_full_flush());
    let leaves: Vec<_> = expected.iter().map(|&(v, ..)| v).collect();
    assert_eq!(fl.pages().map(|v| v.as_usize()).collect::<Vec<_>>(), leaves);
    fl.flush();
    let pages: Vec<_> = leaves.iter().map(|&v| FlushRecord::Page(v)).collect();
    assert_eq!(take_flushes(), pages);
    assert!(pt.iter().next().is_none());
    assert_eq!(
        CountingHandler::live_frames(),
        2,
        "root + the table below the root"
    );
    // Nothing mapped at all: fine, nothing done, nothing to flush.
    let (done, fl) = pt.unmap_region(va(base), G1).unwrap();
    assert_eq!(done, 0);
    assert!(fl.is_empty());
    fl.flush();
    check_tables(&pt);
}

fn split_2m<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let base = G1 + M2;
    let mut model = Model::default();
    pt.map(va(base), pa(4 * M2), PageSize::Size2M, RW)
        .unwrap()
        .flush();
    model.map(base, M2, |x| x - base + 4 * M2, PTE::normalize_flags(RW));
    take_flushes();
    // Unmap one page in the middle.
    let (done, fl) = pt.unmap_region(va(base + 5 * K4), K4).unwrap();
    fl.flush();
    assert_eq!(done, K4);
    assert_eq!(take_flushes(), [FlushRecord::Page(base + 5 * K4)]);
    model.unmap(base + 5 * K4, K4);
    model.assert_matches(&pt);
    assert_eq!(pt.query(va(base)).unwrap().2, PageSize::Size4K);
    // Protect a range crossing the end of the split page into a fresh 2M page.
    pt.map(va(base + M2), pa(8 * M2), PageSize::Size2M, RW)
        .unwrap()
        .flush();
    model.map(
        base + M2,
        M2,
        |x| x - base - M2 + 8 * M2,
        PTE::normalize_flags(RW),
    );
    pt.protect_region(va(base + M2 - 2 * K4), 4 * K4, R)
        .unwrap()
        .flush();
    model.protect(base + M2 - 2 * K4, 4 * K4, PTE::normalize_flags(R));
    model.assert_matches(&pt);
    assert_eq!(
        pt.query(va(base + M2 + 8 * K4)).unwrap().2,
        PageSize::Size4K
    );
    // Unmapping all of a split page frees its table.
    let frames = CountingHandler::live_frames();
    pt.unmap_region(va(base + M2), M2).unwrap().1.flush();
    model.unmap(base + M2, M2);
    model.assert_matches(&pt);
    assert_eq!(CountingHandler::live_frames(), frames - 1);
    check_tables(&pt);
}

fn split_1g<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let base = 2 * G1;
    pt.map(va(base), pa(G1), PageSize::Size1G, RW)
        .unwrap()
        .flush();
    let page = base + 3 * M2 + 7 * K4;
    pt.protect_region(va(page), K4, R).unwrap().flush();
    let rw = PTE::normalize_flags(RW);
    for blk in 0..512 {
        let v = base + blk * M2;
        let want = if blk == 3 {
            PageSize::Size4K
        } else {
            PageSize::Size2M
        };
        assert_eq!(
            pt.query(va(v)).unwrap(),
            (pa(v - base + G1), rw, want),
            "{v:#x}"
        );
    }
    for k in 0..512 {
        let v = base + 3 * M2 + k * K4;
        let f = if v == page {
            PTE::normalize_flags(R)
        } else {
            rw
        };
        assert_eq!(
            pt.query(va(v)).unwrap(),
            (pa(v - base + G1), f, PageSize::Size4K),
            "{v:#x}"
        );
    }
    // 1 (1G->2M) + 1 (2M->4K) tables were added.
    check_tables(&pt);
    // Unmap everything except the last 4K page: one more split, then frees.
    let (done, fl) = pt.unmap_region(va(base), G1 - K4).unwrap();
    fl.flush();
    assert_eq!(done, G1 - K4);
    assert_eq!(sizes(&pt), [(base + G1 - K4, PageSize::Size4K)]);
    check_tables(&pt);
}

fn split_oom_is_transactional<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(G1), pa(0), PageSize::Size1G, RW).unwrap().flush();
    pt.map(va(2 * G1), pa(G1), PageSize::Size1G, RW)
        .unwrap()
        .flush();
    // Both ends inside different 1G pages: 2 + 2 table frames.
    let (lo, size) = (G1 + 3 * M2 + K4, G1);
    let before = snapshot(&pt);
    for op in 0..2 {
        for k in 0..4 {
            CountingHandler::fail_after(k);
            let err = if op == 0 {
                pt.unmap_region(va(lo), size).map(|(_, f)| f.ignore())
            } else {
                pt.protect_region(va(lo), size, R).map(|f| f.ignore())
            };
            assert_eq!(err, Err(PagingError::NoMemory), "op {op} k {k}");
            assert_eq!(snapshot(&pt), before, "op {op} k {k}");
        }
    }
    CountingHandler::clear_failure();
    let a = CountingHandler::allocations();
    pt.protect_region(va(lo), size, R).unwrap().flush();
    assert_eq!(CountingHandler::allocations() - a, 4);
    check_tables(&pt);
}

fn map_region_rollback<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    // Crosses a 1G boundary (and, on 3-level Sv39, a top-level slot).
    let (start, size) = (3 * G1 - M2 - K4, 2 * M2 + 2 * K4);
    let before = snapshot(&pt);
    let needed = {
        let mut probe = Pt::<M, PTE>::try_new().unwrap();
        probe
            .map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
            .unwrap()
            .ignore();
        let a = CountingHandler::allocations();
        probe
            .map_region(va(start), linear(0), size, RW, PageSize::Size4K)
            .unwrap()
            .ignore();
        CountingHandler::allocations() - a
    };
    assert!(needed >= 4);
    for k in 0..needed {
        CountingHandler::fail_after(k);
        let res = pt.map_region(va(start), linear(0), size, RW, PageSize::Size4K);
        assert_eq!(res.err(), Some(PagingError::NoMemory), "k = {k}");
        assert_eq!(snapshot(&pt), before, "k = {k}");
        check_tables(&pt);
    }
    CountingHandler::clear_failure();
    // Something mapped at the very end: AlreadyMapped, rolled back.
    pt.map(va(start + size - K4), pa(0), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let before = snapshot(&pt);
    let res = pt.map_region(va(start), linear(0), size, RW, PageSize::Size2M);
    assert_eq!(res.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(snapshot(&pt), before);
    // get_paddr returning a bad frame for the last page: rejected after two
    // 2M pages were mapped, rolled back.
    pt.unmap(va(start + size - K4)).unwrap().3.flush();
    let before = snapshot(&pt);
    let pa_max = 1usize << M::PA_MAX_BITS;
    for bad in [pa_max, 0x800] {
        let res = pt.map_region(
            va(start),
            |v| {
                pa(if v.as_usize() == start + size - K4 {
                    bad
                } else {
                    v.as_usize()
                })
            },
            size,
            RW,
            PageSize::Size2M,
        );
        assert!(res.is_err());
        assert_eq!(snapshot(&pt), before);
    }
    check_tables(&pt);
}

fn flush_batches<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let base = G1 + M2;
    pt.map_region(va(base), linear(0), 64 * K4, RW, PageSize::Size4K)
        .unwrap()
        .ignore();
    take_flushes();
    pt.protect_region(va(base + K4), 3 * K4, R).unwrap().flush();
    let want: Vec<_> = (1..4).map(|i| FlushRecord::Page(base + i * K4)).collect();
    assert_eq!(take_flushes(), want);
    // Protecting to the same flags changes nothing and owes nothing.
    let fl = pt.protect_region(va(base + K4), 3 * K4, R).unwrap();
    assert!(fl.is_empty());
    fl.flush();
    // More pages than the batch holds: one full flush.
    let fl = pt
        .protect_region(va(base), (FLUSH_BATCH_PAGES + 1) * K4, RX)
        .unwrap();
    assert!(fl.is_full_flush());
    fl.flush();
    assert_eq!(take_flushes(), [FlushRecord::All]);
    let fl = pt
        .protect_region(va(base), FLUSH_BATCH_PAGES * K4, R)
        .unwrap();
    assert!(!fl.is_full_flush());
    assert_eq!(fl.pages().count(), FLUSH_BATCH_PAGES);
    fl.flush();
    assert_eq!(take_flushes().len(), FLUSH_BATCH_PAGES);
}

fn region_bad_inputs<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x20_0000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let before = snapshot(&pt);
    let half = 1usize << (M::VA_MAX_BITS - 1);
    let cases: &[(usize, usize, PagingError)] = &[
        (0x1000, 0, PagingError::InvalidAddress),
        (0x1800, 0x1000, PagingError::NotAligned),
        (0x1000, 0x1800, PagingError::NotAligned),
        (0x1000, usize::MAX & !0xfff, PagingError::InvalidAddress),
        (half - 0x1000, 0x2000, PagingError::InvalidAddress),
        (half, 0x1000, PagingError::InvalidAddress),
        (usize::MAX & !0xfff, 0x2000, PagingError::InvalidAddress),
    ];
    for &(v, size, err) in cases {
        let m = pt.map_region(va(v), linear(0), size, RW, PageSize::Size1G);
        assert_eq!(m.err(), Some(err), "map_region({v:#x}, {size:#x})");
        assert_eq!(pt.unmap_region(va(v), size).err(), Some(err));
        assert_eq!(pt.protect_region(va(v), size, R).err(), Some(err));
        assert_eq!(pt.iter_range(va(v), size).err(), Some(err));
        let mut other = Pt::<M, PTE>::try_new().unwrap();
        let c = pt.clone_range_into(&mut other, va(v), size, |_, _, _, f| (f, f));
        assert_eq!(c.err(), Some(err));
        assert_eq!(snapshot(&pt).0, before.0);
    }
    assert_eq!(snapshot(&pt), before);
}

/// Mapped by `gigabyte_of_4k_frees_tables`: 1 GiB, or 8 MiB under Miri.
const BIG: usize = if cfg!(miri) { 4 * M2 } else { G1 };

fn gigabyte_of_4k_frees_tables<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map_region(va(G1), linear(0), BIG, RW, PageSize::Size4K)
        .unwrap()
        .ignore();
    // A leaf table per 2M + the 2M-level table (+ the one above on 4 levels).
    assert_eq!(
        CountingHandler::live_frames(),
        1 + BIG / M2 + 1 + (M::LEVELS - 3)
    );
    check_tables(&pt);
    let (done, fl) = pt.unmap_region(va(G1 - M2), BIG + 2 * M2).unwrap();
    fl.ignore();
    assert_eq!(done, BIG);
    assert_eq!(CountingHandler::live_frames(), 2);
    check_tables(&pt);
}

all_modes!(
    map_region_picks_huge,
    unmap_region_over_holes,
    split_2m,
    split_1g,
    split_oom_is_transactional,
    map_region_rollback,
    flush_batches,
    region_bad_inputs,
);

#[test]
fn gigabyte_sv39() {
    gigabyte_of_4k_frees_tables::<crate::riscv::Sv39MetaData, crate::riscv::Rv64PTE>();
}

#[test]
fn gigabyte_x64() {
    gigabyte_of_4k_frees_tables::<crate::x86_64::X64PagingMetaData, crate::x86_64::X64PTE>();
}
