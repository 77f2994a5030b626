//! Table frames are freed only after a full flush that covers them ("Freeing
//! table frames" on `PageTable64`), checked with the paging-structure-cache
//! model (`psc`) and the ordered log of flushes, allocations and frees.

use std::collections::BTreeSet;

use memory_addr::VirtAddr;

use super::psc::{self, Event, PscFrames};
use super::*;
use crate::testing::{FlushRecord, take_flushes};
use crate::{PageSize, PagingError, PagingHandler};

fn new<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    CountingHandler::reset();
    take_flushes();
    psc::reset();
    Pt::<M, PTE>::try_new().unwrap()
}

/// "Switches away" from the table, checks it and drops it.
fn finish<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(pt: Pt<M, PTE>) {
    psc::unwatch(&pt);
    check_tables(&pt);
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0, "leak");
}

/// Frames freed in `events`, in order.
fn freed(events: &[Event]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Dealloc(pa) => Some(pa),
            _ => None,
        })
        .collect()
}

/// Frames successfully allocated in `events`.
fn allocated(events: &[Event]) -> BTreeSet<usize> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Alloc(pa) => pa,
            _ => None,
        })
        .collect()
}

/// Asserts that `events` hold exactly one full flush and that every free
/// comes after it and after every allocation (nothing is linked after the
/// flush), i.e. the shape `[changes.., FlushAll, Dealloc..]`.
fn assert_frees_follow_one_flush(events: &[Event]) {
    let flushes: Vec<_> = (0..events.len())
        .filter(|&i| events[i] == Event::FlushAll)
        .collect();
    assert_eq!(flushes.len(), 1, "one full flush: {events:x?}");
    let tail = &events[flushes[0] + 1..];
    assert!(
        !tail.is_empty() && tail.iter().all(|e| matches!(e, Event::Dealloc(_))),
        "only frees after the flush, and at least one: {events:x?}"
    );
    assert!(
        events[..flushes[0]]
            .iter()
            .all(|e| !matches!(e, Event::Dealloc(_))),
        "freed before the flush: {events:x?}"
    );
}

fn unmap_region_frees_after_flush<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    // Four leaf tables on both sides of a 1G boundary.
    let (start, size) = (G1 - 2 * K4, 2 * M2 + 4 * K4);
    pt.map_region(va(start), |v| pa(v.as_usize()), size, RW, PageSize::Size4K)
        .unwrap()
        .flush();
    let before = psc::tables(&pt);
    psc::watch(&pt);
    take_flushes();
    let (done, fl) = pt.unmap_region(va(start), size).unwrap();
    assert_eq!(done, size);
    let events = psc::take_events();
    let gone: BTreeSet<_> = before.difference(&psc::tables(&pt)).copied().collect();
    // 4 leaf tables; on 4+ levels also the 2M-level table of [G1, 2G).
    assert_eq!(gone.len(), 4 + usize::from(M::LEVELS > 3), "{gone:x?}");
    assert_eq!(freed(&events).into_iter().collect::<BTreeSet<_>>(), gone);
    assert_frees_follow_one_flush(&events);
    // The full flush came from the operation; the batch has the leaves.
    assert_eq!(take_flushes(), [FlushRecord::All]);
    assert!(fl.is_full_flush(), "more pages than a batch holds");
    fl.flush();
    finish(pt);
}

