//! Soft-dirty tracking: `clear_refs` 4, write faults, `VM_SOFTDIRTY` areas.

use alloc::sync::Arc;

use axerrno::LinuxError;
use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;

use super::*;
use crate::{Advice, ClearRefs, File, MemFile, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const W: MappingFlags = MappingFlags::WRITE;
const U: MappingFlags = MappingFlags::USER;

fn sd(s: &Space, at: usize) -> bool {
    s.soft_dirty(va(at))
}

#[test]
fn clear_refs_values_follow_linux() {
    assert_eq!(ClearRefs::parse(b"4"), Ok(ClearRefs::SoftDirty));
    assert_eq!(ClearRefs::parse(b" 4\n"), Ok(ClearRefs::SoftDirty));
    assert_eq!(ClearRefs::parse(b"1"), Ok(ClearRefs::All));
    assert_eq!(ClearRefs::parse(b"5"), Ok(ClearRefs::PeakRss));
    for bad in [&b"0"[..], b"6", b"-1", b"", b"4x", b"\xff"] {
        assert_eq!(ClearRefs::parse(bad), Err(LinuxError::EINVAL), "{bad:?}");
    }
}

#[test]
fn writes_mark_pages_and_clear_refs_write_protects_them() {
    let mut s = setup();
    let a = s.mmap(va(0), 3 * P, RW, ANON, None, 0).unwrap().as_usize();
    assert!(
        sd(&s, a) && s.area_soft_dirty(va(a)),
        "a new area is soft-dirty"
    );
    s.write_bytes(va(a), &[1]).unwrap();
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    assert!(!sd(&s, a) && !sd(&s, a + P) && !s.area_soft_dirty(va(a)));
    let pte_w = |s: &Space, at| pte(s, at).map(|p| p.1.contains(W));
    assert_eq!(pte_w(&s, a), Some(false), "write-protected");
    // Reads do not mark; the first write faults and marks only its page.
    assert_eq!(read(&mut s, a + P, 1), [0]);
    assert!(!sd(&s, a + P));
    assert_eq!(pte_w(&s, a + P), Some(false), "a clean page is read-only");
    s.handle_page_fault(va(a), W | U).unwrap();
    assert!(sd(&s, a) && !sd(&s, a + P));
    assert_eq!(pte_w(&s, a), Some(true));
    // mprotect neither marks nor makes a clean page writable.
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    s.mprotect(va(a), 3 * P, R).unwrap();
    s.mprotect(va(a), 3 * P, RW).unwrap();
    assert!(!sd(&s, a));
    assert_eq!(pte_w(&s, a), Some(false));
    // A kernel store marks too.
    s.write_bytes(va(a + 2 * P), &[2]).unwrap();
    assert!(sd(&s, a + 2 * P));
    // Discarded pages are clean again.
    s.madvise(va(a + 2 * P), P, Advice::DontNeed).unwrap();
    assert!(!sd(&s, a + 2 * P));
    // Growing makes the area soft-dirty; so does a new mapping.
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    let b = s
        .mremap(va(a), 3 * P, 6 * P, MremapFlags::MAYMOVE, va(0))
        .unwrap()
        .as_usize();
    assert!(sd(&s, b) && sd(&s, b + 5 * P));
    // The other values change nothing.
    s.clear_refs(ClearRefs::All).unwrap();
    assert!(sd(&s, b));
    drop(s);
    assert_no_leak();
}

#[test]
fn shared_pages_fork_and_populate_are_tracked() {
    let mut s = setup();
    let shared = MmapFlags::SHARED.union(MmapFlags::ANONYMOUS);
    let a = s
        .mmap(va(0), 2 * P, RW, shared, None, 0)
        .unwrap()
        .as_usize();
    s.write_bytes(va(a), &[1]).unwrap();
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    assert!(!sd(&s, a));
    s.handle_page_fault(va(a), W | U).unwrap();
    assert!(
        sd(&s, a),
        "a shared page is write-protected and marked again"
    );
    // A shared file page.
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![0u8; 2 * P]));
    let f = s
        .mmap(va(0), 2 * P, RW, MmapFlags::SHARED, Some(file), 0)
        .unwrap()
        .as_usize();
    s.handle_page_fault(va(f), W | U).unwrap();
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    assert!(!sd(&s, f));
    s.handle_page_fault(va(f), W | U).unwrap();
    assert!(sd(&s, f));
    // The child keeps the state; its copy-on-write marks its own page.
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    let p = s.mmap(va(0), P, RW, ANON, None, 0).unwrap().as_usize();
    s.write_bytes(va(p), &[3]).unwrap();
    let mut child = s.fork().unwrap();
    child.clear_refs(ClearRefs::SoftDirty).unwrap();
    assert!(sd(&s, p) && !sd(&child, p));
    child.handle_page_fault(va(p), W | U).unwrap();
    assert!(sd(&child, p));
    drop(child);
    // MAP_POPULATE of writable private memory writes the pages (Linux populates so).
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    let q = s
        .mmap(va(0), P, RW, ANON.union(MmapFlags::POPULATE), None, 0)
        .unwrap()
        .as_usize();
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    s.madvise(va(q), P, Advice::PopulateRead).unwrap();
    assert!(!sd(&s, q), "a read keeps it clean");
    s.madvise(va(q), P, Advice::PopulateWrite).unwrap();
    assert!(sd(&s, q));
    drop(s);
    assert_no_leak();
}

#[test]
fn soft_dirty_bits_follow_split_and_merge() {
    let mut s = setup();
    // Across a chunk boundary (512 pages), so that split and merge share a chunk.
    let n = 520;
    let a = s.mmap(va(0), n * P, RW, ANON, None, 0).unwrap().as_usize();
    for i in [0, 3, 511, 512, 519] {
        s.write_bytes(va(a + i * P), &[1]).unwrap();
    }
    s.clear_refs(ClearRefs::SoftDirty).unwrap();
    for i in [3, 512] {
        s.handle_page_fault(va(a + i * P), W | U).unwrap();
    }
    s.mprotect(va(a + 4 * P), 510 * P, R).unwrap();
    assert_eq!(s.areas().count(), 3);
    s.mprotect(va(a + 4 * P), 510 * P, RW).unwrap();
    assert_eq!(s.areas().count(), 1, "merged back");
    let dirty: Vec<usize> = (0..n).filter(|&i| sd(&s, a + i * P)).collect();
    assert_eq!(dirty, [3, 512]);
    assert_eq!(read(&mut s, a + 519 * P, 1), [1]);
    drop(s);
    assert_no_leak();
}
