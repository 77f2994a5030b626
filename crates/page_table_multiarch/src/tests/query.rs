//! `query` around changes: after tables are freed and rebuilt elsewhere,
//! for addresses that differ from a mapped one only above `VA_MAX_BITS`,
//! through a borrowed slot whose lender rebuilds its tables, and from
//! several threads at once. Any shortcut a query takes (a walk cache that
//! skips upper levels, say) must keep these answers.

use std::alloc::{Layout, alloc_zeroed};
use std::sync::{Mutex, OnceLock};

use super::*;
use crate::{PageSize, PagingError, PagingHandler};

fn new<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() -> Pt<M, PTE> {
    Pt::<M, PTE>::try_new().unwrap()
}

/// A query after the level-1 table it walked was freed (and poisoned) by an
/// unmap, and after a new one was built elsewhere, reads the new tables.
fn query_after_tables_rebuilt<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    let mut pt = new::<M, PTE>();
    let v = 5 * G1 + 3 * M2 + 7 * K4;
    pt.map(va(v), pa(0x1000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    assert_eq!(pt.query(va(v + 8)).unwrap().0, pa(0x1008));
    pt.unmap(va(v)).unwrap().3.ignore();
    assert_eq!(pt.query(va(v)).err(), Some(PagingError::NotMapped));
    // Other tables first, so the block's new level-1 table is another frame.
    pt.map(va(9 * G1), pa(0x2000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    pt.map(va(v), pa(0x3000), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    assert_eq!(pt.query(va(v)).unwrap(), (pa(0x3000), R, PageSize::Size4K));
    // A huge leaf where the freed table was.
    pt.unmap(va(v)).unwrap().3.ignore();
    pt.map(va(5 * G1 + 2 * M2), pa(M2), PageSize::Size2M, RW)
        .unwrap()
        .ignore();
    assert_eq!(
        pt.query(va(5 * G1 + 2 * M2 + K4)).unwrap().2,
        PageSize::Size2M
    );
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0);
}

/// Addresses that differ from a just-queried one only in a bit from
/// `VA_MAX_BITS - 1` up are refused where the mode does not translate them.
fn bits_above_va_max_are_refused<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    let mut pt = new::<M, PTE>();
    let v = 2 * G1 + K4;
    pt.map(va(v), pa(0x5000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    assert!(pt.query(va(v)).is_ok());
    for bit in M::VA_MAX_BITS - 1..usize::BITS as usize {
        let bad = v | 1 << bit;
        if !M::vaddr_is_valid(bad) {
            assert_eq!(
                pt.query(va(bad)).err(),
                Some(PagingError::InvalidAddress),
                "bit {bit}"
            );
        }
        assert!(pt.query(va(v)).is_ok());
    }
}

/// Through a borrowed top-level slot, queries see the lender free and
/// rebuild the tables below it (the `copy_from` contract allows it).
fn lender_rebuild_seen_through_borrowed_slot<
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PTE: GenericPTE,
>() {
    CountingHandler::reset();
    let top = 1 << (12 + 9 * (M::LEVELS - 1));
    let base = 2 * top;
    let v = base + top / 2 + 3 * M2 + K4;
    let mut lender = new::<M, PTE>();
    lender
        .map(va(v), pa(0x1000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    let mut user = new::<M, PTE>();
    // SAFETY: `user` is dropped before `lender`, and only read from this
    // thread while the lender changes.
    unsafe { user.copy_from(&lender, va(base), top) }
        .unwrap()
        .ignore();
    assert_eq!(user.query(va(v)).unwrap().0, pa(0x1000));
    // The lender frees the level-1 table (where it is not directly below
    // the root) and builds another one elsewhere.
    lender.unmap(va(v)).unwrap().3.ignore();
    assert_eq!(user.query(va(v)).err(), Some(PagingError::NotMapped));
    lender
        .map(va(base + top / 4), pa(0x2000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    lender
        .map(va(v), pa(0x3000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    assert_eq!(user.query(va(v)).unwrap().0, pa(0x3000));
    drop(user);
}

all_modes!(
    query_after_tables_rebuilt,
    bits_above_va_max_are_refused,
    lender_rebuild_seen_through_borrowed_slot,
);

/// Frames from one static arena at low physical addresses (heap addresses,
/// as `HeapFrames` uses, are above 2^46), shared by every thread; physical
/// address = offset + 1 GiB.
struct ArenaFrames;

const ARENA_FRAMES: usize = 64;
const ARENA_PA: usize = G1;

/// The arena's base, kept as a pointer so that the arena stays reachable
/// (Miri's leak check) and writable through it.
struct Base(*mut u8);

// SAFETY: the pointer is only offset and handed out, never dereferenced
// here; frames are accessed by whoever owns them.
unsafe impl Send for Base {}
// SAFETY: as above.
unsafe impl Sync for Base {}

fn arena() -> &'static (Base, Mutex<Vec<usize>>) {
    static ARENA: OnceLock<(Base, Mutex<Vec<usize>>)> = OnceLock::new();
    ARENA.get_or_init(|| {
        let layout = Layout::from_size_align(ARENA_FRAMES * K4, K4).unwrap();
        // SAFETY: non-zero size; the arena lives for the rest of the process.
        let base = unsafe { alloc_zeroed(layout) };
        assert!(!base.is_null());
        let free = (0..ARENA_FRAMES).map(|i| ARENA_PA + i * K4).collect();
        (Base(base), Mutex::new(free))
    })
}

// SAFETY: each frame is a distinct 4K block of the arena, handed out once
// until it is freed; `phys_to_virt` gives its address in the arena, valid
// on any thread.
unsafe impl PagingHandler for ArenaFrames {
    fn alloc_frame() -> Option<PhysAddr> {
        let frame = arena().1.lock().unwrap().pop()?;
        let p = Self::phys_to_virt(pa(frame)).as_mut_ptr();
        // SAFETY: the frame is ours now; 4K inside the arena.
        unsafe { p.write_bytes(0, K4) };
        Some(pa(frame))
    }

    unsafe fn dealloc_frame(paddr: PhysAddr) {
        arena().1.lock().unwrap().push(paddr.as_usize());
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from_mut_ptr_of(arena().0.0.wrapping_add(paddr.as_usize() - ARENA_PA))
    }
}

/// Threads querying different gigabytes of one table at once each get their
/// own address's answer.
#[test]
fn concurrent_queries_in_different_gigabytes() {
    type T = PageTable64<X64PagingMetaData, X64PTE, ArenaFrames>;
    const BLOCKS: usize = 4;
    let rounds = if cfg!(miri) { 20 } else { 20_000 };
    let mut pt = T::try_new().unwrap();
    for b in 0..BLOCKS {
        pt.map(va(b * G1), pa((b + 1) * M2), PageSize::Size4K, RW)
            .unwrap()
            .ignore();
    }
    std::thread::scope(|s| {
        for b in 0..BLOCKS {
            let pt = &pt;
            s.spawn(move || {
                for i in 0..rounds {
                    let off = (i * 8) % K4;
                    let (got, _, _) = pt.query(va(b * G1 + off)).unwrap();
                    assert_eq!(got, pa((b + 1) * M2 + off));
                }
            });
        }
    });
}