fn unmap_prunes_after_flush<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let v = 3 * G1 + 5 * K4;
    pt.map(va(v), pa(0x5000), PageSize::Size4K, RW)
        .unwrap()
        .flush();
    let before = psc::tables(&pt);
    psc::watch(&pt);
    take_flushes();
    let (p, _, _, fl) = pt.unmap(va(v)).unwrap();
    assert_eq!(p, pa(0x5000));
    let events = psc::take_events();
    let gone: BTreeSet<_> = before.difference(&psc::tables(&pt)).copied().collect();
    // The leaf table, and on 4+ levels the 2M-level table above it.
    assert_eq!(gone.len(), 1 + usize::from(M::LEVELS > 3));
    assert_eq!(freed(&events).into_iter().collect::<BTreeSet<_>>(), gone);
    assert_frees_follow_one_flush(&events);
    assert_eq!(fl.vaddr(), Some(va(v)));
    fl.flush();
    assert_eq!(take_flushes(), [FlushRecord::All, FlushRecord::Page(v)]);
    // Nothing emptied: no full flush, no free.
    pt.map(va(0x2000), pa(0x2000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    take_flushes();
    psc::take_events();
    pt.unmap(va(0x2000)).unwrap().3.flush();
    assert_eq!(take_flushes(), [FlushRecord::Page(0x2000)]);
    assert!(freed(&psc::take_events()).is_empty());
    finish(pt);
}

fn split_rollback_frees_after_flush<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(G1), pa(0), PageSize::Size1G, RW).unwrap().flush();
    pt.map(va(2 * G1), pa(G1), PageSize::Size1G, RW)
        .unwrap()
        .flush();
    psc::watch(&pt);
    // Both ends inside different 1G pages: 2 + 2 split tables.
    let (lo, size) = (G1 + 3 * M2 + K4, G1);
    let before = snapshot(&pt);
    for op in 0..2 {
        for k in 0..4 {
            psc::take_events();
            CountingHandler::fail_after(k);
            let res = if op == 0 {
                pt.unmap_region(va(lo), size).map(|(_, f)| f.flush())
            } else {
                pt.protect_region(va(lo), size, R).map(|f| f.flush())
            };
            assert_eq!(res, Err(PagingError::NoMemory), "op {op} k {k}");
            assert_eq!(snapshot(&pt), before, "op {op} k {k}");
            let events = psc::take_events();
            let made = allocated(&events);
            assert_eq!(made.len(), k, "op {op} k {k}");
            let gone: BTreeSet<_> = freed(&events).into_iter().collect();
            assert_eq!(gone, made, "op {op} k {k}: undone splits are freed");
            if k == 0 {
                assert!(!events.contains(&Event::FlushAll), "no needless flush");
            } else {
                assert_frees_follow_one_flush(&events);
            }
        }
    }
    CountingHandler::clear_failure();
    finish(pt);
}

fn map_region_rollback_frees_after_flush<
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PTE: GenericPTE,
>() {
    let mut pt = new::<M, PTE>();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    psc::watch(&pt);
    // Crosses a 1G boundary (and, on 3-level Sv39, a top-level slot).
    let (start, size) = (3 * G1 - M2 - K4, 2 * M2 + 2 * K4);
    let before = snapshot(&pt);
    let mut linked_and_freed = false;
    for k in 0.. {
        psc::take_events();
        CountingHandler::fail_after(k);
        let res = pt.map_region(va(start), linear, size, RW, PageSize::Size4K);
        let events = psc::take_events();
        let Err(e) = res else {
            res.unwrap().flush();
            break;
        };
        assert_eq!(e, PagingError::NoMemory, "k = {k}");
        assert_eq!(snapshot(&pt), before, "k = {k}");
        let gone: BTreeSet<_> = freed(&events).into_iter().collect();
        assert_eq!(gone, allocated(&events), "k = {k}");
        // Frames of a chain that could not be completed were never linked
        // and are freed at once; linked ones only after the full flush.
        if let Some(f) = events.iter().position(|e| *e == Event::FlushAll) {
            linked_and_freed = true;
            assert!(
                events[f + 1..]
                    .iter()
                    .all(|e| matches!(e, Event::Dealloc(_)))
            );
        }
    }
    assert!(linked_and_freed, "some rollback freed linked tables");
    CountingHandler::clear_failure();
    // Something mapped at the very end: AlreadyMapped, rolled back.
    pt.unmap_region(va(start), size).unwrap().1.flush();
    pt.map(va(start + size - K4), pa(0), PageSize::Size4K, R)
        .unwrap()
        .flush();
    psc::observe();
    let before = snapshot(&pt);
    psc::take_events();
    let res = pt.map_region(va(start), linear, size, RW, PageSize::Size4K);
    assert_eq!(res.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(snapshot(&pt), before);
    assert_frees_follow_one_flush(&psc::take_events());
    finish(pt);
}

fn linear(v: VirtAddr) -> memory_addr::PhysAddr {
    pa(v.as_usize())
}

fn clone_rollback_frees_after_flush<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut src = new::<M, PTE>();
    src.map(va(G1), pa(G1), PageSize::Size1G, RW)
        .unwrap()
        .ignore();
    src.map(va(2 * G1 + M2), pa(M2), PageSize::Size2M, RW)
        .unwrap()
        .ignore();
    let mut dst = Pt::<M, PTE>::try_new().unwrap();
    psc::watch(&src);
    psc::watch(&dst);
    // Splits src at both ends; dst needs tables on both sides of 2G.
    let (start, size) = (2 * G1 - M2 - K4, M2 + K4 + M2 + 3 * K4);
    for k in 0.. {
        psc::take_events();
        CountingHandler::fail_after(k);
        let res = src.clone_range_into(&mut dst, va(start), size, super::share::cow);
        let events = psc::take_events();
        let Err(e) = res else {
            res.unwrap().flush();
            assert!(k >= 4, "splits and dst tables");
            break;
        };
        assert_eq!(e, PagingError::NoMemory, "k = {k}");
        assert!(dst.iter().next().is_none());
        let gone: BTreeSet<_> = freed(&events).into_iter().collect();
        assert_eq!(gone, allocated(&events), "k = {k}");
        if !gone.is_empty() {
            // Tables of both page tables: one flush, then the frees.
            assert_frees_follow_one_flush(&events);
        }
    }
    CountingHandler::clear_failure();
    psc::unwatch(&dst);
    drop(dst);
    finish(src);
}

