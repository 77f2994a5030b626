//! OOM injection: failing the k-th frame allocation, for every k, during populate, fault
//! and fork leaves everything unchanged and leaks nothing.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::{FaultError, File, LinuxError, MemFile, MmapFlags, Populate};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

/// What must not change: the areas, every page-table entry, the live frame count.
fn snapshot(s: &Space) -> (String, String, usize) {
    (
        s.to_string(),
        format!("{:?}", s.page_table()),
        CountingHandler::live_frames(),
    )
}

/// Runs `op` with the k-th allocation failing, for k = 0, 1, ... until it succeeds;
/// every failure must be `is_oom` and leave `snapshot` unchanged. Returns the number of
/// failing runs.
fn for_every_k<T, E: core::fmt::Debug>(
    s: &mut Space,
    mut op: impl FnMut(&mut Space) -> Result<T, E>,
    is_oom: impl Fn(&E) -> bool,
) -> usize {
    for k in 0.. {
        let before = snapshot(s);
        CountingHandler::fail_after(k);
        let r = op(s);
        CountingHandler::clear_failure();
        match r {
            Ok(_) => return k,
            Err(e) => {
                assert!(is_oom(&e), "k={k}: unexpected error {e:?}");
                assert_eq!(snapshot(s), before, "k={k}: state changed");
            }
        }
    }
    unreachable!()
}

/// Space with some mappings, so that partial page tables exist around the test range.
fn busy_space() -> Space {
    let mut s = setup();
    s.map_alloc(va(0x10_0000), 3 * P, URW, Populate::Eager)
        .unwrap();
    s.map_alloc(va(0x40_0000_0000 - 0x20_0000), P, URW, Populate::Eager)
        .unwrap_or(());
    s
}

#[test]
fn populate_failure_changes_nothing() {
    let mut s = busy_space();
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; 5 * P + 7]));
    let fails = for_every_k(
        &mut s,
        |s| {
            s.mmap(
                va(0x8000_0000),
                8 * P,
                RW,
                ANON | MmapFlags::POPULATE | MmapFlags::FIXED,
                None,
                0,
            )
        },
        |e| *e == LinuxError::ENOMEM,
    );
    assert!(fails >= 8, "populate allocated fewer frames than pages");
    for flags in [MmapFlags::PRIVATE, MmapFlags::SHARED] {
        for_every_k(
            &mut s,
            |s| {
                s.mmap(
                    va(0),
                    8 * P,
                    RW,
                    flags | MmapFlags::POPULATE,
                    Some(file.clone()),
                    0,
                )
            },
            |e| *e == LinuxError::ENOMEM,
        );
    }
    for_every_k(
        &mut s,
        |s| {
            s.mmap(
                va(0),
                4 * P,
                RW,
                MmapFlags::SHARED | MmapFlags::ANONYMOUS | MmapFlags::POPULATE,
                None,
                0,
            )
        },
        |e| *e == LinuxError::ENOMEM,
    );
    drop(s);
    drop(file);
    assert_no_leak();
}

#[test]
fn fault_failure_changes_nothing() {
    let mut s = busy_space();
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; 2 * P]));
    let a = s
        .mmap(va(0x2000_0000), 2 * P, RW, ANON | MmapFlags::FIXED, None, 0)
        .unwrap();
    let f = s
        .mmap(
            va(0x3000_0000),
            2 * P,
            RW,
            MmapFlags::PRIVATE | MmapFlags::FIXED,
            Some(file.clone()),
            0,
        )
        .unwrap();
    let g = s
        .mmap(
            va(0x5000_0000),
            2 * P,
            RW,
            MmapFlags::SHARED | MmapFlags::FIXED,
            Some(file.clone()),
            0,
        )
        .unwrap();
    let oom = |e: &FaultError| *e == FaultError::NoMemory;
    // Lazy anonymous, private file (read, then write = copy), shared file.
    assert!(for_every_k(&mut s, |s| s.handle_page_fault(a, MappingFlags::WRITE), oom) >= 1);
    for_every_k(&mut s, |s| s.handle_page_fault(f, MappingFlags::READ), oom);
    for_every_k(&mut s, |s| s.handle_page_fault(f, MappingFlags::WRITE), oom);
    for_every_k(
        &mut s,
        |s| s.handle_page_fault(f + P, MappingFlags::WRITE),
        oom,
    );
    for_every_k(&mut s, |s| s.handle_page_fault(g, MappingFlags::WRITE), oom);
    // Copy-on-write after fork.
    s.write_bytes(a + P, b"cow").unwrap();
    let child = s.fork().unwrap();
    assert!(
        for_every_k(
            &mut s,
            |s| s.handle_page_fault(a + P, MappingFlags::WRITE),
            oom
        ) >= 1
    );
    assert_eq!(read(&mut s, a.as_usize() + P, 3), b"cow");
    // uaccess takes the same paths.
    let mut buf = [0u8; 3];
    for_every_k(
        &mut s,
        |s| s.read_bytes(a + 2 * P - 1, &mut buf[..1]),
        |e| *e == LinuxError::ENOMEM,
    );
    drop(child);
    drop(s);
    drop(file);
    assert_no_leak();
}

#[test]
fn fork_failure_changes_nothing() {
    let mut s = busy_space();
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; 2 * P]));
    s.mmap(
        va(0x2000_0000),
        4 * P,
        RW,
        ANON | MmapFlags::FIXED | MmapFlags::POPULATE,
        None,
        0,
    )
    .unwrap();
    s.mmap(
        va(0x7000_0000),
        2 * P,
        RW,
        MmapFlags::SHARED | MmapFlags::ANONYMOUS | MmapFlags::FIXED | MmapFlags::POPULATE,
        None,
        0,
    )
    .unwrap();
    s.mmap(
        va(0x9000_0000),
        2 * P,
        RW,
        MmapFlags::PRIVATE | MmapFlags::FIXED | MmapFlags::POPULATE,
        Some(file.clone()),
        0,
    )
    .unwrap();
    s.mprotect(va(0x2000_0000 + P), P, MappingFlags::empty())
        .unwrap();
    let fails = for_every_k(&mut s, |s| s.fork(), |e| *e == LinuxError::ENOMEM);
    assert!(fails >= 4, "fork allocated too few tables: {fails}");
    drop(s);
    drop(file);
    assert_no_leak();
}

#[test]
fn huge_page_split_failure_in_mprotect_and_munmap_changes_nothing() {
    let mut s = busy_space();
    let (a, b) = (0x4000_0000, 0x4020_0000);
    let r = region(0x8000_0000, 2 * memory_addr::PAGE_SIZE_2M);
    s.map_linear(va(a), r, RW, PageSize::Size1G).unwrap();
    let enomem = |e: &LinuxError| *e == LinuxError::ENOMEM;
    let fails = for_every_k(&mut s, |s| s.mprotect(va(a + P), P, R), enomem);
    assert!(fails >= 1, "splitting needed no table");
    let fails = for_every_k(&mut s, |s| s.munmap(va(b + 2 * P), P), enomem);
    assert!(fails >= 1, "splitting needed no table");
    assert!(pte(&s, b + 2 * P).is_none());
    assert_eq!(pte(&s, b + 3 * P).unwrap().0, 0x8020_3000);
    drop(s);
    assert_no_leak();
}
