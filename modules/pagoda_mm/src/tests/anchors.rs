//! Regression tests named after bugs of the systems users would pick instead (axmm,
//! Starry); the other items of that list are covered in `basic`, `file`, `fork`, `oom` and
//! `shm::tests`.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::{PAGE_SIZE_2M, PAGE_SIZE_4K};
use page_table_entry::MappingFlags;
use page_table_multiarch::PageSize;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::{Advice, File, MemFile, MmapFlags, MsyncFlags, Populate};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

#[test]
fn write_after_mprotect_read_on_lazy_area_faults() {
    let mut s = setup();
    let a = s.mmap(va(0), 2 * P, RW, ANON, None, 0).unwrap();
    s.mprotect(a, 2 * P, R).unwrap();
    // The area itself changed, not only the (empty) page table.
    assert_eq!(s.find_area(a).unwrap().flags(), R | MappingFlags::USER);
    let live = CountingHandler::live_frames();
    assert_eq!(
        s.handle_page_fault(a + P, MappingFlags::WRITE),
        Err(crate::FaultError::Segv)
    );
    assert_eq!(
        CountingHandler::live_frames(),
        live,
        "a fresh page was mapped"
    );
    assert!(pte(&s, a.as_usize() + P).is_none());
}

#[test]
fn copy_from_user_faults_lazy_pages_in() {
    let mut s = setup();
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![7u8; P]));
    let anon = s.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    let private = s
        .mmap(va(0), P, R, MmapFlags::PRIVATE, Some(file.clone()), 0)
        .unwrap();
    let shared = MmapFlags::SHARED | MmapFlags::ANONYMOUS;
    let shm = s.mmap(va(0), P, RW, shared, None, 0).unwrap();
    for (at, want) in [(anon, 0u8), (private, 7), (shm, 0)] {
        assert!(pte(&s, at.as_usize()).is_none(), "not lazy");
        let mut buf = [0xffu8; 16];
        s.read_bytes(at + 8, &mut buf).unwrap();
        assert_eq!(buf, [want; 16]);
        assert!(
            pte(&s, at.as_usize()).is_some(),
            "read did not fault the page in"
        );
    }
    // copy_to_user into a lazy page, then a read sees it.
    let b = s.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    s.write_bytes(b + 5, b"in").unwrap();
    assert_eq!(read(&mut s, b.as_usize() + 5, 2), b"in");
    drop((s, file));
    assert_no_leak();
}

#[test]
fn cow_sharer_count_has_no_cap_1000_forks() {
    let mut parent = setup();
    let a = parent.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    parent.write_bytes(a, b"shared").unwrap();
    let pa = pte(&parent, a.as_usize()).unwrap().0;
    let mut kids: Vec<Space> = (0..1000).map(|_| parent.fork().unwrap()).collect();
    assert!(kids.iter().all(|k| pte(k, a.as_usize()).unwrap().0 == pa));
    // One writer copies; the 1000 others keep the original bytes.
    kids[500].write_bytes(a, b"mine").unwrap();
    assert_ne!(pte(&kids[500], a.as_usize()).unwrap().0, pa);
    assert_eq!(read(&mut kids[999], a.as_usize(), 6), b"shared");
    assert_eq!(read(&mut parent, a.as_usize(), 6), b"shared");
    // Once every sharer is gone the parent owns the frame again and reuses it.
    kids.clear();
    assert_eq!(parent.frame_is_exclusive(a), Some(true));
    parent.write_bytes(a, b"S").unwrap();
    assert_eq!(pte(&parent, a.as_usize()).unwrap().0, pa);
    drop(parent);
    assert_no_leak();
}

#[test]
fn shared_file_pages_are_never_cow_after_fork() {
    let mut parent = setup();
    let mem = Arc::new(MemFile::new(vec![0u8; 2 * P]));
    let file: Arc<dyn File> = mem.clone();
    let a = parent
        .mmap(va(0), 2 * P, RW, MmapFlags::SHARED, Some(file), 0)
        .unwrap();
    parent.write_bytes(a, b"before").unwrap();
    let mut child = parent.fork().unwrap();
    for s in [&parent, &child] {
        let (_, f, _) = pte(s, a.as_usize()).unwrap();
        assert!(f.contains(MappingFlags::WRITE) && !f.contains(MappingFlags::COW));
    }
    child.write_bytes(a, b"child!").unwrap();
    assert_eq!(read(&mut parent, a.as_usize(), 6), b"child!");
    assert_eq!(
        pte(&parent, a.as_usize()).unwrap().0,
        pte(&child, a.as_usize()).unwrap().0
    );
    parent.msync(a, 2 * P, MsyncFlags::SYNC).unwrap();
    assert_eq!(&mem.contents()[..6], b"child!");
    drop((parent, child, mem));
    assert_no_leak();
}

#[test]
fn cow_break_and_dontneed_flush_before_frames_are_freed() {
    let mut s = setup();
    // Neighbours keep the page tables alive, so only data frames change.
    s.map_alloc(va(0x10_0000), P, URW, Populate::Eager).unwrap();
    let a = s
        .mmap(
            va(0x10_1000),
            4 * P,
            RW,
            ANON | MmapFlags::FIXED | MmapFlags::POPULATE,
            None,
            0,
        )
        .unwrap();
    let mut child = s.fork().unwrap();
    take_flushes();
    // Copy-on-write break: the old read-only entry is flushed.
    child
        .handle_page_fault(a, MappingFlags::WRITE | MappingFlags::USER)
        .unwrap();
    let flushes = take_flushes();
    assert!(
        flushes
            .iter()
            .any(|&(p, _)| p.is_none() || p == Some(a.as_usize())),
        "COW promotion without a flush: {flushes:?}"
    );
    drop(child);
    // MADV_DONTNEED frees exclusive frames, after their flush.
    let live = CountingHandler::live_frames();
    take_flushes();
    s.madvise(a, 4 * P, Advice::DontNeed).unwrap();
    let flushes = take_flushes();
    assert!(!flushes.is_empty());
    assert!(
        flushes.iter().all(|&(_, l)| l == live),
        "freed before the flush: {flushes:?}"
    );
    assert_eq!(CountingHandler::live_frames(), live - 4);
}

#[test]
fn partial_mprotect_of_a_huge_linear_page_changes_only_that_page() {
    let mut s = setup();
    let start = 0x4000_0000;
    let r = region(0x8000_0000, PAGE_SIZE_2M);
    s.map_linear(va(start), r, RW, PageSize::Size1G).unwrap();
    assert_eq!(pte(&s, start).unwrap().2, PageSize::Size2M);
    s.mprotect(va(start + P), P, R).unwrap();
    let (p, f, size) = pte(&s, start + P).unwrap();
    assert_eq!((p, size), (0x8000_0000 + P, PageSize::Size4K));
    assert!(!f.contains(MappingFlags::WRITE));
    for other in [start, start + 2 * P, start + PAGE_SIZE_2M - P] {
        let (p, f, _) = pte(&s, other).unwrap();
        assert_eq!(p, 0x8000_0000 + (other - start));
        assert!(
            f.contains(MappingFlags::WRITE),
            "{other:#x} lost its write bit"
        );
    }
    assert_eq!(s.areas().count(), 3);
}
