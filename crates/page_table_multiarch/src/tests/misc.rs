//! Frames, the test handler, flush values, errors and the arch metadata.

use std::string::ToString;
use std::sync::Arc;

use super::*;
use crate::frame::PhysFrame;
use crate::testing::{
    ALLOC_POISON, ARENA_PHYS_BASE, FlushRecord, RecordingMeta, SoftTlb, take_flushes,
};
use crate::{FlushBatch, PageSize, PagingError, PagingHandler, TlbFlush};

type Frame = PhysFrame<CountingHandler>;

#[test]
fn frame_alloc_read_write() {
    CountingHandler::reset();
    let mut f = Frame::alloc().unwrap();
    assert!(
        !cfg!(debug_assertions) || f.as_slice().iter().all(|&b| b == ALLOC_POISON),
        "fresh frames are poisoned"
    );
    f.fill(7);
    assert!(f.as_slice().iter().all(|&b| b == 7));
    let z = Frame::alloc_zeroed().unwrap();
    let mut buf = [1u8; 4096];
    z.read_at(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    // Unaligned offsets and lengths, through a shared reference.
    let shared = Arc::new(z);
    let data: Vec<u8> = (0..100u8).collect();
    shared.write_at(4093 - 100, &data).unwrap();
    let mut back = [0u8; 100];
    shared.read_at(4093 - 100, &mut back).unwrap();
    assert_eq!(&back[..], &data[..]);
    let mut one = [0u8; 3];
    shared.read_at(4093, &mut one).unwrap();
    assert_eq!(one, [0, 0, 0]);
    assert_eq!(
        shared.write_at(4000, &[0; 97]),
        Err(PagingError::InvalidAddress)
    );
    assert_eq!(
        shared.read_at(usize::MAX, &mut one),
        Err(PagingError::InvalidAddress)
    );
    assert_eq!(shared.write_at(4096, &[]), Ok(()));
    // copy_from reads a shared frame.
    f.copy_from(&shared);
    assert_eq!(&f.as_slice()[3993..4093], &data[..]);
    f.as_mut_slice()[0] = 9;
    let mut b = [0u8; 1];
    f.read_at(0, &mut b).unwrap();
    assert_eq!(b, [9]);
    // Ownership can be given away and taken back.
    let p = f.into_paddr();
    assert!(CountingHandler::is_allocated(p));
    // SAFETY: `p` came from `into_paddr` and has no other owner.
    let f = unsafe { Frame::from_paddr(p) };
    assert_eq!(f.start_paddr(), p);
    assert_eq!(CountingHandler::live_frames(), 2);
    drop((f, shared));
    assert_eq!(CountingHandler::live_frames(), 0);
    assert!(!CountingHandler::is_allocated(p));
}

/// Frees a frame of the tests below, which no table uses.
fn free(p: PhysAddr) {
    // SAFETY: nothing uses `p`; `CountingHandler` checks every free and
    // panics on a double or foreign one (which some tests below expect)
    // before touching memory.
    unsafe { CountingHandler::dealloc_frame(p) }
}

#[test]
fn handler_counts_and_fails_on_demand() {
    CountingHandler::reset();
    let a = CountingHandler::alloc_frame().unwrap();
    assert_eq!(a, pa(ARENA_PHYS_BASE), "numbering restarts after reset");
    CountingHandler::fail_after(1);
    let b = CountingHandler::alloc_frame().unwrap();
    assert_eq!(CountingHandler::alloc_frame(), None, "the second one fails");
    let c = CountingHandler::alloc_frame().unwrap();
    assert_eq!(CountingHandler::allocations(), 4);
    assert_eq!(CountingHandler::live_frames(), 3);
    free(b);
    // LIFO reuse keeps addresses deterministic.
    assert_eq!(CountingHandler::alloc_frame(), Some(b));
    for p in [a, b, c] {
        free(p);
    }
    assert_eq!(CountingHandler::live_frames(), 0);
    // Frames of the arena are real, writable memory.
    let p = CountingHandler::alloc_frame().unwrap();
    let ptr = CountingHandler::phys_to_virt(p).as_mut_ptr();
    // SAFETY: a whole allocated frame.
    unsafe { ptr.add(4095).write(1) };
    free(p);
}

#[test]
#[should_panic(expected = "double free")]
fn handler_detects_double_free() {
    CountingHandler::reset();
    let a = CountingHandler::alloc_frame().unwrap();
    free(a);
    free(a);
}

#[test]
#[should_panic(expected = "foreign free")]
fn handler_detects_foreign_free() {
    CountingHandler::reset();
    free(pa(0x1000));
}

#[test]
#[should_panic(expected = "outside the arena")]
fn handler_rejects_foreign_phys_to_virt() {
    CountingHandler::reset();
    let _ = CountingHandler::phys_to_virt(pa(0x1000));
}

#[test]
fn flush_values() {
    type M = RecordingMeta<Sv39MetaData>;
    take_flushes();
    let t = TlbFlush::<M>::page(0x5000);
    assert_eq!(t.vaddr(), Some(va(0x5000)));
    assert_eq!(std::format!("{t:?}"), "TlbFlush(0x5000)");
    let mut b = FlushBatch::<M>::new();
    assert!(b.is_empty());
    b.add(t);
    b.add_page(va(0x5000)); // duplicate of the last page: kept once
    b.add_page(va(0x6000));
    let mut c = FlushBatch::<M>::default();
    c.add_page(va(0x7000));
    b.merge(c);
    assert_eq!(std::format!("{b:?}"), "FlushBatch[0x5000, 0x6000, 0x7000]");
    b.flush();
    assert_eq!(
        take_flushes(),
        [0x5000, 0x6000, 0x7000].map(FlushRecord::Page)
    );
    let mut d = FlushBatch::<M>::new();
    d.add(TlbFlush::all());
    assert!(d.is_full_flush() && d.pages().next().is_none());
    let mut e = FlushBatch::<M>::new();
    e.merge(d);
    e.add_all();
    e.flush();
    TlbFlush::<M>::all().flush();
    assert_eq!(take_flushes(), [FlushRecord::All, FlushRecord::All]);
    TlbFlush::<M>::page(0).ignore();
    FlushBatch::<M>::new().ignore();
    assert!(take_flushes().is_empty());
}

#[test]
fn arch_flushes_are_host_noops() {
    // On a host these must not execute privileged instructions (they would
    // fault); reaching the end of the test is the assertion.
    Sv39MetaData::flush_tlb(Some(va(0x1000)));
    <Sv39MetaData>::flush_tlb(None);
    <Sv48MetaData>::flush_tlb(None);
    X64PagingMetaData::flush_tlb(Some(va(0x1000)));
    X64PagingMetaData::flush_tlb(None);
    A64PagingMetaData::flush_tlb(Some(va(0x1000)));
    A64PagingMetaData::flush_tlb(None);
    LA64MetaData::flush_tlb(Some(va(0x1000)));
    LA64MetaData::flush_tlb(None);
    // And through a real table of each mode.
    CountingHandler::reset();
    let mut pt = crate::x86_64::X64PageTable::<CountingHandler>::try_new().unwrap();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    pt.unmap_region(va(0), G1).unwrap().1.flush();
    let mut pt = crate::riscv::Sv39PageTable::<CountingHandler>::try_new().unwrap();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let mut pt = crate::aarch64::A64PageTable::<CountingHandler>::try_new().unwrap();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let mut pt = crate::loongarch64::LA64PageTable::<CountingHandler>::try_new().unwrap();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
    let mut pt = crate::riscv::Sv48PageTable::<CountingHandler>::try_new().unwrap();
    pt.map(va(0x1000), pa(0x1000), PageSize::Size4K, R)
        .unwrap()
        .flush();
}

#[test]
fn errors_and_page_sizes() {
    let all = [
        PagingError::NoMemory,
        PagingError::NotAligned,
        PagingError::NotMapped,
        PagingError::AlreadyMapped,
        PagingError::MappedToHugePage,
        PagingError::InvalidAddress,
    ];
    let texts: std::collections::BTreeSet<_> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), all.len());
    let _: &dyn core::error::Error = &PagingError::NoMemory;
    assert_eq!(PageSize::Size2M as usize, M2);
    assert_eq!(usize::from(PageSize::Size1G), G1);
    assert!(PageSize::Size2M.is_huge() && !PageSize::Size4K.is_huge());
    assert!(PageSize::Size2M.is_aligned(3 * M2) && !PageSize::Size2M.is_aligned(M2 + K4));
    for s in [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G] {
        assert_eq!(PageSize::from_level(s.level()), Some(s));
    }
    assert_eq!(PageSize::from_level(3), None);
}

