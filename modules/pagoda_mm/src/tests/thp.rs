//! Transparent huge pages: the policy's sysfs formats, blocks filled by a first touch
//! (through the CPU model), splitting by range operations, copy-on-write of a shared
//! block, soft-dirty on a PMD leaf, `MADV_COLLAPSE`, and the frames of every block freed
//! exactly once. The policy is per thread in host tests, so each test sets its own.

use alloc::sync::Arc;
use alloc::vec;

use axerrno::LinuxError;
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PageSize;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::testing::Cpu;
use crate::thp::{self, ThpMode, ThpOrderMode};
use crate::{Advice, ClearRefs, FaultOutcome, File, MemFile, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const HUGE: usize = 512 * P;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
/// A 2 MiB-aligned address with room for a few blocks.
const BASE: usize = 0x4000_0000;

/// An anonymous area of `blocks` 2 MiB blocks at `BASE` (plus a page on each side, so
/// that the blocks lie inside it), advised `MADV_HUGEPAGE`.
fn huge_area(s: &mut Space, blocks: usize) -> usize {
    let fixed = ANON | MmapFlags::FIXED;
    s.mmap(va(BASE - P), blocks * HUGE + 2 * P, RW, fixed, None, 0)
        .unwrap();
    s.madvise(va(BASE), blocks * HUGE, Advice::HugePage)
        .unwrap();
    BASE
}

fn leaf_size(s: &Space, at: usize) -> Option<PageSize> {
    pte(s, at).map(|(_, _, size)| size)
}

/// Whether the pages of `[at, at + n pages)` hold physically contiguous frames.
fn contiguous(s: &Space, at: usize, n: usize) -> bool {
    let first = s.frame_at(va(at)).map(|f| f.start_paddr().as_usize());
    (0..n).all(|i| {
        let pa = s
            .frame_at(va(at + i * P))
            .map(|f| f.start_paddr().as_usize());
        matches!((first, pa), (Some(f), Some(p)) if p == f + i * P)
    })
}

#[test]
fn settings_read_and_write_as_linux_sysfs_does() {
    assert_eq!(thp::mode(), ThpMode::Madvise);
    assert_eq!(alloc::format!("{}", thp::mode()), "always [madvise] never");
    assert_eq!(ThpMode::parse(b"always\n"), Ok(ThpMode::Always));
    assert_eq!(ThpMode::parse(b"never"), Ok(ThpMode::Never));
    for bad in [&b"inherit"[..], b"", b"always\n\n", b" always", b"[always]"] {
        assert_eq!(ThpMode::parse(bad), Err(LinuxError::EINVAL), "{bad:?}");
    }
    assert_eq!(thp::order_mode(9), Ok(ThpOrderMode::Inherit));
    assert_eq!(thp::order_mode(2), Ok(ThpOrderMode::Never));
    assert_eq!(
        alloc::format!("{}", ThpOrderMode::Inherit),
        "always [inherit] madvise never"
    );
    assert_eq!(ThpOrderMode::parse(b"madvise\n"), Ok(ThpOrderMode::Madvise));
    for order in [0, 1, 10] {
        assert_eq!(thp::order_mode(order), Err(LinuxError::EINVAL));
        assert_eq!(
            thp::set_order_mode(order, ThpOrderMode::Always),
            Err(LinuxError::EINVAL)
        );
    }
    assert_eq!(
        thp::orders().collect::<Vec<_>>(),
        (2..=9).collect::<Vec<_>>()
    );
}

#[test]
fn a_first_write_fills_a_pmd_leaf_and_the_whole_block_reads_zero() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    let mut cpu = Cpu::new();
    cpu.write(&mut s, va(a + 5), &[7]).unwrap();
    assert_eq!(cpu.faults_taken(), 1);
    assert_eq!(leaf_size(&s, a), Some(PageSize::Size2M));
    assert!(contiguous(&s, a, 512));
    assert!(CountingHandler::live_frames() >= 512);
    // Every page of the block is there: no further fault for the rest of it.
    let mut buf = vec![1u8; HUGE];
    cpu.read(&mut s, va(a), &mut buf).unwrap();
    cpu.write(&mut s, va(a + HUGE - 1), &[9]).unwrap();
    assert_eq!(cpu.faults_taken(), 1);
    assert_eq!(buf[5], 7);
    assert!(buf.iter().enumerate().all(|(i, &b)| i == 5 || b == 0));
    let area = s.find_area(va(a)).unwrap();
    assert!(s.area_info(area).thp_eligible);
    let huge = s
        .area_pages(area, va(a), va(a + HUGE))
        .filter(|p| p.huge)
        .count();
    assert_eq!(huge, 512);
    // Pages outside the aligned block stay 4K.
    cpu.write(&mut s, va(a - P), &[1]).unwrap();
    assert_eq!(leaf_size(&s, a - P), Some(PageSize::Size4K));
    drop(s);
    assert_no_leak();
}

