//! madvise attributes (fork behaviour, populate, free), mlock, mincore, MREMAP_DONTUNMAP.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use axerrno::LinuxError;
use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;

use super::*;
use crate::{Advice, File, MemFile, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const SHARED: MmapFlags = MmapFlags::SHARED.union(MmapFlags::ANONYMOUS);

fn anon(s: &mut Space, len: usize, prot: MappingFlags) -> usize {
    s.mmap(va(0), len, prot, ANON, None, 0).unwrap().as_usize()
}

fn residency(s: &Space, at: usize, len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    s.mincore(va(at), len, &mut v).unwrap();
    v
}

fn area_count(s: &Space) -> usize {
    s.areas().count()
}

#[test]
fn dontfork_leaves_the_range_out_of_the_child_and_dofork_restores_it() {
    let mut s = setup();
    let a = anon(&mut s, 3 * P, RW);
    s.write_bytes(va(a), &[1; 3 * P]).unwrap();
    s.madvise(va(a + P), P, Advice::DontFork).unwrap();
    assert_eq!(
        area_count(&s),
        3,
        "the area is split around the advised page"
    );
    let mut child = s.fork().unwrap();
    assert!(child.find_area(va(a + P)).is_none());
    assert_eq!(read(&mut child, a, 1), [1]);
    assert_eq!(read(&mut child, a + 2 * P, 1), [1]);
    drop(child);
    s.madvise(va(a), 3 * P, Advice::DoFork).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(read(&mut child, a + P, 1), [1]);
    assert_eq!(read(&mut s, a + P, 1), [1], "the parent keeps its data");
    drop((s, child));
    assert_no_leak();
}

#[test]
fn wipeonfork_gives_the_child_zeros_and_only_fits_private_anonymous_memory() {
    let mut s = setup();
    let a = anon(&mut s, 2 * P, RW);
    s.write_bytes(va(a), &[7; 2 * P]).unwrap();
    s.madvise(va(a), P, Advice::WipeOnFork).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(read(&mut child, a, 1), [0], "wiped");
    assert_eq!(read(&mut child, a + P, 1), [7], "the rest is copied");
    assert_eq!(read(&mut s, a, 1), [7]);
    // The child inherits the advice (as on Linux): its own child is wiped again.
    child.write_bytes(va(a), &[9]).unwrap();
    let mut grandchild = child.fork().unwrap();
    assert_eq!(read(&mut grandchild, a, 1), [0]);
    drop((child, grandchild));
    s.madvise(va(a), P, Advice::KeepOnFork).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(read(&mut child, a, 1), [7]);
    let sh = s.mmap(va(0), P, RW, SHARED, None, 0).unwrap();
    assert_eq!(
        s.madvise(sh, P, Advice::WipeOnFork),
        Err(LinuxError::EINVAL)
    );
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; P]));
    let f = s
        .mmap(va(0), P, RW, MmapFlags::PRIVATE, Some(file), 0)
        .unwrap();
    assert_eq!(s.madvise(f, P, Advice::WipeOnFork), Err(LinuxError::EINVAL));
    assert_eq!(s.madvise(f, P, Advice::Free), Err(LinuxError::EINVAL));
    drop((s, child));
    assert_no_leak();
}

