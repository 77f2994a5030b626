//! `MemoryAddr`, `PhysAddr` and `VirtAddr`.

use memory_addr::{MemoryAddr, PhysAddr, VirtAddr, pa, va};
use std::collections::HashSet;
use std::panic::catch_unwind;

const TOP_BIT: usize = 1 << (usize::BITS - 1);
const IMAX: usize = isize::MAX as usize;

/// An alignment type convertible into `usize`, like page_table_multiarch's
/// `PageSize`: the trait methods must accept it.
#[derive(Clone, Copy)]
enum Size {
    Page4K,
    Page2M,
}

impl From<Size> for usize {
    fn from(s: Size) -> usize {
        match s {
            Size::Page4K => 0x1000,
            Size::Page2M => 0x20_0000,
        }
    }
}

#[test]
fn layout_and_conversions() {
    assert_eq!(size_of::<PhysAddr>(), size_of::<usize>());
    assert_eq!(size_of::<VirtAddr>(), size_of::<usize>());
    const P: PhysAddr = PhysAddr::from_usize(0x1234);
    const V: VirtAddr = va!(0x5678);
    const PU: usize = P.as_usize();
    assert_eq!(PU, 0x1234);
    assert_eq!(usize::from(V), 0x5678);
    assert_eq!(PhysAddr::from(0x1234), pa!(0x1234));
    let u: usize = va!(usize::MAX).into();
    assert_eq!(u, usize::MAX);
    assert_eq!(PhysAddr::default(), pa!(0));
    assert_eq!(VirtAddr::default(), va!(0));
}

#[test]
fn ordering_and_hash() {
    assert!(va!(1) < va!(2));
    assert!(pa!(usize::MAX) > pa!(0));
    assert_eq!(va!(3).max(va!(7)), va!(7));
    let set: HashSet<VirtAddr> = [va!(1), va!(2), va!(1)].into_iter().collect();
    assert_eq!(set.len(), 2);
    let set: HashSet<PhysAddr> = [pa!(1), pa!(1)].into_iter().collect();
    assert_eq!(set.len(), 1);
}

#[test]
fn formatting() {
    assert_eq!(format!("{:?}", pa!(0x1abc)), "PA:0x1abc");
    assert_eq!(format!("{:x}", pa!(0x1abc)), "PA:0x1abc");
    assert_eq!(format!("{:X}", pa!(0x1abc)), "PA:0x1ABC");
    assert_eq!(format!("{:?}", va!(0)), "VA:0x0");
    assert_eq!(format!("{:x}", va!(0xdead)), "VA:0xdead");
    assert_eq!(
        format!("{:X}", va!(usize::MAX)),
        format!("VA:{:#X}", usize::MAX)
    );
}

#[test]
fn alignment_methods() {
    let a = va!(0x1234_5678);
    assert_eq!(a.align_down(0x1000usize), va!(0x1234_5000));
    assert_eq!(a.align_up(0x1000usize), va!(0x1234_6000));
    assert_eq!(a.align_offset(0x1000usize), 0x678);
    assert!(!a.is_aligned(0x1000usize));
    assert!(a.is_aligned(8usize));
    assert_eq!(a.align_down_4k(), va!(0x1234_5000));
    assert_eq!(a.align_up_4k(), va!(0x1234_6000));
    assert_eq!(a.align_offset_4k(), 0x678);
    assert!(!a.is_aligned_4k());
    assert!(va!(0x4000).is_aligned_4k());
    assert_eq!(a.align_down(Size::Page2M), va!(0x1220_0000));
    assert_eq!(a.align_up(Size::Page4K), va!(0x1234_6000));
    assert!(pa!(0x40_0000).is_aligned(Size::Page2M));
    assert_eq!(a.align_offset(1u8), 0);
    assert_eq!(a.checked_align_down(0x1000usize), Some(va!(0x1234_5000)));
    assert_eq!(a.checked_align_down(0usize), None);
    assert_eq!(a.checked_align_up(0x1000usize), Some(va!(0x1234_6000)));
    assert_eq!(va!(usize::MAX).checked_align_up(2usize), None);
    assert_eq!(a.checked_align_up(12usize), None);
    // plain usize gets the trait too
    assert_eq!(MemoryAddr::align_up_4k(0x1001usize), 0x2000);
}

