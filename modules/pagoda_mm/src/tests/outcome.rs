//! What `handle_page_fault` reports it did.

use alloc::sync::Arc;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::{FaultError, FaultOutcome, File, MemFile, MmapFlags, Populate};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const W: MappingFlags = MappingFlags::WRITE;

fn frame(s: &Space, at: usize) -> Option<usize> {
    s.frame_at(va(at)).map(|f| f.start_paddr().as_usize())
}

#[test]
fn first_touch_fills_and_a_second_fault_is_spurious() {
    let mut s = setup();
    let a = s.mmap(va(0), 2 * P, RW, ANON, None, 0).unwrap().as_usize();
    let live = CountingHandler::live_frames();
    assert_eq!(s.handle_page_fault(va(a), R), Ok(FaultOutcome::Filled));
    assert_eq!(s.handle_page_fault(va(a + P), W), Ok(FaultOutcome::Filled));
    let frames = CountingHandler::live_frames() - live;
    assert!(frames >= 2, "two pages, {frames} frames");
    // Mapped with the access allowed: nothing to do, nothing allocated.
    let live = CountingHandler::live_frames();
    let at = frame(&s, a + P);
    assert_eq!(s.handle_page_fault(va(a), R), Ok(FaultOutcome::Spurious));
    assert_eq!(
        s.handle_page_fault(va(a + P), W),
        Ok(FaultOutcome::Spurious)
    );
    assert_eq!(
        s.handle_page_fault(va(a + P), R),
        Ok(FaultOutcome::Spurious)
    );
    assert_eq!(CountingHandler::live_frames(), live);
    assert_eq!(frame(&s, a + P), at);
    // A refused access is still an error.
    s.mprotect(va(a), P, R).unwrap();
    assert_eq!(s.handle_page_fault(va(a), W), Err(FaultError::Segv));
    drop(s);
    assert_no_leak();
}

#[test]
fn fork_then_write_copies_once_then_reuses() {
    let mut parent = setup();
    let a = 0x10_0000;
    parent
        .map_alloc(va(a), 2 * P, URW, Populate::Eager)
        .unwrap();
    let mut child = parent.fork().unwrap();
    let shared = frame(&parent, a);
    assert_eq!(frame(&child, a), shared);
    // Two sharers: the first writer copies.
    let live = CountingHandler::live_frames();
    let got = parent.handle_page_fault(va(a + 8), W | MappingFlags::USER);
    assert_eq!(got, Ok(FaultOutcome::CopiedOnWrite));
    assert_eq!(CountingHandler::live_frames(), live + 1);
    assert_ne!(frame(&parent, a), shared);
    // Now the child is the only owner of the old frame: no copy.
    assert_eq!(child.frame_is_exclusive(va(a)), Some(true));
    assert_eq!(child.handle_page_fault(va(a), W), Ok(FaultOutcome::Reused));
    assert_eq!(frame(&child, a), shared);
    assert_eq!(CountingHandler::live_frames(), live + 1);
    assert!(pte(&child, a).unwrap().1.contains(W));
    // Reading a page still shared read-only is allowed as mapped.
    assert_eq!(
        child.handle_page_fault(va(a + P), R),
        Ok(FaultOutcome::Spurious)
    );
    // The parent's copy is writable now: spurious too.
    assert_eq!(
        parent.handle_page_fault(va(a), W),
        Ok(FaultOutcome::Spurious)
    );
    drop((parent, child));
    assert_no_leak();
}

#[test]
fn private_file_write_copies_the_cached_page_and_linear_is_spurious() {
    let mut s = setup();
    let f = Arc::new(MemFile::with_name(
        "/f",
        (0..P as u32).map(|i| i as u8).collect::<Vec<_>>(),
    ));
    let file: Arc<dyn File> = f.clone();
    let a = s
        .mmap(va(0), P, RW, MmapFlags::PRIVATE, Some(file), 0)
        .unwrap()
        .as_usize();
    // The page comes from the page cache, read-only.
    assert_eq!(s.handle_page_fault(va(a), R), Ok(FaultOutcome::Filled));
    assert_eq!(s.frame_is_exclusive(va(a)), Some(false));
    assert_eq!(
        s.handle_page_fault(va(a), W),
        Ok(FaultOutcome::CopiedOnWrite)
    );
    assert_eq!(s.frame_is_exclusive(va(a)), Some(true));
    // Linear areas are always mapped.
    s.map_linear(
        va(0x4000_0000),
        region(0x8000_0000, P),
        RW,
        PageSize::Size1G,
    )
    .unwrap();
    assert_eq!(
        s.handle_page_fault(va(0x4000_0000), W),
        Ok(FaultOutcome::Spurious)
    );
    drop(s);
    drop(f);
    assert_no_leak();
}
