//! The read-only area and page queries (`area_info`, `area_pages`, `page_info`).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;

use super::*;
use crate::{AccessMode, BackendKind, File, MemFile, MmapFlags, OpenFile};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

fn map(s: &mut Space, len: usize, flags: MmapFlags, file: Option<Arc<dyn File>>) -> usize {
    s.mmap(va(0), len, RW, flags, file, 0).unwrap().as_usize()
}

#[test]
fn anonymous_pages_are_dirty_anon_and_shared_after_fork() {
    let mut s = setup();
    let a = map(&mut s, 4 * P, ANON, None);
    assert_eq!(s.page_info(va(a)), None, "untouched page has no frame");
    s.write_bytes(va(a + P), b"x").unwrap();
    let info = s.page_info(va(a + P + 7)).unwrap();
    assert_eq!(info.va, va(a + P));
    assert_eq!(info.paddr.as_usize(), pte(&s, a + P).unwrap().0);
    assert!(info.present && info.dirty && info.anon);
    assert_eq!(info.mappers, 1);
    let area = s.find_area(va(a)).unwrap();
    let ai = s.area_info(area);
    assert_eq!(ai.kind, BackendKind::Alloc);
    assert!(!ai.shared && !ai.locked && ai.may_write && ai.name.is_none());
    assert_eq!((ai.range.start, ai.range.end), (va(a), va(a + 4 * P)));
    let pages: Vec<usize> = s
        .area_pages(area, va(0), va(usize::MAX))
        .map(|p| p.va.as_usize())
        .collect();
    assert_eq!(pages, vec![a + P]);

    let mut child = s.fork().unwrap();
    assert_eq!(s.page_info(va(a + P)).unwrap().mappers, 2);
    assert_eq!(child.page_info(va(a + P)).unwrap().mappers, 2);
    // A write in the child copies the page: each is exclusive again.
    child.write_bytes(va(a + P), b"y").unwrap();
    assert_eq!(child.page_info(va(a + P)).unwrap().mappers, 1);
    assert_eq!(s.page_info(va(a + P)).unwrap().mappers, 1);
    // A copied chunk still counts the frames it shares.
    s.write_bytes(va(a), b"z").unwrap();
    let mut child2 = s.fork().unwrap();
    child2.write_bytes(va(a + 2 * P), b"w").unwrap();
    assert_eq!(s.page_info(va(a)).unwrap().mappers, 2);
    drop((s, child, child2));
    assert_no_leak();
}

#[test]
fn file_pages_are_clean_until_copied_or_written_shared() {
    let mut s = setup();
    let f = Arc::new(MemFile::with_name("/data", vec![7u8; 2 * P]));
    let file: Arc<dyn File> = f.clone();
    let a = map(&mut s, 2 * P, MmapFlags::PRIVATE, Some(file.clone()));
    read(&mut s, a, 1);
    let info = s.page_info(va(a)).unwrap();
    assert!(info.present && !info.dirty && !info.anon);
    assert_eq!(info.mappers, 1, "the page cache does not count as a mapper");
    s.write_bytes(va(a), b"c").unwrap();
    let info = s.page_info(va(a)).unwrap();
    assert!(
        info.dirty && info.anon,
        "a private copy is anonymous memory"
    );
    let ai = s.area_info(s.find_area(va(a)).unwrap());
    assert_eq!(ai.kind, BackendKind::FilePrivate);
    assert_eq!(ai.name, Some("/data"));

    let b = map(&mut s, 2 * P, MmapFlags::SHARED, Some(file));
    read(&mut s, b + P, 1);
    let info = s.page_info(va(b + P)).unwrap();
    assert!(!info.dirty && !info.anon);
    s.write_bytes(va(b + P), b"d").unwrap();
    assert!(s.page_info(va(b + P)).unwrap().dirty);
    let ai = s.area_info(s.find_area(va(b)).unwrap());
    assert!(ai.shared && ai.may_write);
    f.sync().unwrap();
    assert!(
        !s.page_info(va(b + P)).unwrap().dirty,
        "written back: clean"
    );

    // A shared mapping of a file opened read-only may never be written.
    let ro: Arc<dyn File> = Arc::new(OpenFile::new(f.clone(), AccessMode::ReadOnly));
    let c = s
        .mmap(va(0), P, R, MmapFlags::SHARED, Some(ro), P as u64)
        .unwrap()
        .as_usize();
    assert!(!s.area_info(s.find_area(va(c)).unwrap()).may_write);
    drop(s);
    drop(f);
    assert_no_leak();
}

#[test]
fn locked_and_fork_attributes_and_prot_none_presence() {
    let mut s = setup();
    let a = map(&mut s, 3 * P, ANON, None);
    s.mlock(va(a), P, true).unwrap();
    assert!(s.area_info(s.find_area(va(a)).unwrap()).locked);
    assert!(!s.area_info(s.find_area(va(a + P)).unwrap()).locked);
    assert!(s.page_info(va(a)).unwrap().present, "mlock populated");
    s.madvise(va(a + 2 * P), P, crate::Advice::DontFork)
        .unwrap();
    assert!(s.area_info(s.find_area(va(a + 2 * P)).unwrap()).dontfork);
    s.write_bytes(va(a + P), b"q").unwrap();
    s.mprotect(va(a + P), P, MappingFlags::empty()).unwrap();
    // As on Linux (pagemap of a PROT_NONE page): the frame stays, and counts as present.
    let info = s.page_info(va(a + P)).unwrap();
    assert!(info.present && info.dirty);
    s.munmap(va(a + P), P).unwrap();
    assert_eq!(s.page_info(va(a + P)), None);
    drop(s);
    assert_no_leak();
}

#[test]
fn shared_anonymous_pages_count_every_space() {
    let mut s = setup();
    let a = map(&mut s, P, MmapFlags::SHARED | MmapFlags::ANONYMOUS, None);
    s.write_bytes(va(a), b"s").unwrap();
    let info = s.page_info(va(a)).unwrap();
    assert!(!info.anon && info.mappers == 1);
    let mut child = s.fork().unwrap();
    child.write_bytes(va(a), b"t").unwrap();
    assert_eq!(s.page_info(va(a)).unwrap().mappers, 2);
    assert_eq!(
        child.page_info(va(a)).unwrap().paddr,
        s.page_info(va(a)).unwrap().paddr
    );
    let ai = s.area_info(s.find_area(va(a)).unwrap());
    assert!(ai.shared && ai.kind == BackendKind::Shared);
    drop((s, child));
    assert_no_leak();
}