#[test]
fn an_area_that_refuses_ends_madvise_after_advising_the_areas_before_it() {
    let mut s = setup();
    // anon | shared, adjacent: WIPEONFORK applies to the first, then EINVAL.
    let a = anon(&mut s, 3 * P, RW);
    s.mmap(va(a + 2 * P), P, RW, SHARED | MmapFlags::FIXED, None, 0)
        .unwrap();
    s.write_bytes(va(a), &[5; 3 * P]).unwrap();
    assert_eq!(
        s.madvise(va(a), 3 * P, Advice::WipeOnFork),
        Err(LinuxError::EINVAL)
    );
    let mut child = s.fork().unwrap();
    assert_eq!(read(&mut child, a, 1), [0]);
    assert_eq!(read(&mut child, a + 2 * P, 1), [5]);
    // A hole: the mapped parts are advised, then ENOMEM.
    s.munmap(va(a + P), P).unwrap();
    assert_eq!(
        s.madvise(va(a), 3 * P, Advice::Normal),
        Err(LinuxError::ENOMEM)
    );
    assert_eq!(
        s.madvise(va(a + 1), P, Advice::Normal),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(Advice::try_from(9), Err(LinuxError::EINVAL)); // MADV_REMOVE
    assert_eq!(Advice::try_from(23), Ok(Advice::PopulateWrite));
}

#[test]
fn populate_faults_pages_in_and_checks_the_protection() {
    let mut s = setup();
    let a = anon(&mut s, 4 * P, RW);
    assert_eq!(residency(&s, a, 4 * P), [0, 0, 0, 0]);
    s.madvise(va(a), P, Advice::PopulateRead).unwrap();
    s.madvise(va(a + 2 * P), 2 * P, Advice::PopulateWrite)
        .unwrap();
    assert_eq!(residency(&s, a, 4 * P), [1, 0, 1, 1]);
    let w = pte(&s, a + 3 * P).unwrap().1;
    assert!(w.contains(MappingFlags::WRITE), "populated for writing");
    s.mprotect(va(a), P, R).unwrap();
    assert_eq!(
        s.madvise(va(a), P, Advice::PopulateWrite),
        Err(LinuxError::EINVAL)
    );
    s.mprotect(va(a), P, MappingFlags::empty()).unwrap();
    assert_eq!(
        s.madvise(va(a), P, Advice::PopulateRead),
        Err(LinuxError::EINVAL)
    );
    // Linux wants VM_READ: a write-only area is readable, yet not populated for reading.
    s.mprotect(va(a), P, MappingFlags::WRITE).unwrap();
    assert_eq!(
        s.madvise(va(a), P, Advice::PopulateRead),
        Err(LinuxError::EINVAL)
    );
    s.madvise(va(a), P, Advice::PopulateWrite).unwrap();
    s.munmap(va(a + P), P).unwrap();
    assert_eq!(
        s.madvise(va(a + P), P, Advice::PopulateRead),
        Err(LinuxError::ENOMEM)
    );
    // Past the end of a file: a bus error would follow, EFAULT.
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; P]));
    let f = s
        .mmap(va(0), 2 * P, R, MmapFlags::SHARED, Some(file), 0)
        .unwrap();
    assert_eq!(
        s.madvise(f + P, P, Advice::PopulateRead),
        Err(LinuxError::EFAULT)
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn free_discards_private_anonymous_pages() {
    let mut s = setup();
    let a = anon(&mut s, 2 * P, RW);
    s.write_bytes(va(a), &[3; 2 * P]).unwrap();
    s.madvise(va(a), 2 * P, Advice::Free).unwrap();
    assert_eq!(read(&mut s, a, 2), [0, 0]);
    let sh = s.mmap(va(0), P, RW, SHARED, None, 0).unwrap();
    assert_eq!(s.madvise(sh, P, Advice::Free), Err(LinuxError::EINVAL));
    drop(s);
    assert_no_leak();
}

#[test]
fn mlock_populates_and_pins_against_dontneed() {
    let mut s = setup();
    let a = anon(&mut s, 4 * P, RW);
    s.write_bytes(va(a), &[4]).unwrap();
    // Unaligned: rounded to the pages it touches, as on Linux.
    s.mlock(va(a + 10), P, true).unwrap();
    assert_eq!(residency(&s, a, 4 * P), [1, 1, 0, 0]);
    assert!(s.range_locked(VirtAddrRange::from_start_size(va(a), P)));
    assert!(!s.range_locked(VirtAddrRange::from_start_size(va(a + 2 * P), P)));
    for adv in [
        Advice::DontNeed,
        Advice::Free,
        Advice::Cold,
        Advice::PageOut,
    ] {
        assert_eq!(s.madvise(va(a), P, adv), Err(LinuxError::EINVAL), "{adv:?}");
    }
    assert_eq!(read(&mut s, a, 1), [4]);
    s.munlock(va(a), 2 * P).unwrap();
    s.madvise(va(a), P, Advice::DontNeed).unwrap();
    assert_eq!(read(&mut s, a, 1), [0]);
    // Lock on fault: no population.
    s.mlock(va(a + 2 * P), P, false).unwrap();
    assert_eq!(residency(&s, a + 2 * P, P), [0]);
    // A hole: the part before it is locked, then ENOMEM.
    s.munmap(va(a + 3 * P), P).unwrap();
    s.munlock(va(a), 3 * P).unwrap();
    assert_eq!(s.mlock(va(a + P), 3 * P, true), Err(LinuxError::ENOMEM));
    assert!(s.range_locked(VirtAddrRange::from_start_size(va(a + P), P)));
    assert!(!s.range_locked(VirtAddrRange::from_start_size(va(a), P)));
    // munlock up to a hole: the part before it is unlocked, then ENOMEM.
    assert_eq!(s.munlock(va(a), 4 * P), Err(LinuxError::ENOMEM));
    assert!(!s.range_locked(VirtAddrRange::from_start_size(va(a + P), P)));
    assert_eq!(s.mlock(va(a), usize::MAX, true), Err(LinuxError::EINVAL));
    // PROT_NONE cannot be populated: ENOMEM, but locked.
    let n = anon(&mut s, P, MappingFlags::empty());
    assert_eq!(s.mlock(va(n), P, true), Err(LinuxError::ENOMEM));
    assert!(s.range_locked(VirtAddrRange::from_start_size(va(n), P)));
    assert_eq!(s.mlock(va(n), P, false), Ok(()));
    // MADV_DONTNEED_LOCKED drops locked pages.
    s.mlock(va(a + P), P, true).unwrap();
    s.write_bytes(va(a + P), &[6]).unwrap();
    s.madvise(va(a + P), P, Advice::DontNeedLocked).unwrap();
    assert_eq!(residency(&s, a + P, P), [0]);
    assert!(s.range_locked(VirtAddrRange::from_start_size(va(a + P), P)));
    // A child does not inherit locks.
    s.mlock(va(a), 3 * P, true).unwrap();
    let child = s.fork().unwrap();
    assert!(!child.range_locked(VirtAddrRange::from_start_size(va(a), 3 * P)));
    drop((s, child));
    assert_no_leak();
}

#[test]
fn mlock_all_locks_and_populates_every_accessible_area() {
    let mut s = setup();
    let a = anon(&mut s, 2 * P, RW);
    let n = anon(&mut s, P, MappingFlags::empty());
    s.mlock_all(true, true);
    assert_eq!(residency(&s, a, 2 * P), [1, 1]);
    assert_eq!(residency(&s, n, P), [0], "PROT_NONE is not populated");
    assert!(s.range_locked(VirtAddrRange::from_start_size(va(n), P)));
    s.mlock_all(false, false);
    assert!(!s.range_locked(VirtAddrRange::from_start_size(va(a), 2 * P)));
    drop(s);
    assert_no_leak();
}

#[test]
fn mincore_reports_frames_and_stops_at_holes() {
    let mut s = setup();
    let a = anon(&mut s, 3 * P, RW);
    s.write_bytes(va(a + P), &[1]).unwrap();
    assert_eq!(residency(&s, a, 3 * P), [0, 1, 0]);
    assert_eq!(residency(&s, a + P, 1), [1], "a partial page counts");
    assert_eq!(residency(&s, a, 0), Vec::<u8>::new());
    let mut v = Vec::new();
    assert_eq!(s.mincore(va(a + 1), P, &mut v), Err(LinuxError::EINVAL));
    s.munmap(va(a + 2 * P), P).unwrap();
    assert_eq!(s.mincore(va(a), 3 * P, &mut v), Err(LinuxError::ENOMEM));
    assert_eq!(v, [0, 1], "the pages before the hole");
    assert_eq!(
        s.mincore(va(USER_END - P), 2 * P, &mut v),
        Err(LinuxError::ENOMEM)
    );
    // A shared object's pages count once any mapping touched them.
    let sh = s.mmap(va(0), 2 * P, RW, SHARED, None, 0).unwrap();
    let again = s.mremap(sh, 0, 2 * P, MremapFlags::MAYMOVE, va(0)).unwrap();
    s.write_bytes(again, &[1]).unwrap();
    assert_eq!(residency(&s, sh.as_usize(), 2 * P), [1, 0]);
    drop(s);
    assert_no_leak();
}

#[test]
fn mremap_dontunmap_moves_the_pages_and_leaves_the_old_range_empty() {
    let mut s = setup();
    let a = anon(&mut s, 2 * P, RW);
    s.write_bytes(va(a), b"moved").unwrap();
    let flags = MremapFlags::MAYMOVE | MremapFlags::DONTUNMAP;
    let d = s.mremap(va(a), 2 * P, 2 * P, flags, va(0)).unwrap();
    assert_ne!(d.as_usize(), a);
    assert_eq!(read(&mut s, d.as_usize(), 5), b"moved");
    assert_eq!(residency(&s, a, 2 * P), [0, 0]);
    assert_eq!(read(&mut s, a, 5), [0; 5], "the old range reads zero");
    let bad = |s: &mut Space, old, new, f| s.mremap(d, old, new, f, va(0));
    assert_eq!(
        bad(&mut s, 2 * P, 2 * P, MremapFlags::DONTUNMAP),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(bad(&mut s, 2 * P, 3 * P, flags), Err(LinuxError::EINVAL));
    assert_eq!(
        bad(&mut s, 2 * P, 2 * P - 1, flags),
        Err(LinuxError::EINVAL)
    );
    // With FIXED: onto a target, replacing it.
    let t = anon(&mut s, 2 * P, R);
    let fixed = flags | MremapFlags::FIXED;
    assert_eq!(s.mremap(d, 2 * P, 2 * P, fixed, va(t)), Ok(va(t)));
    assert_eq!(read(&mut s, t, 5), b"moved");
    assert_eq!(read(&mut s, d.as_usize(), 1), [0]);
    drop(s);
    assert_no_leak();
}

/// Linux's `MAP_TYPE` nibble: only `SHARED`, `PRIVATE`, `SHARED_VALIDATE` (files) and
/// `DROPPABLE` (anonymous, not locked, not growing) name a type; every other value is
/// `EINVAL` (checked on x86-64 Linux 6.18).
#[test]
fn mapping_type_is_the_whole_type_nibble() {
    let mut s = setup();
    let anon_typed = |t: u32| MmapFlags::from_bits_retain(t | MmapFlags::ANONYMOUS.bits());
    for t in [0x0, 0x3, 0x4, 0x5, 0x6, 0x7, 0x9, 0xa, 0xc, 0xe, 0xf] {
        assert_eq!(
            s.mmap(va(0), P, RW, anon_typed(t), None, 0),
            Err(LinuxError::EINVAL),
            "type {t:#x}"
        );
    }
    for t in [0x1, 0x2, 0x8] {
        assert!(
            s.mmap(va(0), P, RW, anon_typed(t), None, 0).is_ok(),
            "type {t:#x}"
        );
    }
    let drop_with = |f: MmapFlags| anon_typed(0x8) | f;
    for f in [MmapFlags::LOCKED, MmapFlags::GROWSDOWN] {
        assert_eq!(
            s.mmap(va(0), P, RW, drop_with(f), None, 0),
            Err(LinuxError::EINVAL)
        );
    }
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![0; P]));
    assert_eq!(
        s.mmap(va(0), P, RW, MmapFlags::DROPPABLE, Some(file), 0),
        Err(LinuxError::EINVAL),
        "droppable files do not exist"
    );
    drop(s);
    assert_no_leak();
}

