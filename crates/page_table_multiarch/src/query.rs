//! `query`: a straight-line walk for 4K leaves, everything else out of line.

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::table::{block, get, index, leaf_size};
use crate::{
    GenericPTE, MappingFlags, PageSize, PageTable64, PagingError, PagingHandler, PagingMetaData,
    PagingResult,
};

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Translates `vaddr`: the physical address it maps to (offset included),
    /// the flags and the size of the page. Empty flags mean a reserved
    /// (`PROT_NONE`) entry: not accessible, but its frame is kept.
    ///
    /// # Errors
    /// `InvalidAddress` (outside the VA range), `NotMapped`.
    // Always inlined: the walk is short, and inlined into the caller the
    // result needs no memory round trip and unused parts (flags, size)
    // vanish.
    #[inline(always)]
    pub fn query(&self, vaddr: M::VirtAddr) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
        decode(self.query_words(vaddr.into()))
    }

    /// [`query`](Self::query) in two words (see [`decode`]): every path
    /// meets in registers, and the result is built once, after they meet.
    #[inline(always)]
    fn query_words(&self, va: usize) -> Answer {
        // A straight-line walk for the common case, a present or reserved
        // 4K leaf: one read per level, no path kept, no per-level
        // bookkeeping. `ROOT` is a constant, so the levels above it vanish
        // at compile time. Everything else (a bad address, a huge or
        // reserved leaf above the last level, a hole) goes to `query_slow`,
        // out of line, which walks again from the (now cached) root.
        'slow: {
            let Ok(t) = Self::check_va(va) else {
                break 'slow;
            };
            let mut table = self.root_table();
            macro_rules! descend {
                ($level:literal) => {
                    if Self::ROOT >= $level {
                        // SAFETY: `t` is checked; `table` is a live table of
                        // ours at this level and the index is below ENTRIES.
                        let e = unsafe { get(table, index(t, $level)) };
                        // One test of the bits (`is_table_entry`); whatever
                        // fails it takes the generic walk, which decides.
                        if !e.is_table_entry() {
                            break 'slow;
                        }
                        table = Self::table_of(e.table_paddr());
                    }
                };
            }
            descend!(4);
            descend!(3);
            descend!(2);
            descend!(1);
            // SAFETY: as above, at the last level.
            let e = unsafe { get(table, index(t, 0)) };
            if e.is_unused() {
                break 'slow;
            }
            let pa = e.paddr_4k().as_usize() + (t & (PAGE_SIZE_4K - 1));
            return (pa, e.flags(), 1);
        }
        self.query_slow(va)
    }

    /// [`query`](Self::query) by the generic walk: the cases its fast path
    /// leaves out, answered in two registers (see [`decode`]).
    #[cold]
    #[inline(never)]
    fn query_slow(&self, va: usize) -> Answer {
        let Ok(t) = Self::check_va(va) else {
            return (ERR_INVALID, MappingFlags::empty(), 0);
        };
        // SAFETY: `t` is a checked truncated address.
        let Ok(leaf) = (unsafe { self.find(t) }) else {
            return (ERR_NOT_MAPPED, MappingFlags::empty(), 0);
        };
        // SAFETY: `leaf` was just found in this table.
        let e = unsafe { get(leaf.table, leaf.idx) };
        let base = if leaf.level == 0 {
            e.paddr_4k()
        } else {
            e.paddr()
        };
        let pa = base.as_usize() + (t & (block(leaf.level) - 1));
        (pa, e.flags(), leaf.level + 1)
    }
}

/// A query's answer as plain words: `(pa, flags, level + 1)` of the leaf, or
/// `(error code, empty, 0)`. Every path of [`PageTable64::query`] meets in
/// this form, field by field, and the `Result` is built once afterwards
/// ([`decode`]): merged as a `Result`, whose tag hides in `PageSize`, the
/// answer would go through memory, and a caller's match on it would be a
/// load and compare on the fast path too. Fields nobody reads (flags, size)
/// then vanish from the fast path.
type Answer = (usize, MappingFlags, usize);

const ERR_INVALID: usize = 1;
const ERR_NOT_MAPPED: usize = 2;

/// Turns the slow path's `(pa or error, flags | level)` back into `query`'s
/// result. Two words come back in registers where the result itself would
/// go through memory, and the caller's match on it would then be a load
/// and compare on the fast path too.
#[inline(always)]
fn decode((pa, flags, level): Answer) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
    let size = match level {
        0 if pa == ERR_INVALID => return Err(PagingError::InvalidAddress),
        0 => return Err(PagingError::NotMapped),
        level => leaf_size(level - 1),
    };
    Ok((PhysAddr::from_usize(pa), flags, size))
}