#[test]
fn the_policy_decides_which_areas_get_blocks() {
    let mut s = setup();
    // Without advice under `madvise`: 4K pages.
    let fixed = ANON | MmapFlags::FIXED;
    s.mmap(va(BASE), HUGE, RW, fixed, None, 0).unwrap();
    s.write_bytes(va(BASE), &[1]).unwrap();
    assert_eq!(leaf_size(&s, BASE), Some(PageSize::Size4K));
    assert!(!s.area_info(s.find_area(va(BASE)).unwrap()).thp_eligible);
    // `always`: every eligible area; MADV_NOHUGEPAGE still refuses.
    thp::set_mode(ThpMode::Always);
    s.mmap(va(BASE + HUGE), 2 * HUGE, RW, fixed, None, 0)
        .unwrap();
    s.madvise(va(BASE + 2 * HUGE), HUGE, Advice::NoHugePage)
        .unwrap();
    s.write_bytes(va(BASE + HUGE), &[1]).unwrap();
    s.write_bytes(va(BASE + 2 * HUGE), &[1]).unwrap();
    assert_eq!(leaf_size(&s, BASE + HUGE), Some(PageSize::Size2M));
    assert_eq!(leaf_size(&s, BASE + 2 * HUGE), Some(PageSize::Size4K));
    // `never` for the PMD size: none, even advised.
    thp::set_order_mode(9, ThpOrderMode::Never).unwrap();
    let b = BASE + 4 * HUGE;
    s.mmap(va(b), HUGE, RW, fixed, None, 0).unwrap();
    s.madvise(va(b), HUGE, Advice::HugePage).unwrap();
    s.write_bytes(va(b), &[1]).unwrap();
    assert_eq!(leaf_size(&s, b), Some(PageSize::Size4K));
    // A smaller order (64 KiB): 16 contiguous pages, mapped as 4K entries, on writes only.
    thp::set_order_mode(4, ThpOrderMode::Always).unwrap();
    let c = BASE + 6 * HUGE;
    s.mmap(va(c), HUGE, RW, fixed, None, 0).unwrap();
    assert_eq!(read(&mut s, c + 100 * P, 1), [0]);
    assert!(s.frame_at(va(c + 101 * P)).is_none(), "reads fill one page");
    s.write_bytes(va(c + 3 * P), &[1]).unwrap();
    assert!(contiguous(&s, c, 16));
    assert!(s.frame_at(va(c + 16 * P)).is_none());
    assert_eq!(leaf_size(&s, c), Some(PageSize::Size4K));
    // THPeligible counts every enabled size: an area that holds an aligned 64 KiB block is
    // eligible, one that does not is not.
    let d = BASE + 8 * HUGE;
    s.mmap(va(d + 8 * P), 24 * P, RW, fixed, None, 0).unwrap();
    s.mmap(va(d + 64 * P), 15 * P, RW, fixed, None, 0).unwrap();
    let eligible = |s: &Space, at: usize| s.area_info(s.find_area(va(at)).unwrap()).thp_eligible;
    assert!(eligible(&s, d + 8 * P));
    assert!(!eligible(&s, d + 64 * P));
    drop(s);
    assert_no_leak();
}

#[test]
fn a_read_fills_a_pmd_block_too_as_with_use_zero_page_0() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    assert_eq!(
        s.handle_page_fault(va(a + HUGE - 1), MappingFlags::READ | MappingFlags::USER),
        Ok(FaultOutcome::Filled)
    );
    assert_eq!(leaf_size(&s, a), Some(PageSize::Size2M));
    // Dirty and writable at once, as Linux maps a new anonymous huge page.
    assert!(pte(&s, a).unwrap().1.contains(MappingFlags::WRITE));
    assert!(s.soft_dirty(va(a + 100 * P)));
}