#[test]
fn alignment_method_panics() {
    assert!(catch_unwind(|| va!(1).align_down(0usize)).is_err());
    assert!(catch_unwind(|| va!(1).align_up(3usize)).is_err());
    assert!(catch_unwind(|| va!(1).align_offset(0usize)).is_err());
    assert!(catch_unwind(|| va!(1).is_aligned(5usize)).is_err());
    assert!(catch_unwind(|| va!(usize::MAX).align_up_4k()).is_err());
    assert!(catch_unwind(|| pa!(usize::MAX).align_up(2usize)).is_err());
}

#[test]
fn add_family() {
    let a = va!(0x1000);
    assert_eq!(MemoryAddr::add(a, 0x10), va!(0x1010));
    assert_eq!(MemoryAddr::add(va!(usize::MAX - 1), 1), va!(usize::MAX));
    assert_eq!(a.checked_add(0x10), Some(va!(0x1010)));
    assert_eq!(va!(usize::MAX).checked_add(1), None);
    assert_eq!(va!(1).checked_add(usize::MAX), None);
    assert_eq!(va!(usize::MAX).wrapping_add(2), va!(1));
    assert_eq!(va!(usize::MAX).overflowing_add(2), (va!(1), true));
    assert_eq!(a.overflowing_add(0), (a, false));
    assert!(catch_unwind(|| MemoryAddr::add(va!(usize::MAX), 1)).is_err());
}

#[test]
fn sub_family() {
    let a = pa!(0x1000);
    assert_eq!(MemoryAddr::sub(a, 0x1000), pa!(0));
    assert_eq!(a.checked_sub(0x1001), None);
    assert_eq!(a.checked_sub(0x10), Some(pa!(0xff0)));
    assert_eq!(pa!(0).wrapping_sub(1), pa!(usize::MAX));
    assert_eq!(pa!(0).overflowing_sub(1), (pa!(usize::MAX), true));
    assert_eq!(a.overflowing_sub(1), (pa!(0xfff), false));
    assert!(catch_unwind(|| MemoryAddr::sub(pa!(0), 1)).is_err());
}

#[test]
fn sub_addr_family() {
    assert_eq!(va!(0x2000).sub_addr(va!(0x1000)), 0x1000);
    assert_eq!(va!(usize::MAX).sub_addr(va!(0)), usize::MAX);
    assert_eq!(va!(5).sub_addr(va!(5)), 0);
    assert_eq!(va!(0x1000).checked_sub_addr(va!(0x2000)), None);
    assert_eq!(va!(0x2000).checked_sub_addr(va!(0x1000)), Some(0x1000));
    assert_eq!(va!(0).wrapping_sub_addr(va!(1)), usize::MAX);
    assert_eq!(va!(0).overflowing_sub_addr(va!(1)), (usize::MAX, true));
    assert_eq!(va!(1).overflowing_sub_addr(va!(0)), (1, false));
    assert!(catch_unwind(|| va!(0).sub_addr(va!(1))).is_err());
}

#[test]
fn offset_family() {
    let a = va!(0x1000);
    assert_eq!(a.offset(0x10), va!(0x1010));
    assert_eq!(a.offset(-0x1000), va!(0));
    assert_eq!(va!(usize::MAX).offset(isize::MIN), va!(IMAX));
    assert_eq!(va!(0).offset(isize::MAX), va!(IMAX));
    assert_eq!(a.checked_offset(-0x1001), None);
    assert_eq!(va!(usize::MAX).checked_offset(1), None);
    assert_eq!(a.checked_offset(-1), Some(va!(0xfff)));
    assert_eq!(va!(0).wrapping_offset(-1), va!(usize::MAX));
    assert_eq!(va!(usize::MAX).wrapping_offset(1), va!(0));
    assert_eq!(va!(0).overflowing_offset(-1), (va!(usize::MAX), true));
    assert_eq!(a.overflowing_offset(-1), (va!(0xfff), false));
    assert!(catch_unwind(|| va!(0).offset(-1)).is_err());
    assert!(catch_unwind(|| va!(usize::MAX).offset(1)).is_err());
}

