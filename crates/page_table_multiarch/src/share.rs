//! Sharing top-level entries with another table (`copy_from`), the check
//! that keeps every other operation out of shared slots, undoing tables a
//! failed operation created below the root, and `Drop`.
//!
//! Why this is sound: see [Sharing top-level
//! entries](crate#sharing-top-level-entries) in the crate docs.

use crate::deferred::DeferredFree;
use crate::table::{ENTRIES, block, clear, get, index, set, table_is_empty};
use crate::{
    FlushBatch, GenericPTE, PageTable64, PagingError, PagingHandler, PagingMetaData, PagingResult,
};
use memory_addr::PhysAddr;

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// The entry check of every operation that changes mappings in the
    /// truncated range `[lo, hi)` (`lo < hi`): refuses it if the range
    /// touches a top-level slot borrowed from another table, whose tables
    /// this table must never write (rule 1 of [Sharing top-level
    /// entries](crate#sharing-top-level-entries)).
    ///
    /// # Errors
    /// [`PagingError::Shared`].
    #[inline(always)]
    pub(crate) fn check_owned(&self, lo: usize, hi: usize) -> PagingResult {
        // Only the words of the bitmap the range covers (one, for any range
        // inside 64 top-level slots): cheaper than a test of the whole bitmap.
        let (first, last) = (index(lo, Self::ROOT), index(hi - 1, Self::ROOT));
        let hit = (first / 64..=last / 64).any(|w| {
            let lo_bit = if w == first / 64 { first % 64 } else { 0 };
            let hi_bit = if w == last / 64 { last % 64 } else { 63 };
            let mask = (u64::MAX >> (63 - hi_bit)) & (u64::MAX << lo_bit);
            self.shared[w] & mask != 0
        });
        if hit {
            Err(PagingError::Shared)
        } else {
            Ok(())
        }
    }

    /// The top-level slots of truncated `[lo, hi)` that are unused now.
    pub(crate) fn unused_slots(&self, lo: usize, hi: usize) -> [u64; ENTRIES / 64] {
        let mut fresh = [0; ENTRIES / 64];
        let root = self.root_table();
        for i in index(lo, Self::ROOT)..=index(hi - 1, Self::ROOT) {
            // SAFETY: the root is live; i < ENTRIES.
            if unsafe { get(root, i) }.is_unused() {
                fresh[i / 64] |= 1 << (i % 64);
            }
        }
        fresh
    }

    /// After a failed operation was undone, unlinks the (empty) tables it
    /// created directly below the root in the `fresh` slots into `free`, so
    /// the table is exactly as before.
    ///
    /// # Safety
    /// Nothing is mapped below the `fresh` slots.
    pub(crate) unsafe fn free_fresh_slots(
        &mut self,
        fresh: &[u64; ENTRIES / 64],
        free: &mut DeferredFree<M, PTE, H>,
    ) {
        let root = self.root_table();
        for i in (0..ENTRIES).filter(|i| fresh[i / 64] & (1 << (i % 64)) != 0) {
            // SAFETY: the root is live; the child is an owned, empty table
            // that nothing refers to once the entry is cleared.
            unsafe {
                let e = get(root, i);
                if Self::is_table(&e, Self::ROOT) && table_is_empty(Self::table_of(e.paddr())) {
                    clear(root, i);
                    free.push_empty(e.paddr());
                }
            }
        }
    }

    /// [`copy_from`](Self::copy_from) for a lender that lives forever (the
    /// kernel's table), so the sharing is always sound: a `&'static` table can
    /// neither be dropped nor changed any more, and this table never writes
    /// below the shared slots (operations there fail with
    /// [`PagingError::Shared`]; see [why sharing is
    /// sound](crate#sharing-top-level-entries)).
    ///
    /// Once lent, the lender cannot be changed, even when it was leaked from
    /// a `&'static mut` (error E0502):
    ///
    /// ```compile_fail,E0502
    /// use memory_addr::{PhysAddr, VirtAddr};
    /// use page_table_multiarch::{MappingFlags, PageSize, testing::CountingHandler};
    /// use page_table_multiarch::x86_64::X64PageTable;
    ///
    /// type Pt = X64PageTable<CountingHandler>;
    /// let kernel: &'static mut Pt = Box::leak(Box::new(Pt::try_new().unwrap()));
    /// let mut user = Pt::try_new().unwrap();
    /// let half = VirtAddr::from_usize(0xffff_8000_0000_0000);
    /// user.share_from(kernel, half, 1 << 47).unwrap().ignore();
    /// // error: `*kernel` is borrowed for `'static`
    /// kernel.map(half, PhysAddr::from_usize(0), PageSize::Size4K, MappingFlags::READ);
    /// ```
    ///
    /// # Errors
    /// As [`copy_from`](Self::copy_from).
    pub fn share_from(
        &mut self,
        other: &'static Self,
        start: M::VirtAddr,
        size: usize,
    ) -> PagingResult<FlushBatch<M>> {
        // SAFETY: `other` is `'static`, so it outlives this table.
        unsafe { self.copy_from(other, start, size) }
    }

    /// Shares `other`'s top-level entries covering `[start, start + size)`
    /// (e.g. the kernel half in every user table). The shared tables stay
    /// owned by `other`: this table never frees them and never writes into
    /// them (operations in the range fail with [`PagingError::Shared`]), and
    /// `other` keeps its tables directly below the root until it is dropped.
    /// Changes `other` makes below the shared slots are seen through this
    /// table. Safe callers use [`share_from`](Self::share_from), which takes
    /// a `'static` lender.
    ///
    /// Slots that `other` does not use become unused here; slots already
    /// shared are replaced (the batch is then a full flush).
    ///
    /// # Errors
    /// `NotAligned` (start or size not a multiple of a top-level entry's
    /// span), `InvalidAddress`, `AlreadyMapped` (this table owns mappings in
    /// a slot of the range).
    ///
    /// # Safety
    /// Until this table is dropped, or the slots are shared anew by another
    /// `copy_from`:
    /// - `other` must not be dropped, and must keep the tables directly below
    ///   its root in the shared slots. `PageTable64` unlinks such a table only
    ///   in `Drop`, and in [`map`](Self::map) of a top-level huge leaf (Sv39
    ///   1G pages) over an empty one: never do that to `other` in a shared
    ///   slot. Otherwise this table keeps pointers to freed table frames,
    ///   which the hardware, [`query`](Self::query) and
    ///   [`iter`](Self::iter) would walk.
    /// - Changes `other` makes below the shared slots must not race with
    ///   reads through this table (on another thread) or with a CPU that runs
    ///   this table without the TLB flushes `other`'s operations return.
    pub unsafe fn copy_from(
        &mut self,
        other: &Self,
        start: M::VirtAddr,
        size: usize,
    ) -> PagingResult<FlushBatch<M>> {
        let (lo, hi) = Self::check_range(start.into(), size)?;
        let top = block(Self::ROOT);
        if lo % top != 0 || hi % top != 0 {
            return Err(PagingError::NotAligned);
        }
        let slots = index(lo, Self::ROOT)..=index(hi - 1, Self::ROOT);
        let (mine, theirs) = (self.root_table(), other.root_table());
        // SAFETY: both roots are live tables; indices < ENTRIES.
        unsafe {
            if slots
                .clone()
                .any(|i| !self.is_shared(i) && !get(mine, i).is_unused())
            {
                return Err(PagingError::AlreadyMapped);
            }
            let mut batch = FlushBatch::new();
            for i in slots {
                if !get(mine, i).is_unused() {
                    batch.add_all();
                }
                let e = get(theirs, i);
                set(mine, i, e);
                // Only tables are borrowed; a copied leaf is an ordinary entry.
                let bit = 1 << (i % 64);
                if Self::is_table(&e, Self::ROOT) {
                    self.shared[i / 64] |= bit;
                } else {
                    self.shared[i / 64] &= !bit;
                }
            }
            Ok(batch)
        }
    }

    /// Frees `table` (at `level`) and every table below it, without a flush.
    ///
    /// # Safety
    /// `pa` is an owned table of this page table, unreachable afterwards, and
    /// not cached by any CPU (the table is not active: see `Drop`).
    unsafe fn free_tree(pa: PhysAddr, level: usize) {
        if level > 0 {
            let table = Self::table_of(pa);
            for i in 0..ENTRIES {
                // SAFETY: `table` is live until freed below.
                let e = unsafe { get(table, i) };
                if Self::is_table(&e, level) {
                    // SAFETY: the child is owned and only reachable from here.
                    unsafe { Self::free_tree(e.paddr(), level - 1) };
                }
            }
        }
        // SAFETY: an owned table frame from `H`, unreachable and uncached
        // (guaranteed by the caller); its children were freed above.
        unsafe { H::dealloc_frame(pa) };
    }
}

/// Frees every table frame this table owns, at once and without a TLB
/// flush, after [`PagingHandler::table_dropping`]: the handler must make sure
/// no CPU has the table active or cached (see
/// [Freeing table frames](crate#freeing-table-frames)).
impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Drop for PageTable64<M, PTE, H> {
    fn drop(&mut self) {
        H::table_dropping(self.root);
        let root = self.root_table();
        for i in 0..ENTRIES {
            if self.is_shared(i) {
                continue;
            }
            // SAFETY: the root is live; owned children are freed exactly once.
            unsafe {
                let e = get(root, i);
                if Self::is_table(&e, Self::ROOT) {
                    Self::free_tree(e.paddr(), Self::ROOT - 1);
                }
            }
        }
        // SAFETY: the root came from `H::alloc_frame`; the table is going
        // away and is not active (`table_dropping`'s duty, see above).
        unsafe { H::dealloc_frame(self.root) };
    }
}
