//! mseal, merging of compatible neighbours, and mprotect under MDWE.

use alloc::sync::Arc;

use axerrno::LinuxError;
use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;

use super::*;
use crate::mdwe::{Mdwe, PR_MDWE_REFUSE_EXEC_GAIN};
use crate::{Advice, File, MemFile, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const FIXED: MmapFlags = ANON.union(MmapFlags::FIXED);
const X: MappingFlags = MappingFlags::EXECUTE;
const W: MappingFlags = MappingFlags::WRITE;

fn anon(s: &mut Space, len: usize, prot: MappingFlags) -> usize {
    s.mmap(va(0), len, prot, ANON, None, 0).unwrap().as_usize()
}

/// The areas as (start, end, sealed), relative to `base`.
fn shape(s: &Space, base: usize) -> Vec<(usize, usize, bool)> {
    s.areas()
        .map(|a| {
            let (lo, hi) = (a.start().as_usize(), a.end().as_usize());
            ((lo - base) / P, (hi - base) / P, a.backend().sealed())
        })
        .collect()
}

#[test]
fn mprotect_back_merges_the_pieces_and_keeps_the_contents() {
    let mut s = setup();
    let a = anon(&mut s, 4 * P, RW);
    s.write_bytes(va(a), &[7; 4 * P]).unwrap();
    s.mprotect(va(a + P), P, R).unwrap();
    assert_eq!(shape(&s, a), [(0, 1, false), (1, 2, false), (2, 4, false)]);
    s.mprotect(va(a + P), P, RW).unwrap();
    assert_eq!(shape(&s, a), [(0, 4, false)], "one area again");
    assert_eq!(read(&mut s, a, 4 * P), vec![7; 4 * P]);
    s.write_bytes(va(a + 3 * P), &[9]).unwrap();
    assert_eq!(read(&mut s, a + 3 * P, 1), [9]);
    // mlock + munlock of the middle: split, then merged again.
    s.mlock(va(a + P), P, true).unwrap();
    assert_eq!(s.areas().count(), 3);
    s.munlock(va(a), 4 * P).unwrap();
    assert_eq!(shape(&s, a), [(0, 4, false)]);
    // Growing the merged area in place works (one area).
    let moved = s
        .mremap(va(a), 4 * P, 8 * P, MremapFlags::MAYMOVE, va(0))
        .unwrap();
    assert_eq!(read(&mut s, moved.as_usize(), P), vec![7; P]);
    drop(s);
    assert_no_leak();
}

#[test]
fn only_compatible_neighbours_merge() {
    let mut s = setup();
    let a = anon(&mut s, 6 * P, RW);
    s.munmap(va(a + 3 * P), 3 * P).unwrap();
    // A file mapping right above, with the same protection, stays apart.
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; 4 * P]));
    let flags = MmapFlags::PRIVATE.union(MmapFlags::FIXED);
    s.mmap(va(a + 3 * P), 2 * P, RW, flags, Some(file.clone()), 0)
        .unwrap();
    s.mprotect(va(a + 2 * P), 2 * P, R).unwrap();
    s.mprotect(va(a + 2 * P), 2 * P, RW).unwrap();
    assert_eq!(shape(&s, a), [(0, 3, false), (3, 5, false)]);
    // Pieces of one file mapping merge (contiguous offsets); a different offset does not.
    s.mmap(va(a + 5 * P), P, RW, flags, Some(file), 3 * P as u64)
        .unwrap();
    s.mprotect(va(a + 4 * P), 2 * P, R).unwrap();
    s.mprotect(va(a + 3 * P), 3 * P, RW).unwrap();
    assert_eq!(shape(&s, a), [(0, 3, false), (3, 5, false), (5, 6, false)]);
    // Different attributes stay apart.
    s.madvise(va(a + P), P, Advice::DontFork).unwrap();
    assert_eq!(s.areas().count(), 5);
    s.madvise(va(a + P), P, Advice::DoFork).unwrap();
    assert_eq!(s.areas().count(), 3);
    drop(s);
    assert_no_leak();
}

