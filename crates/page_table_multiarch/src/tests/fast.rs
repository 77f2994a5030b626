//! The fast paths: `query`'s straight-line walk against the generic walk,
//! `map_region`'s per-run loop (get_paddr calls, flush records, fallbacks
//! in the middle of a run), `protect_region`'s pattern runs and
//! `unmap_region`'s reporting once the flush batch is full.

use std::cell::RefCell;

use memory_addr::VirtAddr;

use super::*;
use crate::table::{block, leaf_size};
use crate::testing::take_flushes;
use crate::{FLUSH_BATCH_PAGES, FlushBatch, PageSize, PagingError, PagingResult};

fn new<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    CountingHandler::reset();
    take_flushes();
    Pt::<M, PTE>::try_new().unwrap()
}

/// The canonical address `G1`-sized slots below the top of the space.
fn upper<M: PagingMetaData>(slots_from_top: usize) -> usize {
    (usize::MAX << (M::VA_MAX_BITS - 1)) | ((1 << (M::VA_MAX_BITS - 1)) - slots_from_top * G1)
}

/// What `query` returned before it had a fast path: the generic walk.
fn reference<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
    va: usize,
) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
    let t = Pt::<M, PTE>::check_va(va)?;
    // SAFETY: `t` is checked.
    let leaf = unsafe { pt.find(t) }.map_err(|_| PagingError::NotMapped)?;
    // SAFETY: just found.
    let e = unsafe { get(leaf.table, leaf.idx) };
    let off = t & (block(leaf.level) - 1);
    Ok((
        pa(e.paddr().as_usize() + off),
        e.flags(),
        leaf_size(leaf.level),
    ))
}

fn query_matches_walk<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let none = MappingFlags::empty();
    let top = upper::<M>(2);
    let maps = [
        (G1 + K4, K4, PageSize::Size4K, RW),
        (G1 + 3 * K4, 2 * K4, PageSize::Size4K, none),
        (G1 + 2 * M2, 0x4000_0000, PageSize::Size2M, RX),
        (G1 + 4 * M2, 0x4020_0000, PageSize::Size2M, none),
        (2 * G1, 0x8000_0000, PageSize::Size1G, R),
        (3 * G1, 0xc000_0000, PageSize::Size1G, none),
        (top + K4, 0x5000, PageSize::Size4K, RW),
        (top + G1, 0x4000_0000, PageSize::Size1G, RW),
    ];
    for (v, p, size, flags) in maps {
        pt.map(va(v), pa(p), size, flags).unwrap().ignore();
    }
    let mut probes = vec![0, K4, G1 - K4, 4 * G1, 1 << (M::VA_MAX_BITS - 1)];
    for (v, _, size, _) in maps {
        let s = size as usize;
        let end = v.wrapping_add(s);
        probes.extend([v, v + 0x123, end.wrapping_sub(1), end, v.wrapping_sub(1)]);
    }
    probes.extend([top, top + 2 * K4, top + M2, usize::MAX]);
    for v in probes {
        assert_eq!(pt.query(va(v)), reference(&pt, v), "query {v:#x}");
    }
}

fn map_region_get_paddr_once_per_leaf<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let calls = RefCell::new(Vec::new());
    let rec = |v: VirtAddr| {
        calls.borrow_mut().push(v.as_usize());
        pa(v.as_usize())
    };
    // Three leaf tables; an existing page in the middle one stops the run.
    let base = G1 - M2;
    pt.map(va(base + M2 + 7 * K4), pa(0), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    let before = snapshot(&pt);
    let res = pt.map_region(va(base), rec, 3 * M2, RW, PageSize::Size4K);
    assert_eq!(res.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(snapshot(&pt), before);
    let want: Vec<usize> = (0..512 + 8).map(|i| base + i * K4).collect();
    assert_eq!(calls.take(), want);
    // Around it, in the existing (non-fresh) table and fresh ones.
    for (lo, n) in [(base, 512 + 7), (base + M2 + 8 * K4, 512 + 504)] {
        pt.map_region(va(lo), rec, n * K4, RW, PageSize::Size4K)
            .unwrap()
            .ignore();
        let want: Vec<usize> = (0..n).map(|i| lo + i * K4).collect();
        assert_eq!(calls.take(), want);
    }
    assert_eq!(pt.iter().count(), 3 * 512);
    check_tables(&pt);
}

fn map_region_flush_records<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let lin = |v: VirtAddr| pa(v.as_usize());
    // Crossing a leaf-table boundary: every page, in order.
    let lo = G1 + M2 - 10 * K4;
    let b = pt
        .map_region(va(lo), lin, 20 * K4, RW, PageSize::Size4K)
        .unwrap();
    let want: Vec<usize> = (0..20).map(|i| lo + i * K4).collect();
    assert_eq!(b.pages().map(|v| v.as_usize()).collect::<Vec<_>>(), want);
    b.ignore();
    // One more page than the batch holds: a full flush.
    let b = pt
        .map_region(
            va(2 * G1),
            lin,
            (FLUSH_BATCH_PAGES + 1) * K4,
            RW,
            PageSize::Size4K,
        )
        .unwrap();
    assert!(b.is_full_flush());
    b.ignore();
    // Huge leaves are recorded at their start.
    let b = pt
        .map_region(va(3 * G1), lin, 3 * M2, RW, PageSize::Size2M)
        .unwrap();
    let want: Vec<usize> = (0..3).map(|i| 3 * G1 + i * M2).collect();
    assert_eq!(b.pages().map(|v| v.as_usize()).collect::<Vec<_>>(), want);
    b.ignore();
}

