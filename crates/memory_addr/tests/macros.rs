//! `def_usize_addr!` / `def_usize_addr_formatter!` from a downstream crate.

use memory_addr::{AddrRange, MemoryAddr, PageIter4K, def_usize_addr, def_usize_addr_formatter};
use std::panic::catch_unwind;

def_usize_addr! {
    /// A guest physical address.
    pub type GuestPhysAddr;

    /// A guest virtual address, several types in one invocation.
    #[derive(Hash)]
    pub type GuestVirtAddr;
}

def_usize_addr_formatter! {
    GuestPhysAddr = "GPA:{}";
    GuestVirtAddr = "GVA:[{}]";
}

mod inner {
    memory_addr::def_usize_addr! {
        /// Private to this module; `Debug` is derived instead of formatted.
        #[derive(Debug)]
        pub(crate) type DevAddr;

        type HiddenAddr;
    }

    pub(crate) fn hidden_round_trip(v: usize) -> usize {
        HiddenAddr::from_usize(v).as_usize()
    }
}

/// The macros must expand without the prelude (absolute paths only).
mod no_prelude {
    #![no_implicit_prelude]
    ::memory_addr::def_usize_addr! {
        /// An address defined where `Option`, `From`, `Copy`... are not in scope.
        pub type BareAddr;
    }
    ::memory_addr::def_usize_addr_formatter! {
        BareAddr = "BA:{}";
    }
}

#[test]
fn generated_api() {
    const G: GuestPhysAddr = GuestPhysAddr::from_usize(0x1234);
    const U: usize = G.as_usize();
    assert_eq!(U, 0x1234);
    assert_eq!(GuestPhysAddr::from(7), GuestPhysAddr::from_usize(7));
    assert_eq!(usize::from(GuestVirtAddr::from(9)), 9);
    assert_eq!(GuestPhysAddr::default().as_usize(), 0);
    assert!(GuestPhysAddr::from(1) < GuestPhysAddr::from(2));
    assert_eq!(size_of::<GuestPhysAddr>(), size_of::<usize>());
}

#[test]
fn generated_ops() {
    let mut g = GuestPhysAddr::from(0x1000);
    assert_eq!(g + 0x10, GuestPhysAddr::from(0x1010));
    assert_eq!(g - 0x10, GuestPhysAddr::from(0xff0));
    assert_eq!(GuestPhysAddr::from(0x3000) - g, 0x2000);
    g += 0x1000;
    g -= 0x10;
    assert_eq!(g, GuestPhysAddr::from(0x1ff0));
    assert!(catch_unwind(|| GuestPhysAddr::from(usize::MAX) + 1).is_err());
    assert!(catch_unwind(|| GuestPhysAddr::from(0) - 1).is_err());
    assert!(catch_unwind(|| GuestPhysAddr::from(0) - GuestPhysAddr::from(1)).is_err());
    assert!(
        catch_unwind(|| {
            let mut a = GuestVirtAddr::from(usize::MAX);
            a += 1;
            a
        })
        .is_err()
    );
    assert!(
        catch_unwind(|| {
            let mut a = GuestVirtAddr::from(0);
            a -= 1;
            a
        })
        .is_err()
    );
}

#[test]
fn generated_type_is_memory_addr() {
    let g = GuestPhysAddr::from(0x1234);
    assert_eq!(g.align_down_4k(), GuestPhysAddr::from(0x1000));
    assert_eq!(g.checked_add(usize::MAX), None);
    assert_eq!(g.offset_from(GuestPhysAddr::from(0x1334)), -0x100);
    let range = AddrRange::from_start_size(GuestPhysAddr::from(0), 0x2000);
    assert_eq!(range.size(), 0x2000);
    assert_eq!(format!("{range:?}"), "[0x0, 0x2000)");
    let pages: Vec<_> = PageIter4K::new(range.start, range.end).unwrap().collect();
    assert_eq!(pages, [GuestPhysAddr::from(0), GuestPhysAddr::from(0x1000)]);
    let set: std::collections::HashSet<_> = [GuestVirtAddr::from(1)].into_iter().collect();
    assert!(set.contains(&GuestVirtAddr::from(1)));
}

#[test]
fn formatting() {
    let g = GuestPhysAddr::from(0xabc);
    assert_eq!(format!("{g:?}"), "GPA:0xabc");
    assert_eq!(format!("{g:x}"), "GPA:0xabc");
    assert_eq!(format!("{g:X}"), "GPA:0xABC");
    assert_eq!(format!("{:?}", GuestVirtAddr::from(0)), "GVA:[0x0]");
    assert_eq!(format!("{:?}", inner::DevAddr::from(5)), "DevAddr(5)");
    assert_eq!(format!("{:x}", no_prelude::BareAddr::from(0xff)), "BA:0xff");
}

#[test]
fn visibility_and_hygiene() {
    assert_eq!(inner::hidden_round_trip(42), 42);
    let b = no_prelude::BareAddr::from_usize(0x1000) + 0x1000;
    assert_eq!(b.as_usize(), 0x2000);
    assert!(b.is_aligned_4k());
}
