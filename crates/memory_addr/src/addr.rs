//! Alignment helpers, the [`MemoryAddr`] trait and the two built-in address
//! types [`PhysAddr`] and [`VirtAddr`].

use crate::PAGE_SIZE_4K;

/// Panics unless `align` is a power of two (0 is not).
///
/// Shared by the panicking align functions so they report the same message.
#[inline]
#[track_caller]
const fn assert_power_of_two(align: usize) {
    if !align.is_power_of_two() {
        panic!("alignment must be a power of two");
    }
}

/// Aligns `addr` downwards: the greatest multiple of `align` that is `<= addr`.
///
/// # Panics
///
/// Panics if `align` is not a power of two (this includes 0). Use
/// [`checked_align_down`] for a non-panicking version.
///
/// # Example
///
/// ```
/// assert_eq!(memory_addr::align_down(0x1234, 0x1000), 0x1000);
/// ```
#[inline]
#[track_caller]
#[must_use]
pub const fn align_down(addr: usize, align: usize) -> usize {
    assert_power_of_two(align);
    addr & !(align - 1)
}

/// Aligns `addr` upwards: the smallest multiple of `align` that is `>= addr`.
///
/// # Panics
///
/// Panics if `align` is not a power of two (this includes 0), or if the
/// result does not fit in a `usize` (e.g. `align_up(usize::MAX, 2)`). Use
/// [`checked_align_up`] for a non-panicking version.
///
/// # Example
///
/// ```
/// assert_eq!(memory_addr::align_up(0x1234, 0x1000), 0x2000);
/// assert_eq!(memory_addr::align_up(0x2000, 0x1000), 0x2000);
/// ```
#[inline]
#[track_caller]
#[must_use]
pub const fn align_up(addr: usize, align: usize) -> usize {
    assert_power_of_two(align);
    match addr.checked_add(align - 1) {
        Some(v) => v & !(align - 1),
        None => panic!("overflow in `align_up`"),
    }
}

/// Returns the offset of `addr` within its `align`-sized block (`addr % align`).
///
/// # Panics
///
/// Panics if `align` is not a power of two (this includes 0).
///
/// # Example
///
/// ```
/// assert_eq!(memory_addr::align_offset(0x1234, 0x1000), 0x234);
/// ```
#[inline]
#[track_caller]
#[must_use]
pub const fn align_offset(addr: usize, align: usize) -> usize {
    assert_power_of_two(align);
    addr & (align - 1)
}

/// Checks whether `addr` is a multiple of `align`.
///
/// # Panics
///
/// Panics if `align` is not a power of two (this includes 0).
///
/// # Example
///
/// ```
/// assert!(memory_addr::is_aligned(0x2000, 0x1000));
/// assert!(!memory_addr::is_aligned(0x2001, 0x1000));
/// ```
#[inline]
#[track_caller]
#[must_use]
pub const fn is_aligned(addr: usize, align: usize) -> bool {
    align_offset(addr, align) == 0
}

/// Like [`align_down`], but returns `None` instead of panicking when `align`
/// is not a power of two.
///
/// # Example
///
/// ```
/// use memory_addr::checked_align_down;
/// assert_eq!(checked_align_down(0x1234, 0x1000), Some(0x1000));
/// assert_eq!(checked_align_down(0x1234, 0), None);
/// assert_eq!(checked_align_down(0x1234, 3), None);
/// ```
#[inline]
#[must_use]
pub const fn checked_align_down(addr: usize, align: usize) -> Option<usize> {
    if align.is_power_of_two() {
        Some(addr & !(align - 1))
    } else {
        None
    }
}

