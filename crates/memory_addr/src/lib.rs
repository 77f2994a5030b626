#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

mod addr;
mod iter;
mod macros;
mod range;

pub use self::addr::{
    MemoryAddr, PhysAddr, VirtAddr, align_down, align_down_4k, align_offset, align_offset_4k,
    align_up, align_up_4k, checked_align_down, checked_align_up, is_aligned, is_aligned_4k,
};
pub use self::iter::{DynPageIter, PageIter};
pub use self::range::{AddrRange, PhysAddrRange, VirtAddrRange};

/// The size of a 4K page (4096 bytes).
pub const PAGE_SIZE_4K: usize = 0x1000;

/// The size of a 2M page (2 MiB).
pub const PAGE_SIZE_2M: usize = 0x20_0000;

/// The size of a 1G page (1 GiB).
pub const PAGE_SIZE_1G: usize = 0x4000_0000;

/// A [`PageIter`] over 4K pages.
pub type PageIter4K<A> = PageIter<PAGE_SIZE_4K, A>;

/// A [`PageIter`] over 2M pages.
pub type PageIter2M<A> = PageIter<PAGE_SIZE_2M, A>;

/// A [`PageIter`] over 1G pages.
pub type PageIter1G<A> = PageIter<PAGE_SIZE_1G, A>;