#[test]
fn range_operations_split_the_leaf_and_keep_the_contents() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    let mut cpu = Cpu::new();
    let data: Vec<u8> = (0..HUGE).map(|i| (i / P) as u8).collect();
    cpu.write(&mut s, va(a), &data).unwrap();
    let live = CountingHandler::live_frames();
    // mprotect of one page: PTE-mapped from now on, the same frames.
    let before = s.frame_at(va(a + 7 * P)).unwrap().start_paddr();
    s.mprotect(va(a + P), P, R).unwrap();
    assert_eq!(leaf_size(&s, a), Some(PageSize::Size4K));
    assert_eq!(s.frame_at(va(a + 7 * P)).unwrap().start_paddr(), before);
    s.mprotect(va(a + P), P, RW).unwrap();
    let mut back = vec![0u8; HUGE];
    cpu.read(&mut s, va(a), &mut back).unwrap();
    assert_eq!(back, data);
    cpu.write(&mut s, va(a + P), &[0xee]).unwrap();
    // munmap of half the block frees those frames (the split's leaf table may come and
    // go: at most one frame of slack).
    let held = |s: &Space| {
        (0..512)
            .filter(|i| s.frame_at(va(a + i * P)).is_some())
            .count()
    };
    s.munmap(va(a + HUGE / 2), HUGE / 2).unwrap();
    assert_eq!(held(&s), 256);
    assert!(CountingHandler::live_frames() <= live - 255);
    // MADV_DONTNEED of the rest but one page.
    s.madvise(va(a + P), HUGE / 2 - P, Advice::DontNeed)
        .unwrap();
    assert_eq!(held(&s), 1);
    assert!(CountingHandler::live_frames() <= live - 510);
    assert_eq!(read(&mut s, a, 1), [0]);
    assert_eq!(read(&mut s, a + 2 * P, 1), [0]);
    drop(s);
    assert_no_leak();
}

#[test]
fn mremap_of_half_a_block_moves_its_pages() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    let data: Vec<u8> = (0..HUGE).map(|i| (i / P) as u8 ^ 0x55).collect();
    s.write_bytes(va(a), &data).unwrap();
    let to = BASE + 4 * HUGE;
    let may = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    s.mremap(va(a + HUGE / 2), HUGE / 2, HUGE / 2, may, va(to))
        .unwrap();
    let mut cpu = Cpu::new();
    let mut moved = vec![0u8; HUGE / 2];
    cpu.read(&mut s, va(to), &mut moved).unwrap();
    assert_eq!(moved, data[HUGE / 2..]);
    let mut kept = vec![0u8; HUGE / 2];
    cpu.read(&mut s, va(a), &mut kept).unwrap();
    assert_eq!(kept, data[..HUGE / 2]);
    drop(s);
    assert_no_leak();
}

#[test]
fn fork_shares_the_block_and_a_write_copies_one_page() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    s.write_bytes(va(a), &vec![1u8; HUGE]).unwrap();
    let mut child = s.fork().unwrap();
    assert_eq!(
        leaf_size(&child, a),
        Some(PageSize::Size2M),
        "the leaf is copied"
    );
    let (mut pcpu, mut ccpu) = (Cpu::new(), Cpu::new());
    ccpu.write(&mut child, va(a + 3 * P), &[2]).unwrap();
    assert_eq!(
        leaf_size(&child, a),
        Some(PageSize::Size4K),
        "split in the child"
    );
    assert_eq!(
        leaf_size(&s, a),
        Some(PageSize::Size2M),
        "the parent keeps its leaf"
    );
    let mut b = [0u8; 1];
    pcpu.read(&mut s, va(a + 3 * P), &mut b).unwrap();
    assert_eq!(b, [1]);
    // The parent's write while the child still shares: split and copy one page.
    pcpu.write(&mut s, va(a + 4 * P), &[3]).unwrap();
    assert_eq!(leaf_size(&s, a), Some(PageSize::Size4K));
    ccpu.read(&mut child, va(a + 4 * P), &mut b).unwrap();
    assert_eq!(b, [1]);
    assert_eq!(
        s.frame_at(va(a + 5 * P)).unwrap().start_paddr(),
        child.frame_at(va(a + 5 * P)).unwrap().start_paddr()
    );
    drop(child);
    drop(s);
    assert_no_leak();
}

#[test]
fn an_exclusive_block_is_reused_whole_after_the_child_left() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    s.write_bytes(va(a), &[1]).unwrap();
    drop(s.fork().unwrap());
    // The leaf is read-only (copy-on-write) but this space owns every frame again.
    assert!(!pte(&s, a).unwrap().1.contains(MappingFlags::WRITE));
    assert_eq!(
        s.handle_page_fault(va(a + 9 * P), MappingFlags::WRITE | MappingFlags::USER),
        Ok(FaultOutcome::Reused)
    );
    assert_eq!(leaf_size(&s, a), Some(PageSize::Size2M));
    assert!(pte(&s, a).unwrap().1.contains(MappingFlags::WRITE));
}

#[test]
fn soft_dirty_tracks_a_pmd_leaf_as_a_whole() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    let mut cpu = Cpu::new();
    cpu.write(&mut s, va(a), &[1]).unwrap();
    for _ in 0..3 {
        s.clear_refs(ClearRefs::SoftDirty).unwrap();
        assert!(!s.soft_dirty(va(a)) && !s.soft_dirty(va(a + HUGE - P)));
        assert_eq!(leaf_size(&s, a), Some(PageSize::Size2M));
        cpu.write(&mut s, va(a), &[2]).unwrap();
        assert!(s.soft_dirty(va(a)) && s.soft_dirty(va(a + HUGE - P)));
        assert_eq!(
            leaf_size(&s, a),
            Some(PageSize::Size2M),
            "reused, not split"
        );
    }
}

