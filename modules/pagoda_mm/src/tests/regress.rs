//! Regression tests for the differences from Linux a differential test found (bugs 2-9;
//! bug 1 is `writeonly.rs`, bug 7 the table in `linux.rs`). Linux's behaviour was
//! measured on this host with `tests/linux/probe.c`.

use alloc::sync::Arc;
use alloc::vec;

use memory_addr::{PAGE_SIZE_4K, VirtAddrRange};
use page_table_entry::MappingFlags;

use super::*;
use crate::shm::{IPC_PRIVATE, ShmContext, ShmLimits, ShmRegistry};
use crate::testing::{Cpu, CpuFault};
use crate::{Advice, File, LinuxError, MemFile, MmapFlags, MremapFlags, Populate, SharedMem};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const SHARED_ANON: MmapFlags = MmapFlags::SHARED.union(MmapFlags::ANONYMOUS);
const FIX: MmapFlags = MmapFlags::FIXED;
const BASE: usize = 0x3_0000_0000;

fn prot_of(s: &Space, at: usize) -> Option<MappingFlags> {
    s.find_area(va(at))
        .map(|a| a.flags() & MappingFlags::ACCESS)
}

#[test]
fn bug2_mremap_grown_shared_anonymous_pages_are_bus_errors() {
    let mut s = setup();
    let a = s.mmap(va(0), P, RW, SHARED_ANON, None, 0).unwrap();
    s.write_bytes(a, b"shared").unwrap();
    let mut cpu = Cpu::new();
    // In place and moved: the object keeps its size, as Linux's shmem file does.
    let b = s.mremap(a, P, 2 * P, MremapFlags::MAYMOVE, va(0)).unwrap();
    let mut buf = [0u8; 6];
    cpu.read(&mut s, b, &mut buf).unwrap();
    assert_eq!(&buf, b"shared");
    assert_eq!(
        cpu.read(&mut s, b + P, &mut buf),
        Err(CpuFault::Bus { addr: b + P })
    );
    let obj = s.find_area(b).unwrap().backend().shared_object().unwrap();
    assert_eq!(obj.size(), P);
    drop((cpu, s));
    assert_no_leak();
}

