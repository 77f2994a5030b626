//! Sharing top-level entries (`copy_from`), fork copies (`clone_range_into`)
//! and iteration.

use std::cell::Cell;

use super::*;
use crate::testing::{FlushRecord, take_flushes};
use crate::{PageSize, PagingError};

fn new<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    Pt::<M, PTE>::try_new().unwrap()
}

fn copy_from_shares_kernel_half<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    let half = 1usize << (M::VA_MAX_BITS - 1);
    let kbase = usize::MAX << (M::VA_MAX_BITS - 1);
    let mut kernel = new::<M, PTE>();
    kernel
        .map(va(kbase), pa(0x1000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    kernel
        .map(va(kbase + G1 + M2), pa(M2), PageSize::Size2M, RX)
        .unwrap()
        .ignore();
    let kernel_frames = CountingHandler::live_frames();

    let mut user = new::<M, PTE>();
    user.map(va(0x1000), pa(0x2000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    // SAFETY: `user` is dropped before `kernel` (so for every copy_from below).
    let fl = unsafe { user.copy_from(&kernel, va(kbase), half) }.unwrap();
    assert!(fl.is_empty(), "nothing was replaced");
    fl.flush();
    for v in [kbase, kbase + G1 + M2 + 0x123] {
        assert_eq!(user.query(va(v)), kernel.query(va(v)));
    }
    // Changes through the lender are seen by the borrower; the borrower
    // cannot change the lender's tables (see `borrowed`).
    kernel
        .map(va(kbase + K4), pa(0x3000), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    assert_eq!(user.query(va(kbase + K4)).unwrap().0, pa(0x3000));
    let refused = user.map(va(kbase + 2 * K4), pa(0x4000), PageSize::Size4K, R);
    assert_eq!(refused.err(), Some(PagingError::Shared));
    assert_eq!(
        kernel.query(va(kbase + 2 * K4)).err(),
        Some(PagingError::NotMapped)
    );
    assert!(format!("{user:?}").contains("table (shared)"));

    // Owned slots are not overwritten; sharing needs top-level alignment.
    // SAFETY: as above.
    let own = unsafe { user.copy_from(&kernel, va(0), half) };
    assert_eq!(own.err(), Some(PagingError::AlreadyMapped));
    // SAFETY: as above.
    let unaligned = unsafe { user.copy_from(&kernel, va(kbase + K4), half - K4) };
    assert_eq!(unaligned.err(), Some(PagingError::NotAligned));
    // Re-sharing an already shared slot is allowed and owes a full flush.
    // SAFETY: as above.
    let again = unsafe { user.copy_from(&kernel, va(kbase), half) }.unwrap();
    assert!(again.is_full_flush());
    again.ignore();
    // Fork copies must not reach into shared slots.
    let mut child = new::<M, PTE>();
    let c = user.clone_range_into(&mut child, va(kbase), K4, |_, _, _, f| (f, f));
    assert_eq!(c.err(), Some(PagingError::Shared));
    drop(child);

    // Dropping the borrower frees only its own tables.
    let mapped: Vec<_> = user
        .iter()
        .filter(|m| m.vaddr.as_usize() >= kbase)
        .collect();
    assert_eq!(mapped, kernel.iter().collect::<Vec<_>>());
    drop(user);
    assert_eq!(CountingHandler::live_frames(), kernel_frames);
    check_tables(&kernel);
    assert_eq!(kernel.query(va(kbase + K4)).unwrap().0, pa(0x3000));
    drop(kernel);
    assert_eq!(CountingHandler::live_frames(), 0);
}

/// Copy-on-write flags: writable pages become read-only + COW in both.
pub(crate) fn cow(
    _: VirtAddr,
    _: PhysAddr,
    _: PageSize,
    f: MappingFlags,
) -> (MappingFlags, MappingFlags) {
    if f.contains(MappingFlags::WRITE) {
        let g = (f - MappingFlags::WRITE) | MappingFlags::COW;
        (g, g)
    } else {
        (f, f)
    }
}

fn clone_range_into_cow<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    take_flushes();
    let mut src = new::<M, PTE>();
    let base = G1;
    src.map_region(va(base), |v| pa(v.as_usize()), 3 * K4, RW, PageSize::Size4K)
        .unwrap()
        .ignore();
    src.map(va(base + M2), pa(0x60_0000), PageSize::Size2M, RW)
        .unwrap()
        .ignore();
    src.map(
        va(base + 4 * M2),
        pa(0x9000),
        PageSize::Size4K,
        MappingFlags::empty(),
    )
    .unwrap()
    .ignore();
    src.map(va(base + 5 * M2), pa(0xa000), PageSize::Size4K, RX)
        .unwrap()
        .ignore();
    src.map(va(2 * G1), pa(3 * G1), PageSize::Size1G, RW)
        .unwrap()
        .ignore();
    let before: Vec<_> = src.iter().collect();
    let mut dst = new::<M, PTE>();
    let calls = Cell::new(0);
    let fl = src
        .clone_range_into(&mut dst, va(base), 2 * G1, |v, p, s, f| {
            calls.set(calls.get() + 1);
            cow(v, p, s, f)
        })
        .unwrap();
    fl.flush();
    assert_eq!(calls.get(), before.len());
    let changed: Vec<_> = [base, base + K4, base + 2 * K4, base + M2, 2 * G1]
        .map(FlushRecord::Page)
        .into();
    assert_eq!(take_flushes(), changed);
    let after: Vec<_> = src.iter().collect();
    assert_eq!(
        dst.iter().collect::<Vec<_>>(),
        after,
        "dst is an exact copy, huge pages kept"
    );
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((b.vaddr, b.paddr, b.size), (a.vaddr, a.paddr, a.size));
        let (want, _) = cow(b.vaddr, b.paddr, b.size, b.flags);
        assert_eq!(a.flags, PTE::normalize_flags(want));
    }
    // dst now has mappings there: a second copy is refused, nothing changes.
    let snap = (
        src.iter().collect::<Vec<_>>(),
        dst.iter().collect::<Vec<_>>(),
    );
    let again = src.clone_range_into(&mut dst, va(base), K4, cow);
    assert_eq!(again.err(), Some(PagingError::AlreadyMapped));
    assert_eq!(
        snap,
        (
            src.iter().collect::<Vec<_>>(),
            dst.iter().collect::<Vec<_>>()
        )
    );
    drop((src, dst));
    assert_eq!(CountingHandler::live_frames(), 0);
}

fn clone_partial_and_oom<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    let mut src = new::<M, PTE>();
    src.map(va(G1), pa(G1), PageSize::Size1G, RW)
        .unwrap()
        .ignore();
    src.map(va(2 * G1 + M2), pa(M2), PageSize::Size2M, RW)
        .unwrap()
        .ignore();
    src.map(va(4 * G1), pa(0x5000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    let mut dst = new::<M, PTE>();
    dst.map(va(4 * G1 + K4), pa(0x6000), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    // Starts inside the 1G page and ends inside the 2M page: src is split.
    let (start, size) = (2 * G1 - M2 - K4, M2 + K4 + M2 + 3 * K4);
    let needed = {
        let (mut s2, mut d2) = (new::<M, PTE>(), new::<M, PTE>());
        for m in src.iter() {
            s2.map(m.vaddr, m.paddr, m.size, m.flags).unwrap().ignore();
        }
        d2.map(va(4 * G1 + K4), pa(0x6000), PageSize::Size4K, R)
            .unwrap()
            .ignore();
        let a = CountingHandler::allocations();
        s2.clone_range_into(&mut d2, va(start), size, cow)
            .unwrap()
            .ignore();
        CountingHandler::allocations() - a
    };
    assert!(needed >= 4, "splits and dst tables: {needed}");
    let snap = |s: &Pt<M, PTE>, d: &Pt<M, PTE>| {
        (
            s.iter().collect::<Vec<_>>(),
            d.iter().collect::<Vec<_>>(),
            CountingHandler::live_frames(),
        )
    };
    let before = snap(&src, &dst);
    for k in 0..needed {
        CountingHandler::fail_after(k);
        let calls = Cell::new(0);
        let res = src.clone_range_into(&mut dst, va(start), size, |v, p, s, f| {
            calls.set(calls.get() + 1);
            cow(v, p, s, f)
        });
        assert_eq!(res.err(), Some(PagingError::NoMemory), "k = {k}");
        assert_eq!(calls.get(), 0, "f is not called on error");
        assert_eq!(snap(&src, &dst), before, "k = {k}");
    }
    CountingHandler::clear_failure();
    src.clone_range_into(&mut dst, va(start), size, cow)
        .unwrap()
        .flush();
    let mut model = Model::default();
    for m in dst.iter().filter(|m| m.vaddr.as_usize() < 4 * G1) {
        model.map(
            m.vaddr.as_usize(),
            m.size as usize,
            |v| v - m.vaddr.as_usize() + m.paddr.as_usize(),
            m.flags,
        );
    }
    let cowed = PTE::normalize_flags(R | MappingFlags::COW);
    let mut want = Model::default();
    want.map(start, M2 + K4, |v| v, cowed);
    want.map(2 * G1 + M2, 3 * K4, |v| v - 2 * G1, cowed);
    assert_eq!(model, want);
    // Outside the range src keeps its flags.
    assert_eq!(
        src.query(va(start - K4)).unwrap().1,
        PTE::normalize_flags(RW)
    );
    assert_eq!(
        src.query(va(start + size)).unwrap().1,
        PTE::normalize_flags(RW)
    );
    assert_eq!(src.query(va(start)).unwrap().1, cowed);
    drop((src, dst));
    assert_eq!(CountingHandler::live_frames(), 0);
}

/// On 3-level Sv39 a 1G leaf lives in the root; dst may hold an empty table
/// there (kept below the root): the copy then uses 2M leaves.
#[test]
fn clone_1g_into_kept_empty_table_sv39() {
    CountingHandler::reset();
    let mut src = Sv39::try_new().unwrap();
    src.map(va(G1), pa(G1), PageSize::Size1G, RW)
        .unwrap()
        .ignore();
    let mut dst = Sv39::try_new().unwrap();
    dst.map(va(G1), pa(0), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    dst.unmap(va(G1)).unwrap().3.ignore();
    src.clone_range_into(&mut dst, va(G1), G1, cow)
        .unwrap()
        .flush();
    // 2M units: the same comparison as 4K ones, 512 times cheaper (Miri).
    let mut a = Model::with_unit(M2);
    let mut b = Model::with_unit(M2);
    for m in src.iter() {
        a.map(m.vaddr.as_usize(), m.size as usize, |v| v, m.flags);
    }
    for m in dst.iter() {
        assert_eq!(m.size, PageSize::Size2M);
        b.map(m.vaddr.as_usize(), m.size as usize, |v| v, m.flags);
    }
    assert_eq!(a, b);
    drop(dst);
    check_tables(&src);
}

fn iter_range_reports_whole_leaves<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    let mut pt = new::<M, PTE>();
    pt.map(va(G1), pa(0), PageSize::Size1G, R).unwrap().ignore();
    pt.map(va(2 * G1), pa(0), PageSize::Size2M, R)
        .unwrap()
        .ignore();
    pt.map(va(2 * G1 + M2), pa(0x7000), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    let got: Vec<_> = pt
        .iter_range(va(G1 + M2), G1)
        .unwrap()
        .map(|m| (m.vaddr.as_usize(), m.size))
        .collect();
    assert_eq!(got, [(G1, PageSize::Size1G), (2 * G1, PageSize::Size2M)]);
    let got: Vec<_> = pt
        .iter_range(va(2 * G1 + M2), K4)
        .unwrap()
        .map(|m| m.paddr)
        .collect();
    assert_eq!(got, [pa(0x7000)]);
    assert_eq!(pt.iter().count(), 3);
    assert_eq!(pt.iter_range(va(3 * G1), G1).unwrap().count(), 0);
}

all_modes!(
    copy_from_shares_kernel_half,
    clone_range_into_cow,
    clone_partial_and_oom,
    iter_range_reports_whole_leaves,
);