/// A table built by `ensure_table` whose chain cannot be completed was never
/// linked: it is freed directly, without a flush.
fn map_oom_frees_unlinked_chain_directly<
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PTE: GenericPTE,
>() {
    let mut pt = new::<M, PTE>();
    psc::watch(&pt);
    let needed = M::LEVELS - 1;
    for k in 0..needed {
        CountingHandler::fail_after(k);
        let res = pt.map(va(3 * G1 + K4), pa(0), PageSize::Size4K, R);
        assert_eq!(res.err(), Some(PagingError::NoMemory));
        let events = psc::take_events();
        let made: Vec<_> = events
            .iter()
            .filter_map(|e| match *e {
                Event::Alloc(pa) => pa,
                _ => None,
            })
            .collect();
        assert_eq!(made.len(), k);
        let mut want: Vec<_> = made.iter().map(|&p| Event::Alloc(Some(p))).collect();
        want.push(Event::Alloc(None));
        want.extend(made.iter().map(|&p| Event::Dealloc(p)));
        assert_eq!(events, want, "k = {k}");
        assert_eq!(CountingHandler::live_frames(), 1);
    }
    finish(pt);
}

all_modes!(
    unmap_region_frees_after_flush,
    unmap_prunes_after_flush,
    split_rollback_frees_after_flush,
    map_region_rollback_frees_after_flush,
    clone_rollback_frees_after_flush,
    map_oom_frees_unlinked_chain_directly,
);

/// Only 3-level modes keep a table in a slot that can take a leaf (a 1G
/// page directly below the root).
#[test]
fn huge_map_replacing_empty_table_frees_after_flush() {
    let mut pt = new::<crate::riscv::Sv39MetaData, crate::riscv::Rv64PTE>();
    pt.map(va(G1 + K4), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    pt.unmap(va(G1 + K4)).unwrap().3.flush();
    // The 2M-level table below the root is empty but kept.
    let kept = psc::tables(&pt);
    assert_eq!(kept.len(), 2);
    psc::watch(&pt);
    take_flushes();
    let fl = pt.map(va(G1), pa(G1), PageSize::Size1G, RW).unwrap();
    let events = psc::take_events();
    assert_frees_follow_one_flush(&events);
    let gone: Vec<_> = kept.difference(&psc::tables(&pt)).copied().collect();
    assert_eq!(freed(&events), gone);
    assert_eq!(take_flushes(), [FlushRecord::All]);
    assert_eq!(fl.vaddr(), Some(va(G1)));
    fl.flush();
    assert_eq!(pt.query(va(G1)).unwrap().2, PageSize::Size1G);
    finish(pt);
}

/// The model catches the bug class: freeing a table that may be cached.
#[test]
fn model_catches_free_before_flush() {
    let mut pt = new::<crate::riscv::Sv39MetaData, crate::riscv::Rv64PTE>();
    psc::watch(&pt);
    for flush_first in [false, true] {
        pt.map(va(G1 + K4), pa(0x1000), PageSize::Size4K, R)
            .unwrap()
            .flush();
        psc::observe(); // a CPU walked the new tables
        // SAFETY: a checked address of a live table.
        let leaf = unsafe { pt.find(G1 + K4) }.expect("mapped");
        let (parent, idx) = (leaf.path[1], crate::table::index(G1 + K4, 1));
        // Unlink the leaf table by hand and free it, like the old code did.
        // SAFETY: as above; nothing else refers to the leaf table.
        let table = unsafe {
            let table = get(parent, idx).paddr();
            crate::table::clear(parent, idx);
            table
        };
        if flush_first {
            psc::PscMeta::<crate::riscv::Sv39MetaData>::flush_tlb(None);
        }
        // SAFETY: unlinked above; the test checks whether it was flushed.
        unsafe { PscFrames::dealloc_frame(table) };
        let v = psc::take_violations();
        if flush_first {
            assert!(v.is_empty(), "{v:?}");
        } else {
            assert!(
                v.len() == 1 && v[0].contains("freed before a full flush"),
                "{v:?}"
            );
        }
    }
    psc::take_events();
    finish(pt);
}
