//! Code written against arceos memory_addr 0.4.1 compiles and behaves the
//! same here.

use memory_addr::{
    AddrRange, MemoryAddr, PAGE_SIZE_4K, PageIter4K, PhysAddr, VirtAddr, VirtAddrRange, addr_range,
    align_down_4k, align_up_4k, def_usize_addr, def_usize_addr_formatter, is_aligned_4k, pa, va,
    va_range,
};

/// A hand-written address type, as hypervisors define guest addresses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPhysAddr(usize);

impl From<usize> for HostPhysAddr {
    fn from(v: usize) -> Self {
        Self(v)
    }
}

impl From<HostPhysAddr> for usize {
    fn from(a: HostPhysAddr) -> usize {
        a.0
    }
}

// `MemoryAddr` comes from the blanket impl, as in 0.4.1.

def_usize_addr_formatter! {
    HostPhysAddr = "HPA:{}";
}

def_usize_addr! {
    /// A guest physical address.
    pub type GuestPhysAddr;
}

def_usize_addr_formatter! {
    GuestPhysAddr = "GPA:{}";
}

#[test]
fn formatter_on_hand_written_and_generated_types() {
    assert_eq!(format!("{:?}", HostPhysAddr(0x1abc)), "HPA:0x1abc");
    assert_eq!(format!("{:x}", HostPhysAddr(0x1abc)), "HPA:0x1abc");
    assert_eq!(format!("{:X}", HostPhysAddr(0x1abc)), "HPA:0x1ABC");
    assert_eq!(
        format!("{:?}", GuestPhysAddr::from_usize(0x2000)),
        "GPA:0x2000"
    );
    assert_eq!(format!("{:?}", pa!(0x10)), "PA:0x10");
    assert_eq!(format!("{:?}", va!(0x10)), "VA:0x10");
}

#[test]
fn memory_addr_trait_on_a_hand_written_type() {
    let a = HostPhysAddr::from(0x1234);
    assert_eq!(a.align_down_4k(), HostPhysAddr(0x1000));
    assert_eq!(a.align_up_4k(), HostPhysAddr(0x2000));
    assert_eq!(a.align_offset_4k(), 0x234);
    assert!(!a.is_aligned_4k());
    assert_eq!(a.add(0x10), HostPhysAddr(0x1244));
    assert_eq!(HostPhysAddr(0x3000).sub_addr(HostPhysAddr(0x1000)), 0x2000);
    let r = AddrRange::from_start_size(HostPhysAddr(0x1000), 0x2000);
    assert_eq!(r.size(), 0x2000);
    assert!(r.contains(HostPhysAddr(0x2fff)));
}

#[test]
fn free_functions_ranges_and_iterators() {
    assert_eq!(align_down_4k(0x1fff), 0x1000);
    assert_eq!(align_up_4k(0x1001), 0x2000);
    assert!(is_aligned_4k(PAGE_SIZE_4K));
    let r: VirtAddrRange = va_range!(0x1000..0x3000);
    assert_eq!(r, addr_range!(va!(0x1000)..va!(0x3000)));
    assert!(r.contains_range(va_range!(0x1000..0x2000)));
    assert!(r.overlaps(va_range!(0x2fff..0x4000)));
    let pages: Vec<VirtAddr> = PageIter4K::new(r.start, r.end).unwrap().collect();
    assert_eq!(pages, [va!(0x1000), va!(0x2000)]);
    assert!(PageIter4K::new(va!(0x1001), va!(0x2000)).is_none());
    let p: PhysAddr = PhysAddr::from(0x8000_0000);
    assert_eq!(p.as_usize(), 0x8000_0000);
}
