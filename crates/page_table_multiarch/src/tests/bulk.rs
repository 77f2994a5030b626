//! The whole-table fast paths of the range operations, against the
//! page-granular model and the slow paths they stand in for:
//! `map_region` filling a new table before linking it, `unmap_region`
//! letting whole leaf tables go without clearing them, and
//! `protect_region` replacing a leaf table of one pattern by an updated
//! copy (and falling back to the in-place loop on any other pattern, a
//! hole, or no memory). Each run checks the model, the table invariants,
//! frame accounting, the software TLB and the paging-structure-cache model.

use proptest::prelude::*;

use super::*;
use crate::testing::{SoftTlb, take_flushes};
use crate::{PageSize, PagingError};

/// The first of the 2M slots (leaf tables) the tests use.
const BASE: usize = G1 - 2 * M2;
/// Frame of the page at `v` (4K-aligned, linear).
fn frame(v: usize) -> usize {
    v - BASE + 0x40_0000
}

fn fresh<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    CountingHandler::reset();
    take_flushes();
    psc::reset();
    let pt = Pt::<M, PTE>::try_new().unwrap();
    psc::watch(&pt);
    pt
}

/// The leaf table holding the 4K leaf at `v`.
fn leaf_table<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
    v: usize,
) -> Option<usize> {
    let t = Pt::<M, PTE>::check_va(v).ok()?;
    // SAFETY: `t` is checked.
    let leaf = unsafe { pt.find(t) }.ok()?;
    (leaf.level == 0).then_some(leaf.table as usize)
}

/// Everything that must hold after an operation.
fn check_all<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
    model: &Model,
    tlb: &mut SoftTlb,
) {
    model.assert_matches(pt);
    check_tables(pt);
    tlb.apply(&take_flushes());
    if let Some(stale) = tlb.find_stale(pt) {
        panic!("stale TLB entry {stale:x?}");
    }
    let early = psc::take_violations();
    assert!(early.is_empty(), "freed too early: {early:?}");
    psc::take_events();
}

/// A perturbation of one page before `protect_region`.
#[derive(Debug, Clone, Copy)]
enum Poke {
    Hole,
    Flags(u8),
}

fn protect_vs_model<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    tables: usize,
    (first, last): (usize, usize),
    pokes: &[(usize, Poke)],
    (old, new): (u8, u8),
    fail: Option<usize>,
) {
    let f = |b: u8| MappingFlags::from_bits_truncate(b as usize);
    let (old, new) = (f(old) | MappingFlags::READ, f(new));
    let mut pt = fresh::<M, PTE>();
    let mut model = Model::default();
    let mut tlb = SoftTlb::new();
    let pages = tables * 512;
    pt.map_region(
        va(BASE),
        |v| pa(frame(v.as_usize())),
        pages * K4,
        old,
        PageSize::Size4K,
    )
    .unwrap()
    .ignore();
    model.map(BASE, pages * K4, frame, PTE::normalize_flags(old));
    let mut uniform = vec![true; tables];
    for &(page, poke) in pokes {
        let v = BASE + page % pages * K4;
        match poke {
            Poke::Hole => {
                uniform[page % pages / 512] = false;
                if model.unmap(v, K4) != 0 {
                    pt.unmap(va(v)).unwrap().3.ignore();
                }
            }
            Poke::Flags(b) => {
                // Flags the format encodes like the old ones leave the table one pattern.
                if PTE::normalize_flags(f(b)) != PTE::normalize_flags(old) {
                    uniform[page % pages / 512] = false;
                }
                if model.pages.contains_key(&v) {
                    pt.protect(va(v), f(b)).unwrap().1.ignore();
                    model.protect(v, K4, PTE::normalize_flags(f(b)));
                }
            }
        }
    }
    check_all(&pt, &model, &mut tlb);
    let before: Vec<_> = (0..tables)
        .map(|i| leaf_table(&pt, BASE + i * M2 + 511 * K4))
        .collect();
    for v in (BASE..BASE + pages * K4).step_by(97 * K4) {
        tlb.translate(&pt, v);
    }
    psc::observe();
    let (lo, hi) = (BASE + first * K4, BASE + (pages - last) * K4);
    if let Some(k) = fail {
        CountingHandler::fail_after(k);
    }
    // Only the copies allocate: without memory the in-place loop runs.
    let res = pt.protect_region(va(lo), hi - lo, new);
    CountingHandler::clear_failure();
    res.unwrap().flush();
    model.protect(lo, hi - lo, PTE::normalize_flags(new));
    check_all(&pt, &model, &mut tlb);
    for (i, &was) in before.iter().enumerate() {
        let now = leaf_table(&pt, BASE + i * M2 + 511 * K4);
        if !uniform[i] && was.is_some() {
            assert_eq!(now, was, "table {i} with several patterns was replaced");
        }
    }
    psc::unwatch(&pt);
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0, "leak");
}