fn map_region_falls_back_mid_run<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let base = G1;
    // A table where the fourth 2M leaf would go (kept by a page at its end).
    pt.map(va(base + 4 * M2 - K4), pa(0), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    let calls = RefCell::new(0);
    // The third 2M chunk gets frames that are only 4K-aligned.
    let odd = |v: VirtAddr| {
        *calls.borrow_mut() += 1;
        let v = v.as_usize();
        pa(if (base + 2 * M2..base + 3 * M2).contains(&v) {
            v + K4
        } else {
            v
        })
    };
    pt.map_region(va(base), odd, 4 * M2 - K4, RW, PageSize::Size1G)
        .unwrap()
        .ignore();
    assert_eq!(calls.take(), 2 + 512 + 511);
    let mut model = Model::default();
    model.map(base, 4 * M2 - K4, |v| v, RW);
    model.map(base + 2 * M2, M2, |v| v + K4, RW);
    model.map(base + 4 * M2 - K4, K4, |_| 0, R);
    model.assert_matches(&pt);
    let sizes: Vec<PageSize> = pt.iter().map(|m| m.size).collect();
    assert_eq!(&sizes[..2], [PageSize::Size2M; 2]);
    assert_eq!(sizes.len(), 2 + 512 + 512);
    // A frame beyond the PA range in the middle of a 4K run: all undone.
    let before = snapshot(&pt);
    let far = 1usize << M::PA_MAX_BITS;
    for bad in [far, 0x800] {
        let f = |v: VirtAddr| {
            pa(if v.as_usize() == 2 * G1 + 77 * K4 {
                bad
            } else {
                0
            })
        };
        let res = pt.map_region(va(2 * G1), f, M2, RW, PageSize::Size4K);
        assert!(res.is_err());
        assert_eq!(snapshot(&pt), before);
    }
    check_tables(&pt);
}

fn protect_pattern_runs<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let mut model = Model::default();
    let base = G1;
    let cow = MappingFlags::READ | MappingFlags::COW;
    let none = MappingFlags::empty();
    // Two leaf tables of mixed patterns and holes, well past the batch.
    for i in 0..1024 {
        let flags = match i % 7 {
            0..=2 => RW,
            3 => cow,
            4 => none,
            5 if i > 600 => continue,
            _ => RX,
        };
        let v = base + i * K4;
        pt.map(va(v), pa(v + G1), PageSize::Size4K, flags)
            .unwrap()
            .ignore();
        model.map(v, K4, |v| v + G1, PTE::normalize_flags(flags));
    }
    // Consecutive steps differ even where `USER` is dropped (AArch64 `arm-el2`).
    for flags in [R, RW, none, RW | MappingFlags::USER, R] {
        let b = pt.protect_region(va(base), 1024 * K4, flags).unwrap();
        assert!(b.is_full_flush());
        b.ignore();
        model.protect(base, 1024 * K4, PTE::normalize_flags(flags));
        model.assert_matches(&pt);
        // The same flags again change nothing.
        let b = pt.protect_region(va(base), 1024 * K4, flags).unwrap();
        assert!(b.is_empty());
        b.ignore();
    }
    check_tables(&pt);
}

fn unmap_reports_after_full_batch<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    let base = G1;
    let mapped: Vec<usize> = (0..600)
        .filter(|i| i % 5 != 0)
        .map(|i| base + i * K4)
        .collect();
    for &v in &mapped {
        pt.map(va(v), pa(v), PageSize::Size4K, RW).unwrap().ignore();
    }
    let mut seen = Vec::new();
    let (bytes, b) = pt
        .unmap_region_with(va(base), 600 * K4, |v, p, s, f| {
            assert_eq!((p.as_usize(), s, f), (v.as_usize(), PageSize::Size4K, RW));
            seen.push(v.as_usize());
        })
        .unwrap();
    assert!(b.is_full_flush());
    b.ignore();
    assert_eq!(seen, mapped);
    assert_eq!(bytes, mapped.len() * K4);
    assert_eq!(pt.iter().count(), 0);
    check_tables(&pt);
}

all_modes!(
    query_matches_walk,
    map_region_get_paddr_once_per_leaf,
    map_region_flush_records,
    map_region_falls_back_mid_run,
    protect_pattern_runs,
    unmap_reports_after_full_batch,
);