#[test]
fn bug3_shared_validate_anonymous_is_einval() {
    let mut s = setup();
    let flags = MmapFlags::SHARED_VALIDATE | MmapFlags::ANONYMOUS;
    assert_eq!(
        s.mmap(va(0), P, RW, flags, None, 0),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(s.areas().count(), 0);
}

#[test]
fn bug4_anonymous_mmap_with_an_unaligned_offset_is_einval() {
    let mut s = setup();
    for flags in [ANON, SHARED_ANON] {
        assert_eq!(
            s.mmap(va(0), P, RW, flags, None, 0x123),
            Err(LinuxError::EINVAL)
        );
    }
    // An aligned offset is ignored for anonymous memory.
    s.mmap(va(0), P, RW, ANON, None, 0x1000).unwrap();
}

#[test]
fn bug5_mremap_shrinks_across_holes_and_areas() {
    let mut s = setup();
    s.mmap(va(BASE), P, RW, ANON | FIX, None, 0).unwrap();
    s.mmap(va(BASE + 2 * P), P, RW, ANON | FIX, None, 0)
        .unwrap();
    // [BASE, BASE + 3P) has a hole in the middle: shrinking to one page unmaps the rest.
    let none = MremapFlags::empty();
    assert_eq!(s.mremap(va(BASE), 3 * P, P, none, va(0)), Ok(va(BASE)));
    assert!(s.find_area(va(BASE + 2 * P)).is_none());
    assert!(s.find_area(va(BASE)).is_some());
    // Keeping the size over three areas changes nothing.
    s.mmap(va(BASE + P), P, R, ANON | FIX, None, 0).unwrap();
    s.mmap(va(BASE + 2 * P), P, RW, ANON | FIX, None, 0)
        .unwrap();
    assert_eq!(s.mremap(va(BASE), 3 * P, 3 * P, none, va(0)), Ok(va(BASE)));
    assert_eq!(s.areas().count(), 3);
    // Nothing at the start is still EFAULT (also when shrinking).
    s.munmap(va(BASE), P).unwrap();
    assert_eq!(
        s.mremap(va(BASE), 2 * P, P, none, va(0)),
        Err(LinuxError::EFAULT)
    );
}

/// A space with its heap at `BASE` and a read-only page mapped at `BASE + 4P`.
fn heap_below_a_mapping() -> Space {
    let mut s = setup();
    s.set_heap_start(va(BASE)).unwrap();
    s.mmap(va(BASE + 4 * P), P, R, ANON | FIX, None, 0).unwrap();
    s
}

#[test]
fn bug6_brk_keeps_a_free_page_above_the_break() {
    let mut s = heap_below_a_mapping();
    // Linux (B1, B2, B2b): the page after the rounded-up break must stay free.
    assert_eq!(s.brk(va(BASE + 4 * P)), va(BASE));
    assert_eq!(s.brk(va(BASE + 3 * P + 1)), va(BASE));
    assert_eq!(s.brk(va(BASE + 3 * P)), va(BASE + 3 * P));
    assert_eq!(
        s.heap(),
        Some(VirtAddrRange::new(va(BASE), va(BASE + 3 * P)))
    );
    // Below the start (B6): refused.
    assert_eq!(s.brk(va(BASE - P)), va(BASE + 3 * P));
}

#[test]
fn bug6_brk_shrinks_only_over_something_mapped() {
    let mut s = heap_below_a_mapping();
    assert_eq!(s.brk(va(BASE + 3 * P)), va(BASE + 3 * P));
    // The heap's pages were unmapped behind brk's back (B3): shrinking is refused.
    s.munmap(va(BASE), 3 * P).unwrap();
    assert_eq!(s.brk(va(BASE + P)), va(BASE + 3 * P));
    // Something else mapped there (B4): brk moves and unmaps it.
    s.mmap(va(BASE + 2 * P), P, RW, ANON | FIX, None, 0)
        .unwrap();
    assert_eq!(s.brk(va(BASE + P)), va(BASE + P));
    assert!(s.find_area(va(BASE + 2 * P)).is_none());
    // Within the last page (B5): the break moves even with nothing mapped.
    assert_eq!(s.brk(va(BASE + P + 5)), va(BASE + P + 5));
}

#[test]
fn bug8_mprotect_is_all_or_nothing_and_mprotect_linux_stops_at_the_hole() {
    let mut s = setup();
    s.mmap(va(BASE), P, RW, ANON | FIX, None, 0).unwrap();
    s.mmap(va(BASE + 2 * P), P, RW, ANON | FIX, None, 0)
        .unwrap();
    assert_eq!(s.mprotect(va(BASE), 3 * P, R), Err(LinuxError::ENOMEM));
    assert_eq!(prot_of(&s, BASE), Some(RW), "all or nothing");
    // Linux (P5): the page before the hole changes, the one after it does not.
    assert_eq!(
        s.mprotect_linux(va(BASE), 3 * P, R),
        Err(LinuxError::ENOMEM)
    );
    assert_eq!(prot_of(&s, BASE), Some(R));
    assert_eq!(prot_of(&s, BASE + 2 * P), Some(RW));
    // A hole at the start (P8): nothing changes either way.
    assert_eq!(
        s.mprotect_linux(va(BASE + P), 2 * P, MappingFlags::empty()),
        Err(LinuxError::ENOMEM)
    );
    assert_eq!(prot_of(&s, BASE + 2 * P), Some(RW));
    // The page table follows the areas: the changed page is read-only.
    assert!(!pte_flags_at(&mut s, BASE).contains(MappingFlags::WRITE));
}

fn pte_flags_at(s: &mut Space, at: usize) -> MappingFlags {
    s.handle_page_fault(va(at), MappingFlags::READ).unwrap();
    pte(s, at).unwrap().1
}

#[test]
fn bug8_mprotect_linux_stops_at_a_read_only_attachment() {
    let mut s = setup();
    let reg = ShmRegistry::<page_table_multiarch::testing::CountingHandler>::default();
    let ctx = ShmContext { pid: 1, now: 1 };
    let id = reg.shmget(IPC_PRIVATE, P, 0o600, ctx).unwrap();
    s.mmap(va(BASE), P, R, ANON | FIX, None, 0).unwrap();
    let rdonly = crate::shm::SHM_RDONLY;
    reg.shmat(&mut s, id, Some(va(BASE + P)), rdonly, ctx)
        .unwrap();
    assert_eq!(s.mprotect(va(BASE), 2 * P, RW), Err(LinuxError::EACCES));
    assert_eq!(prot_of(&s, BASE), Some(R));
    assert_eq!(
        s.mprotect_linux(va(BASE), 2 * P, RW),
        Err(LinuxError::EACCES)
    );
    assert_eq!(prot_of(&s, BASE), Some(RW));
    assert_eq!(prot_of(&s, BASE + P), Some(R));
    reg.shmdt(&mut s, va(BASE + P), ctx).unwrap();
    drop(s);
    drop(reg);
    assert_no_leak();
}

#[test]
fn bug9_offsets_outside_the_area_are_none() {
    let mut s = setup();
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; P]));
    let f = s
        .mmap(va(BASE + P), P, R, MmapFlags::PRIVATE | FIX, Some(file), 0)
        .unwrap();
    let backend = s.find_area(f).unwrap().backend();
    assert_eq!(backend.file_offset(f + 5), Some(5));
    assert_eq!(backend.file_offset(va(BASE)), None, "below the area");
    assert_eq!(backend.file_offset(f + P), None, "above the area");
    let m = s.mmap(va(0), P, RW, SHARED_ANON, None, 0).unwrap();
    let backend = s.find_area(m).unwrap().backend();
    assert_eq!(backend.shared_offset(m), Some(0));
    assert_eq!(backend.shared_offset(va(usize::MAX)), None);
    assert_eq!(backend.shared_offset(va(0)), None);
    // The largest file offset: no overflow computing byte offsets.
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; P]));
    let top = !(P as u64 - 1);
    s.map_file_private(va(BASE + 8 * P), P, R, file, top)
        .unwrap();
    let backend = s.find_area(va(BASE + 8 * P)).unwrap().backend();
    assert_eq!(backend.file_offset(va(BASE + 8 * P + 7)), Some(top + 7));
    assert!(s.to_string().contains("fffffffffffff000"), "{s}");
}