proptest! {
    #![proptest_config(super::proptest_config(24))]

    #[test]
    fn protect_copy_matches_model(
        tables in 2..5usize,
        edges in (prop_oneof![Just(0usize), 0..600usize], prop_oneof![Just(0usize), 0..600usize]),
        pokes in prop::collection::vec(
            (0..2048usize, prop_oneof![Just(Poke::Hole), any::<u8>().prop_map(Poke::Flags)]),
            0..4,
        ),
        flags in (any::<u8>(), any::<u8>()),
        fail in prop::option::weighted(0.3, 0..3usize),
        mode in 0..5u8,
    ) {
        let edges = (edges.0 % (tables * 256), edges.1 % (tables * 256));
        match mode {
            0 => protect_vs_model::<X64PagingMetaData, X64PTE>(tables, edges, &pokes, flags, fail),
            1 => protect_vs_model::<Sv39MetaData, Rv64PTE>(tables, edges, &pokes, flags, fail),
            2 => protect_vs_model::<Sv48MetaData, Rv64PTE>(tables, edges, &pokes, flags, fail),
            3 => protect_vs_model::<A64PagingMetaData, A64PTE>(tables, edges, &pokes, flags, fail),
            _ => protect_vs_model::<LA64MetaData, LA64PTE>(tables, edges, &pokes, flags, fail),
        }
    }
}

/// Uniform whole tables after the first are replaced by copies (the fast
/// path is taken), and the replaced tables are freed only after a full flush.
fn protect_replaces_uniform_tables<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = fresh::<M, PTE>();
    let mut model = Model::default();
    let mut tlb = SoftTlb::new();
    pt.map_region(
        va(BASE),
        |v| pa(frame(v.as_usize())),
        2 * M2,
        RW,
        PageSize::Size4K,
    )
    .unwrap()
    .ignore();
    model.map(BASE, 2 * M2, frame, PTE::normalize_flags(RW));
    let before: Vec<_> = (0..2).map(|i| leaf_table(&pt, BASE + i * M2)).collect();
    let frames = CountingHandler::live_frames();
    for v in [BASE, BASE + M2 + 5 * K4, BASE + 2 * M2 - K4] {
        tlb.translate(&pt, v);
    }
    psc::observe();
    let b = pt.protect_region(va(BASE), 2 * M2, R).unwrap();
    assert!(b.is_full_flush());
    b.flush();
    model.protect(BASE, 2 * M2, PTE::normalize_flags(R));
    let after: Vec<_> = (0..2).map(|i| leaf_table(&pt, BASE + i * M2)).collect();
    assert_eq!(after[0], before[0], "the first table is changed in place");
    assert_ne!(after[1], before[1], "uniform table 1 not replaced");
    assert_eq!(
        CountingHandler::live_frames(),
        frames,
        "old tables not freed"
    );
    let flushed_before_free = psc::take_events().iter().fold(false, |flushed, e| match e {
        psc::Event::FlushAll => true,
        psc::Event::Dealloc(_) => {
            assert!(flushed, "table freed before a full flush");
            flushed
        }
        _ => flushed,
    });
    assert!(flushed_before_free);
    check_all(&pt, &model, &mut tlb);
    // Same flags again: nothing to change, nothing copied.
    pt.protect_region(va(BASE), 2 * M2, R).unwrap().flush();
    let again: Vec<_> = (0..2).map(|i| leaf_table(&pt, BASE + i * M2)).collect();
    assert_eq!(again, after);
    check_all(&pt, &model, &mut tlb);
    psc::unwatch(&pt);
}