/// Like [`align_up`], but returns `None` instead of panicking when `align` is
/// not a power of two or the result overflows.
///
/// # Example
///
/// ```
/// use memory_addr::checked_align_up;
/// assert_eq!(checked_align_up(0x1234, 0x1000), Some(0x2000));
/// assert_eq!(checked_align_up(usize::MAX, 0x1000), None);
/// assert_eq!(checked_align_up(0x1234, 6), None);
/// ```
#[inline]
#[must_use]
pub const fn checked_align_up(addr: usize, align: usize) -> Option<usize> {
    if !align.is_power_of_two() {
        return None;
    }
    match addr.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Aligns `addr` downwards to 4096 bytes.
#[inline]
#[must_use]
pub const fn align_down_4k(addr: usize) -> usize {
    align_down(addr, PAGE_SIZE_4K)
}

/// Aligns `addr` upwards to 4096 bytes.
///
/// # Panics
///
/// Panics if the result does not fit in a `usize` (`addr > usize::MAX - 4095`).
#[inline]
#[track_caller]
#[must_use]
pub const fn align_up_4k(addr: usize) -> usize {
    align_up(addr, PAGE_SIZE_4K)
}

/// Returns the offset of `addr` within its 4K page.
#[inline]
#[must_use]
pub const fn align_offset_4k(addr: usize) -> usize {
    align_offset(addr, PAGE_SIZE_4K)
}

/// Checks whether `addr` is 4K-aligned.
#[inline]
#[must_use]
pub const fn is_aligned_4k(addr: usize) -> bool {
    is_aligned(addr, PAGE_SIZE_4K)
}

/// Common operations on memory address types.
///
/// Implemented automatically for every type that is `Copy + From<usize> +
/// Into<usize> + Ord`: [`PhysAddr`], [`VirtAddr`], types made with
/// [`def_usize_addr!`](crate::def_usize_addr) and plain `usize`.
///
/// Conventions, shared with arceos `memory_addr` 0.4:
/// - the plain methods (`add`, `sub`, `offset`, `offset_from`, `sub_addr`,
///   `align_up`) panic on overflow, in debug *and* release builds;
/// - `checked_*` return `None` on overflow (or a bad alignment);
/// - `wrapping_*` wrap around modulo `2^usize::BITS`;
/// - `overflowing_*` return the wrapped result and whether it wrapped;
/// - alignments must be powers of two: see [`align_down`](crate::align_down).
pub trait MemoryAddr: Copy + From<usize> + Into<usize> + Ord {
    /// Aligns the address downwards to `align`.
    ///
    /// # Panics
    ///
    /// Panics if `align` is not a power of two.
    #[inline]
    #[track_caller]
    #[must_use = "this returns a new address, without modifying the original"]
    fn align_down<U: Into<usize>>(self, align: U) -> Self {
        Self::from(align_down(self.into(), align.into()))
    }

    /// Aligns the address upwards to `align`.
    ///
    /// # Panics
    ///
    /// Panics if `align` is not a power of two or the result overflows.
    #[inline]
    #[track_caller]
    #[must_use = "this returns a new address, without modifying the original"]
    fn align_up<U: Into<usize>>(self, align: U) -> Self {
        Self::from(align_up(self.into(), align.into()))
    }

    /// Returns the offset of the address within its `align`-sized block.
    ///
    /// # Panics
    ///
    /// Panics if `align` is not a power of two.
    #[inline]
    #[track_caller]
    #[must_use]
    fn align_offset<U: Into<usize>>(self, align: U) -> usize {
        align_offset(self.into(), align.into())
    }

    /// Checks whether the address is a multiple of `align`.
    ///
    /// # Panics
    ///
    /// Panics if `align` is not a power of two.
    #[inline]
    #[track_caller]
    #[must_use]
    fn is_aligned<U: Into<usize>>(self, align: U) -> bool {
        is_aligned(self.into(), align.into())
    }

    /// Aligns the address downwards to `align`; `None` if `align` is not a
    /// power of two.
    #[inline]
    #[must_use]
    fn checked_align_down<U: Into<usize>>(self, align: U) -> Option<Self> {
        checked_align_down(self.into(), align.into()).map(Self::from)
    }

    /// Aligns the address upwards to `align`; `None` if `align` is not a power
    /// of two or the result overflows.
    #[inline]
    #[must_use]
    fn checked_align_up<U: Into<usize>>(self, align: U) -> Option<Self> {
        checked_align_up(self.into(), align.into()).map(Self::from)
    }

    /// Aligns the address downwards to 4096 bytes.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn align_down_4k(self) -> Self {
        Self::from(align_down_4k(self.into()))
    }

    /// Aligns the address upwards to 4096 bytes.
    ///
    /// # Panics
    ///
    /// Panics if the result overflows.
    #[inline]
    #[track_caller]
    #[must_use = "this returns a new address, without modifying the original"]
    fn align_up_4k(self) -> Self {
        Self::from(align_up_4k(self.into()))
    }

    /// Returns the offset of the address within its 4K page.
    #[inline]
    #[must_use]
    fn align_offset_4k(self) -> usize {
        align_offset_4k(self.into())
    }

    /// Checks whether the address is 4K-aligned.
    #[inline]
    #[must_use]
    fn is_aligned_4k(self) -> bool {
        is_aligned_4k(self.into())
    }

    /// Adds a signed offset.
    ///
    /// # Panics
    ///
    /// Panics if the result is below 0 or above `usize::MAX`.
    #[inline]
    #[track_caller]
    #[must_use = "this returns a new address, without modifying the original"]
    fn offset(self, offset: isize) -> Self {
        match self.checked_offset(offset) {
            Some(a) => a,
            None => panic!("overflow in `MemoryAddr::offset`"),
        }
    }

    /// Adds a signed offset; `None` on overflow.
    #[inline]
    #[must_use]
    fn checked_offset(self, offset: isize) -> Option<Self> {
        self.into().checked_add_signed(offset).map(Self::from)
    }

    /// Adds a signed offset, wrapping around on overflow.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn wrapping_offset(self, offset: isize) -> Self {
        Self::from(self.into().wrapping_add_signed(offset))
    }

    /// Adds a signed offset; returns the wrapped result and whether it wrapped.
    #[inline]
    #[must_use]
    fn overflowing_offset(self, offset: isize) -> (Self, bool) {
        let (v, o) = self.into().overflowing_add_signed(offset);
        (Self::from(v), o)
    }

    /// Returns `self - base` as a signed distance.
    ///
    /// # Panics
    ///
    /// Panics if the distance does not fit in an `isize`.
    #[inline]
    #[track_caller]
    #[must_use]
    fn offset_from(self, base: Self) -> isize {
        match self.checked_offset_from(base) {
            Some(d) => d,
            None => panic!("overflow in `MemoryAddr::offset_from`"),
        }
    }

    /// Returns `self - base` as a signed distance; `None` if it does not fit
    /// in an `isize`.
    #[inline]
    #[must_use]
    fn checked_offset_from(self, base: Self) -> Option<isize> {
        let (a, b): (usize, usize) = (self.into(), base.into());
        if a >= b {
            isize::try_from(a - b).ok()
        } else {
            // `b - a` may be exactly `isize::MAX + 1`, which is still `isize::MIN`.
            0isize.checked_sub_unsigned(b - a)
        }
    }

    /// Adds an unsigned offset.
    ///
    /// # Panics
    ///
    /// Panics if the result overflows.
    #[inline]
    #[track_caller]
    #[must_use = "this returns a new address, without modifying the original"]
    fn add(self, rhs: usize) -> Self {
        match self.into().checked_add(rhs) {
            Some(v) => Self::from(v),
            None => panic!("overflow in `MemoryAddr::add`"),
        }
    }

    /// Adds an unsigned offset, wrapping around on overflow.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn wrapping_add(self, rhs: usize) -> Self {
        Self::from(self.into().wrapping_add(rhs))
    }

    /// Adds an unsigned offset; returns the wrapped result and whether it
    /// wrapped.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn overflowing_add(self, rhs: usize) -> (Self, bool) {
        let (v, o) = self.into().overflowing_add(rhs);
        (Self::from(v), o)
    }

    /// Adds an unsigned offset; `None` on overflow.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn checked_add(self, rhs: usize) -> Option<Self> {
        self.into().checked_add(rhs).map(Self::from)
    }

    /// Subtracts an unsigned offset.
    ///
    /// # Panics
    ///
    /// Panics if the result would be below 0.
    #[inline]
    #[track_caller]
    #[must_use = "this returns a new address, without modifying the original"]
    fn sub(self, rhs: usize) -> Self {
        match self.into().checked_sub(rhs) {
            Some(v) => Self::from(v),
            None => panic!("overflow in `MemoryAddr::sub`"),
        }
    }

    /// Subtracts an unsigned offset, wrapping around on overflow.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn wrapping_sub(self, rhs: usize) -> Self {
        Self::from(self.into().wrapping_sub(rhs))
    }

    /// Subtracts an unsigned offset; returns the wrapped result and whether it
    /// wrapped.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn overflowing_sub(self, rhs: usize) -> (Self, bool) {
        let (v, o) = self.into().overflowing_sub(rhs);
        (Self::from(v), o)
    }

    /// Subtracts an unsigned offset; `None` on overflow.
    #[inline]
    #[must_use = "this returns a new address, without modifying the original"]
    fn checked_sub(self, rhs: usize) -> Option<Self> {
        self.into().checked_sub(rhs).map(Self::from)
    }

    /// Returns the unsigned distance `self - rhs`.
    ///
    /// # Panics
    ///
    /// Panics if `rhs > self`.
    #[inline]
    #[track_caller]
    #[must_use]
    fn sub_addr(self, rhs: Self) -> usize {
        match self.into().checked_sub(rhs.into()) {
            Some(v) => v,
            None => panic!("overflow in `MemoryAddr::sub_addr`"),
        }
    }

    /// Returns `self - rhs`, wrapping around on overflow.
    #[inline]
    #[must_use]
    fn wrapping_sub_addr(self, rhs: Self) -> usize {
        self.into().wrapping_sub(rhs.into())
    }

    /// Returns `self - rhs` wrapped, and whether it wrapped.
    #[inline]
    #[must_use]
    fn overflowing_sub_addr(self, rhs: Self) -> (usize, bool) {
        self.into().overflowing_sub(rhs.into())
    }

    /// Returns `self - rhs`; `None` if `rhs > self`.
    #[inline]
    #[must_use]
    fn checked_sub_addr(self, rhs: Self) -> Option<usize> {
        self.into().checked_sub(rhs.into())
    }
}

