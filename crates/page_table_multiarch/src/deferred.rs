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
//! flush.) Last-level tables whose leaves are all being unmapped are chained
//! the same way without clearing the other entries first (`push_dead`): a
//! stale walk may then still find one of those leaves, just as a TLB may
//! still hold it, until the same full flush. Tables that still hold entries
//! that stay valid are never written: undone huge-page splits wait in a
//! small fixed array, tables replaced by an updated copy (`protect_region`)
//! in a chain of list frames (allocated as needed; a copy is only made when
//! its place in the list is secured).

use core::marker::PhantomData;

use memory_addr::PhysAddr;

use crate::table::{ENTRIES, get, set, table_is_empty};
use crate::{GenericPTE, MappingFlags, PagingHandler, PagingMetaData};

/// Type marker only: no `M`, `PTE` or `H` value is held.
type Marker<M, PTE, H> = PhantomData<fn() -> (M, PTE, H)>;

/// Most tables with entries one operation unlinks (two huge-page splits at
/// each end of a range: 1G → 2M → 4K).
const FULL_SLOTS: usize = 4;

/// Addresses one list frame holds (its entry 0 links to the previous one).
const LISTED_PER_FRAME: usize = ENTRIES - 1;

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
    /// Newest list frame of replaced tables (0: none): word 0 is the
    /// previous list frame, words `1..=listed` addresses of tables.
    list: PhysAddr,
    /// Addresses in the newest list frame.
    listed: usize,
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
            list: PhysAddr::from_usize(0),
            listed: 0,
            _marker: PhantomData,
        }
    }

    /// Whether no frame is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && self.nfull == 0 && self.list.as_usize() == 0
    }

    /// Queues an unlinked table whose entries are all unused.
    ///
    /// # Safety
    /// `pa` is a table frame of this page table with every entry unused, no
    /// entry of any table points to it any more, and it is queued once.
    pub(crate) unsafe fn push_empty(&mut self, pa: PhysAddr) {
        debug_assert!(
            // SAFETY: the caller gives us the unlinked, still allocated table.
            unsafe { table_is_empty(Self::table(pa)) },
            "queued table not empty"
        );
        // SAFETY: as above.
        unsafe { self.chain(pa) };
    }

    /// Queues an unlinked last-level table whose leaves this operation
    /// removes without clearing them one by one: until the full flush a
    /// stale walk may still find them, as it may find them in a TLB, and the
    /// operation owes a flush of them anyway. The link replaces entry 0.
    ///
    /// # Safety
    /// `pa` is a last-level table frame of this page table whose leaves are
    /// all being unmapped by this operation, no entry of any table points to
    /// it any more, and it is queued once.
    pub(crate) unsafe fn push_dead(&mut self, pa: PhysAddr) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.chain(pa) };
    }

    /// Links `pa` in front of the chain through its entry 0.
    ///
    /// # Safety
    /// As for [`push_dead`](Self::push_dead).
    unsafe fn chain(&mut self, pa: PhysAddr) {
        if self.len > 0 {
            let link = PTE::new_page(self.head, MappingFlags::empty(), false);
            debug_assert!(!link.is_present() && link.paddr_4k() == self.head);
            // SAFETY: the frame is ours until `release` frees it.
            unsafe { set(Self::table(pa), 0, link) };
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

    /// Queues an unlinked table that was replaced by a copy and still holds
    /// valid entries (a stale walk may use them until the flush), keeping
    /// its address in a list frame. Returns `false`, queuing nothing, if a
    /// new list frame is needed and cannot be had.
    ///
    /// # Safety
    /// As for [`push_full`](Self::push_full).
    pub(crate) unsafe fn push_replaced(&mut self, pa: PhysAddr) -> bool {
        if self.list.as_usize() == 0 || self.listed == LISTED_PER_FRAME {
            let Some(frame) = H::alloc_frame() else {
                return false;
            };
            // SAFETY: the new frame is ours (4K, writable through
            // `phys_to_virt`); the hardware never sees it.
            unsafe { Self::words(frame).write(self.list.as_usize()) };
            self.list = frame;
            self.listed = 0;
        }
        self.listed += 1;
        // SAFETY: as above; `listed <= LISTED_PER_FRAME < ENTRIES`.
        unsafe { Self::words(self.list).add(self.listed).write(pa.as_usize()) };
        true
    }

    /// A list frame as words.
    #[inline(always)]
    fn words(pa: PhysAddr) -> *mut usize {
        H::phys_to_virt(pa).as_mut_ptr().cast()
    }

    #[inline(always)]
    fn table(pa: PhysAddr) -> *mut PTE {
        H::phys_to_virt(pa).as_mut_ptr().cast()
    }

    /// If frames are queued: one full flush, then frees them all. The test is
    /// inlined: most operations queue nothing.
    #[inline]
    pub(crate) fn release(&mut self) {
        if !self.is_empty() {
            self.release_queued();
        }
    }

    /// [`release`](Self::release) with frames queued.
    #[inline(never)]
    fn release_queued(&mut self) {
        M::flush_tlb(None);
        let mut pa = self.head;
        for i in 0..self.len {
            let next = if i + 1 < self.len {
                // SAFETY: chained frames are allocated until freed just
                // below; their first entry is the link `push_empty` wrote.
                // A 4K leaf: `paddr_4k` reads it without the block test.
                unsafe { get(Self::table(pa), 0) }.paddr_4k()
            } else {
                pa
            };
            // SAFETY: a queued frame: unlinked from every table, and the
            // full flush above dropped it from every TLB and cache.
            unsafe { H::dealloc_frame(pa) };
            pa = next;
        }
        for &pa in &self.full[..self.nfull] {
            // SAFETY: as above: queued, unlinked and covered by the full flush.
            unsafe { H::dealloc_frame(pa) };
        }
        let (mut list, mut listed) = (self.list, self.listed);
        while list.as_usize() != 0 {
            let words = Self::words(list);
            for i in 1..=listed {
                // SAFETY: list frames are ours until freed here; words
                // `1..=listed` hold queued table frames.
                let frame = PhysAddr::from_usize(unsafe { words.add(i).read() });
                // SAFETY: a queued table frame, unlinked and flushed as above.
                unsafe { H::dealloc_frame(frame) };
            }
            // SAFETY: as above; word 0 links to the previous (full) frame.
            let prev = PhysAddr::from_usize(unsafe { words.read() });
            // SAFETY: the list frame itself, read for the last time just above.
            unsafe { H::dealloc_frame(list) };
            (list, listed) = (prev, LISTED_PER_FRAME);
        }
        self.len = 0;
        self.nfull = 0;
        self.list = PhysAddr::from_usize(0);
        self.listed = 0;
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Drop for DeferredFree<M, PTE, H> {
    fn drop(&mut self) {
        self.release();
    }
}