#[test]
fn mseal_checks_its_arguments_and_seals_whole_ranges_only() {
    let mut s = setup();
    let a = anon(&mut s, 8 * P, R);
    s.munmap(va(a + 4 * P), 4 * P).unwrap();
    assert_eq!(s.mseal(va(a), 4 * P, 0x20), Err(LinuxError::EINVAL));
    assert_eq!(s.mseal(va(a + 1), 2 * P, 0), Err(LinuxError::EINVAL));
    assert_eq!(s.mseal(va(a), usize::MAX - 10, 0), Err(LinuxError::EINVAL));
    assert_eq!(s.mseal(va(a), 5 * P, 0), Err(LinuxError::ENOMEM));
    assert_eq!(s.mseal(va(a - P), 5 * P, 0), Err(LinuxError::ENOMEM));
    assert_eq!(s.mseal(va(a), 0, 0), Ok(()));
    assert!(s.areas().all(|a| !a.backend().sealed()), "nothing sealed");
    // Sealing a piece splits; neighbours that get sealed too merge with it.
    s.mseal(va(a + P), P, 0).unwrap();
    assert_eq!(shape(&s, a), [(0, 1, false), (1, 2, true), (2, 4, false)]);
    s.mseal(va(a + 2 * P), P + 1, 0).unwrap();
    assert_eq!(shape(&s, a), [(0, 1, false), (1, 4, true)]);
    s.mseal(va(a + P), 3 * P, 0).unwrap();
    assert_eq!(s.info_sealed(a + P), Some(true));
    drop(s);
    assert_no_leak();
}

impl Space {
    fn info_sealed(&self, at: usize) -> Option<bool> {
        let area = self.find_area(va(at))?;
        Some(self.area_info(area).sealed)
    }
}

#[test]
fn a_sealed_area_refuses_every_change_and_the_call_changes_nothing() {
    let mut s = setup();
    let a = anon(&mut s, 4 * P, R);
    s.mprotect(va(a), P, RW).unwrap();
    s.mseal(va(a + P), 2 * P, 0).unwrap();
    let before = shape(&s, a);
    let eperm = Err(LinuxError::EPERM);
    assert_eq!(s.munmap(va(a), 4 * P), eperm);
    assert_eq!(s.munmap(va(a + 2 * P), P), eperm);
    assert_eq!(s.mprotect_linux(va(a), 2 * P, R), eperm);
    assert_eq!(s.mprotect(va(a + P), P, R), eperm);
    let over = s.mmap(va(a + 2 * P), P, RW, FIXED, None, 0);
    assert_eq!(over, Err(LinuxError::EPERM));
    let may = MremapFlags::MAYMOVE;
    assert_eq!(
        s.mremap(va(a + P), 2 * P, P, may, va(0)),
        Err(LinuxError::EPERM)
    );
    assert_eq!(
        s.mremap(va(a + P), P, 4 * P, may, va(0)),
        Err(LinuxError::EPERM)
    );
    let fixed = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    assert_eq!(
        s.mremap(va(a + 3 * P), P, P, fixed, va(a + P)),
        Err(LinuxError::EPERM)
    );
    // Discarding read-only anonymous memory is refused; a hint is fine.
    assert_eq!(s.madvise(va(a), 4 * P, Advice::DontNeed), eperm);
    s.madvise(va(a), 4 * P, Advice::Random).unwrap();
    assert_eq!(shape(&s, a), before, "nothing changed");
    assert_eq!(pte(&s, a).map(|p| p.1.contains(MappingFlags::WRITE)), None);
    // Unsealed parts still change; sealing survives fork.
    s.mprotect(va(a + 3 * P), P, RW).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(child.munmap(va(a + P), P), eperm);
    child.munmap(va(a), P).unwrap();
    drop(child);
    // Writable sealed memory may be discarded (its owner could overwrite it anyway).
    let b = anon(&mut s, 2 * P, RW);
    s.write_bytes(va(b), &[5]).unwrap();
    s.mseal(va(b), 2 * P, 0).unwrap();
    s.madvise(va(b), 2 * P, Advice::DontNeed).unwrap();
    assert_eq!(read(&mut s, b, 1), [0]);
    drop(s);
    assert_no_leak();
}

#[test]
fn mdwe_refuses_exec_gain_and_write_exec_per_area() {
    let mut s = setup();
    let on = Mdwe::OFF.set(PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0).unwrap();
    let a = anon(&mut s, 4 * P, R | X);
    let b = a + 2 * P;
    s.mmap(va(b), 2 * P, R, FIXED, None, 0).unwrap();
    s.mprotect_mdwe(va(a), 2 * P, R | X, on).unwrap();
    assert_eq!(
        s.mprotect_mdwe(va(a), 2 * P, R | W | X, on),
        Err(LinuxError::EACCES)
    );
    // Linux's order: the executable area is changed before the one that may not gain X.
    assert_eq!(
        s.mprotect_mdwe(va(a), 4 * P, X, on),
        Err(LinuxError::EACCES)
    );
    assert_eq!(
        s.find_area(va(a)).unwrap().flags() & MappingFlags::ACCESS,
        X
    );
    assert_eq!(
        s.find_area(va(b)).unwrap().flags() & MappingFlags::ACCESS,
        R
    );
    s.mprotect_mdwe(va(b), 2 * P, RW, on).unwrap();
    s.mprotect_mdwe(va(b), 2 * P, R | X, Mdwe::OFF).unwrap();
    drop(s);
    assert_no_leak();
}
