//! Half-open address ranges.

use core::{fmt, ops::Range};

use crate::{MemoryAddr, PhysAddr, VirtAddr};

/// A half-open range `[start, end)` of addresses of type `A`.
///
/// A range is **empty** iff `start == end` and **invalid** iff `start > end`.
/// The safe constructors never build an invalid range. The fields are public
/// (as in arceos `memory_addr` 0.4), so an invalid range can still be written
/// by hand or through the `unsafe` `*_unchecked` constructors; methods on an
/// invalid range never cause undefined behaviour, but their results are
/// unspecified (e.g. [`size`](Self::size) wraps around).
///
/// # Example
///
/// ```
/// use memory_addr::AddrRange;
///
/// let range = AddrRange::<usize>::new(0x1000, 0x2000);
/// assert_eq!(range.start, 0x1000);
/// assert_eq!(range.end, 0x2000);
/// assert_eq!(format!("{range:?}"), "[0x1000, 0x2000)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange<A: MemoryAddr> {
    /// The lower bound of the range (inclusive).
    pub start: A,
    /// The upper bound of the range (exclusive).
    pub end: A,
}

impl<A: MemoryAddr> AddrRange<A> {
    /// Creates the range `[start, end)`.
    ///
    /// # Panics
    ///
    /// Panics if `start > end`. Use [`try_new`](Self::try_new) for a
    /// non-panicking version.
    ///
    /// ```should_panic
    /// let _ = memory_addr::AddrRange::new(0x2000usize, 0x1000);
    /// ```
    #[inline]
    #[track_caller]
    #[must_use]
    pub fn new(start: A, end: A) -> Self {
        match Self::try_new(start, end) {
            Some(r) => r,
            None => panic!(
                "invalid `AddrRange`: {:#x}..{:#x}",
                start.into(),
                end.into()
            ),
        }
    }

    /// Creates the range `[start, end)`; `None` if `start > end`.
    ///
    /// ```
    /// use memory_addr::AddrRange;
    /// assert!(AddrRange::try_new(0x1000usize, 0x1000).is_some());
    /// assert!(AddrRange::try_new(0x2000usize, 0x1000).is_none());
    /// ```
    #[inline]
    #[must_use]
    pub fn try_new(start: A, end: A) -> Option<Self> {
        if start <= end {
            Some(Self { start, end })
        } else {
            None
        }
    }

    /// Creates the range `[start, end)` without checking `start <= end`.
    ///
    /// # Safety
    ///
    /// The caller must ensure `start <= end`. Breaking this is not undefined
    /// behaviour in this crate, but other (unsafe) code may rely on ranges
    /// being valid.
    #[inline]
    #[must_use]
    pub const unsafe fn new_unchecked(start: A, end: A) -> Self {
        Self { start, end }
    }

    /// Creates the range `[start, start + size)`.
    ///
    /// # Panics
    ///
    /// Panics if `start + size` overflows. Use
    /// [`try_from_start_size`](Self::try_from_start_size) for a non-panicking
    /// version.
    ///
    /// ```
    /// use memory_addr::AddrRange;
    /// let r = AddrRange::from_start_size(0x1000usize, 0x1000);
    /// assert_eq!((r.start, r.end), (0x1000, 0x2000));
    /// ```
    ///
    /// ```should_panic
    /// let _ = memory_addr::AddrRange::from_start_size(0x1000usize, usize::MAX);
    /// ```
    #[inline]
    #[track_caller]
    #[must_use]
    pub fn from_start_size(start: A, size: usize) -> Self {
        match Self::try_from_start_size(start, size) {
            Some(r) => r,
            None => panic!(
                "size too large for `AddrRange`: {:#x} + {:#x}",
                start.into(),
                size
            ),
        }
    }

    /// Creates the range `[start, start + size)`; `None` if the end overflows.
    ///
    /// ```
    /// use memory_addr::AddrRange;
    /// assert!(AddrRange::try_from_start_size(1usize, usize::MAX - 1).is_some());
    /// assert!(AddrRange::try_from_start_size(1usize, usize::MAX).is_none());
    /// ```
    #[inline]
    #[must_use]
    pub fn try_from_start_size(start: A, size: usize) -> Option<Self> {
        start.checked_add(size).map(|end| Self { start, end })
    }

    /// Creates the range `[start, start + size)` without checking for
    /// overflow (the end wraps around).
    ///
    /// # Safety
    ///
    /// The caller must ensure `start + size` does not overflow; see
    /// [`new_unchecked`](Self::new_unchecked).
    #[inline]
    #[must_use]
    pub unsafe fn from_start_size_unchecked(start: A, size: usize) -> Self {
        Self {
            start,
            end: start.wrapping_add(size),
        }
    }

