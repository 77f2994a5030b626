//! Frames owned by areas: the per-area page → frame store and the reclaim list that keeps
//! released frames alive until their TLB flush.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::array;
use core::sync::atomic::{AtomicBool, Ordering};

use kspin::SpinNoIrq;
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;
use page_table_multiarch::frame::{FrameRun, PhysFrame};

use crate::file::{File, Notices};

/// A shared reference to an owned 4K frame. The frame returns to its [`PagingHandler`] when
/// the last reference drops; [`Arc::strong_count`] is the number of owners (areas, page
/// caches, shared objects), with no upper bound.
pub type FrameRef<H> = Arc<PhysFrame<H>>;

/// log2 of the pages per chunk: one chunk covers the 2 MiB a leaf page table covers.
const CHUNK_BITS: usize = 9;
const CHUNK_PAGES: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: usize = CHUNK_PAGES - 1;

/// The frames of 512 consecutive pages. Shared between address spaces after fork (one
/// count increment per chunk instead of per frame) and copied on the first change.
pub(crate) struct Chunk<H: PagingHandler> {
    slots: [Option<FrameRef<H>>; CHUNK_PAGES],
    used: usize,
    /// One soft-dirty bit per slot: the page was written since the last `clear_refs`
    /// (only a slot holding a frame has its bit set).
    soft_dirty: [u64; CHUNK_PAGES / 64],
}

impl<H: PagingHandler> Chunk<H> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            slots: array::from_fn(|_| None),
            used: 0,
            soft_dirty: [0; CHUNK_PAGES / 64],
        })
    }

    fn is_soft_dirty(&self, i: usize) -> bool {
        self.soft_dirty[i / 64] & (1 << (i % 64)) != 0
    }

    fn set_soft_dirty(&mut self, i: usize, on: bool) {
        if on {
            self.soft_dirty[i / 64] |= 1 << (i % 64);
        } else {
            self.soft_dirty[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Takes the frame of slot `i` out (its soft-dirty bit goes with it).
    fn take(&mut self, i: usize) -> Option<(FrameRef<H>, bool)> {
        let frame = self.slots[i].take()?;
        self.used -= 1;
        let sd = self.is_soft_dirty(i);
        self.set_soft_dirty(i, false);
        Some((frame, sd))
    }

    /// Puts `frame` into the empty slot `i`.
    fn put(&mut self, i: usize, frame: FrameRef<H>, sd: bool) -> Option<FrameRef<H>> {
        let old = self.slots[i].replace(frame);
        if old.is_none() {
            self.used += 1;
        }
        self.set_soft_dirty(i, sd);
        old
    }
}

impl<H: PagingHandler> Clone for Chunk<H> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
            used: self.used,
            soft_dirty: self.soft_dirty,
        }
    }
}

/// Everything released by an address-space operation and not yet past its TLB flush.
pub(crate) struct Dead<H: PagingHandler> {
    chunks: Vec<Arc<Chunk<H>>>,
    frames: Vec<FrameRef<H>>,
    /// Page-cache ranges `(file, first page, end page)` that may have lost their last
    /// mapping: evicted after the frames above are dropped.
    evict: Vec<(Arc<dyn File>, u64, u64)>,
}

impl<H: PagingHandler> Dead<H> {
    const fn new() -> Self {
        Self {
            chunks: Vec::new(),
            frames: Vec::new(),
            evict: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.frames.is_empty() && self.evict.is_empty()
    }

    /// Drops the frames, then evicts the page-cache pages nobody maps any more. Call only
    /// after the TLB flush that covers every released frame.
    pub(crate) fn release(self) {
        let Self {
            chunks,
            frames,
            evict,
        } = self;
        drop(chunks);
        drop(frames);
        for (file, lo, hi) in evict {
            file.cached().evict_unused(lo, hi);
        }
    }
}

/// The frames an address space released but whose TLB entries may still be live. Every path
/// that drops an area's frame goes through here; [`AddrSpace`](crate::AddrSpace) empties it
/// only after flushing.
pub(crate) struct Reclaim<H: PagingHandler> {
    dead: SpinNoIrq<Dead<H>>,
    /// Whether `dead` may be non-empty (lets the common commit skip the lock).
    pending: AtomicBool,
    /// This address space's mailbox in the reverse maps of the files it maps.
    pub(crate) notices: Arc<Notices>,
}

impl<H: PagingHandler> Reclaim<H> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            dead: SpinNoIrq::new(Dead::new()),
            pending: AtomicBool::new(false),
            notices: Arc::new(Notices::new()),
        })
    }

    fn with(&self, f: impl FnOnce(&mut Dead<H>)) {
        f(&mut self.dead.lock());
        self.pending.store(true, Ordering::Release);
    }

    pub(crate) fn push_frame(&self, frame: FrameRef<H>) {
        self.with(|d| d.frames.push(frame));
    }

    fn push_chunk(&self, chunk: Arc<Chunk<H>>) {
        self.with(|d| d.chunks.push(chunk));
    }

    pub(crate) fn push_evict(&self, file: Arc<dyn File>, lo: u64, hi: u64) {
        self.with(|d| d.evict.push((file, lo, hi)));
    }

    /// Whether something may wait in the list.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes everything released so far (to drop after the flush).
    pub(crate) fn take(&self) -> Dead<H> {
        let mut dead = self.dead.lock();
        self.pending.store(false, Ordering::Release);
        if dead.is_empty() {
            return Dead::new();
        }
        core::mem::replace(&mut *dead, Dead::new())
    }
}