/// `unmap_region_with` over whole leaf tables (which go uncleared) reports
/// every leaf once, in order, and frees every emptied table after a flush.
fn unmap_whole_tables_reports_all<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = fresh::<M, PTE>();
    let mut model = Model::default();
    let mut tlb = SoftTlb::new();
    let pages = 3 * 512;
    pt.map_region(
        va(BASE),
        |v| pa(frame(v.as_usize())),
        pages * K4,
        RW,
        PageSize::Size4K,
    )
    .unwrap()
    .ignore();
    model.map(BASE, pages * K4, frame, PTE::normalize_flags(RW));
    // Holes in table 1; a PROT_NONE page in table 2 (table 0 fills the batch).
    for v in [BASE + M2 + 7 * K4, BASE + M2 + 511 * K4] {
        pt.unmap(va(v)).unwrap().3.ignore();
        model.unmap(v, K4);
    }
    pt.protect(va(BASE + 2 * M2 + 9 * K4), MappingFlags::empty())
        .unwrap()
        .1
        .ignore();
    model.protect(BASE + 2 * M2 + 9 * K4, K4, MappingFlags::empty());
    check_all(&pt, &model, &mut tlb);
    for v in [BASE + 5 * K4, BASE + M2 + 3 * K4, BASE + 2 * M2 + 100 * K4] {
        tlb.translate(&pt, v);
    }
    psc::observe();
    let want: Vec<_> = model.pages.iter().map(|(&v, &(p, f))| (v, p, f)).collect();
    let mut seen = Vec::new();
    let (bytes, b) = pt
        .unmap_region_with(va(BASE), pages * K4, |v, p, s, f| {
            assert_eq!(s, PageSize::Size4K);
            seen.push((v.as_usize(), p.as_usize(), f));
        })
        .unwrap();
    assert!(b.is_full_flush());
    b.flush();
    assert_eq!(seen, want);
    assert_eq!(bytes, want.len() * K4);
    model.unmap(BASE, pages * K4);
    check_all(&pt, &model, &mut tlb);
    psc::unwatch(&pt);
}

/// Runs of `map_region` into new tables at any offset and length: exactly
/// the run is mapped (the rest of a new table is zeroed; fresh frames are
/// poisoned in debug builds), and a bad frame anywhere fails cleanly.
fn map_new_tables_vs_model<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    start: usize,
    len: usize,
    bad_at: Option<(usize, bool)>,
    fail: Option<usize>,
) {
    let mut pt = fresh::<M, PTE>();
    let mut model = Model::default();
    let mut tlb = SoftTlb::new();
    // An existing leaf table around BASE + M2 (kept by one page), new ones elsewhere.
    pt.map(va(BASE + M2 + 300 * K4), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    model.map(
        BASE + M2 + 300 * K4,
        K4,
        |_| 0x1000,
        PTE::normalize_flags(R),
    );
    let (lo, size) = (BASE + start * K4, len * K4);
    let overlaps = model.any_mapped(lo, size);
    let bad_va = bad_at.map(|(i, _)| lo + i % len * K4);
    let mut calls = Vec::new();
    let get = |v: VirtAddr| {
        let v = v.as_usize();
        calls.push(v);
        match bad_at {
            Some((_, unaligned)) if Some(v) == bad_va => pa(if unaligned {
                frame(v) + 8
            } else {
                1 << M::PA_MAX_BITS
            }),
            _ => pa(frame(v)),
        }
    };
    let before = snapshot(&pt);
    if let Some(k) = fail {
        CountingHandler::fail_after(k);
    }
    let res = pt.map_region(va(lo), get, size, RW, PageSize::Size4K);
    CountingHandler::clear_failure();
    match res {
        Ok(b) => {
            assert!(!overlaps && bad_va.is_none(), "map_region succeeded");
            b.flush();
            model.map(lo, size, frame, PTE::normalize_flags(RW));
            let want: Vec<usize> = (0..len).map(|i| lo + i * K4).collect();
            assert_eq!(calls, want, "get_paddr once per page, in order");
        }
        Err(e) => {
            let expected = if overlaps {
                // Either the overlap or (earlier) a bad frame or no memory.
                [PagingError::AlreadyMapped, PagingError::NotAligned].contains(&e)
                    || [PagingError::InvalidAddress, PagingError::NoMemory].contains(&e)
            } else if let Some((_, unaligned)) = bad_at {
                e == if unaligned {
                    PagingError::NotAligned
                } else {
                    PagingError::InvalidAddress
                } || (e == PagingError::NoMemory && fail.is_some())
            } else {
                e == PagingError::NoMemory && fail.is_some()
            };
            assert!(expected, "unexpected {e:?}");
            if let (Some(bad), false, false) = (bad_va, overlaps, e == PagingError::NoMemory) {
                assert_eq!(calls.last(), Some(&bad), "get_paddr stops at the bad frame");
            }
            assert_eq!(snapshot(&pt), before, "failed map_region changed the table");
        }
    }
    check_all(&pt, &model, &mut tlb);
    psc::unwatch(&pt);
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0, "leak");
}

