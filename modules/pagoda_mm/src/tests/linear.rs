//! Linear areas map `PhysRegion`s with leaves up to a chosen size; kernel mappings are
//! borrowed only from a `'static` table, only in the upper half, only outside the areas.

use memory_addr::{PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K};
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::{PageSize, PhysRegion};

use super::*;
use crate::{BackendKind, LinuxError};

const P: usize = PAGE_SIZE_4K;

/// The leaf sizes at the start of the 1 GiB part, the 2 MiB part and the 4 KiB tail of a
/// linear map at `0x4000_0000` of `1 GiB + 2 MiB + 4 KiB` (1 GiB-aligned on both sides).
fn leaves(max: PageSize) -> [(usize, PageSize); 3] {
    let mut s = setup();
    let r = region(0x1_0000_0000, PAGE_SIZE_1G + PAGE_SIZE_2M + P);
    s.map_linear(va(0x4000_0000), r, RW, max).unwrap();
    let area = s.find_area(va(0x4000_0000)).unwrap();
    assert_eq!(area.backend().kind(), BackendKind::Linear);
    let at = |off: usize| {
        let (pa, _, size) = pte(&s, 0x4000_0000 + off + 8).unwrap();
        assert_eq!(pa, 0x1_0000_0000 + off + 8, "translation at +{off:#x}");
        (off, size)
    };
    let got = [at(0), at(PAGE_SIZE_1G), at(PAGE_SIZE_1G + PAGE_SIZE_2M)];
    // fork copies linear areas leaf for leaf: the region may be mapped any number of times.
    let child = s.fork().unwrap();
    for (off, size) in got {
        assert_eq!(pte(&child, 0x4000_0000 + off).unwrap().2, size);
    }
    drop((child, s));
    assert_no_leak();
    got
}

#[test]
fn linear_leaves_follow_the_max_page_size() {
    use PageSize::*;
    let base = [0, PAGE_SIZE_1G, PAGE_SIZE_1G + PAGE_SIZE_2M];
    let with = |sizes: [PageSize; 3]| [0, 1, 2].map(|i| (base[i], sizes[i]));
    assert_eq!(leaves(Size1G), with([Size1G, Size2M, Size4K]));
    assert_eq!(leaves(Size2M), with([Size2M, Size2M, Size4K]));
}

#[test]
fn linear_with_4k_max_uses_4k_leaves_only() {
    let mut s = setup();
    s.map_linear(
        va(0x20_0000),
        region(0x8020_0000, PAGE_SIZE_2M),
        RW,
        PageSize::Size4K,
    )
    .unwrap();
    for off in [0, P, PAGE_SIZE_2M - P] {
        assert_eq!(
            pte(&s, 0x20_0000 + off).unwrap(),
            (0x8020_0000 + off, RW, PageSize::Size4K)
        );
    }
    drop(s);
    assert_no_leak();
}

#[test]
fn leaked_frames_map_as_a_huge_page_and_stay_allocated() {
    let mut s = setup();
    // The root took the first arena frame; 1024 more contain a 2 MiB-aligned run.
    let run = PhysRegion::leak_frames::<CountingHandler>(1024).unwrap();
    let skip = run.start().as_usize().next_multiple_of(PAGE_SIZE_2M) - run.start().as_usize();
    let huge = run.sub_region(skip, PAGE_SIZE_2M).unwrap();
    let pa = huge.start().as_usize();
    s.map_linear(va(0x4000_0000), huge, URW, PageSize::Size1G)
        .unwrap();
    assert_eq!(pte(&s, 0x4000_0000).unwrap().2, PageSize::Size2M);
    assert_eq!(
        s.find_area(va(0x4000_0000))
            .unwrap()
            .backend()
            .phys_region(),
        Some(&huge)
    );
    // The same region again, elsewhere: fine.
    s.map_linear(va(0x8000_0000), huge, R, PageSize::Size1G)
        .unwrap();
    assert_eq!(pte(&s, 0x8000_0000 + P).unwrap().0, pa + P);
    drop(s);
    assert_eq!(
        CountingHandler::live_frames(),
        1024,
        "leaked frames were freed"
    );
}

#[test]
fn linear_argument_errors_change_nothing() {
    let mut s = setup();
    let r = region(0x8000_0000, 2 * P);
    let max = PageSize::Size1G;
    assert_eq!(
        s.map_linear(va(0x1234), r, RW, max),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(s.map_linear(va(0), r, RW, max), Err(LinuxError::EINVAL));
    let top = USER_END - P;
    assert_eq!(s.map_linear(va(top), r, RW, max), Err(LinuxError::EINVAL));
    s.map_linear(va(0x10_0000), r, RW, max).unwrap();
    let again = s.map_linear(va(0x10_0000 + P), r, RW, max);
    assert_eq!(again, Err(LinuxError::EEXIST));
    assert_eq!(s.areas().count(), 1);
    assert!(pte(&s, 0x10_0000 + 2 * P).is_none());
}

#[test]
fn kernel_mappings_come_from_the_upper_half_outside_the_areas() {
    let mut s = setup();
    let before = CountingHandler::live_frames();
    let kernel = kernel_table();
    let kernel_frames = CountingHandler::live_frames() - before;
    let half = KERNEL_HALF.wrapping_neg();
    let e = Err(LinuxError::EINVAL);
    // The lower half, even outside this space's range; empty and overflowing ranges.
    assert_eq!(
        s.share_kernel_mappings(kernel, va(0x40_0000_0000), 1 << 30),
        e
    );
    assert_eq!(s.share_kernel_mappings(kernel, va(KERNEL_HALF), 0), e);
    assert_eq!(
        s.share_kernel_mappings(kernel, va(KERNEL_HALF), half + (1 << 30)),
        e
    );
    // Not aligned to a top-level entry (1 GiB in Sv39).
    assert_eq!(
        s.share_kernel_mappings(kernel, va(KERNEL_HALF + P), 1 << 30),
        e
    );
    assert!(pte(&s, KERNEL_HALF).is_none());
    s.share_kernel_mappings(kernel, va(KERNEL_HALF), half)
        .unwrap();
    assert_eq!(pte(&s, KERNEL_HALF).unwrap().0, 0x9000_0000);

    // A space whose own range is in the upper half cannot borrow over its areas.
    let lo = KERNEL_HALF + 4 * PAGE_SIZE_1G;
    let range = VirtAddrRange::new(va(lo), va(lo + PAGE_SIZE_1G));
    let mut k = Space::new(range).unwrap();
    assert_eq!(k.share_kernel_mappings(kernel, va(KERNEL_HALF), half), e);
    assert_eq!(k.share_kernel_mappings(kernel, va(lo), PAGE_SIZE_1G), e);
    // Right below and right above the range: fine.
    k.share_kernel_mappings(kernel, va(KERNEL_HALF), 4 * PAGE_SIZE_1G)
        .unwrap();
    k.share_kernel_mappings(kernel, va(lo + PAGE_SIZE_1G), PAGE_SIZE_1G)
        .unwrap();
    assert_eq!(pte(&k, KERNEL_HALF).unwrap().0, 0x9000_0000);
    drop((s, k));
    let left = CountingHandler::live_frames();
    assert_eq!(left, kernel_frames, "only the kernel table is left");
}
