//! `vm.max_map_count`: `mmap` past the limit, and splits by `mprotect` or by a hole
//! `munmap` punches, are ENOMEM and change nothing (Linux's `do_mmap` and `__split_vma`).

use memory_addr::PAGE_SIZE_4K;

use super::*;
use crate::{LinuxError, MmapFlags};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const R: MappingFlags = MappingFlags::READ;

#[test]
fn splits_and_maps_stop_at_the_limit_and_change_nothing() {
    let mut s = setup();
    assert_eq!(s.max_map_count(), crate::DEFAULT_MAX_MAP_COUNT);
    let base = s.mmap(va(0), 64 * P, RW, ANON, None, 0).unwrap();
    let at = |i: usize| va(base.as_usize() + i * P);
    s.set_max_map_count(3);
    // One page in the middle: two splits, three areas: at the limit.
    s.mprotect(at(10), P, R).unwrap();
    assert_eq!(s.areas().count(), 3);
    // Another middle page of the first piece would make five.
    let before: Vec<_> = s.areas().map(|a| (a.start(), a.end(), a.flags())).collect();
    assert_eq!(s.mprotect(at(4), P, R), Err(LinuxError::ENOMEM));
    // A hole in the middle of the last piece: one more area.
    assert_eq!(s.munmap(at(30), P), Err(LinuxError::ENOMEM));
    let after: Vec<_> = s.areas().map(|a| (a.start(), a.end(), a.flags())).collect();
    assert_eq!(before, after, "refused calls change nothing");
    // Changes that split nothing still work: the whole middle area, an unmap at an edge,
    // the same protection (no change, no split).
    s.mprotect(at(10), P, RW).unwrap();
    assert_eq!(s.areas().count(), 1, "merged back");
    s.mprotect(at(4), P, RW).unwrap();
    s.munmap(at(63), P).unwrap();
    // mmap is refused only while the space holds more areas than the limit.
    s.set_max_map_count(1);
    assert!(s.mmap(va(0), P, R, ANON, None, 0).is_ok());
    assert_eq!(s.mmap(va(0), P, RW, ANON, None, 0), Err(LinuxError::ENOMEM));
}
