//! Code written against arceos page_table_entry 0.6.2 compiles and keeps
//! its meaning here (encodings differ only where the README says so).

use memory_addr::{PhysAddr, pa};
use page_table_entry::aarch64::{A64PTE, DescriptorAttr, MemAttr};
use page_table_entry::arm::A32PTE;
use page_table_entry::loongarch64::LA64PTE;
use page_table_entry::riscv::{PTEFlags, Rv64PTE};
use page_table_entry::x86_64::{PTF, X64PTE};
use page_table_entry::{GenericPTE, MappingFlags};

/// Generic code over any entry format, as page-table crates write it.
fn leaf_round_trip<P: GenericPTE>(pa: PhysAddr, flags: MappingFlags, huge: bool) -> P {
    let mut e = P::new_page(pa, flags, huge);
    assert!(e.is_present() && !e.is_unused());
    assert_eq!((e.paddr(), e.flags()), (pa, flags));
    e.set_paddr(PhysAddr::from_usize(pa.as_usize() + (1 << 21)));
    e.set_flags(MappingFlags::READ, huge);
    assert_eq!(e.flags(), MappingFlags::READ);
    let t = P::new_table(pa!(0x8000_1000));
    assert!(t.is_present() && !t.is_huge());
    let _bits: usize = e.bits();
    e.clear();
    assert!(e.is_unused());
    e
}

#[test]
fn every_format_through_generic_pte() {
    let rw = MappingFlags::READ | MappingFlags::WRITE;
    leaf_round_trip::<Rv64PTE>(pa!(0x8020_0000), rw | MappingFlags::USER, false);
    leaf_round_trip::<X64PTE>(pa!(0x4000_0000), rw, true);
    leaf_round_trip::<LA64PTE>(pa!(0x20_0000), rw | MappingFlags::EXECUTE, true);
    leaf_round_trip::<A32PTE>(pa!(0x4000_0000), rw, true);
    let a = leaf_round_trip::<A64PTE>(pa!(0x4000_0000), rw | MappingFlags::DEVICE, false);
    assert!(format!("{a:?}").contains("A64PTE"));
    assert!(
        A64PTE::empty().is_unused() && Rv64PTE::empty().is_unused() && X64PTE::empty().is_unused()
    );
}

#[test]
fn aarch64_memory_attributes() {
    // 0.6.2 API: from_mem_attr / mem_attr / MAIR_VALUE (indices differ, see README).
    for m in [
        MemAttr::Normal,
        MemAttr::Device,
        MemAttr::NormalNonCacheable,
    ] {
        assert_eq!(DescriptorAttr::from_mem_attr(m).mem_attr(), Some(m));
    }
    let dev = A64PTE::new_page(
        pa!(0x900_0000),
        MappingFlags::READ | MappingFlags::WRITE | MappingFlags::DEVICE,
        false,
    );
    let attr = DescriptorAttr::from_bits_truncate(dev.bits() as u64);
    assert_eq!(attr.mem_attr(), Some(MemAttr::Device));
    assert_eq!(
        (MemAttr::MAIR_VALUE >> (8 * MemAttr::Device as u64)) & 0xff,
        0x04
    ); // Device-nGnRE
}

#[test]
fn flag_type_conversions() {
    let f = MappingFlags::READ | MappingFlags::WRITE;
    assert!(PTEFlags::from(f).contains(PTEFlags::V | PTEFlags::R | PTEFlags::W));
    assert!(PTF::from(f).contains(PTF::PRESENT | PTF::WRITABLE));
    assert_eq!(MappingFlags::from(PTF::from(f)), f);
    assert_eq!(MappingFlags::from(DescriptorAttr::from(f)), f);
}