#[test]
fn soft_tlb_catches_a_missing_flush() {
    CountingHandler::reset();
    take_flushes();
    let mut pt = Sv39::try_new().unwrap();
    let mut tlb = SoftTlb::new();
    pt.map(va(M2), pa(4 * M2), PageSize::Size2M, RW)
        .unwrap()
        .flush();
    tlb.apply(&take_flushes());
    assert_eq!(
        tlb.translate(&pt, M2 + 5 * K4),
        Some((pa(4 * M2 + 5 * K4), RW))
    );
    assert_eq!(tlb.len(), 1);
    assert_eq!(tlb.find_stale(&pt), None);
    // Split + protect one page, but "forget" the flush.
    pt.protect_region(va(M2 + 5 * K4), K4, R).unwrap().ignore();
    let stale = tlb.find_stale(&pt).expect("stale huge entry");
    assert_eq!((stale.vaddr, stale.size), (M2, M2));
    // The cached entry still answers with the old flags (like hardware).
    assert_eq!(tlb.translate(&pt, M2 + 5 * K4).unwrap().1, RW);
    tlb.flush_page(M2 + 5 * K4);
    assert_eq!(tlb.find_stale(&pt), None);
    assert_eq!(tlb.translate(&pt, M2 + 5 * K4).unwrap().1, R);
    assert_eq!(tlb.translate(&pt, M2).unwrap().1, RW);
    // Unmapped behind its back.
    pt.unmap(va(M2)).unwrap().3.ignore();
    assert!(tlb.find_stale(&pt).is_some());
    tlb.flush_all();
    assert!(tlb.is_empty());
}