/// `MAP_DROPPABLE` memory: `MADV_PAGEOUT` drops it (zeros after), a fork wipes it and
/// `MADV_KEEPONFORK` cannot change that, `mlock` succeeds without locking it; pageout on
/// ordinary memory keeps the data (there is no swap).
#[test]
fn droppable_memory_is_dropped_by_pageout_and_wiped_on_fork() {
    let mut s = setup();
    let flags = MmapFlags::DROPPABLE | MmapFlags::ANONYMOUS;
    let d = s.mmap(va(0), 2 * P, RW, flags, None, 0).unwrap().as_usize();
    let a = anon(&mut s, P, RW);
    s.write_bytes(va(d), &[b'A'; 2 * P]).unwrap();
    s.write_bytes(va(a), &[b'B'; P]).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(read(&mut child, d, 1), [0], "wiped in the child");
    assert_eq!(read(&mut child, a, 1), [b'B']);
    drop(child);
    assert_eq!(
        s.madvise(va(d), P, Advice::KeepOnFork),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(s.mlock(va(d), 2 * P, true), Ok(()));
    assert!(!s.range_locked(VirtAddrRange::from_start_size(va(d), 2 * P)));
    s.madvise(va(d), P, Advice::PageOut).unwrap();
    s.madvise(va(a), P, Advice::PageOut).unwrap();
    assert_eq!(read(&mut s, d, 1), [0], "dropped");
    assert_eq!(read(&mut s, d + P, 1), [b'A'], "outside the advised range");
    assert_eq!(read(&mut s, a, 1), [b'B'], "ordinary memory stays");
    drop(s);
    assert_no_leak();
}
