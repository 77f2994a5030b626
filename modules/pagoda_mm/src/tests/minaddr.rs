//! `vm.mmap_min_addr`: placement never goes below it, and a fixed address below it is
//! EPERM unless the caller is privileged (Linux's `cap_mmap_addr`, `round_hint_to_min`,
//! and `vm_unmapped_area`'s low limit). The space here starts at 0, as the HAL's does.

use memory_addr::{PAGE_SIZE_4K, VirtAddrRange};

use super::*;
use crate::shm::{IPC_PRIVATE, SHM_RND, ShmContext, ShmRegistry};
use crate::{LinuxError, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const MIN: usize = crate::DEFAULT_MMAP_MIN_ADDR;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const FIX: MmapFlags = ANON.union(MmapFlags::FIXED);
const NOREPLACE: MmapFlags = ANON.union(MmapFlags::FIXED_NOREPLACE);
const MOVE: MremapFlags = MremapFlags::MAYMOVE.union(MremapFlags::FIXED);

/// A space covering `0..USER_END`, with the default `mmap_min_addr`, unprivileged.
fn from_zero() -> Space {
    CountingHandler::reset();
    Space::new(VirtAddrRange::new(va(0), va(USER_END))).unwrap()
}

fn map(s: &mut Space, at: usize, flags: MmapFlags) -> Result<usize, LinuxError> {
    s.mmap(va(at), P, RW, flags, None, 0)
        .map(VirtAddr::as_usize)
}

#[test]
fn the_default_is_64k() {
    let s = from_zero();
    assert_eq!(s.mmap_min_addr(), va(0x1_0000));
}

#[test]
fn placement_never_goes_below_the_limit() {
    let mut s = from_zero();
    s.set_mmap_top(va(MIN + 8 * P));
    s.set_mmap_privileged(true);
    let mut got = Vec::new();
    while let Ok(at) = map(&mut s, 0, ANON) {
        got.push(at);
    }
    got.sort_unstable();
    let want: Vec<usize> = (0..8).map(|i| MIN + i * P).collect();
    assert_eq!(
        got, want,
        "every page from the limit to the top, nothing below"
    );
    assert_eq!(s.find_free_area(va(0), P), None);
    drop(s);
    assert_no_leak();
}

#[test]
fn a_low_hint_is_raised_to_the_limit() {
    let mut s = from_zero();
    assert_eq!(map(&mut s, P, ANON), Ok(MIN), "hint 0x1000");
    let second = map(&mut s, MIN - P, ANON).unwrap();
    assert!(
        second > MIN,
        "the raised hint is taken: top-down instead ({second:#x})"
    );
    s.set_mmap_privileged(true);
    let above = map(&mut s, 2 * P, ANON).unwrap();
    assert!(
        above >= MIN,
        "privilege does not lower placement: {above:#x}"
    );
}

#[test]
fn a_changed_limit_moves_placement() {
    let mut s = from_zero();
    s.set_mmap_min_addr(0x2_0001);
    assert_eq!(s.mmap_min_addr(), va(0x2_1000), "rounded up to a page");
    s.set_mmap_top(va(0x3_0000));
    assert_eq!(s.find_free_area(va(0), 0xf000), Some(va(0x2_1000)));
    assert_eq!(s.find_free_area(va(0), 0x1_0000), None);
    // 0 keeps page 0 out of placement (Linux's max(PAGE_SIZE, mmap_min_addr)).
    s.set_mmap_min_addr(0);
    assert_eq!(s.find_free_area(va(0), 0x2_f000), Some(va(P)));
    assert_eq!(
        map(&mut s, 0, FIX),
        Ok(0),
        "no limit: fixed at 0 needs no privilege"
    );
    s.set_mmap_min_addr(usize::MAX);
    assert_eq!(s.find_free_area(va(0), P), None);
}

#[test]
fn fixed_below_the_limit_needs_privilege() {
    let mut s = from_zero();
    for at in [0, P, MIN - P] {
        assert_eq!(map(&mut s, at, FIX), Err(LinuxError::EPERM), "{at:#x}");
        assert_eq!(
            map(&mut s, at, NOREPLACE),
            Err(LinuxError::EPERM),
            "{at:#x}"
        );
    }
    assert_eq!(map(&mut s, MIN, FIX), Ok(MIN));
    // Linux's order: the end of the space and the alignment come first.
    let e = s.mmap(va(1), P, RW, FIX, None, 0);
    assert_eq!(e, Err(LinuxError::EINVAL));
    assert!(
        s.areas().all(|a| a.start() >= va(MIN)),
        "nothing mapped below"
    );
    s.set_mmap_privileged(true);
    assert_eq!(map(&mut s, 0, FIX), Ok(0));
    s.write_bytes(va(0), b"page zero").unwrap();
    assert_eq!(read(&mut s, 0, 9), b"page zero");
    // Below the limit is checked before an occupied NOREPLACE target.
    s.set_mmap_privileged(false);
    assert_eq!(map(&mut s, 0, NOREPLACE), Err(LinuxError::EPERM));
    s.set_mmap_privileged(true);
    assert_eq!(map(&mut s, 0, NOREPLACE), Err(LinuxError::EEXIST));
    drop(s);
    assert_no_leak();
}

#[test]
fn mremap_to_zero() {
    let mut s = from_zero();
    let src = map(&mut s, 0, ANON).unwrap();
    s.write_bytes(va(src), b"moved").unwrap();
    let e = s.mremap(va(src), P, P, MOVE, va(0));
    assert_eq!(e, Err(LinuxError::EPERM), "unprivileged");
    assert_eq!(read(&mut s, src, 5), b"moved", "the source stays");
    s.set_mmap_privileged(true);
    assert_eq!(s.mremap(va(src), P, 2 * P, MOVE, va(0)), Ok(va(0)));
    assert_eq!(read(&mut s, 0, 5), b"moved");
    assert!(s.find_area(va(src)).is_none());
    // MAYMOVE alone places as mmap does: at or above the limit.
    assert_eq!(
        map(&mut s, 2 * P, FIX),
        Ok(2 * P),
        "blocks growing in place"
    );
    let at = s.mremap(va(0), 2 * P, 64 * P, MremapFlags::MAYMOVE, va(0));
    assert!(at.unwrap() >= va(MIN));
    drop(s);
    assert_no_leak();
}

#[test]
fn fork_keeps_the_limit_not_the_privilege() {
    let mut s = from_zero();
    s.set_mmap_min_addr(0x2_0000);
    s.set_mmap_privileged(true);
    let mut child = s.fork().unwrap();
    assert_eq!(child.mmap_min_addr(), va(0x2_0000));
    assert_eq!(map(&mut child, P, FIX), Err(LinuxError::EPERM));
}

#[test]
fn shmat_below_the_limit() {
    let mut s = from_zero();
    let reg = ShmRegistry::<CountingHandler>::default();
    let ctx = ShmContext { pid: 1, now: 1 };
    let id = reg.shmget(IPC_PRIVATE, P, 0o600, ctx).unwrap();
    let placed = reg.shmat(&mut s, id, None, 0, ctx).unwrap();
    assert!(placed >= va(MIN), "{placed:?}");
    let e = reg.shmat(&mut s, id, Some(va(P)), 0, ctx);
    assert_eq!(e, Err(LinuxError::EPERM));
    // SHM_RND may round down to 0: a fixed attach at 0, root only.
    let e = reg.shmat(&mut s, id, Some(va(0x10)), SHM_RND, ctx);
    assert_eq!(e, Err(LinuxError::EPERM));
    s.set_mmap_privileged(true);
    assert_eq!(
        reg.shmat(&mut s, id, Some(va(0x10)), SHM_RND, ctx),
        Ok(va(0))
    );
    assert_eq!(reg.shmat(&mut s, id, Some(va(P)), 0, ctx), Ok(va(P)));
    for at in [placed, va(0), va(P)] {
        reg.shmdt(&mut s, at, ctx).unwrap();
    }
    drop(s);
    drop(reg);
    assert_no_leak();
}