/// The frames mapped by one area, keyed by virtual page number (`va >> 12`). Sparse: a
/// `BTreeMap` of 512-page chunks, so lookups are O(log chunks). Fork shares the chunks
/// (one count increment per chunk); a chunk is copied on its first change, which then
/// counts every frame in it once more. A frame is exclusively owned when both its chunk
/// and the frame itself have a single owner. Frames leave only through the [`Reclaim`].
pub(crate) struct FrameMap<H: PagingHandler> {
    chunks: BTreeMap<usize, Arc<Chunk<H>>>,
    reclaim: Arc<Reclaim<H>>,
}

impl<H: PagingHandler> FrameMap<H> {
    pub(crate) fn new(reclaim: Arc<Reclaim<H>>) -> Self {
        Self {
            chunks: BTreeMap::new(),
            reclaim,
        }
    }

    /// The reclaim list frames of this map go to.
    pub(crate) fn reclaim(&self) -> &Arc<Reclaim<H>> {
        &self.reclaim
    }

    pub(crate) fn get(&self, vpn: usize) -> Option<&FrameRef<H>> {
        self.chunks.get(&(vpn >> CHUNK_BITS))?.slots[vpn & CHUNK_MASK].as_ref()
    }

    /// Whether the frame at `vpn` is owned by this map alone (no other address space, page
    /// cache or object holds it).
    pub(crate) fn is_exclusive(&self, vpn: usize) -> bool {
        self.chunks.get(&(vpn >> CHUNK_BITS)).is_some_and(|chunk| {
            Arc::strong_count(chunk) == 1
                && chunk.slots[vpn & CHUNK_MASK]
                    .as_ref()
                    .is_some_and(|f| Arc::strong_count(f) == 1)
        })
    }

    /// `(owners of the chunk holding vpn, owners of its frame)`; `None` without a frame.
    pub(crate) fn owners(&self, vpn: usize) -> Option<(usize, usize)> {
        let chunk = self.chunks.get(&(vpn >> CHUNK_BITS))?;
        let frame = chunk.slots[vpn & CHUNK_MASK].as_ref()?;
        Some((Arc::strong_count(chunk), Arc::strong_count(frame)))
    }

    /// Stores `frame` at `vpn`; the frame that was there goes to the reclaim list.
    pub(crate) fn insert(&mut self, vpn: usize, frame: FrameRef<H>) {
        let chunk = Arc::make_mut(
            self.chunks
                .entry(vpn >> CHUNK_BITS)
                .or_insert_with(Chunk::new),
        );
        // A new frame is not soft-dirty until its writer says so.
        if let Some(old) = chunk.put(vpn & CHUNK_MASK, frame, false) {
            self.reclaim.push_frame(old);
        }
    }

    /// Whether the page at `vpn` has a frame that was written since the last
    /// [`clear_soft_dirty`](Self::clear_soft_dirty).
    pub(crate) fn is_soft_dirty(&self, vpn: usize) -> bool {
        self.chunks
            .get(&(vpn >> CHUNK_BITS))
            .is_some_and(|c| c.is_soft_dirty(vpn & CHUNK_MASK))
    }

    /// Marks the frame at `vpn` written (nothing without a frame).
    pub(crate) fn set_soft_dirty(&mut self, vpn: usize) {
        if self.get(vpn).is_none() || self.is_soft_dirty(vpn) {
            return;
        }
        if let Some(chunk) = self.chunks.get_mut(&(vpn >> CHUNK_BITS)) {
            Arc::make_mut(chunk).set_soft_dirty(vpn & CHUNK_MASK, true);
        }
    }

