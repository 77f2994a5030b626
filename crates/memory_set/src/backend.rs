//! The backend trait through which a [`MemorySet`](crate::MemorySet) changes a page table, and
//! the error type shared by every operation.

use core::fmt;

use memory_addr::MemoryAddr;

/// Why a mapping operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingError {
    /// An argument is invalid: size 0, a range whose end overflows the address space, a
    /// start above its end, or (reported by backends) an address the backend cannot map,
    /// such as one not aligned to its page size.
    InvalidParam,
    /// The range is already (partly) mapped and the caller asked to fail on overlap.
    AlreadyExists,
    /// The page table or backend is not in the state the operation expects.
    BadState,
    /// Memory (frames, page-table pages) ran out.
    NoMemory,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidParam => "invalid parameter",
            Self::AlreadyExists => "range already mapped",
            Self::BadState => "bad page-table or backend state",
            Self::NoMemory => "out of memory",
        })
    }
}

impl core::error::Error for MappingError {}

/// The result of a mapping operation.
pub type MappingResult<T = ()> = Result<T, MappingError>;

/// How one [`MemoryArea`](crate::MemoryArea) is mapped into a page table.
///
/// A backend value belongs to exactly one area and covers exactly that area's range. It may
/// keep per-page state (frames, file offsets); the [`split`](Self::split),
/// [`shrink_front`](Self::shrink_front) and [`shrink_back`](Self::shrink_back) hooks tell it
/// when its area changes shape, so that state always follows the area.
///
/// # Contract (what the set's rollback relies on)
///
/// 1. **Atomic calls.** When [`map`](Self::map), [`unmap`](Self::unmap) or
///    [`protect`](Self::protect) returns `Err`, it has changed nothing, neither in the page
///    table nor in `self`.
/// 2. **Undo succeeds.** Right after a call succeeded, its inverse on the same range succeeds:
///    `unmap` after `map`; `map` with the area's flags after `unmap`; `protect` back to the
///    old flags after `protect`. A multi-area operation that fails part-way undoes the calls
///    it already made in reverse order with these inverses. If an undo call fails anyway,
///    the set still restores its own bookkeeping and reports the original error, but the
///    page table may then differ from its state before the call.
/// 3. **Undoing `unmap` re-maps.** It calls `map` again: the mapping comes back with the
///    same flags, the contents are whatever `map` produces (for a lazily allocated
///    anonymous backend: zero pages on the next touch).
/// 4. **Sub-ranges.** The set calls `map`, `unmap` and `protect` on any sub-range of the
///    backend's area, with the boundaries its caller gave: the set is generic and aligns
///    nothing, so a backend rejects a range it cannot handle (for example one not aligned to
///    its page size) with [`MappingError::InvalidParam`]. The shape hooks are called only
///    after every fallible call of the operation succeeded, so they are never undone.
pub trait MappingBackend: Sized {
    /// The address type of the areas.
    type Addr: MemoryAddr;
    /// The flags of an area (for example page-table `MappingFlags`).
    type Flags: Copy + PartialEq;
    /// The page table the backend writes into.
    type PageTable: ?Sized;

    /// Maps `[start, start + size)` with `flags`.
    ///
    /// # Errors
    ///
    /// Any [`MappingError`]; on error nothing changed.
    fn map(
        &mut self,
        start: Self::Addr,
        size: usize,
        flags: Self::Flags,
        pt: &mut Self::PageTable,
    ) -> MappingResult;

    /// Unmaps `[start, start + size)`, a range this backend mapped before.
    ///
    /// The per-page state of the range may be released here or in the shape hook that
    /// follows ([`shrink_front`](Self::shrink_front), [`shrink_back`](Self::shrink_back), or
    /// dropping the backend when its whole area is gone).
    ///
    /// # Errors
    ///
    /// Any [`MappingError`]; on error nothing changed.
    fn unmap(&mut self, start: Self::Addr, size: usize, pt: &mut Self::PageTable) -> MappingResult;

    /// Changes the flags of `[start, start + size)` to `new_flags`.
    ///
    /// # Errors
    ///
    /// Any [`MappingError`]; on error nothing changed.
    fn protect(
        &mut self,
        start: Self::Addr,
        size: usize,
        new_flags: Self::Flags,
        pt: &mut Self::PageTable,
    ) -> MappingResult;

    /// The area `[start, end)` is split at `at` (`start < at < end`): `self` keeps
    /// `[start, at)` and the returned backend takes `[at, end)` with its per-page state.
    fn split(&mut self, start: Self::Addr, at: Self::Addr) -> Self;

    /// The area starting at `old_start` now starts at `new_start` (`old_start < new_start <
    /// end`); the state of `[old_start, new_start)` (already unmapped) is dropped.
    fn shrink_front(&mut self, old_start: Self::Addr, new_start: Self::Addr);

    /// The area starting at `start` now ends at `new_end` (`start < new_end < old end`); the
    /// state of `[new_end, old end)` (already unmapped) is dropped.
    fn shrink_back(&mut self, start: Self::Addr, new_end: Self::Addr);
}
