//! Grow-down areas: the stack limit, the guard gap, kernel accesses, fork and splits.

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;

use super::*;
use crate::{FaultError, LinuxError, MmapFlags, STACK_GUARD_GAP};

const P: usize = PAGE_SIZE_4K;
const GD: MmapFlags = MmapFlags::PRIVATE
    .union(MmapFlags::ANONYMOUS)
    .union(MmapFlags::FIXED_NOREPLACE)
    .union(MmapFlags::GROWSDOWN);
const W: MappingFlags = MappingFlags::WRITE.union(MappingFlags::USER);

/// A 4-page grow-down area at `top - 4P` with a read-only page at `floor`.
fn with_floor(floor: usize, top: usize) -> Space {
    let mut s = setup();
    let fixed = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED_NOREPLACE;
    s.mmap(va(floor), P, R, fixed, None, 0).unwrap();
    s.mmap(va(top - 4 * P), 4 * P, RW, GD, None, 0).unwrap();
    s
}

fn range_of(s: &Space, at: usize) -> (usize, usize) {
    let a = s.find_area(va(at)).unwrap();
    (a.start().as_usize(), a.end().as_usize())
}

#[test]
fn a_fault_anywhere_below_grows_the_area_to_that_page() {
    let (floor, top) = (0x1000_0000, 0x1040_0000);
    let mut s = with_floor(floor, top);
    let a = top - 4 * P;
    assert!(s.is_growsdown(va(a)));
    s.handle_page_fault(va(a - 1), W).unwrap();
    assert_eq!(range_of(&s, a), (a - P, top));
    // Not only the page just below: any address down to the limit.
    s.handle_page_fault(va(a - 100 * P + 5), W).unwrap();
    assert_eq!(range_of(&s, a), (a - 100 * P, top));
    assert!(pte(&s, a - 100 * P).is_some() && pte(&s, a - 50 * P).is_none());
    drop(s);
    assert_no_leak();
}

#[test]
fn the_guard_gap_to_the_area_below_is_kept() {
    let (floor, top) = (0x1000_0000, 0x1040_0000);
    let mut s = with_floor(floor, top);
    let lowest = floor + P + STACK_GUARD_GAP;
    assert_eq!(
        s.handle_page_fault(va(lowest - 1), W),
        Err(FaultError::Segv)
    );
    assert_eq!(
        range_of(&s, top - 1),
        (top - 4 * P, top),
        "a refused growth changed it"
    );
    s.handle_page_fault(va(lowest), W).unwrap();
    assert_eq!(range_of(&s, top - 1), (lowest, top));
}

#[test]
fn a_prot_none_area_below_needs_no_gap() {
    let mut s = setup();
    let fixed = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED_NOREPLACE;
    let top = 0x1010_0000;
    s.mmap(va(top - 12 * P), P, MappingFlags::empty(), fixed, None, 0)
        .unwrap();
    s.mmap(va(top - 4 * P), 4 * P, RW, GD, None, 0).unwrap();
    s.handle_page_fault(va(top - 11 * P), W).unwrap();
    assert_eq!(range_of(&s, top - 1), (top - 11 * P, top));
}

#[test]
fn the_stack_limit_bounds_the_size() {
    let mut s = setup();
    let top = 0x2000_0000;
    s.mmap(va(top - 4 * P), 4 * P, RW, GD, None, 0).unwrap();
    s.set_stack_limit(16 * P);
    assert_eq!(s.stack_limit(), 16 * P);
    assert_eq!(
        s.handle_page_fault(va(top - 16 * P - 1), W),
        Err(FaultError::Segv)
    );
    s.handle_page_fault(va(top - 16 * P), W).unwrap();
    assert_eq!(range_of(&s, top - 1), (top - 16 * P, top));
}