impl<T> MemoryAddr for T where T: Copy + From<usize> + Into<usize> + Ord {}

crate::def_usize_addr! {
    /// A physical memory address.
    #[derive(Hash)]
    pub type PhysAddr;

    /// A virtual memory address.
    #[derive(Hash)]
    pub type VirtAddr;
}

crate::def_usize_addr_formatter! {
    PhysAddr = "PA:{}";
    VirtAddr = "VA:{}";
}

impl VirtAddr {
    /// Creates a virtual address from a raw pointer (exposing its provenance,
    /// so [`as_ptr_of`](Self::as_ptr_of) can give a usable pointer back).
    #[inline]
    #[must_use]
    pub fn from_ptr_of<T>(ptr: *const T) -> Self {
        Self::from_usize(ptr.expose_provenance())
    }

    /// Creates a virtual address from a mutable raw pointer.
    #[inline]
    #[must_use]
    pub fn from_mut_ptr_of<T>(ptr: *mut T) -> Self {
        Self::from_usize(ptr.expose_provenance())
    }

    /// Converts the address to a raw byte pointer.
    #[inline]
    #[must_use]
    pub const fn as_ptr(self) -> *const u8 {
        self.as_ptr_of()
    }

    /// Converts the address to a raw pointer to `T`.
    #[inline]
    #[must_use]
    pub const fn as_ptr_of<T>(self) -> *const T {
        // An `as` cast has exposed-provenance semantics and, unlike
        // `ptr::with_exposed_provenance`, is const on our MSRV.
        self.as_usize() as *const T
    }

    /// Converts the address to a mutable raw byte pointer.
    #[inline]
    #[must_use]
    pub const fn as_mut_ptr(self) -> *mut u8 {
        self.as_mut_ptr_of()
    }

    /// Converts the address to a mutable raw pointer to `T`.
    #[inline]
    #[must_use]
    pub const fn as_mut_ptr_of<T>(self) -> *mut T {
        self.as_usize() as *mut T
    }
}
