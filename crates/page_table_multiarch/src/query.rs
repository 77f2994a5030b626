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
        let va: usize = vaddr.into();
        // A straight-line walk for the common case, a present or reserved
        // 4K leaf: one read per level, no path kept, no per-level
        // bookkeeping. `ROOT` is a constant, so the levels above it vanish
        // at compile time. Everything else (a bad address, a huge or
        // reserved leaf above the last level, a hole) goes to `query_slow`,
        // out of line, which walks again from the (now cached) root. One
        // exit of each kind keeps `query` small enough to inline.
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
                        // `!is_huge` is implied below level 3; above it,
                        // it lets the compiler drop the huge case from
                        // `paddr`. No table entry fails it, and whatever
                        // does takes the generic walk, which decides.
                        // Two tests with different exits: on x86 each
                        // is one fused test-and-branch, where one exit
                        // would need a masked compare.
                        if !e.is_present() {
                            return self.query_not_table(va);
                        }
                        if !Self::is_table(&e, $level) || e.is_huge() {
                            break 'slow;
                        }
                        table = Self::table_of(e.paddr());
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
            let pa = PhysAddr::from_usize(e.paddr().as_usize() + (t & (PAGE_SIZE_4K - 1)));
            return Ok((pa, e.flags(), PageSize::Size4K));
        }
        self.query_slow(va)
    }

    /// [`query_slow`](Self::query_slow) for an entry above the last level
    /// that is not present (unused or reserved): a separate exit, so that
    /// the fast path keeps its two tests apart.
    #[cold]
    #[inline(never)]
    fn query_not_table(&self, va: usize) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
        self.query_slow(va)
    }

    /// [`query`](Self::query) by the generic walk: the cases its fast path
    /// leaves out.
    #[cold]
    #[inline(never)]
    fn query_slow(&self, va: usize) -> PagingResult<(PhysAddr, MappingFlags, PageSize)> {
        let t = Self::check_va(va)?;
        // SAFETY: `t` is a checked truncated address.
        let leaf = unsafe { self.find(t) }.map_err(|_| PagingError::NotMapped)?;
        // SAFETY: `leaf` was just found in this table.
        let e = unsafe { get(leaf.table, leaf.idx) };
        let pa = PhysAddr::from_usize(e.paddr().as_usize() + (t & (block(leaf.level) - 1)));
        Ok((pa, e.flags(), leaf_size(leaf.level)))
    }
}
