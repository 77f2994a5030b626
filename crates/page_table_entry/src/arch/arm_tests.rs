//! ARMv7 short descriptors against the bit positions of DDI 0406C, B3.5.1.

use memory_addr::pa;

use super::*;
use crate::MappingFlags as MF;

// Small page (second level), figure B3-4.
const XN: u32 = 1 << 0;
const SMALL: u32 = 1 << 1;
const B: u32 = 1 << 2;
const C: u32 = 1 << 3;
const AP0: u32 = 1 << 4;
const AP1: u32 = 1 << 5;
const TEX0: u32 = 1 << 6;
const TEX1: u32 = 1 << 7;
const AP2: u32 = 1 << 9;
const S: u32 = 1 << 10;
const NG: u32 = 1 << 11;
// Section (first level), figure B3-3.
const SEC: u32 = 0b10;
const SEC_XN: u32 = 1 << 4;
const SEC_AP0: u32 = 1 << 10;
const SEC_AP1: u32 = 1 << 11;
const SEC_TEX0: u32 = 1 << 12;
const SEC_AP2: u32 = 1 << 15;
const SEC_S: u32 = 1 << 16;
const SEC_NG: u32 = 1 << 17;

fn page(f: MF) -> u32 {
    A32PTE::new_page(pa!(0x1234_5000), f, false).as_u32()
}

fn section(f: MF) -> u32 {
    A32PTE::new_page(pa!(0x1230_0000), f, true).as_u32()
}

#[test]
fn small_page_bits() {
    let base = 0x1234_5000 | SMALL | TEX1 | AP0 | S | NG;
    assert_eq!(page(MF::READ), base | AP2 | XN);
    assert_eq!(page(MF::READ | MF::WRITE), base | XN);
    assert_eq!(page(MF::READ | MF::EXECUTE), base | AP2);
    assert_eq!(page(MF::READ | MF::WRITE | MF::USER), base | AP1 | XN);
    assert_eq!(page(MF::READ | MF::GLOBAL), (base & !NG) | AP2 | XN);
    assert_eq!(page(MF::READ | MF::COW), base | AP2 | XN | (1 << 8));
    // Device: index 1 = B; not shareable. Non-cacheable: index 2 = C.
    assert_eq!(page(MF::READ | MF::DEVICE), (base & !S) | B | AP2 | XN);
    assert_eq!(page(MF::READ | MF::UNCACHED), base | C | AP2 | XN);
    assert_eq!(TEX0, 1 << 6); // index bit 2 stays clear for our three types
}

#[test]
fn section_bits() {
    let base = 0x1230_0000 | SEC | SEC_AP0 | SEC_S | SEC_NG;
    assert_eq!(section(MF::READ), base | SEC_AP2 | SEC_XN);
    assert_eq!(
        section(MF::READ | MF::WRITE | MF::EXECUTE | MF::USER),
        base | SEC_AP1
    );
    assert_eq!(
        section(MF::READ | MF::DEVICE | MF::GLOBAL),
        (base & !(SEC_S | SEC_NG)) | B | SEC_AP2 | SEC_XN
    );
    assert_eq!(section(MF::READ | MF::COW) & (1 << 14), 1 << 14);
    // Domain 0 (bits 8:5), not a supersection (bit 18), TEX[0] clear.
    assert_eq!(
        section(MF::READ | MF::WRITE) & (0xf << 5 | 1 << 18 | SEC_TEX0),
        0
    );
}

#[test]
fn round_trips_at_both_levels() {
    let all = [
        MF::READ,
        MF::READ | MF::WRITE,
        MF::READ | MF::EXECUTE | MF::USER,
        MF::READ | MF::WRITE | MF::DEVICE | MF::GLOBAL,
        MF::READ | MF::UNCACHED | MF::COW,
    ];
    for f in all {
        let p = A32PTE::new_page(pa!(0x4000_3000), f, false);
        assert_eq!(
            (p.flags(), p.paddr(), p.is_huge()),
            (f, pa!(0x4000_3000), false),
            "{p:?}"
        );
        let s = A32PTE::new_page(pa!(0x4010_0000), f, true);
        assert_eq!(
            (s.flags(), s.paddr(), s.is_huge()),
            (f, pa!(0x4010_0000), true),
            "{s:?}"
        );
        assert!(s.is_section() && !p.is_section());
        let mut q = p;
        q.set_paddr(pa!(0x8000_0000));
        assert_eq!((q.flags(), q.paddr()), (f, pa!(0x8000_0000)));
        q.set_flags(MF::READ, false);
        assert_eq!((q.flags(), q.paddr()), (MF::READ, pa!(0x8000_0000)));
    }
}

#[test]
fn table_and_reserved_entries() {
    let t = A32PTE::new_table(pa!(0x8000_0400));
    assert_eq!(t.as_u32(), 0x8000_0400 | 0b01);
    assert!(t.is_present() && !t.is_huge());
    assert_eq!((t.paddr(), t.flags()), (pa!(0x8000_0400), MF::empty()));
    let r = A32PTE::new_page(pa!(0x5000), MF::empty(), false);
    assert_eq!(r.as_u32() & 0b11, 0); // a fault entry to hardware
    assert!(!r.is_present() && !r.is_unused() && !r.is_huge());
    assert_eq!((r.paddr(), r.flags()), (pa!(0x5000), MF::empty()));
    let h = A32PTE::new_page(pa!(0x20_0000), MF::USER, true);
    assert!(h.is_huge() && !h.is_present());
    assert_eq!(h.paddr(), pa!(0x20_0000));
}

#[test]
fn register_values() {
    assert_eq!(PRRR_VALUE & 0x3f, 0b10_01_10); // TR2 normal, TR1 device, TR0 normal
    assert_eq!(PRRR_VALUE >> 16 & 0xf, 0b1011); // NS1, DS1, DS0
    assert_eq!(NMRR_VALUE, 0x0001_0001);
    assert_eq!(DACR_VALUE, 1);
    let p = A32PTE::new_page(pa!(0), MF::READ | MF::UNCACHED, false);
    assert_eq!(p.mem_attr(), Some(MemAttr::NormalNonCacheable));
}

#[test]
fn wide_addresses_drop_high_bits() {
    let p = A32PTE::new_page(pa!(0x1_8000_0000), MF::READ, false);
    assert_eq!(p.paddr(), pa!(0x8000_0000));
}