    /// Returns `true` if the range holds no address (also for an invalid
    /// range).
    #[inline]
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.start >= self.end
    }

    /// Returns `end - start` (wrapping for an invalid range).
    #[inline]
    #[must_use]
    pub fn size(self) -> usize {
        self.end.wrapping_sub_addr(self.start)
    }

    /// Checks whether `start <= addr < end`.
    #[inline]
    #[must_use]
    pub fn contains(self, addr: A) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Checks whether `other` lies within `self` (bounds compared as given, so
    /// an empty `other` counts when its start lies in `[start, end]`).
    ///
    /// ```
    /// use memory_addr::{addr_range, AddrRange};
    /// let r = AddrRange::new(0x1000usize, 0x2000);
    /// assert!(r.contains_range(addr_range!(0x1000usize..0x2000)));
    /// assert!(!r.contains_range(addr_range!(0x1001usize..0x2001)));
    /// ```
    #[inline]
    #[must_use]
    pub fn contains_range(self, other: Self) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Checks whether `self` lies within `other`; same as
    /// `other.contains_range(self)`.
    #[inline]
    #[must_use]
    pub fn contained_in(self, other: Self) -> bool {
        other.contains_range(self)
    }

    /// Checks whether the two ranges overlap: `self.start < other.end &&
    /// other.start < self.end` (arceos-compatible).
    ///
    /// For non-empty ranges this means they share an address. An empty range
    /// `[x, x)` counts as overlapping when `x` lies strictly inside the other
    /// range, and never overlaps a range that starts or ends at `x`.
    ///
    /// ```
    /// use memory_addr::{addr_range, AddrRange};
    /// let r = AddrRange::new(0x1000usize, 0x2000);
    /// assert!(r.overlaps(addr_range!(0x1fffusize..0x3000)));
    /// assert!(!r.overlaps(addr_range!(0x2000usize..0x3000)));
    /// ```
    #[inline]
    #[must_use]
    pub fn overlaps(self, other: Self) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Returns the addresses in both ranges, or `None` if there are none.
    ///
    /// The result is never empty. For non-empty ranges, `Some` is returned
    /// exactly when [`overlaps`](Self::overlaps) is true.
    ///
    /// ```
    /// use memory_addr::{addr_range, AddrRange};
    /// let r = AddrRange::new(0x1000usize, 0x3000);
    /// assert_eq!(r.intersection(addr_range!(0x2000usize..0x5000)),
    ///            Some(addr_range!(0x2000usize..0x3000)));
    /// assert_eq!(r.intersection(addr_range!(0x3000usize..0x5000)), None);
    /// ```
    #[inline]
    #[must_use]
    pub fn intersection(self, other: Self) -> Option<Self> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        if start < end {
            Some(Self { start, end })
        } else {
            None
        }
    }
}

/// Conversion from `start..end`; fails with `()` if `start > end`
/// (arceos-compatible error type).
impl<A, T> TryFrom<Range<T>> for AddrRange<A>
where
    A: MemoryAddr + From<T>,
{
    type Error = ();

    #[inline]
    fn try_from(range: Range<T>) -> Result<Self, Self::Error> {
        Self::try_new(range.start.into(), range.end.into()).ok_or(())
    }
}

impl<A: MemoryAddr> From<AddrRange<A>> for Range<A> {
    #[inline]
    fn from(range: AddrRange<A>) -> Self {
        range.start..range.end
    }
}

/// The empty range `[0, 0)`.
impl<A: MemoryAddr> Default for AddrRange<A> {
    #[inline]
    fn default() -> Self {
        Self {
            start: A::from(0),
            end: A::from(0),
        }
    }
}

/// Formats as `[0x1000, 0x2000)`.
impl<A: MemoryAddr> fmt::Debug for AddrRange<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start.into(), self.end.into())
    }
}

/// Formats as `[0x1000, 0x2000)`.
impl<A: MemoryAddr> fmt::LowerHex for AddrRange<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start.into(), self.end.into())
    }
}

/// Formats as `[0x1ABC, 0x2000)`.
impl<A: MemoryAddr> fmt::UpperHex for AddrRange<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#X}, {:#X})", self.start.into(), self.end.into())
    }
}

/// A range of [`VirtAddr`]s.
pub type VirtAddrRange = AddrRange<VirtAddr>;
/// A range of [`PhysAddr`]s.
pub type PhysAddrRange = AddrRange<PhysAddr>;
