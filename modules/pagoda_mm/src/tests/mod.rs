//! Host tests: unit tests per backend and operation, OOM injection, and a model-based
//! proptest. Frames come from `CountingHandler`; flushes are logged with the live frame
//! count at that moment, so tests can check that no frame is freed before its flush.

mod advise;
mod advise_model;
mod anchors;
mod basic;
mod cpu;
mod cpu_prop;
mod file;
mod file_cache;
mod file_model;
mod file_truncate;
mod fork;
mod fuzz;
mod growsdown;
mod linear;
mod linux;
mod mapcount;
mod mempolicy;
mod minaddr;
mod model;
mod oom;
mod outcome;
mod query;
mod regress;
mod seal;
mod softdirty;
mod thp;
mod thp_prop;
mod writeonly;

use alloc::vec;
use alloc::vec::Vec;
use std::cell::RefCell;

use memory_addr::{PhysAddr, VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;
use page_table_entry::riscv::Rv64PTE;
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::{PageSize, PageTable64, PagingMetaData, PhysRegion};

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
        crate::testing::record_flush(vaddr);
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

/// A physical region for linear maps (host only: these tables never reach an MMU).
pub(crate) fn region(pa: usize, size: usize) -> PhysRegion {
    PhysRegion::for_host_tests(PhysAddr::from_usize(pa), size).unwrap()
}

/// First address of the upper (kernel) half of `TestMeta`'s address space.
pub(crate) const KERNEL_HALF: usize = 0xffff_ffc0_0000_0000;

/// A kernel page table that lives forever (as the kernel's does), with one 4K page mapped
/// at [`KERNEL_HALF`]. Its frames stay allocated: count live frames after calling this.
pub(crate) fn kernel_table() -> &'static PageTable64<TestMeta, Rv64PTE, CountingHandler> {
    let mut pt = PageTable64::try_new().unwrap();
    let pa = PhysAddr::from_usize(0x9000_0000);
    pt.map(va(KERNEL_HALF), pa, PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    alloc::boxed::Box::leak(alloc::boxed::Box::new(pt))
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