#[test]
fn ordinary_areas_and_addresses_far_from_any_area_do_not_grow() {
    let mut s = setup();
    let a = s
        .mmap(
            va(0x3000_0000),
            4 * P,
            RW,
            GD - MmapFlags::GROWSDOWN,
            None,
            0,
        )
        .unwrap();
    assert!(!s.is_growsdown(a));
    assert_eq!(s.handle_page_fault(a - 1, W), Err(FaultError::Segv));
    // Above every area: nothing to grow.
    assert_eq!(
        s.handle_page_fault(va(0x3800_0000), W),
        Err(FaultError::Segv)
    );
    // Shared memory never grows.
    let shared = MmapFlags::SHARED | MmapFlags::ANONYMOUS | MmapFlags::GROWSDOWN;
    let b = s.mmap(va(0), 4 * P, RW, shared, None, 0).unwrap();
    assert!(!s.is_growsdown(b));
    assert_eq!(s.set_growsdown(b), Err(LinuxError::EINVAL));
    assert_eq!(s.set_growsdown(va(0x3900_0000)), Err(LinuxError::EFAULT));
}

#[test]
fn kernel_writes_grow_the_stack_and_a_marked_area_grows() {
    let mut s = setup();
    let top = 0x2000_0000;
    let fixed = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED_NOREPLACE;
    s.mmap(va(top - 4 * P), 4 * P, RW, fixed, None, 0).unwrap();
    assert_eq!(
        s.write_bytes(va(top - 5 * P), &[1; 8]),
        Err(LinuxError::EFAULT)
    );
    s.set_growsdown(va(top - P)).unwrap();
    // A signal frame written below the stack's bottom, across the old start.
    s.write_bytes(va(top - 4 * P - 8), &[7; 16]).unwrap();
    assert_eq!(range_of(&s, top - 1), (top - 5 * P, top));
    assert_eq!(read(&mut s, top - 4 * P - 8, 16), [7; 16]);
    drop(s);
    assert_no_leak();
}

#[test]
fn fork_and_splits_keep_growing_and_the_limit() {
    let mut s = setup();
    let top = 0x2000_0000;
    s.mmap(va(top - 4 * P), 4 * P, RW, GD, None, 0).unwrap();
    s.set_stack_limit(64 * P);
    s.write_bytes(va(top - P), &[3; 8]).unwrap();
    // mprotect of the top page splits the area: the lower piece still grows.
    s.mprotect(va(top - P), P, R).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(child.stack_limit(), 64 * P);
    child.handle_page_fault(va(top - 10 * P), W).unwrap();
    assert_eq!(range_of(&child, top - 10 * P), (top - 10 * P, top - P));
    assert_eq!(read(&mut child, top - P, 8), [3; 8]);
    assert_eq!(range_of(&s, top - 4 * P), (top - 4 * P, top - P));
    drop(child);
    drop(s);
    assert_no_leak();
}

#[test]
fn mmap_leaves_the_guard_gap_below_a_grow_down_area_free() {
    let mut s = setup();
    let top = 0x3000_0000;
    let a = top - 4 * P;
    s.mmap(va(a), 4 * P, RW, GD, None, 0).unwrap();
    let anon = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS;
    // A hint inside the gap is not taken; one below it is.
    let b = s.mmap(va(a - 4 * P), 4 * P, RW, anon, None, 0).unwrap();
    assert_ne!(b.as_usize(), a - 4 * P);
    let c = s.mmap(va(a - 300 * P), 4 * P, RW, anon, None, 0).unwrap();
    assert_eq!(c.as_usize(), a - 300 * P);
    // Top-down placement from just above the area skips the gap.
    s.set_mmap_top(va(top));
    let d = s.mmap(va(0), 4 * P, RW, anon, None, 0).unwrap();
    assert!(
        d.as_usize() + 4 * P <= a - STACK_GUARD_GAP,
        "{:#x}",
        d.as_usize()
    );
    // MAP_FIXED may still map there.
    let e = s
        .mmap(va(a - 2 * P), P, RW, anon | MmapFlags::FIXED, None, 0)
        .unwrap();
    assert_eq!(e.as_usize(), a - 2 * P);
}