    /// Clears every soft-dirty bit (`clear_refs` 4); chunks without one stay untouched.
    pub(crate) fn clear_soft_dirty(&mut self) {
        for chunk in self.chunks.values_mut() {
            if chunk.soft_dirty.iter().any(|&w| w != 0) {
                Arc::make_mut(chunk).soft_dirty = [0; CHUNK_PAGES / 64];
            }
        }
    }

    /// The frames with `lo <= vpn < hi`, in order.
    pub(crate) fn range(
        &self,
        lo: usize,
        hi: usize,
    ) -> impl Iterator<Item = (usize, &FrameRef<H>)> {
        let keys = if lo < hi {
            (lo >> CHUNK_BITS)..((hi - 1) >> CHUNK_BITS) + 1
        } else {
            0..0
        };
        self.chunks.range(keys).flat_map(move |(&key, chunk)| {
            let base = key << CHUNK_BITS;
            chunk
                .slots
                .iter()
                .enumerate()
                .filter_map(move |(i, slot)| Some((base + i, slot.as_ref()?)))
                .filter(move |&(vpn, _)| vpn >= lo && vpn < hi)
        })
    }

    /// Stores `frame` at `vpn` and returns the frame that was there (the caller keeps it
    /// until the flush).
    pub(crate) fn replace(&mut self, vpn: usize, frame: FrameRef<H>) -> Option<FrameRef<H>> {
        let chunk = Arc::make_mut(
            self.chunks
                .entry(vpn >> CHUNK_BITS)
                .or_insert_with(Chunk::new),
        );
        chunk.put(vpn & CHUNK_MASK, frame, false)
    }

    /// Whether any frame lies in `[lo, hi)`.
    pub(crate) fn any_in(&self, lo: usize, hi: usize) -> bool {
        self.range(lo, hi).next().is_some()
    }

    /// Stores the frames of a block at `lo, lo + 1, …` (all empty, within one chunk: a
    /// block is aligned to its size of at most 512 pages), soft-dirty as `sd` says.
    pub(crate) fn put_block(&mut self, lo: usize, frames: Vec<FrameRef<H>>, sd: bool) {
        let chunk = Arc::make_mut(
            self.chunks
                .entry(lo >> CHUNK_BITS)
                .or_insert_with(Chunk::new),
        );
        for (i, frame) in frames.into_iter().enumerate() {
            if let Some(old) = chunk.put((lo & CHUNK_MASK) + i, frame, sd) {
                self.reclaim.push_frame(old);
            }
        }
    }

    /// Whether every page of `[lo, lo + n)` (within one chunk) has a frame this map owns
    /// alone.
    pub(crate) fn block_exclusive(&self, lo: usize, n: usize) -> bool {
        self.chunks.get(&(lo >> CHUNK_BITS)).is_some_and(|chunk| {
            let first = lo & CHUNK_MASK;
            Arc::strong_count(chunk) == 1
                && chunk.slots[first..first + n]
                    .iter()
                    .all(|s| s.as_ref().is_some_and(|f| Arc::strong_count(f) == 1))
        })
    }

    /// Marks every frame of `[lo, lo + n)` (within one chunk) written.
    pub(crate) fn set_block_soft_dirty(&mut self, lo: usize, n: usize) {
        if let Some(chunk) = self.chunks.get_mut(&(lo >> CHUNK_BITS)) {
            let chunk = Arc::make_mut(chunk);
            let first = lo & CHUNK_MASK;
            for i in first..first + n {
                if chunk.slots[i].is_some() {
                    chunk.set_soft_dirty(i, true);
                }
            }
        }
    }

    /// Removes the frames in `[lo, hi)` and passes each to `f`.
    pub(crate) fn drain(&mut self, lo: usize, hi: usize, mut f: impl FnMut(usize, FrameRef<H>)) {
        if lo >= hi {
            return;
        }
        let keys: Vec<usize> = self
            .chunks
            .range((lo >> CHUNK_BITS)..((hi - 1) >> CHUNK_BITS) + 1)
            .map(|(&k, _)| k)
            .collect();
        for key in keys {
            let base = key << CHUNK_BITS;
            let Some(chunk) = self.chunks.get_mut(&key) else {
                continue;
            };
            let chunk = Arc::make_mut(chunk);
            let from = lo.saturating_sub(base).min(CHUNK_PAGES);
            let to = (hi - base).min(CHUNK_PAGES);
            for i in from..to {
                if let Some((frame, _)) = chunk.take(i) {
                    f(base + i, frame);
                }
            }
            if chunk.used == 0 {
                self.chunks.remove(&key);
            }
        }
    }

