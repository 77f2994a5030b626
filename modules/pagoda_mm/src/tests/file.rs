//! File-backed and shared anonymous areas.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use axerrno::LinuxResult;
use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::{
    Advice, BackendKind, CachedFile, FaultError, File, FileBacking, LinuxError, MemFile, MmapFlags,
    MsyncFlags, SharedMem,
};

const P: usize = PAGE_SIZE_4K;

fn file_of(len: usize) -> Arc<MemFile> {
    Arc::new(MemFile::with_name(
        "/data",
        (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
    ))
}

fn map_file(s: &mut Space, f: &Arc<MemFile>, len: usize, flags: MmapFlags, off: u64) -> usize {
    let file: Arc<dyn File> = f.clone();
    s.mmap(va(0), len, RW, flags, Some(file), off)
        .unwrap()
        .as_usize()
}

#[test]
fn private_file_reads_file_zero_tail_and_bus_past_eof() {
    let mut s = setup();
    let f = file_of(P + 100);
    let a = map_file(&mut s, &f, 3 * P, MmapFlags::PRIVATE, 0);
    assert_eq!(read(&mut s, a + 5, 3), f.contents()[5..8]);
    let tail = read(&mut s, a + P, P);
    assert_eq!(tail[..100], f.contents()[P..]);
    assert!(
        tail[100..].iter().all(|&b| b == 0),
        "tail past EOF not zero"
    );
    assert_eq!(
        s.handle_page_fault(va(a + 2 * P), MappingFlags::READ),
        Err(FaultError::Bus)
    );
    assert_eq!(
        s.read_bytes(va(a + 2 * P), &mut [0]),
        Err(LinuxError::EFAULT)
    );
    // Private writes never reach the file, not even with msync or munmap.
    s.write_bytes(va(a + P + 50), b"private").unwrap();
    s.msync(va(a), 2 * P, MsyncFlags::SYNC).unwrap();
    s.munmap(va(a), 3 * P).unwrap();
    assert_eq!(f.contents(), file_of(P + 100).contents());
    drop(s);
    drop(f);
    assert_no_leak();
}

#[test]
fn file_offset_and_errors() {
    let mut s = setup();
    let f = file_of(4 * P);
    let a = map_file(&mut s, &f, P, MmapFlags::PRIVATE, 2 * P as u64);
    assert_eq!(read(&mut s, a, 4), f.contents()[2 * P..2 * P + 4]);
    assert_eq!(
        s.find_area(va(a)).unwrap().backend().file_offset(va(a)),
        Some(2 * P as u64)
    );
    let file: Arc<dyn File> = f.clone();
    assert_eq!(
        s.mmap(va(0), P, RW, MmapFlags::PRIVATE, Some(file.clone()), 100),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        s.mmap(
            va(0),
            P,
            RW,
            MmapFlags::PRIVATE | MmapFlags::SHARED | MmapFlags::from_bits_retain(1 << 21),
            Some(file),
            0
        ),
        Err(LinuxError::EOPNOTSUPP)
    );
    assert!(s.to_string().contains("/data"));
}

#[test]
fn shared_file_writes_back_on_msync_munmap_and_teardown_never_past_eof() {
    let mut s = setup();
    let f = file_of(P + 10);
    let a = map_file(&mut s, &f, 2 * P, MmapFlags::SHARED, 0);
    s.write_bytes(va(a), b"msync").unwrap();
    s.write_bytes(va(a + P + 8), b"tail-beyond-eof").unwrap();
    assert_eq!(
        &f.stored()[..5],
        &file_of(5).contents()[..],
        "written before msync"
    );
    assert_eq!(&f.contents()[..5], b"msync", "read misses the mapped store");
    s.msync(va(a), 2 * P, MsyncFlags::SYNC).unwrap();
    assert_eq!(&f.stored()[..5], b"msync");
    assert_eq!(f.stored().len(), P + 10, "msync grew the file");
    assert_eq!(&f.stored()[P + 8..], b"ta");
    assert_eq!(
        s.msync(va(a + 1), P, MsyncFlags::SYNC),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        s.msync(va(a), P, MsyncFlags::SYNC | MsyncFlags::ASYNC),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        s.msync(va(a), 8 * P, MsyncFlags::ASYNC),
        Err(LinuxError::ENOMEM)
    );
    s.write_bytes(va(a + 1), b"UNMAP").unwrap();
    s.munmap(va(a), P).unwrap();
    assert_eq!(&f.stored()[..6], b"mUNMAP");
    s.write_bytes(va(a + P), b"DROP").unwrap();
    drop(s);
    assert_eq!(&f.stored()[P..P + 4], b"DROP");
    assert_eq!(f.stored().len(), P + 10);
    drop(f);
    assert_no_leak();
}

#[test]
fn page_cache_shares_frames_between_spaces() {
    let mut s1 = setup();
    let mut s2 = Space::new(s1.va_range()).unwrap();
    let f = file_of(2 * P);
    let a = map_file(&mut s1, &f, 2 * P, MmapFlags::SHARED, 0);
    let b = map_file(&mut s2, &f, 2 * P, MmapFlags::SHARED, 0);
    let p = map_file(&mut s2, &f, 2 * P, MmapFlags::PRIVATE, 0);
    s1.write_bytes(va(a + 3), b"shared!").unwrap();
    assert_eq!(read(&mut s2, b + 3, 7), b"shared!");
    assert_eq!(
        pte(&s1, a).unwrap().0,
        pte(&s2, b).unwrap().0,
        "not the same frame"
    );
    // A private mapping reads the cache, and copies on its first write.
    assert_eq!(read(&mut s2, p + 3, 7), b"shared!");
    assert_eq!(pte(&s2, p).unwrap().0, pte(&s2, b).unwrap().0);
    assert!(pte(&s2, p).unwrap().1.contains(MappingFlags::COW));
    s2.write_bytes(va(p), b"mine").unwrap();
    assert_ne!(pte(&s2, p).unwrap().0, pte(&s2, b).unwrap().0);
    assert_eq!(
        read(&mut s1, a, 4),
        [0, 1, 2, b's'],
        "private write leaked into the cache"
    );
    // DONTNEED on a private file page shows the file (cache) again.
    s2.madvise(va(p), P, Advice::DontNeed).unwrap();
    assert_eq!(read(&mut s2, p + 3, 7), b"shared!");
    drop(s1);
    drop(s2);
    assert_eq!(&f.contents()[3..10], b"shared!");
    assert_eq!(f.cache_stats(), (0, 0), "cache kept unmapped pages");
    drop(f);
    assert_no_leak();
}

/// A backing store whose reads fail.
struct BrokenFile;

impl FileBacking for BrokenFile {
    fn read_at(&self, _: u64, _: &mut [u8]) -> LinuxResult<usize> {
        Err(LinuxError::EIO)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> LinuxResult<usize> {
        Err(LinuxError::EIO)
    }
    fn size(&self) -> u64 {
        4 * PAGE_SIZE_4K as u64
    }
    fn set_len(&self, _: u64) -> LinuxResult {
        Err(LinuxError::EIO)
    }
}

#[test]
fn io_errors_are_bus_errors_and_eio() {
    let mut s = setup();
    let file: Arc<dyn File> = Arc::new(CachedFile::new(BrokenFile));
    let a = s
        .mmap(va(0), P, RW, MmapFlags::SHARED, Some(file), 0)
        .unwrap();
    let live = CountingHandler::live_frames();
    assert_eq!(
        s.handle_page_fault(a, MappingFlags::READ),
        Err(FaultError::Bus)
    );
    assert_eq!(CountingHandler::live_frames(), live);
    assert_eq!(
        s.msync(a, P, MsyncFlags::SYNC),
        Ok(()),
        "nothing cached, nothing to write"
    );
}

#[test]
fn shared_anonymous_is_shared_across_fork_and_never_cow() {
    let mut parent = setup();
    let flags = MmapFlags::SHARED | MmapFlags::ANONYMOUS;
    let a = parent
        .mmap(va(0), 2 * P, RW, flags, None, 0)
        .unwrap()
        .as_usize();
    parent.write_bytes(va(a), b"before").unwrap();
    let mut child = parent.fork().unwrap();
    for s in [&parent, &child] {
        let (_, f, _) = pte(s, a).unwrap();
        assert!(f.contains(MappingFlags::WRITE) && !f.contains(MappingFlags::COW));
    }
    child.write_bytes(va(a), b"child!").unwrap();
    assert_eq!(read(&mut parent, a, 6), b"child!");
    parent.write_bytes(va(a + P), b"parent").unwrap();
    assert_eq!(read(&mut child, a + P, 6), b"parent");
    assert_eq!(
        pte(&parent, a + P).unwrap().0,
        pte(&child, a + P).unwrap().0
    );
    let kind = child.find_area(va(a)).unwrap().backend().kind();
    assert_eq!(kind, BackendKind::Shared);
    // DONTNEED keeps shared contents.
    child.madvise(va(a), P, Advice::DontNeed).unwrap();
    assert_eq!(read(&mut child, a, 6), b"child!");
    drop(parent);
    drop(child);
    assert_no_leak();
}

#[test]
fn shared_object_for_segments() {
    let mut s1 = setup();
    let mut s2 = Space::new(s1.va_range()).unwrap();
    let obj = SharedMem::with_name(3 * P, "SYSV0000002a").unwrap();
    assert_eq!(
        SharedMem::<CountingHandler>::new(0).unwrap_err(),
        LinuxError::EINVAL
    );
    s1.map_shared(va(0x10_0000), 3 * P, URW, obj.clone(), 0, None)
        .unwrap();
    let b = s2
        .mmap_shared(va(0), &obj, P, 2 * P, RW, MmapFlags::SHARED)
        .unwrap()
        .as_usize();
    s1.write_bytes(va(0x10_0000 + P), b"segment").unwrap();
    assert_eq!(read(&mut s2, b, 7), b"segment");
    assert_eq!(obj.resident_pages(), 1);
    assert_eq!(
        s2.find_area(va(b)).unwrap().backend().shared_offset(va(b)),
        Some(P)
    );
    assert!(s1.to_string().contains("SYSV0000002a"));
    assert_eq!(
        s1.map_shared(va(0x20_0000), 4 * P, URW, obj.clone(), 0, None),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        s1.map_shared(va(0x10_0000), P, URW, obj.clone(), 0, None),
        Err(LinuxError::EEXIST)
    );
    // A first page whose byte offset overflows is refused, not a panic.
    assert_eq!(
        s1.map_shared(va(0x20_0000), P, URW, obj.clone(), usize::MAX / P, None),
        Err(LinuxError::EINVAL)
    );
    // Contents outlive the mappings while the object lives.
    drop(s1);
    drop(s2);
    assert_eq!(obj.resident_pages(), 1);
    drop(obj);
    assert_no_leak();
}

#[test]
fn shared_mapping_of_populated_object_and_mremap_growth() {
    let mut s = setup();
    let a = s
        .mmap(
            va(0),
            P,
            RW,
            MmapFlags::SHARED | MmapFlags::ANONYMOUS | MmapFlags::POPULATE,
            None,
            0,
        )
        .unwrap();
    assert!(pte(&s, a.as_usize()).is_some());
    s.write_bytes(a, &vec![1u8; P]).unwrap();
    let m = s
        .mremap(a, P, 3 * P, crate::MremapFlags::MAYMOVE, va(0))
        .unwrap()
        .as_usize();
    assert_eq!(read(&mut s, m, 2), [1, 1]);
    // The object keeps its size (Linux): the pages the mapping grew by are bus errors.
    assert_eq!(
        s.handle_page_fault(va(m + 2 * P), MappingFlags::READ),
        Err(FaultError::Bus)
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn the_memory_store_is_sparse_and_bytes_it_cannot_hold_are_enospc() {
    let f = file_of(3 * PAGE_SIZE_4K);
    let huge = 3_804_180_263_615_858_460u64; // below MAX_FILE_SIZE, far above any heap
    // Growing the size allocates nothing (tmpfs): the new bytes are a hole of zeros.
    assert_eq!(f.cached().set_len(huge), Ok(()));
    assert_eq!(f.size(), huge);
    let mut buf = [1u8; 8];
    assert_eq!(f.read_at(huge - 8, &mut buf), Ok(8));
    assert_eq!(buf, [0; 8]);
    // Bytes far out would need the heap to hold everything before them: ENOSPC (a full
    // tmpfs), the size and the contents unchanged.
    assert_eq!(f.write_at(huge, b"x"), Err(LinuxError::ENOSPC));
    assert_eq!(f.size(), huge);
    assert_eq!(f.cached().set_len(3 * PAGE_SIZE_4K as u64), Ok(()));
    assert_eq!(f.stored().len(), 3 * PAGE_SIZE_4K);
}
