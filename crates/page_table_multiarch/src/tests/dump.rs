//! Expected-dump tests: whole small tables against their `Debug` text.

use super::*;
use crate::PageSize;

const SV39: &str = "\
PageTable64 (3 levels)
L2[000] table
  L1[000] table
    L0[001] 4K va=0x1000 pa=0x8000 rw------
    L0[002] 4K va=0x2000 pa=0x9000 reserved
  L1[001] 2M va=0x200000 pa=0x400000 r-xu----
L2[001] 1G va=0x40000000 pa=0x80000000 r---g---
L2[511] table
  L1[511] table
    L0[511] 4K va=0xfffffffffffff000 pa=0xa000 rw---c--
";

const X64: &str = "\
PageTable64 (4 levels)
L3[000] table
  L2[000] table
    L1[002] table
      L0[000] 4K va=0x400000 pa=0x200000 rw------
      L0[001] 4K va=0x401000 pa=0x201000 rw------
  L2[002] table
    L1[000] table
      L0[000] 4K va=0x80000000 pa=0x12345000 rw----d-
L3[256] table (shared)
  L2[000] table
    L1[000] table
      L0[000] 4K va=0xffff800000000000 pa=0x1000 rw--g---
";

#[test]
fn dump_sv39() {
    CountingHandler::reset();
    let mut pt = Sv39::try_new().unwrap();
    pt.map(va(0x1000), pa(0x8000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    pt.map(
        va(0x2000),
        pa(0x9000),
        PageSize::Size4K,
        MappingFlags::empty(),
    )
    .unwrap()
    .ignore();
    pt.map(
        va(0x20_0000),
        pa(0x40_0000),
        PageSize::Size2M,
        RX | MappingFlags::USER,
    )
    .unwrap()
    .ignore();
    pt.map(
        va(G1),
        pa(2 * G1),
        PageSize::Size1G,
        R | MappingFlags::GLOBAL,
    )
    .unwrap()
    .ignore();
    pt.map(
        va(0xffff_ffff_ffff_f000),
        pa(0xa000),
        PageSize::Size4K,
        RW | MappingFlags::COW,
    )
    .unwrap()
    .ignore();
    assert_eq!(std::format!("{pt:?}"), SV39);
}

#[test]
fn dump_x64_split_and_shared() {
    CountingHandler::reset();
    let mut kernel = X64::try_new().unwrap();
    kernel
        .map(
            va(0xffff_8000_0000_0000),
            pa(0x1000),
            PageSize::Size4K,
            RW | MappingFlags::GLOBAL,
        )
        .unwrap()
        .ignore();
    let mut pt = X64::try_new().unwrap();
    // SAFETY: `pt` is dropped before `kernel`.
    unsafe { pt.copy_from(&kernel, va(0xffff_8000_0000_0000), 1 << 47) }
        .unwrap()
        .ignore();
    pt.map(va(0x40_0000), pa(0x20_0000), PageSize::Size2M, RW)
        .unwrap()
        .ignore();
    // Unmap all but the first two 4K pages of the 2M page.
    pt.unmap_region(va(0x40_2000), M2 - 0x2000)
        .unwrap()
        .1
        .ignore();
    pt.map(
        va(0x8000_0000),
        pa(0x1234_5000),
        PageSize::Size4K,
        MappingFlags::DEVICE | RW,
    )
    .unwrap()
    .ignore();
    assert_eq!(std::format!("{pt:?}"), X64);
}