    /// Moves the frames in `[lo, hi)` to the reclaim list.
    pub(crate) fn release(&mut self, lo: usize, hi: usize) {
        if lo >= hi {
            return;
        }
        // Whole chunks go to the reclaim list as they are (O(1) per chunk).
        let first_whole = lo.div_ceil(CHUNK_PAGES);
        let end_whole = hi >> CHUNK_BITS;
        if first_whole < end_whole {
            let whole: Vec<usize> = self
                .chunks
                .range(first_whole..end_whole)
                .map(|(&k, _)| k)
                .collect();
            for key in whole {
                if let Some(chunk) = self.chunks.remove(&key) {
                    self.reclaim.push_chunk(chunk);
                }
            }
        }
        let reclaim = self.reclaim.clone();
        self.drain(lo, hi, |_, frame| reclaim.push_frame(frame));
    }

    /// Splits off the frames with `vpn >= at` into a new map sharing the reclaim list.
    pub(crate) fn split_off(&mut self, at: usize) -> Self {
        let key = at >> CHUNK_BITS;
        let mut high = self.chunks.split_off(&key);
        if at & CHUNK_MASK != 0 {
            // The chunk containing `at` is shared by both halves: keep its low slots here.
            if let Some(chunk) = high.get_mut(&key) {
                let chunk = Arc::make_mut(chunk);
                let mut low = Chunk::new();
                let low_mut = Arc::make_mut(&mut low);
                for i in 0..(at & CHUNK_MASK) {
                    if let Some((frame, sd)) = chunk.take(i) {
                        low_mut.put(i, frame, sd);
                    }
                }
                let (low_used, high_used) = (low_mut.used, chunk.used);
                if high_used == 0 {
                    high.remove(&key);
                }
                if low_used > 0 {
                    self.chunks.insert(key, low);
                }
            }
        }
        Self {
            chunks: high,
            reclaim: self.reclaim.clone(),
        }
    }

    /// Takes over the frames of `other`, whose pages lie apart from this map's (the
    /// inverse of [`split_off`](Self::split_off): merging two areas). The smaller map's
    /// chunks move into the larger one's.
    pub(crate) fn append(&mut self, mut other: Self) {
        if self.chunks.len() < other.chunks.len() {
            core::mem::swap(&mut self.chunks, &mut other.chunks);
        }
        let high = core::mem::take(&mut other.chunks);
        for (key, chunk) in high {
            match self.chunks.get_mut(&key) {
                None => {
                    self.chunks.insert(key, chunk);
                }
                Some(low) => {
                    // The chunk both maps share a part of: move the slots over.
                    let low = Arc::make_mut(low);
                    let mut chunk = chunk;
                    let high = Arc::make_mut(&mut chunk);
                    for i in 0..CHUNK_PAGES {
                        if let Some((frame, sd)) = high.take(i)
                            && let Some(old) = low.put(i, frame, sd)
                        {
                            self.reclaim.push_frame(old);
                        }
                    }
                }
            }
        }
    }

    /// A copy sharing every chunk (their counts go up), releasing into `reclaim`.
    pub(crate) fn clone_into(&self, reclaim: Arc<Reclaim<H>>) -> Self {
        Self {
            chunks: self.chunks.clone(),
            reclaim,
        }
    }

    /// The number of frames (O(chunks)).
    pub(crate) fn len(&self) -> usize {
        self.chunks.values().map(|c| c.used).sum()
    }
}

impl<H: PagingHandler> Drop for FrameMap<H> {
    fn drop(&mut self) {
        let chunks = core::mem::take(&mut self.chunks);
        for (_, chunk) in chunks {
            self.reclaim.push_chunk(chunk);
        }
    }
}

/// Allocates a zeroed frame.
pub(crate) fn alloc_zeroed<H: PagingHandler>() -> Option<FrameRef<H>> {
    PhysFrame::alloc_zeroed().ok().map(Arc::new)
}

/// Allocates the `n` frames of a block: physically contiguous from a multiple of `n`
/// pages, each owned on its own, zeroed; `None` if the handler has no such run.
pub(crate) fn alloc_block_zeroed<H: PagingHandler>(n: usize) -> Option<Vec<FrameRef<H>>> {
    let run = FrameRun::<H>::alloc(n, n * PAGE_SIZE_4K).ok()?;
    Some(
        run.map(|mut frame| {
            frame.fill(0);
            Arc::new(frame)
        })
        .collect(),
    )
}

/// Allocates a frame holding a copy of `src`.
pub(crate) fn alloc_copy<H: PagingHandler>(src: &PhysFrame<H>) -> Option<FrameRef<H>> {
    let mut frame = PhysFrame::alloc().ok()?;
    frame.copy_from(src);
    Some(Arc::new(frame))
}