#[test]
fn madv_collapse_makes_one_leaf_of_4k_pages() {
    let mut s = setup();
    let fixed = ANON | MmapFlags::FIXED;
    s.mmap(va(BASE), 2 * HUGE, RW, fixed, None, 0).unwrap();
    let data: Vec<u8> = (0..HUGE).map(|i| (i % 251) as u8).collect();
    s.write_bytes(va(BASE), &data[..HUGE / 2]).unwrap();
    let live = CountingHandler::live_frames();
    let mut child = s.fork().unwrap();
    // The child collapses: its own copy, the parent's pages untouched.
    child.madvise(va(BASE), HUGE, Advice::Collapse).unwrap();
    assert_eq!(leaf_size(&child, BASE), Some(PageSize::Size2M));
    assert!(contiguous(&child, BASE, 512));
    let mut cpu = Cpu::new();
    let mut got = vec![1u8; HUGE];
    cpu.read(&mut child, va(BASE), &mut got).unwrap();
    assert_eq!(&got[..HUGE / 2], &data[..HUGE / 2]);
    assert!(got[HUGE / 2..].iter().all(|&b| b == 0));
    cpu.write(&mut child, va(BASE), &[0xff]).unwrap();
    assert_eq!(read(&mut s, BASE, 1), [data[0]]);
    assert_eq!(leaf_size(&s, BASE), Some(PageSize::Size4K));
    // Collapsing again changes nothing; a range without a whole block is nothing to do.
    child.madvise(va(BASE), HUGE, Advice::Collapse).unwrap();
    child
        .madvise(va(BASE + HUGE), HUGE / 2, Advice::Collapse)
        .unwrap();
    drop(child);
    assert_eq!(CountingHandler::live_frames(), live);
    drop(s);
    assert_no_leak();
}

#[test]
fn madv_collapse_errors_follow_linux() {
    let mut s = setup();
    let fixed = ANON | MmapFlags::FIXED;
    s.mmap(va(BASE), HUGE, RW, fixed, None, 0).unwrap();
    // A hole in the range: ENOMEM, after the area before it was collapsed.
    assert_eq!(
        s.madvise(va(BASE), 2 * HUGE, Advice::Collapse),
        Err(LinuxError::ENOMEM)
    );
    assert_eq!(leaf_size(&s, BASE), Some(PageSize::Size2M));
    // An area too small for any aligned block: EINVAL, even for a range without a block.
    let small = BASE + 6 * HUGE;
    s.mmap(va(small), 4 * P, RW, fixed, None, 0).unwrap();
    assert_eq!(
        s.madvise(va(small), P, Advice::Collapse),
        Err(LinuxError::EINVAL)
    );
    s.munmap(va(BASE), HUGE).unwrap();
    s.mmap(va(BASE), HUGE, RW, fixed, None, 0).unwrap();
    // MADV_NOHUGEPAGE, a file mapping, a block not wholly in one area: EINVAL.
    s.madvise(va(BASE), HUGE, Advice::NoHugePage).unwrap();
    assert_eq!(
        s.madvise(va(BASE), HUGE, Advice::Collapse),
        Err(LinuxError::EINVAL)
    );
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1; HUGE]));
    let b = BASE + 2 * HUGE;
    s.mmap(
        va(b),
        HUGE,
        RW,
        MmapFlags::PRIVATE | MmapFlags::FIXED,
        Some(file),
        0,
    )
    .unwrap();
    assert_eq!(
        s.madvise(va(b), HUGE, Advice::Collapse),
        Err(LinuxError::EINVAL)
    );
    let c = BASE + 4 * HUGE;
    s.mmap(va(c), HUGE / 2, RW, fixed, None, 0).unwrap();
    s.mmap(va(c + HUGE / 2), HUGE / 2, R, fixed, None, 0)
        .unwrap();
    assert_eq!(
        s.madvise(va(c), HUGE, Advice::Collapse),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(leaf_size(&s, c), None);
}

#[test]
fn without_a_run_of_frames_a_fault_fills_one_page() {
    let mut s = setup();
    let a = huge_area(&mut s, 1);
    // The next allocation (the run) fails; the single frame after it does not.
    CountingHandler::fail_after(0);
    s.write_bytes(va(a), &[1]).unwrap();
    assert_eq!(leaf_size(&s, a), Some(PageSize::Size4K));
    assert!(s.frame_at(va(a + P)).is_none());
    drop(s);
    assert_no_leak();
}