#[test]
#[should_panic(expected = "table != model")]
fn model_comparison_sees_a_missing_page() {
    CountingHandler::reset();
    let mut pt = X64::try_new().unwrap();
    pt.map(va(K4), pa(K4), PageSize::Size4K, R)
        .unwrap()
        .ignore();
    let mut model = Model::default();
    model.map(K4, 2 * K4, |v| v, R);
    model.assert_matches(&pt);
}

std::thread_local! {
    /// What [`DropOrder`] saw: `(true, root)` for `table_dropping`, `(false, frame)` for a
    /// freed frame.
    static DROP_EVENTS: core::cell::RefCell<std::vec::Vec<(bool, usize)>> =
        const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

/// [`CountingHandler`] that records `table_dropping` and frees in order.
struct DropOrder;

// SAFETY: every frame comes from and returns to `CountingHandler`.
unsafe impl PagingHandler for DropOrder {
    fn alloc_frame() -> Option<PhysAddr> {
        CountingHandler::alloc_frame()
    }
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr> {
        CountingHandler::alloc_frames(num, align)
    }
    unsafe fn dealloc_frame(paddr: PhysAddr) {
        DROP_EVENTS.with_borrow_mut(|e| e.push((false, paddr.as_usize())));
        // SAFETY: forwarded contract.
        unsafe { CountingHandler::dealloc_frame(paddr) }
    }
    unsafe fn dealloc_frames(paddr: PhysAddr, num: usize) {
        DROP_EVENTS.with_borrow_mut(|e| e.push((false, paddr.as_usize())));
        // SAFETY: forwarded contract.
        unsafe { CountingHandler::dealloc_frames(paddr, num) }
    }
    fn table_dropping(root: PhysAddr) {
        DROP_EVENTS.with_borrow_mut(|e| e.push((true, root.as_usize())));
    }
    fn phys_to_virt(paddr: PhysAddr) -> memory_addr::VirtAddr {
        CountingHandler::phys_to_virt(paddr)
    }
}

/// A table's `Drop` calls `table_dropping` with its root before it frees any frame (a
/// kernel's handler switches away from an active table there), 64- and 32-bit alike.
#[test]
fn drop_announces_the_root_before_freeing() {
    fn check(root: usize, frames: usize) {
        let events = DROP_EVENTS.with_borrow_mut(core::mem::take);
        assert_eq!(events.first(), Some(&(true, root)), "announced first");
        assert_eq!(events.iter().filter(|e| e.0).count(), 1, "once");
        assert_eq!(events.len(), 1 + frames, "then every frame is freed");
        assert!(events.contains(&(false, root)));
    }
    CountingHandler::reset();
    let mut pt = crate::x86_64::X64PageTable::<DropOrder>::try_new().unwrap();
    let va = memory_addr::VirtAddr::from_usize(0x40_0000);
    pt.map(
        va,
        PhysAddr::from_usize(0x1000),
        PageSize::Size4K,
        MappingFlags::READ,
    )
    .unwrap()
    .ignore();
    let root = pt.root_paddr().as_usize();
    drop(pt);
    check(root, 4);
    let pt = crate::arm::A32PageTable::<DropOrder>::try_new().unwrap();
    let root = pt.root_paddr().as_usize();
    drop(pt);
    check(root, 1);
    assert_eq!(CountingHandler::live_frames(), 0);
}

#[test]
fn frame_run_hands_out_separately_freed_frames() {
    use crate::frame::FrameRun;
    CountingHandler::reset();
    let mut run = FrameRun::<CountingHandler>::alloc(512, 2 << 20).unwrap();
    assert_eq!(run.len(), 512);
    let base = run.start_paddr().as_usize();
    assert_eq!(base % (2 << 20), 0);
    assert_eq!(CountingHandler::live_frames(), 512);
    let first = run.next().unwrap();
    let second = run.next().unwrap();
    assert_eq!(first.start_paddr().as_usize(), base);
    assert_eq!(second.start_paddr().as_usize(), base + 4096);
    // The frames left in the run are freed with it; the taken ones on their own, any order.
    drop(run);
    assert_eq!(CountingHandler::live_frames(), 2);
    drop(first);
    assert_eq!(CountingHandler::live_frames(), 1);
    drop(second);
    assert_eq!(CountingHandler::live_frames(), 0);
}

#[test]
fn frame_run_refuses_bad_requests_and_handlers_without_runs() {
    use crate::frame::FrameRun;
    CountingHandler::reset();
    assert_eq!(
        FrameRun::<CountingHandler>::alloc(0, 4096).err(),
        Some(PagingError::InvalidAddress)
    );
    assert_eq!(
        FrameRun::<CountingHandler>::alloc(2, 3 << 12).err(),
        Some(PagingError::InvalidAddress)
    );
    // `DropOrder` keeps the default: no separable runs.
    assert_eq!(
        FrameRun::<DropOrder>::alloc(512, 2 << 20).err(),
        Some(PagingError::NoMemory)
    );
    assert_eq!(CountingHandler::live_frames(), 0);
}

proptest::proptest! {
    #![proptest_config(super::proptest_config(256))]

    /// The emptiness test that starts beside `near` agrees with looking at every entry,
    /// whatever few entries are used (any bit of any entry) and wherever it starts.
    #[test]
    fn table_is_empty_near_matches_a_full_scan(
        used in proptest::collection::vec((0..crate::table::ENTRIES, 0..64u32), 0..3),
        near in 0..crate::table::ENTRIES,
    ) {
        let mut table = [0u64; crate::table::ENTRIES];
        for &(i, bit) in &used {
            table[i] |= 1 << bit;
        }
        let ptr = table.as_mut_ptr().cast::<page_table_entry::x86_64::X64PTE>();
        // SAFETY: `table` is a table-sized array of entries (their memory is their bits).
        let near_says = unsafe { crate::table::table_is_empty_near(ptr, near) };
        proptest::prop_assert_eq!(near_says, table.iter().all(|&e| e == 0));
    }
}