#[test]
fn push_run_is_repeated_push() {
    type B = FlushBatch<X64PagingMetaData>;
    for start in [0usize, 5, FLUSH_BATCH_PAGES - 1, FLUSH_BATCH_PAGES] {
        for n in [0usize, 1, 2, 7, FLUSH_BATCH_PAGES, 100] {
            for stride in [K4, M2] {
                let (mut a, mut b) = (B::new(), B::new());
                for i in 0..start {
                    a.push(i * K4);
                    b.push(i * K4);
                }
                // The run starts at the last recorded page (deduplicated).
                let first = start.saturating_sub(1) * K4;
                a.push_run(first, n, stride);
                (0..n).for_each(|i| b.push(first + i * stride));
                assert_eq!(a.is_full_flush(), b.is_full_flush());
                assert!(a.pages().eq(b.pages()), "{start} {n} {stride:#x}");
                a.ignore();
                b.ignore();
            }
        }
    }
}

/// Sv39's 1G leaves sit in the root: a run of them meets an (empty) kept
/// table directly below the root and continues with 2M leaves inside it.
#[test]
fn map_region_run_meets_kept_table() {
    let mut pt = new::<Sv39MetaData, Rv64PTE>();
    pt.map(va(3 * G1), pa(0), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    pt.unmap(va(3 * G1)).unwrap().3.ignore();
    let calls = RefCell::new(0);
    let lin = |v: VirtAddr| {
        *calls.borrow_mut() += 1;
        pa(v.as_usize())
    };
    pt.map_region(va(2 * G1), lin, 2 * G1, RW, PageSize::Size1G)
        .unwrap()
        .ignore();
    assert_eq!(calls.take(), 1 + 512);
    let sizes: Vec<(usize, PageSize)> = pt.iter().map(|m| (m.vaddr.as_usize(), m.size)).collect();
    assert_eq!(sizes[0], (2 * G1, PageSize::Size1G));
    assert_eq!(sizes[1], (3 * G1, PageSize::Size2M));
    assert_eq!(sizes.len(), 1 + 512);
    let mut model = Model::with_unit(M2);
    model.map(2 * G1, 2 * G1, |v| v, RW);
    model.assert_matches(&pt);
    check_tables(&pt);
}

/// Rewrites the raw bits of the table entry that leads to `v` at `level`
/// (> 0); returns the entry as it is then.
fn poke_table_entry<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
    v: usize,
    level: usize,
    f: impl Fn(u64) -> u64,
) -> PTE {
    let t = Pt::<M, PTE>::check_va(v).unwrap();
    let mut table = pt.root_table();
    for lvl in (level + 1..=Pt::<M, PTE>::ROOT).rev() {
        // SAFETY: `table` is a live table of `pt` and the index is below ENTRIES.
        let e = unsafe { get(table, crate::table::index(t, lvl)) };
        assert!(e.is_present() && !e.is_huge(), "no table at level {lvl}");
        table = Pt::<M, PTE>::table_of(e.paddr());
    }
    let idx = crate::table::index(t, level);
    // SAFETY: as above; an entry is its native-endian `u64` bits (`GenericPTE`
    // rule 1), and the callers keep the address bits.
    unsafe {
        let p = table.add(idx).cast::<u64>();
        p.write(f(p.read()));
        get(table, idx)
    }
}

/// Table entries the constructors do not make, but hardware or an OS may:
/// x86-64 with `A` cleared (an OS ageing its tables) or a software bit set,
/// RISC-V with `G` or a software bit set on a non-leaf. The fast path
/// leaves them to the generic walk, and `query` answers as before.
#[test]
fn query_through_tables_not_in_constructor_form() {
    fn run<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(set: &[u64], clear: u64) {
        let mut pt = new::<M, PTE>();
        let v = G1 + 5 * K4;
        pt.map(va(v), pa(0x7000), PageSize::Size4K, RW)
            .unwrap()
            .ignore();
        let want = Ok((pa(0x7123), RW, PageSize::Size4K));
        assert_eq!(pt.query(va(v + 0x123)), want);
        for level in 1..=Pt::<M, PTE>::ROOT {
            for &bits in set {
                let e = poke_table_entry(&pt, v, level, |e| (e | bits) & !clear);
                assert!(!e.is_table_entry(), "{e:?}");
                assert_eq!(
                    pt.query(va(v + 0x123)),
                    want,
                    "level {level} bits {bits:#x}"
                );
                assert_eq!(pt.query(va(v + 0x123)), reference(&pt, v + 0x123));
            }
        }
    }
    const X86_A: u64 = 1 << 5;
    run::<X64PagingMetaData, X64PTE>(&[0, 1 << 9], X86_A);
    run::<Sv39MetaData, Rv64PTE>(&[1 << 5, 1 << 8], 0);
    run::<Sv48MetaData, Rv64PTE>(&[1 << 5, 1 << 9], 0);
}