#[test]
fn bug9_set_heap_start_checks_its_argument() {
    let mut s = setup();
    assert_eq!(s.set_heap_start(va(usize::MAX)), Err(LinuxError::EINVAL));
    assert_eq!(s.set_heap_start(va(USER_END + 1)), Err(LinuxError::EINVAL));
    assert_eq!(s.set_heap_start(va(0)), Err(LinuxError::EINVAL));
    assert_eq!(s.heap(), None);
    s.set_heap_start(va(USER_END)).unwrap();
    assert_eq!(s.brk(va(USER_END)), va(USER_END));
    assert_eq!(s.brk(va(usize::MAX)), va(USER_END));
}

/// Every public entry point with extreme arguments: errors, never (debug) panics.
#[test]
fn bug9_public_api_never_panics_on_extreme_arguments() {
    let mut s = setup();
    let max = va(usize::MAX);
    let top = va(usize::MAX & !(P - 1));
    let _ = s.find_free_area(max, usize::MAX);
    let _ = s.find_free_area(va(0), usize::MAX);
    s.set_mmap_top(max);
    let _ = s.mmap(max, usize::MAX, RW, ANON, None, u64::MAX);
    let _ = s.mmap(top, P, RW, ANON | FIX, None, 0);
    let _ = s.mmap(va(0), P, RW, MmapFlags::all(), None, !0xfff_u64);
    let _ = s.map_alloc(top, P, RW, Populate::Eager);
    let _ = s.map_alloc(va(P), usize::MAX & !(P - 1), RW, Populate::Lazy);
    let obj = SharedMem::new(P).unwrap();
    let _ = s.map_shared(va(BASE), P, RW, obj.clone(), usize::MAX, None);
    let _ = s.mmap_shared(
        va(0),
        &obj,
        usize::MAX & !(P - 1),
        P,
        RW,
        MmapFlags::empty(),
    );
    let _ = s.mmap_shared(max, &obj, 0, usize::MAX, RW, FIX);
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; P]));
    let _ = s.map_file_private(top, P, RW, file.clone(), !0xfff_u64);
    let _ = s.mmap(
        va(0),
        P,
        RW,
        MmapFlags::SHARED,
        Some(file),
        i64::MAX as u64 & !0xfff,
    );
    let _ = s.munmap(top, usize::MAX);
    let _ = s.mprotect(top, usize::MAX, RW);
    let _ = s.mprotect_linux(top, P, RW);
    let _ = s.mremap(top, usize::MAX, usize::MAX, MremapFlags::all(), top);
    let _ = s.mremap(top, P, P, MremapFlags::all(), va(0));
    let _ = s.msync(top, usize::MAX, crate::MsyncFlags::SYNC);
    let _ = s.madvise(top, usize::MAX, crate::Advice::DontNeed);
    let _ = s.handle_page_fault(max, MappingFlags::all());
    let _ = s.read_bytes(max, &mut [0u8; 2]);
    let _ = s.write_bytes(top, &[0u8; P + 1]);
    let _ = s.force_write_bytes(max, &[1]);
    let _ = s.read_cstr(va(usize::MAX - 1), usize::MAX);
    let _ = s.frame_at(max);
    let _ = s.frame_is_exclusive(max);
    let _ = s.find_area(max);
    let _ = s.areas_in(VirtAddrRange::new(va(0), max)).count();
    let _ = s.brk(max);
    let _ = s.set_heap_start(top);
    let _ = s.brk(max);
    let mut cpu = Cpu::new();
    let _ = cpu.read(&mut s, max, &mut [0u8; 2]);
    let _ = cpu.write(&mut s, top, &[0u8; P + 1]);
    let reg = ShmRegistry::<page_table_multiarch::testing::CountingHandler>::new(ShmLimits {
        max_size: usize::MAX,
        max_total_pages: usize::MAX,
        max_segments: usize::MAX,
    });
    let ctx = ShmContext {
        pid: u32::MAX,
        now: u64::MAX,
    };
    let _ = reg.shmget(IPC_PRIVATE, usize::MAX, 0o600, ctx);
    if let Ok(id) = reg.shmget(IPC_PRIVATE, P, 0o600, ctx) {
        let _ = reg.shmat(&mut s, id, Some(max), crate::shm::SHM_RND, ctx);
        let _ = reg.shmat(&mut s, id, Some(top), 0, ctx);
        let _ = reg.shmdt(&mut s, max, ctx);
        let _ = reg.remove(id);
    }
    drop((cpu, s, reg, obj));
    assert_no_leak();
}

