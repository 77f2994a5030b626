//! Host tests: unit tests per backend and operation, OOM injection, and a model-based
//! proptest. Frames come from `CountingHandler`; flushes are logged with the live frame
//! count at that moment, so tests can check that no frame is freed before its flush.

mod anchors;
mod basic;
mod file;
mod fork;
mod fuzz;
mod model;
mod oom;

use alloc::vec;
use alloc::vec::Vec;
use std::cell::RefCell;

use memory_addr::{VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;
use page_table_entry::riscv::Rv64PTE;
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::{PageSize, PagingMetaData};

use crate::AddrSpace;

std::thread_local! {
    /// Every flush: `(page or None for all, live frames when it was issued)`.
    static FLUSHES: RefCell<Vec<(Option<usize>, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Sv39 geometry; `flush_tlb` logs instead of running an instruction.
pub(crate) struct TestMeta;

impl PagingMetaData for TestMeta {
    const LEVELS: usize = 3;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 39;
    type VirtAddr = VirtAddr;

    fn flush_tlb(vaddr: Option<VirtAddr>) {
        let live = CountingHandler::live_frames();
        FLUSHES.with_borrow_mut(|f| f.push((vaddr.map(VirtAddr::as_usize), live)));
    }
}

/// The flushes issued since the last call.
pub(crate) fn take_flushes() -> Vec<(Option<usize>, usize)> {
    FLUSHES.with_borrow_mut(core::mem::take)
}

pub(crate) type Space = AddrSpace<TestMeta, Rv64PTE, CountingHandler>;

pub(crate) const USER_START: usize = 0x1000;
pub(crate) const USER_END: usize = 0x40_0000_0000;

pub(crate) const R: MappingFlags = MappingFlags::READ;
pub(crate) const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
pub(crate) const URW: MappingFlags = RW.union(MappingFlags::USER);

pub(crate) fn va(x: usize) -> VirtAddr {
    VirtAddr::from_usize(x)
}

/// Resets the thread's frame counter and returns an empty user space.
pub(crate) fn setup() -> Space {
    CountingHandler::reset();
    take_flushes();
    Space::new(VirtAddrRange::new(va(USER_START), va(USER_END))).unwrap()
}

pub(crate) fn read(s: &mut Space, at: usize, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_bytes(va(at), &mut buf).unwrap();
    buf
}

/// The page-table entry at `at`: `(paddr, flags, size)`.
pub(crate) fn pte(s: &Space, at: usize) -> Option<(usize, MappingFlags, PageSize)> {
    s.page_table()
        .query(va(at))
        .ok()
        .map(|(pa, f, sz)| (pa.as_usize(), f, sz))
}

/// Asserts that every frame is back with the handler once `f` has dropped everything.
pub(crate) fn assert_no_leak() {
    assert_eq!(CountingHandler::live_frames(), 0, "frames leaked");
}
