//! Deferred freeing of table frames: the implementation of the rule in the
//! [Freeing table frames](crate#freeing-table-frames) section of the crate
//! docs.
//!
//! Every table frame an operation unlinks goes into that operation's
//! [`DeferredFree`]; at the end of the public operation (success or error)
//! the queue issues one full flush, `M::flush_tlb(None)`, and only then frees
//! the frames. Nothing else in the crate frees a frame that was ever linked,
//! except `Drop` of the whole table.
//!
//! The queue needs no heap: empty tables are chained through their own first
//! entry (the frame is still ours until freed). The link is written as a
//! reserved-not-present leaf (`new_page(next, empty flags)`), which the
//! `GenericPTE` contract makes invalid to hardware, so a stale walk through
//! the queued table still finds nothing, as before. (On x86-64, RISC-V and
//! AArch64 it is invalid at every level; LoongArch directory entries are bare
//! addresses, but LoongArch caches no directory entries, and the link leads
//! only to another queued frame, which also stays allocated until after the
//! flush.) Tables that still hold entries (undone huge-page splits, whose
//! entries a stale walk may still use) are never written; they wait in a
//! small fixed array.

use core::marker::PhantomData;

use memory_addr::PhysAddr;

use crate::table::{get, set, table_is_empty};
use crate::{GenericPTE, MappingFlags, PagingHandler, PagingMetaData};

/// Type marker only: no `M`, `PTE` or `H` value is held.
type Marker<M, PTE, H> = PhantomData<fn() -> (M, PTE, H)>;

/// Most tables with entries one operation unlinks (two huge-page splits at
/// each end of a range: 1G → 2M → 4K).
const FULL_SLOTS: usize = 4;

/// Table frames unlinked by one operation, freed after one full flush when
/// the operation ends (see the [module docs](self)). Dropping it releases
/// the frames, so every return path (and unwinding) frees them after the
/// flush.
pub(crate) struct DeferredFree<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> {
    /// Newest queued empty table; its first entry links to the next older one.
    head: PhysAddr,
    /// Number of chained empty tables (the oldest one's link is never read).
    len: usize,
    /// Unlinked tables that still hold entries.
    full: [PhysAddr; FULL_SLOTS],
    nfull: usize,
    _marker: Marker<M, PTE, H>,
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> DeferredFree<M, PTE, H> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        Self {
            head: PhysAddr::from_usize(0),
            len: 0,
            full: [PhysAddr::from_usize(0); FULL_SLOTS],
            nfull: 0,
            _marker: PhantomData,
        }
    }

    /// Whether no frame is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && self.nfull == 0
    }

    /// Queues an unlinked table whose entries are all unused.
    ///
    /// # Safety
    /// `pa` is a table frame of this page table with every entry unused, no
    /// entry of any table points to it any more, and it is queued once.
    pub(crate) unsafe fn push_empty(&mut self, pa: PhysAddr) {
        let table = Self::table(pa);
        // SAFETY: the caller gives us the unlinked, still allocated table.
        debug_assert!(unsafe { table_is_empty(table) }, "queued table not empty");
        if self.len > 0 {
            let link = PTE::new_page(self.head, MappingFlags::empty(), false);
            debug_assert!(!link.is_present() && link.paddr() == self.head);
            // SAFETY: as above; the frame is ours until `release` frees it.
            unsafe { set(table, 0, link) };
        }
        self.head = pa;
        self.len += 1;
    }

    /// Queues an unlinked table that may still hold entries.
    ///
    /// # Safety
    /// `pa` is a table frame of this page table, no entry of any table points
    /// to it any more, and it is queued once.
    pub(crate) unsafe fn push_full(&mut self, pa: PhysAddr) {
        if self.nfull == FULL_SLOTS {
            // Not reached (see FULL_SLOTS); stay correct anyway.
            self.release();
        }
        self.full[self.nfull] = pa;
        self.nfull += 1;
    }

    #[inline(always)]
    fn table(pa: PhysAddr) -> *mut PTE {
        H::phys_to_virt(pa).as_mut_ptr().cast()
    }

    /// If frames are queued: one full flush, then frees them all.
    pub(crate) fn release(&mut self) {
        if self.is_empty() {
            return;
        }
        M::flush_tlb(None);
        let mut pa = self.head;
        for i in 0..self.len {
            let next = if i + 1 < self.len {
                // SAFETY: chained frames are allocated until freed just
                // below; their first entry is the link `push_empty` wrote.
                unsafe { get(Self::table(pa), 0) }.paddr()
            } else {
                pa
            };
            // SAFETY: a queued frame: unlinked from every table, and the
            // full flush above dropped it from every TLB and cache.
            unsafe { H::dealloc_frame(pa) };
            pa = next;
        }
        // SAFETY: as above.
        self.full[..self.nfull]
            .iter()
            .for_each(|&pa| unsafe { H::dealloc_frame(pa) });
        self.len = 0;
        self.nfull = 0;
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Drop for DeferredFree<M, PTE, H> {
    fn drop(&mut self) {
        self.release();
    }
}