#[test]
fn mremap_with_old_len_zero_maps_a_shared_mapping_again() {
    let mut s = setup();
    let a = s.mmap(va(0), P, RW, SHARED_ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    cpu.write(&mut s, a, b"hello").unwrap();
    let b = s.mremap(a, 0, P, MremapFlags::MAYMOVE, va(0)).unwrap();
    assert_ne!(a, b);
    cpu.write(&mut s, b, b"J").unwrap();
    let mut buf = [0u8; 5];
    cpu.read(&mut s, a, &mut buf).unwrap();
    assert_eq!(&buf, b"Jello", "both map the same object");
    let private = s.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    let may = MremapFlags::MAYMOVE;
    assert_eq!(s.mremap(private, 0, P, may, va(0)), Err(LinuxError::EINVAL));
    drop((cpu, s));
    assert_no_leak();
}

/// `linux_diff` seed 5: `MAP_STACK` (Linux >= 6.7) and `MADV_NOHUGEPAGE` /
/// `MADV_HUGEPAGE` give an area `VM_NOHUGEPAGE` / `VM_HUGEPAGE`, which keeps it apart from
/// neighbours without it: a resizing `mremap` across it spans several areas (`EFAULT`).
/// Opposite advice on the middle page makes the three pages one area again.
#[test]
fn huge_page_advice_keeps_areas_apart() {
    let mut s = setup();
    let none = MappingFlags::empty();
    let may_fix = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    for how in 0..3 {
        s.mmap(va(BASE), 24 * P, none, ANON | FIX, None, 0).unwrap();
        match how {
            0 => drop(s.mmap(
                va(BASE + 2 * P),
                P,
                none,
                ANON | FIX | MmapFlags::STACK,
                None,
                0,
            )),
            1 => s.madvise(va(BASE + 2 * P), P, Advice::NoHugePage).unwrap(),
            _ => s.madvise(va(BASE + 2 * P), P, Advice::HugePage).unwrap(),
        }
        let r = s.mremap(va(BASE + P), 3 * P, 2 * P, may_fix, va(BASE + 4 * P));
        assert_eq!(r, Err(LinuxError::EFAULT), "case {how}");
        s.munmap(va(BASE), 24 * P).unwrap();
    }
    // Advice that matches the neighbours again merges the areas.
    s.mmap(va(BASE), 24 * P, none, ANON | FIX, None, 0).unwrap();
    s.madvise(va(BASE + 2 * P), P, Advice::HugePage).unwrap();
    s.madvise(va(BASE), 24 * P, Advice::NoHugePage).unwrap();
    let r = s.mremap(va(BASE + P), 3 * P, 2 * P, may_fix, va(BASE + 4 * P));
    assert_eq!(r, Ok(va(BASE + 4 * P)));
    drop(s);
    assert_no_leak();
}