proptest! {
    #![proptest_config(super::proptest_config(48))]

    #[test]
    fn map_new_tables_matches_model(
        start in prop_oneof![0..1536usize, Just(0usize), Just(512usize), Just(511usize)],
        len in prop_oneof![1..1536usize, Just(512usize), Just(1usize)],
        bad_at in prop::option::weighted(0.3, (0..1536usize, any::<bool>())),
        fail in prop::option::weighted(0.2, 0..4usize),
        mode in 0..5u8,
    ) {
        match mode {
            0 => map_new_tables_vs_model::<X64PagingMetaData, X64PTE>(start, len, bad_at, fail),
            1 => map_new_tables_vs_model::<Sv39MetaData, Rv64PTE>(start, len, bad_at, fail),
            2 => map_new_tables_vs_model::<Sv48MetaData, Rv64PTE>(start, len, bad_at, fail),
            3 => map_new_tables_vs_model::<A64PagingMetaData, A64PTE>(start, len, bad_at, fail),
            _ => map_new_tables_vs_model::<LA64MetaData, LA64PTE>(start, len, bad_at, fail),
        }
    }
}

all_modes!(
    protect_replaces_uniform_tables,
    unmap_whole_tables_reports_all
);

/// More replaced tables than one list frame holds (511): two list frames,
/// everything freed after the flush. Plain counting handler (no PSC model:
/// its per-event walks would dominate). Too slow for Miri.
#[test]
#[cfg_attr(miri, ignore)]
fn protect_copy_many_tables() {
    type T = PageTable64<X64PagingMetaData, X64PTE, CountingHandler>;
    CountingHandler::reset();
    let mut pt = T::try_new().unwrap();
    let n = 600 * M2;
    pt.map_region(va(G1), |v| pa(v.as_usize()), n, RW, PageSize::Size4K)
        .unwrap()
        .ignore();
    let frames = CountingHandler::live_frames();
    let allocs = CountingHandler::allocations();
    pt.protect_region(va(G1), n, R).unwrap().ignore();
    // 599 copies and two list frames.
    assert_eq!(CountingHandler::allocations() - allocs, 599 + 2);
    assert_eq!(CountingHandler::live_frames(), frames);
    for v in (G1..G1 + n).step_by(M2 + 3 * K4) {
        assert_eq!(pt.query(va(v)), Ok((pa(v), R, PageSize::Size4K)));
    }
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0);
}

/// A poke whose flags the format encodes like the old ones leaves one pattern: the
/// table may be replaced (proptest found the AArch64 case: `DEVICE | UNCACHED | EXECUTE`
/// without `READ` encodes as the old flags with `READ`).
#[test]
fn a_poke_with_equal_encoding_keeps_the_table_uniform() {
    let f = |b: u8| MappingFlags::from_bits_truncate(b as usize);
    let (old, poke) = (f(148) | MappingFlags::READ, f(180));
    assert_eq!(A64PTE::normalize_flags(poke), A64PTE::normalize_flags(old));
    let a = A64PTE::new_page(pa(0x40_0000), old, false);
    let b = A64PTE::new_page(pa(0x40_0000), poke, false);
    assert_eq!(a.bits(), b.bits(), "the same entry");
    protect_vs_model::<A64PagingMetaData, A64PTE>(
        4,
        (0, 0),
        &[(512, Poke::Flags(180))],
        (148, 0),
        None,
    );
}
