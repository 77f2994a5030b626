//! Anonymous and linear areas, the mmap family, user access, display.

use alloc::string::ToString;

use memory_addr::{PAGE_SIZE_2M, PAGE_SIZE_4K};
use page_table_entry::MappingFlags;
use page_table_multiarch::PageSize;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::{Advice, FaultError, LinuxError, MmapFlags, MremapFlags, Populate};

const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const P: usize = PAGE_SIZE_4K;

fn mmap_anon(s: &mut Space, len: usize, prot: MappingFlags) -> usize {
    s.mmap(va(0), len, prot, ANON, None, 0).unwrap().as_usize()
}

#[test]
fn lazy_alloc_allocates_on_first_touch_only() {
    let mut s = setup();
    let base = CountingHandler::live_frames();
    let a = mmap_anon(&mut s, 16 * P, RW);
    assert_eq!(CountingHandler::live_frames(), base, "lazy mmap allocated");
    assert!(pte(&s, a).is_none());
    s.handle_page_fault(va(a + 5 * P + 17), MappingFlags::WRITE)
        .unwrap();
    let (_, flags, size) = pte(&s, a + 5 * P).unwrap();
    assert_eq!(size, PageSize::Size4K);
    assert!(flags.contains(URW));
    assert!(pte(&s, a + 4 * P).is_none());
    assert_eq!(read(&mut s, a + 5 * P, 8), [0; 8], "fresh page not zero");
    drop(s);
    assert_no_leak();
}

