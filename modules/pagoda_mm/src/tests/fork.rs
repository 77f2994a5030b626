//! fork and copy-on-write.

use alloc::sync::Arc;
use alloc::vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::{File, MemFile, MmapFlags, Populate};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

#[test]
fn fork_makes_private_pages_cow_and_write_copies() {
    let mut parent = setup();
    let a = parent
        .mmap(va(0), 4 * P, RW, ANON, None, 0)
        .unwrap()
        .as_usize();
    parent.write_bytes(va(a), b"parent data").unwrap();
    let pa = pte(&parent, a).unwrap().0;
    let mut child = parent.fork().unwrap();
    for s in [&parent, &child] {
        let (p, f, _) = pte(s, a).unwrap();
        assert_eq!(p, pa);
        assert!(f.contains(MappingFlags::COW) && !f.contains(MappingFlags::WRITE));
        assert!(pte(s, a + P).is_none(), "lazy page appeared");
    }
    assert_eq!(child.frame_is_exclusive(va(a)), Some(false));
    assert_eq!(parent.frame_is_exclusive(va(a)), Some(false));
    // The child's write copies; the parent keeps its data.
    let live = CountingHandler::live_frames();
    child
        .handle_page_fault(va(a + 1), MappingFlags::WRITE)
        .unwrap();
    assert_eq!(CountingHandler::live_frames(), live + 1);
    assert_ne!(pte(&child, a).unwrap().0, pa);
    child.write_bytes(va(a), b"CHILD").unwrap();
    assert_eq!(read(&mut parent, a, 11), b"parent data");
    assert_eq!(read(&mut child, a, 11), b"CHILDt data");
    // Now the parent is the only owner: its write reuses the frame.
    assert_eq!(parent.frame_is_exclusive(va(a)), Some(true));
    parent
        .handle_page_fault(va(a), MappingFlags::WRITE)
        .unwrap();
    let (p, f, _) = pte(&parent, a).unwrap();
    assert_eq!(p, pa, "exclusive page was copied");
    assert!(f.contains(MappingFlags::WRITE));
    assert_eq!(CountingHandler::live_frames(), live + 1);
    drop(parent);
    drop(child);
    assert_no_leak();
}

#[test]
fn write_after_child_exit_reuses_without_copy() {
    let mut parent = setup();
    let a = parent
        .mmap(va(0), 2 * P, RW, ANON, None, 0)
        .unwrap()
        .as_usize();
    parent.write_bytes(va(a), &vec![5; 2 * P]).unwrap();
    let pa = pte(&parent, a).unwrap().0;
    drop(parent.fork().unwrap());
    let live = CountingHandler::live_frames();
    parent.write_bytes(va(a), b"x").unwrap();
    parent
        .handle_page_fault(va(a + P), MappingFlags::WRITE)
        .unwrap();
    assert_eq!(pte(&parent, a).unwrap().0, pa);
    assert_eq!(CountingHandler::live_frames(), live);
}

#[test]
fn fork_keeps_file_private_cow_prot_none_and_many_generations() {
    let mut p = setup();
    let f: Arc<dyn File> = Arc::new(MemFile::new(vec![3u8; 2 * P]));
    let fa = p
        .mmap(va(0), 2 * P, RW, MmapFlags::PRIVATE, Some(f.clone()), 0)
        .unwrap()
        .as_usize();
    assert_eq!(read(&mut p, fa, 1), [3]);
    let n = p.mmap(va(0), P, RW, ANON, None, 0).unwrap().as_usize();
    p.write_bytes(va(n), b"n").unwrap();
    p.mprotect(va(n), P, MappingFlags::empty()).unwrap();
    // Many sharers: no cap on the count.
    let mut kids = vec![];
    for _ in 0..300 {
        kids.push(p.fork().unwrap());
    }
    let mut c = kids.pop().unwrap();
    assert!(pte(&c, fa).unwrap().1.contains(MappingFlags::COW));
    assert!(pte(&c, n).unwrap().1.is_empty(), "PROT_NONE lost in fork");
    c.write_bytes(va(fa), b"c").unwrap();
    assert_eq!(read(&mut p, fa, 1), [3]);
    c.mprotect(va(n), P, RW).unwrap();
    assert_eq!(read(&mut c, n, 1), b"n");
    drop(kids);
    drop((p, c, f));
    assert_no_leak();
}

#[test]
fn fork_flushes_once_and_copies_kernel_mappings() {
    let mut p = setup();
    let before = CountingHandler::live_frames();
    let kernel = kernel_table();
    let kernel_frames = CountingHandler::live_frames() - before;
    p.map_alloc(va(0x10_0000), 100 * P, URW, Populate::Eager)
        .unwrap();
    take_flushes();
    let c = p.fork().unwrap();
    let flushes = take_flushes();
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    assert_eq!(flushes[0].0, None, "100 pages: one full flush");
    drop(c);
    // A space sharing the kernel half passes it on.
    let mut u = Space::new(p.va_range()).unwrap();
    u.share_kernel_mappings(kernel, va(KERNEL_HALF), KERNEL_HALF.wrapping_neg())
        .unwrap();
    let uc = u.fork().unwrap();
    let kernel_pa = kernel.query(va(KERNEL_HALF)).unwrap().0.as_usize();
    assert_eq!(pte(&uc, KERNEL_HALF).unwrap().0, kernel_pa);
    drop((uc, u, p));
    let left = CountingHandler::live_frames();
    assert_eq!(left, kernel_frames, "only the kernel table is left");
}
