//! One contiguous memory area with uniform flags and its backend.

use core::fmt;

use memory_addr::{AddrRange, MemoryAddr};

use crate::{MappingBackend, MappingError, MappingResult};

/// A contiguous range of addresses `[start, start + size)` mapped with the same flags by one
/// backend.
///
/// Areas are never merged automatically: two neighbouring areas with equal flags stay two
/// areas, because their backends may hold unrelated state (different files, offsets, frame
/// owners). Splitting only happens on [`MemorySet::unmap`](crate::MemorySet::unmap),
/// [`MemorySet::protect`](crate::MemorySet::protect) and replacing
/// [`MemorySet::map`](crate::MemorySet::map).
pub struct MemoryArea<B: MappingBackend> {
    /// `[start, end)`; `end` wraps for an area that `new` did not validate.
    range: AddrRange<B::Addr>,
    flags: B::Flags,
    backend: B,
}

#[inline]
pub(crate) fn addr_usize<A: MemoryAddr>(a: A) -> usize {
    a.into()
}

/// `start + size` as an address, or `InvalidParam` for size 0 or overflow.
pub(crate) fn range_end<A: MemoryAddr>(start: A, size: usize) -> MappingResult<A> {
    if size == 0 {
        return Err(MappingError::InvalidParam);
    }
    start.checked_add(size).ok_or(MappingError::InvalidParam)
}

impl<B: MappingBackend> MemoryArea<B> {
    /// Creates an area `[start, start + size)`. It is not mapped until it is passed to
    /// [`MemorySet::map`](crate::MemorySet::map).
    ///
    /// This does not validate: `MemorySet::map` rejects a size of 0 or a range whose end
    /// does not fit in the address type with [`MappingError::InvalidParam`] (until then
    /// [`end`](Self::end) of such an area wraps around). Use [`try_new`](Self::try_new) to
    /// validate up front.
    pub fn new(start: B::Addr, size: usize, flags: B::Flags, backend: B) -> Self {
        let end = B::Addr::from(addr_usize(start).wrapping_add(size));
        Self {
            range: AddrRange { start, end },
            flags,
            backend,
        }
    }

    /// Creates an area `[start, start + size)`, checking the range.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] if `size` is 0 or `start + size` overflows `usize`
    /// (so an area never ends exactly at the top of the address space).
    pub fn try_new(
        start: B::Addr,
        size: usize,
        flags: B::Flags,
        backend: B,
    ) -> MappingResult<Self> {
        let area = Self::new(start, size, flags, backend);
        area.checked_end()?;
        Ok(area)
    }

    /// The end if the area is valid (non-empty, end representable), else `InvalidParam`.
    pub(crate) fn checked_end(&self) -> MappingResult<B::Addr> {
        range_end(self.range.start, self.size())
    }

    /// The first address of the area.
    pub const fn start(&self) -> B::Addr {
        self.range.start
    }

    /// The first address past the area.
    pub const fn end(&self) -> B::Addr {
        self.range.end
    }

    /// The size of the area in bytes.
    pub fn size(&self) -> usize {
        addr_usize(self.range.end).wrapping_sub(addr_usize(self.range.start))
    }

    /// The address range `[start, end)` of the area.
    pub const fn va_range(&self) -> AddrRange<B::Addr> {
        self.range
    }

    /// The flags of the area.
    pub const fn flags(&self) -> B::Flags {
        self.flags
    }

    /// The backend of the area.
    pub const fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend of the area, mutable (for example to fill a lazily mapped page on a fault).
    pub const fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Maps the whole area through the backend.
    pub(crate) fn map_whole(&mut self, pt: &mut B::PageTable) -> MappingResult {
        let size = self.size();
        self.backend.map(self.range.start, size, self.flags, pt)
    }

    pub(crate) fn set_flags(&mut self, flags: B::Flags) {
        self.flags = flags;
    }

    /// Splits at `at` (`start < at < end`): `self` keeps `[start, at)`, the result is
    /// `[at, end)` with the same flags.
    pub(crate) fn split(&mut self, at: B::Addr) -> Self {
        debug_assert!(self.range.start < at && at < self.range.end);
        let backend = self.backend.split(self.range.start, at);
        let right = Self {
            range: AddrRange {
                start: at,
                end: self.range.end,
            },
            flags: self.flags,
            backend,
        };
        self.range.end = at;
        right
    }

    /// Drops the front: the area now starts at `new_start` (`start < new_start < end`).
    pub(crate) fn shrink_front(&mut self, new_start: B::Addr) {
        debug_assert!(self.range.start < new_start && new_start < self.range.end);
        self.backend.shrink_front(self.range.start, new_start);
        self.range.start = new_start;
    }

    /// Grows the back: the area now ends at `new_end` (`end < new_end`), its backend
    /// already covering the added range (`MemorySet::join_next`).
    pub(crate) fn extend_back(&mut self, new_end: B::Addr) {
        debug_assert!(self.range.end < new_end);
        self.range.end = new_end;
    }

    /// Drops the back: the area now ends at `new_end` (`start < new_end < end`).
    pub(crate) fn shrink_back(&mut self, new_end: B::Addr) {
        debug_assert!(self.range.start < new_end && new_end < self.range.end);
        self.backend.shrink_back(self.range.start, new_end);
        self.range.end = new_end;
    }
}

impl<B: MappingBackend> fmt::Debug for MemoryArea<B>
where
    B::Addr: fmt::Debug,
    B::Flags: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryArea")
            .field("start", &self.range.start)
            .field("end", &self.end())
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}