#[test]
fn populated_alloc_maps_everything_and_frees_everything() {
    let mut s = setup();
    s.map_alloc(va(0x10_0000), 8 * P, URW, Populate::Eager)
        .unwrap();
    for i in 0..8 {
        assert!(pte(&s, 0x10_0000 + i * P).is_some());
    }
    assert_eq!(
        s.find_area(va(0x10_0000))
            .unwrap()
            .backend()
            .resident_pages(),
        8
    );
    assert_eq!(
        s.map_alloc(va(0x10_0000 + 4 * P), P, URW, Populate::Lazy),
        Err(LinuxError::EEXIST)
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn linear_uses_huge_pages_and_splits_on_partial_unmap() {
    let mut s = setup();
    let start = 0x4000_0000;
    let r = region(0x8020_0000, 2 * PAGE_SIZE_2M);
    s.map_linear(va(start), r, RW, PageSize::Size1G).unwrap();
    let (pa, _, size) = pte(&s, start + 0x1234).unwrap();
    assert_eq!(size, PageSize::Size2M);
    assert_eq!(pa, 0x8020_1234);
    s.munmap(va(start + P), P).unwrap();
    assert!(pte(&s, start + P).is_none());
    assert_eq!(pte(&s, start + 2 * P).unwrap().0, 0x8020_2000);
    // Linear areas own no frames: no user access through them.
    assert_eq!(
        s.read_bytes(va(start), &mut [0u8; 4]),
        Err(LinuxError::EFAULT)
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn mmap_argument_errors() {
    let mut s = setup();
    let e = |r: Result<_, LinuxError>| r.unwrap_err();
    assert_eq!(e(s.mmap(va(0), 0, RW, ANON, None, 0)), LinuxError::EINVAL);
    assert_eq!(
        e(s.mmap(va(0), P, RW, MmapFlags::ANONYMOUS, None, 0)),
        LinuxError::EINVAL
    );
    assert_eq!(
        e(s.mmap(va(0), P, MappingFlags::USER, ANON, None, 0)),
        LinuxError::EINVAL
    );
    assert_eq!(
        e(s.mmap(va(0x1001), P, RW, ANON | MmapFlags::FIXED, None, 0)),
        LinuxError::EINVAL
    );
    assert_eq!(
        e(s.mmap(va(0), P, RW, MmapFlags::PRIVATE, None, 0)),
        LinuxError::EBADF
    );
    assert_eq!(
        e(s.mmap(va(0), usize::MAX, RW, ANON, None, 0)),
        LinuxError::ENOMEM
    );
    assert_eq!(
        e(s.mmap(va(USER_END), P, RW, ANON | MmapFlags::FIXED, None, 0)),
        LinuxError::ENOMEM
    );
    let unknown = MmapFlags::from_bits_retain(0x4000_0000);
    assert_eq!(
        e(s.mmap(
            va(0),
            P,
            RW,
            MmapFlags::SHARED_VALIDATE | MmapFlags::ANONYMOUS | unknown,
            None,
            0
        )),
        LinuxError::EINVAL
    );
    assert_eq!(s.areas().count(), 0);
}

#[test]
fn mmap_placement_hint_fixed_and_noreplace() {
    let mut s = setup();
    // Top-down below the mmap top.
    let a = mmap_anon(&mut s, P, RW);
    assert_eq!(a, USER_END - P);
    let b = mmap_anon(&mut s, 2 * P, RW);
    assert_eq!(b, USER_END - 3 * P);
    // A free hint is used; an occupied one is not.
    let h = s
        .mmap(va(0x50_0123), P, RW, ANON, None, 0)
        .unwrap()
        .as_usize();
    assert_eq!(h, 0x50_0000);
    let h2 = s
        .mmap(va(0x50_0000), P, RW, ANON, None, 0)
        .unwrap()
        .as_usize();
    assert_ne!(h2, 0x50_0000);
    // FIXED_NOREPLACE fails on overlap, FIXED replaces (and drops the old contents).
    s.write_bytes(va(0x50_0000), b"old").unwrap();
    let r = s.mmap(
        va(0x50_0000),
        P,
        RW,
        ANON | MmapFlags::FIXED_NOREPLACE,
        None,
        0,
    );
    assert_eq!(r, Err(LinuxError::EEXIST));
    assert_eq!(read(&mut s, 0x50_0000, 3), b"old");
    s.mmap(va(0x4f_f000), 3 * P, RW, ANON | MmapFlags::FIXED, None, 0)
        .unwrap();
    assert_eq!(read(&mut s, 0x50_0000, 3), [0; 3]);
    assert_eq!(
        s.find_area(va(0x50_0000)).unwrap().start().as_usize(),
        0x4f_f000
    );
    // With a lower mmap top, placement starts there.
    s.set_mmap_top(va(0x1000_0000));
    assert_eq!(mmap_anon(&mut s, P, RW), 0x1000_0000 - P);
    drop(s);
    assert_no_leak();
}

#[test]
fn munmap_every_overlap_case() {
    let mut s = setup();
    let base = 0x100_0000;
    s.map_alloc(va(base), 10 * P, URW, Populate::Eager).unwrap();
    s.map_alloc(va(base + 12 * P), 4 * P, URW, Populate::Eager)
        .unwrap();
    let live = CountingHandler::live_frames();
    assert_eq!(s.munmap(va(base), 0), Err(LinuxError::EINVAL));
    assert_eq!(s.munmap(va(base + 1), P), Err(LinuxError::EINVAL));
    assert_eq!(
        s.munmap(va(usize::MAX & !0xfff), 2 * P),
        Err(LinuxError::EINVAL)
    );
    // Middle (split), front, back, then a range spanning a hole and two areas.
    s.munmap(va(base + 4 * P), P).unwrap();
    assert_eq!(CountingHandler::live_frames(), live - 1);
    s.munmap(va(base), P).unwrap();
    s.munmap(va(base + 9 * P), 1).unwrap(); // len rounds up
    assert_eq!(s.areas().count(), 3);
    s.munmap(va(base + 8 * P), 6 * P).unwrap();
    assert_eq!(CountingHandler::live_frames(), live - 3 - 1 - 2);
    for (page, mapped) in [
        (0, false),
        (1, true),
        (4, false),
        (7, true),
        (8, false),
        (13, false),
        (14, true),
    ] {
        assert_eq!(pte(&s, base + page * P).is_some(), mapped, "page {page}");
    }
    // Unmapping nothing is fine.
    s.munmap(va(0x200_0000), 100 * P).unwrap();
    drop(s);
    assert_no_leak();
}

#[test]
fn mprotect_read_only_lazy_area_never_maps_a_fresh_page() {
    let mut s = setup();
    let a = mmap_anon(&mut s, 4 * P, RW);
    s.write_bytes(va(a), b"data").unwrap();
    s.mprotect(va(a), 4 * P, R).unwrap();
    let live = CountingHandler::live_frames();
    // A write to a touched and to an untouched page: both refused, nothing allocated.
    assert_eq!(
        s.handle_page_fault(va(a), MappingFlags::WRITE),
        Err(FaultError::Segv)
    );
    assert_eq!(
        s.handle_page_fault(va(a + P), MappingFlags::WRITE),
        Err(FaultError::Segv)
    );
    assert_eq!(s.write_bytes(va(a + P), b"x"), Err(LinuxError::EFAULT));
    assert_eq!(CountingHandler::live_frames(), live);
    assert!(pte(&s, a + P).is_none());
    assert!(!pte(&s, a).unwrap().1.contains(MappingFlags::WRITE));
    assert_eq!(read(&mut s, a, 4), b"data");
    // Read faults still work on the lazy part.
    s.handle_page_fault(va(a + 2 * P), MappingFlags::READ)
        .unwrap();
    // Back to RW: the write goes through and keeps the data.
    s.mprotect(va(a), 4 * P, RW).unwrap();
    s.handle_page_fault(va(a), MappingFlags::WRITE).unwrap();
    assert!(pte(&s, a).unwrap().1.contains(MappingFlags::WRITE));
    assert_eq!(read(&mut s, a, 4), b"data");
    drop(s);
    assert_no_leak();
}

#[test]
fn mprotect_none_then_munmap_frees_exactly() {
    let mut s = setup();
    let a = mmap_anon(&mut s, 3 * P, RW);
    s.write_bytes(va(a), &[7; 3 * P]).unwrap();
    let live = CountingHandler::live_frames();
    s.mprotect(va(a + P), P, MappingFlags::empty()).unwrap();
    assert_eq!(s.areas().count(), 3);
    let (_, flags, _) = pte(&s, a + P).unwrap();
    assert!(flags.is_empty(), "PROT_NONE page still accessible");
    assert_eq!(
        s.handle_page_fault(va(a + P), MappingFlags::READ),
        Err(FaultError::Segv)
    );
    assert_eq!(s.read_bytes(va(a + P), &mut [0]), Err(LinuxError::EFAULT));
    s.munmap(va(a + P), P).unwrap();
    assert_eq!(CountingHandler::live_frames(), live - 1);
    // Write-only and exec areas.
    s.mprotect(va(a), P, MappingFlags::WRITE).unwrap();
    s.handle_page_fault(va(a), MappingFlags::READ).unwrap();
    assert_eq!(
        s.handle_page_fault(va(a), MappingFlags::EXECUTE),
        Err(FaultError::Segv)
    );
    s.mprotect(va(a), P, MappingFlags::READ | MappingFlags::EXECUTE)
        .unwrap();
    s.handle_page_fault(va(a), MappingFlags::EXECUTE).unwrap();
    assert_eq!(
        s.mprotect(va(a), 3 * P, R),
        Err(LinuxError::ENOMEM),
        "hole must fail"
    );
    assert_eq!(s.mprotect(va(a + 1), P, R), Err(LinuxError::EINVAL));
    assert_eq!(
        s.mprotect(va(a), P, MappingFlags::USER),
        Err(LinuxError::EINVAL)
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn brk_grows_lazily_and_shrinks() {
    let mut s = setup();
    assert_eq!(s.brk(va(0x10_0000)).as_usize(), 0);
    s.set_heap_start(va(0x60_0100));
    assert_eq!(s.brk(va(0)).as_usize(), 0x60_1000);
    let live = CountingHandler::live_frames();
    assert_eq!(s.brk(va(0x60_3800)).as_usize(), 0x60_3800);
    assert_eq!(CountingHandler::live_frames(), live);
    s.write_bytes(va(0x60_37ff), b"x").unwrap();
    assert_eq!(s.write_bytes(va(0x60_4000), b"x"), Err(LinuxError::EFAULT));
    assert_eq!(s.brk(va(0x60_2000)).as_usize(), 0x60_2000);
    assert_eq!(
        s.read_bytes(va(0x60_37ff), &mut [0]),
        Err(LinuxError::EFAULT)
    );
    assert_eq!(s.brk(va(0x60_3800)).as_usize(), 0x60_3800);
    assert_eq!(read(&mut s, 0x60_37ff, 1), [0], "shrunk heap kept old data");
    // Growing into another mapping fails and keeps the break.
    s.map_alloc(va(0x60_8000), P, URW, Populate::Lazy).unwrap();
    assert_eq!(s.brk(va(0x60_9000)).as_usize(), 0x60_3800);
    assert_eq!(s.brk(va(0x10)).as_usize(), 0x60_3800);
    assert!(s.to_string().contains("[heap]"));
    assert_eq!(
        s.areas()
            .filter(|a| a.start() >= va(0x60_1000) && a.end() <= va(0x60_4000))
            .count(),
        1
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn madvise_dontneed_zeroes_anonymous_memory() {
    let mut s = setup();
    let a = mmap_anon(&mut s, 4 * P, RW);
    s.write_bytes(va(a), &[9; 4 * P]).unwrap();
    let live = CountingHandler::live_frames();
    s.madvise(va(a + P), 2 * P, Advice::DontNeed).unwrap();
    assert_eq!(CountingHandler::live_frames(), live - 2);
    assert_eq!(read(&mut s, a + P, 2), [0, 0]);
    assert_eq!(read(&mut s, a, 1), [9]);
    assert_eq!(
        s.madvise(va(a), 8 * P, Advice::DontNeed),
        Err(LinuxError::ENOMEM)
    );
    assert_eq!(
        s.madvise(va(a + 3), P, Advice::Normal),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(Advice::try_from(99), Err(LinuxError::EINVAL));
    drop(s);
    assert_no_leak();
}

#[test]
fn mremap_shrink_grow_and_move_keep_contents() {
    let mut s = setup();
    let a = 0x100_0000;
    s.mmap(va(a), 2 * P, RW, ANON | MmapFlags::FIXED, None, 0)
        .unwrap();
    s.write_bytes(va(a), b"first").unwrap();
    s.write_bytes(va(a + P), b"second").unwrap();
    // Grow in place.
    let r = s
        .mremap(va(a), 2 * P, 4 * P, MremapFlags::empty(), va(0))
        .unwrap();
    assert_eq!(r.as_usize(), a);
    s.write_bytes(va(a + 3 * P), b"grown").unwrap();
    // Blocked: fails without MAYMOVE, moves with it.
    s.map_alloc(va(a + 4 * P), P, URW, Populate::Lazy).unwrap();
    assert_eq!(
        s.mremap(va(a), 4 * P, 8 * P, MremapFlags::empty(), va(0)),
        Err(LinuxError::ENOMEM)
    );
    let frames: alloc::vec::Vec<_> = [0, 1, 3].map(|i| pte(&s, a + i * P).unwrap().0).into();
    let m = s
        .mremap(va(a), 4 * P, 8 * P, MremapFlags::MAYMOVE, va(0))
        .unwrap()
        .as_usize();
    assert_ne!(m, a);
    let moved: alloc::vec::Vec<_> = [0, 1, 3].map(|i| pte(&s, m + i * P).unwrap().0).into();
    assert_eq!(frames, moved, "move copied frames");
    assert_eq!(read(&mut s, m, 5), b"first");
    assert_eq!(read(&mut s, m + P, 6), b"second");
    assert_eq!(read(&mut s, m + 3 * P, 5), b"grown");
    assert_eq!(read(&mut s, m + 7 * P, 1), [0]);
    assert!(s.find_area(va(a)).is_none());
    // A moved page is reused (not copied) on write.
    let pa = pte(&s, m).unwrap().0;
    s.write_bytes(va(m), b"F").unwrap();
    assert_eq!(pte(&s, m).unwrap().0, pa);
    // Shrink, fixed move, errors.
    assert_eq!(
        s.mremap(va(m), 8 * P, 2 * P, MremapFlags::empty(), va(0))
            .unwrap()
            .as_usize(),
        m
    );
    assert!(s.find_area(va(m + 2 * P)).is_none());
    let f = 0x300_0000;
    let flags = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    assert_eq!(
        s.mremap(va(m), 2 * P, 2 * P, flags, va(f))
            .unwrap()
            .as_usize(),
        f
    );
    assert_eq!(read(&mut s, f, 5), b"First");
    assert_eq!(
        s.mremap(va(f), 2 * P, P, MremapFlags::FIXED, va(0)),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        s.mremap(va(f), 2 * P, 2 * P, flags, va(f + P)),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        s.mremap(va(f), 3 * P, P, MremapFlags::empty(), va(0)),
        Err(LinuxError::EFAULT)
    );
    assert_eq!(
        s.mremap(va(f), 0, P, MremapFlags::empty(), va(0)),
        Err(LinuxError::EINVAL)
    );
    drop(s);
    assert_no_leak();
}

#[test]
fn uaccess_faults_in_checks_and_reads_strings() {
    let mut s = setup();
    let a = mmap_anon(&mut s, 2 * P, RW);
    // Crossing a page boundary, both pages lazy.
    s.write_bytes(va(a + P - 3), b"hello\0world").unwrap();
    assert_eq!(s.read_cstr(va(a + P - 3), 64).unwrap(), b"hello");
    assert_eq!(s.read_cstr(va(a + P - 3), 4), Err(LinuxError::ENAMETOOLONG));
    assert_eq!(
        s.read_bytes(va(a + 2 * P - 1), &mut [0; 2]),
        Err(LinuxError::EFAULT)
    );
    assert_eq!(
        s.read_bytes(va(usize::MAX), &mut [0; 2]),
        Err(LinuxError::EFAULT)
    );
    assert_eq!(s.read_bytes(va(0), &mut [0; 1]), Err(LinuxError::EFAULT));
    s.mprotect(va(a), P, R).unwrap();
    assert_eq!(s.write_bytes(va(a), b"x"), Err(LinuxError::EFAULT));
    s.force_write_bytes(va(a), b"X").unwrap();
    assert_eq!(read(&mut s, a, 2), [b'X', 0]);
    assert_eq!(read(&mut s, a + P - 3, 3), b"hel");
    drop(s);
    assert_no_leak();
}

#[test]
fn faults_never_panic_on_odd_addresses() {
    let mut s = setup();
    mmap_anon(&mut s, P, RW);
    for addr in [
        0,
        1,
        0xfff,
        USER_END,
        USER_END - 2 * P,
        usize::MAX,
        1 << 63,
        0x7fff_ffff_ffff,
    ] {
        for access in [
            MappingFlags::READ,
            MappingFlags::WRITE,
            MappingFlags::EXECUTE,
        ] {
            assert_eq!(s.handle_page_fault(va(addr), access), Err(FaultError::Segv));
        }
    }
    // A user-mode access to a kernel-only area.
    s.map_alloc(va(0x10_0000), P, RW, Populate::Lazy).unwrap();
    assert_eq!(
        s.handle_page_fault(va(0x10_0000), MappingFlags::READ | MappingFlags::USER),
        Err(FaultError::Segv)
    );
    s.handle_page_fault(va(0x10_0000), MappingFlags::READ)
        .unwrap();
}

#[test]
fn display_is_proc_maps_style() {
    let mut s = setup();
    s.mmap(
        va(0x40_0000),
        2 * P,
        R | MappingFlags::EXECUTE,
        ANON | MmapFlags::FIXED,
        None,
        0,
    )
    .unwrap();
    let shared = MmapFlags::SHARED | MmapFlags::ANONYMOUS | MmapFlags::FIXED;
    s.mmap(va(0x50_0000), P, RW, shared, None, 0).unwrap();
    let text = s.to_string();
    let lines: alloc::vec::Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "00400000-00402000 r-xp 00000000 00:00 0");
    assert!(lines[1].starts_with("00500000-00501000 rw-s 00000000 00:00 0 "));
    assert!(lines[1].ends_with("/dev/zero (deleted)"));
}

#[test]
fn frames_are_freed_only_after_their_flush() {
    let mut s = setup();
    // A neighbour keeps the page tables alive, so only data frames change.
    s.map_alloc(va(0x10_0000), P, URW, Populate::Eager).unwrap();
    s.map_alloc(va(0x10_1000), 4 * P, URW, Populate::Eager)
        .unwrap();
    let live = CountingHandler::live_frames();
    take_flushes();
    s.munmap(va(0x10_1000), 4 * P).unwrap();
    let flushes = take_flushes();
    assert!(!flushes.is_empty(), "munmap issued no flush");
    assert!(
        flushes.iter().all(|&(_, l)| l == live),
        "freed before flush: {flushes:?}"
    );
    assert_eq!(CountingHandler::live_frames(), live - 4);
    drop(s);
    assert_no_leak();
}