#[test]
fn offset_from_family() {
    assert_eq!(va!(0x2000).offset_from(va!(0x1000)), 0x1000);
    assert_eq!(va!(0x1000).offset_from(va!(0x2000)), -0x1000);
    assert_eq!(va!(7).offset_from(va!(7)), 0);
    // exact isize bounds
    assert_eq!(va!(IMAX).offset_from(va!(0)), isize::MAX);
    assert_eq!(va!(0).offset_from(va!(TOP_BIT)), isize::MIN);
    assert_eq!(va!(usize::MAX).offset_from(va!(TOP_BIT)), isize::MAX);
    assert_eq!(va!(TOP_BIT).checked_offset_from(va!(0)), None);
    assert_eq!(va!(0).checked_offset_from(va!(TOP_BIT + 1)), None);
    assert_eq!(va!(usize::MAX).checked_offset_from(va!(0)), None);
    assert_eq!(va!(0).checked_offset_from(va!(usize::MAX)), None);
    assert_eq!(va!(1).checked_offset_from(va!(usize::MAX)), None);
    assert_eq!(
        va!(TOP_BIT - 1).checked_offset_from(va!(usize::MAX)),
        Some(isize::MIN)
    );
    assert!(catch_unwind(|| va!(TOP_BIT).offset_from(va!(0))).is_err());
    assert!(catch_unwind(|| va!(0).offset_from(va!(TOP_BIT + 1))).is_err());
}

#[test]
fn operators() {
    let mut a = pa!(0x1000);
    assert_eq!(a + 0x10, pa!(0x1010));
    assert_eq!(a - 0x10, pa!(0xff0));
    a += 0x1000;
    assert_eq!(a, pa!(0x2000));
    a -= 0x2000;
    assert_eq!(a, pa!(0));
    assert_eq!(va!(0x3000) - va!(0x1000), 0x2000);
    assert_eq!(va!(usize::MAX - 1) + 1, va!(usize::MAX));
}

#[test]
fn operator_overflow_panics_in_every_profile() {
    assert!(catch_unwind(|| va!(usize::MAX) + 1).is_err());
    assert!(catch_unwind(|| pa!(0) - 1).is_err());
    assert!(catch_unwind(|| va!(0) - va!(1)).is_err());
    assert!(
        catch_unwind(|| {
            let mut a = va!(usize::MAX);
            a += 1;
            a
        })
        .is_err()
    );
    assert!(
        catch_unwind(|| {
            let mut a = pa!(0);
            a -= 1;
            a
        })
        .is_err()
    );
}

#[test]
fn pointers_round_trip() {
    let mut x: u64 = 0x1122_3344_5566_7788;
    let va = VirtAddr::from_ptr_of(&x as *const u64);
    assert_eq!(va.as_usize(), &x as *const u64 as usize);
    assert_eq!(va.as_ptr(), (&x as *const u64).cast::<u8>());
    // SAFETY: `va` came from a live, aligned `u64` on the stack.
    assert_eq!(unsafe { *va.as_ptr_of::<u64>() }, 0x1122_3344_5566_7788);
    let vm = VirtAddr::from_mut_ptr_of(&mut x as *mut u64);
    assert_eq!(vm, va);
    // SAFETY: as above, and no other reference to `x` is live.
    unsafe { *vm.as_mut_ptr_of::<u64>() = 7 };
    assert_eq!(x, 7);
    assert_eq!(vm.as_mut_ptr(), (&mut x as *mut u64).cast::<u8>());
    const NULL: *const u8 = va!(0).as_ptr();
    assert!(NULL.is_null());
}

/// Generic code written against the trait must work for all address types.
fn generic_page_round<A: MemoryAddr>(a: A) -> (A, A, usize) {
    (a.align_down_4k(), a.align_up_4k(), a.align_offset_4k())
}

#[test]
fn generic_use() {
    assert_eq!(
        generic_page_round(va!(0x1001)),
        (va!(0x1000), va!(0x2000), 1)
    );
    assert_eq!(
        generic_page_round(pa!(0x1001)),
        (pa!(0x1000), pa!(0x2000), 1)
    );
    assert_eq!(generic_page_round(0x1001usize), (0x1000, 0x2000, 1));
}
