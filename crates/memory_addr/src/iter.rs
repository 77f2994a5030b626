//! Page-by-page iterators over `[start, end)`.

use core::iter::FusedIterator;

use crate::MemoryAddr;

/// Checks the constructor preconditions shared by both iterators.
#[inline]
fn valid<A: MemoryAddr>(start: A, end: A, page_size: usize) -> bool {
    page_size.is_power_of_two() && start.is_aligned(page_size) && end.is_aligned(page_size)
}

/// Number of pages left in `[start, end)` (0 if `start >= end`).
#[inline]
fn remaining<A: MemoryAddr>(start: A, end: A, page_size: usize) -> usize {
    end.checked_sub_addr(start).unwrap_or(0) / page_size
}

/// Takes the page at `*start`. Both bounds are aligned, so `start + page_size
/// <= end` whenever `start < end`: the addition cannot overflow.
#[inline]
fn take_front<A: MemoryAddr>(start: &mut A, end: A, page_size: usize) -> Option<A> {
    if *start < end {
        let page = *start;
        *start = page.add(page_size);
        Some(page)
    } else {
        None
    }
}

/// Takes the page just below `*end`.
#[inline]
fn take_back<A: MemoryAddr>(start: A, end: &mut A, page_size: usize) -> Option<A> {
    if start < *end {
        *end = end.sub(page_size);
        Some(*end)
    } else {
        None
    }
}

/// Skips `n` pages in O(1), then takes one.
#[inline]
fn nth_front<A: MemoryAddr>(start: &mut A, end: A, page_size: usize, n: usize) -> Option<A> {
    if n >= remaining(*start, end, page_size) {
        if *start < end {
            *start = end;
        }
        return None;
    }
    // `n < remaining` so `n * page_size < end - start`: no overflow.
    *start = start.add(n * page_size);
    take_front(start, end, page_size)
}

/// An iterator over the pages in `[start, end)`, with the page size fixed at
/// compile time.
///
/// Yields the start address of each page, in increasing order (or decreasing
/// from the back, see [`DoubleEndedIterator`]). If `start > end` the
/// iterator is empty (arceos-compatible).
///
/// # Example
///
/// ```
/// use memory_addr::{va, PageIter4K};
///
/// let pages: Vec<_> = PageIter4K::new(va!(0x1000), va!(0x3000)).unwrap().collect();
/// assert_eq!(pages, [va!(0x1000), va!(0x2000)]);
/// assert!(PageIter4K::new(va!(0x1000), va!(0x3001)).is_none());
/// ```
#[derive(Clone, Debug)]
pub struct PageIter<const PAGE_SIZE: usize, A: MemoryAddr> {
    start: A,
    end: A,
}

impl<A: MemoryAddr, const PAGE_SIZE: usize> PageIter<PAGE_SIZE, A> {
    /// Creates an iterator over the `PAGE_SIZE` pages in `[start, end)`.
    ///
    /// Returns `None` if `PAGE_SIZE` is not a power of two or `start` or `end`
    /// is not `PAGE_SIZE`-aligned.
    #[inline]
    #[must_use]
    pub fn new(start: A, end: A) -> Option<Self> {
        valid(start, end, PAGE_SIZE).then_some(Self { start, end })
    }
}

impl<A: MemoryAddr, const PAGE_SIZE: usize> Iterator for PageIter<PAGE_SIZE, A> {
    type Item = A;

    #[inline]
    fn next(&mut self) -> Option<A> {
        take_front(&mut self.start, self.end, PAGE_SIZE)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = remaining(self.start, self.end, PAGE_SIZE);
        (n, Some(n))
    }

    #[inline]
    fn nth(&mut self, n: usize) -> Option<A> {
        nth_front(&mut self.start, self.end, PAGE_SIZE, n)
    }
}

impl<A: MemoryAddr, const PAGE_SIZE: usize> DoubleEndedIterator for PageIter<PAGE_SIZE, A> {
    #[inline]
    fn next_back(&mut self) -> Option<A> {
        take_back(self.start, &mut self.end, PAGE_SIZE)
    }
}

impl<A: MemoryAddr, const PAGE_SIZE: usize> ExactSizeIterator for PageIter<PAGE_SIZE, A> {}

impl<A: MemoryAddr, const PAGE_SIZE: usize> FusedIterator for PageIter<PAGE_SIZE, A> {}

/// An iterator over the pages in `[start, end)`, with the page size chosen at
/// run time.
///
/// # Example
///
/// ```
/// use memory_addr::{pa, DynPageIter, PAGE_SIZE_2M};
///
/// let mut it = DynPageIter::new(pa!(0), pa!(0x60_0000), PAGE_SIZE_2M).unwrap();
/// assert_eq!(it.len(), 3);
/// assert_eq!(it.next_back(), Some(pa!(0x40_0000)));
/// assert!(DynPageIter::new(pa!(0), pa!(0x3000), 0x3000).is_none()); // not a power of two
/// ```
#[derive(Clone, Debug)]
pub struct DynPageIter<A: MemoryAddr> {
    start: A,
    end: A,
    page_size: usize,
}

impl<A: MemoryAddr> DynPageIter<A> {
    /// Creates an iterator over the `page_size` pages in `[start, end)`.
    ///
    /// Returns `None` if `page_size` is not a power of two (including 0) or
    /// `start` or `end` is not `page_size`-aligned.
    #[inline]
    #[must_use]
    pub fn new(start: A, end: A, page_size: usize) -> Option<Self> {
        valid(start, end, page_size).then_some(Self {
            start,
            end,
            page_size,
        })
    }

    /// Returns the page size this iterator steps by.
    #[inline]
    #[must_use]
    pub fn page_size(&self) -> usize {
        self.page_size
    }
}

impl<A: MemoryAddr> Iterator for DynPageIter<A> {
    type Item = A;

    #[inline]
    fn next(&mut self) -> Option<A> {
        take_front(&mut self.start, self.end, self.page_size)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = remaining(self.start, self.end, self.page_size);
        (n, Some(n))
    }

    #[inline]
    fn nth(&mut self, n: usize) -> Option<A> {
        nth_front(&mut self.start, self.end, self.page_size, n)
    }
}

impl<A: MemoryAddr> DoubleEndedIterator for DynPageIter<A> {
    #[inline]
    fn next_back(&mut self) -> Option<A> {
        take_back(self.start, &mut self.end, self.page_size)
    }
}

impl<A: MemoryAddr> ExactSizeIterator for DynPageIter<A> {}

impl<A: MemoryAddr> FusedIterator for DynPageIter<A> {}
