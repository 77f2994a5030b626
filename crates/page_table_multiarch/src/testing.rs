//! Host test helpers (feature `testing`, which enables `std`).
//!
//! - [`CountingHandler`]: a [`PagingHandler`] backed by real heap memory, one
//!   arena per thread, that counts live frames, panics on double or foreign
//!   frees and can fail a chosen allocation.
//! - [`RecordingMeta`]: wraps any paging metadata and logs every flush
//!   (read them with [`take_flushes`]) instead of running instructions.
//! - [`SoftTlb`]: a software TLB model that caches translations like
//!   hardware, applies the logged flushes and reports stale entries.
//!
//! ```
//! use memory_addr::{PhysAddr, VirtAddr};
//! use page_table_multiarch::testing::{CountingHandler, RecordingMeta, FlushRecord, take_flushes};
//! use page_table_multiarch::{riscv::{Sv39MetaData, Rv64PTE}, MappingFlags, PageSize, PageTable64};
//!
//! type Pt = PageTable64<RecordingMeta<Sv39MetaData>, Rv64PTE, CountingHandler>;
//! CountingHandler::reset();
//! let mut pt = Pt::try_new().unwrap();
//! let va = VirtAddr::from_usize(0x4000);
//! pt.map(va, PhysAddr::from_usize(0x8000), PageSize::Size4K, MappingFlags::READ).unwrap().flush();
//! assert_eq!(take_flushes(), [FlushRecord::Page(0x4000)]);
//! assert_eq!(CountingHandler::live_frames(), 3); // root + two tables
//! CountingHandler::fail_after(0); // the next allocation fails
//! assert!(pt.map(VirtAddr::from_usize(0x4000_0000), PhysAddr::from_usize(0), PageSize::Size4K, MappingFlags::READ).is_err());
//! drop(pt);
//! assert_eq!(CountingHandler::live_frames(), 0);
//! ```

use std::alloc::{Layout, alloc, dealloc};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::vec::Vec;

use memory_addr::{PAGE_SIZE_4K, PhysAddr, VirtAddr};

use crate::{GenericPTE, MappingFlags, PageTable64, PagingHandler, PagingMetaData};

/// Physical address of the first arena frame (addresses are
/// `ARENA_PHYS_BASE + 4096 * frame number`).
pub const ARENA_PHYS_BASE: usize = 0x8000_0000;
const CHUNK_FRAMES: usize = 512;
const CHUNK_BYTES: usize = CHUNK_FRAMES * PAGE_SIZE_4K;
const MAX_CHUNKS: usize = 1024;
/// Frames one thread's arena can hold (2 GiB; memory is taken 2 MiB at a time).
pub const ARENA_MAX_FRAMES: usize = CHUNK_FRAMES * MAX_CHUNKS;
/// Byte a freshly allocated frame is filled with in debug builds (catches
/// missing zeroing).
pub const ALLOC_POISON: u8 = 0xa5;
/// Byte a freed frame is filled with in debug builds (catches use after free).
pub const FREE_POISON: u8 = 0x5a;

struct State {
    chunks: Vec<*mut u8>,
    allocated: Vec<bool>,
    free: Vec<usize>,
    next: usize,
    live: usize,
    attempts: usize,
    fail_in: Option<usize>,
}

impl State {
    const fn new() -> Self {
        Self {
            chunks: Vec::new(),
            allocated: Vec::new(),
            free: Vec::new(),
            next: 0,
            live: 0,
            attempts: 0,
            fail_in: None,
        }
    }

    #[cfg(debug_assertions)]
    fn frame_ptr(&self, n: usize) -> *mut u8 {
        // SAFETY: frame `n` lies in an allocated chunk of CHUNK_BYTES.
        unsafe { self.chunks[n / CHUNK_FRAMES].add((n % CHUNK_FRAMES) * PAGE_SIZE_4K) }
    }

    /// Counts an allocation attempt; `false` if it is the one to fail.
    fn attempt(&mut self) -> bool {
        self.attempts += 1;
        match self.fail_in {
            Some(0) => {
                self.fail_in = None;
                false
            }
            Some(k) => {
                self.fail_in = Some(k - 1);
                true
            }
            None => true,
        }
    }

    /// The next never-used frame number (its chunk allocated), not yet taken.
    fn fresh(&mut self) -> Option<usize> {
        let n = self.next;
        if n >= ARENA_MAX_FRAMES {
            return None;
        }
        if n / CHUNK_FRAMES == self.chunks.len() {
            // SAFETY: non-zero size.
            let chunk = unsafe { alloc(Self::chunk_layout()) };
            if chunk.is_null() {
                return None;
            }
            CHUNKS.with(|c| c[self.chunks.len()].set(chunk));
            self.chunks.push(chunk);
        }
        self.next += 1;
        if self.allocated.len() < self.next {
            self.allocated.push(false);
        }
        Some(n)
    }

    /// Marks frame `n` allocated (and poisons it in debug builds).
    fn take(&mut self, n: usize) {
        self.allocated[n] = true;
        self.live += 1;
        #[cfg(debug_assertions)]
        // SAFETY: frame `n` is inside an allocated chunk.
        unsafe {
            core::ptr::write_bytes(self.frame_ptr(n), ALLOC_POISON, PAGE_SIZE_4K)
        };
    }

    fn chunk_layout() -> Layout {
        Layout::from_size_align(CHUNK_BYTES, PAGE_SIZE_4K).expect("valid layout")
    }
}

impl Drop for State {
    fn drop(&mut self) {
        for &chunk in &self.chunks {
            // SAFETY: allocated in `alloc_frame` with this layout; the thread
            // (and every pointer into the arena) is going away.
            unsafe { dealloc(chunk, Self::chunk_layout()) };
        }
    }
}

std::thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State::new()) };
    /// Chunk base pointers, for a `phys_to_virt` without `RefCell`.
    static CHUNKS: [Cell<*mut u8>; MAX_CHUNKS] = const { [const { Cell::new(core::ptr::null_mut()) }; MAX_CHUNKS] };
}

/// A test [`PagingHandler`]: frames come from a heap arena private to the
/// calling thread (so parallel tests do not interfere), physical addresses
/// are [`ARENA_PHYS_BASE`] + offset into the arena, and
/// [`phys_to_virt`](PagingHandler::phys_to_virt) returns real pointers.
///
/// It counts live frames and **panics** on a double free and on freeing an
/// address it never handed out. In debug builds (where tests run) it also
/// fills new frames with [`ALLOC_POISON`] and freed ones with
/// [`FREE_POISON`], and panics on `phys_to_virt` of a frame that is not
/// allocated; release builds (benchmarks) skip these costs. Frames must be freed on the thread that
/// allocated them. Test-only: never use it in a kernel.
#[derive(Debug, Clone, Copy)]
pub struct CountingHandler;

impl CountingHandler {
    /// Frames allocated and not yet freed on this thread.
    pub fn live_frames() -> usize {
        STATE.with_borrow(|s| s.live)
    }

    /// Allocation attempts (successful or not) since the last [`reset`](Self::reset).
    pub fn allocations() -> usize {
        STATE.with_borrow(|s| s.attempts)
    }

    /// Makes the allocation after the next `k` ones fail (`fail_after(0)`:
    /// the very next one). One-shot: later allocations succeed again.
    pub fn fail_after(k: usize) {
        STATE.with_borrow_mut(|s| s.fail_in = Some(k));
    }

    /// Cancels a pending [`fail_after`](Self::fail_after).
    pub fn clear_failure() {
        STATE.with_borrow_mut(|s| s.fail_in = None);
    }

    /// Forgets every allocation of this thread and restarts numbering, so
    /// frame addresses are deterministic. Frames still held become foreign
    /// (freeing them panics): call it at the start of a test.
    pub fn reset() {
        STATE.with_borrow_mut(|s| {
            s.allocated.iter_mut().for_each(|a| *a = false);
            s.free.clear();
            s.next = 0;
            s.live = 0;
            s.attempts = 0;
            s.fail_in = None;
        });
    }

    /// Whether `paddr` is the start of a frame allocated on this thread.
    pub fn is_allocated(paddr: PhysAddr) -> bool {
        STATE.with_borrow(|s| {
            Self::frame_number(paddr).is_some_and(|n| n < s.next && s.allocated[n])
        })
    }

    fn frame_number(paddr: PhysAddr) -> Option<usize> {
        let off = paddr.as_usize().checked_sub(ARENA_PHYS_BASE)?;
        (off % PAGE_SIZE_4K == 0 && off / PAGE_SIZE_4K < ARENA_MAX_FRAMES)
            .then_some(off / PAGE_SIZE_4K)
    }
}

// SAFETY: frames are 4K pieces of 4K-aligned heap chunks owned by this
// thread's arena; each is handed out once until freed; `phys_to_virt`
// returns a pointer into the chunk, valid until the thread exits. Frames are
// only valid on the thread that allocated them (documented above, a
// restriction of this test-only handler: a table using it must stay on its
// thread).
unsafe impl PagingHandler for CountingHandler {
    fn alloc_frame() -> Option<PhysAddr> {
        STATE.with_borrow_mut(|s| {
            if !s.attempt() {
                return None;
            }
            let n = match s.free.pop() {
                Some(n) => n,
                None => s.fresh()?,
            };
            s.take(n);
            Some(PhysAddr::from_usize(ARENA_PHYS_BASE + n * PAGE_SIZE_4K))
        })
    }

    /// Contiguous runs come from never-used frames (skipped ones go to the
    /// free list); a run never crosses a 2 MiB chunk, so it is also
    /// virtually contiguous. One attempt for `fail_after`.
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr> {
        if num == 1 && align <= PAGE_SIZE_4K {
            return Self::alloc_frame();
        }
        let align_frames = (align / PAGE_SIZE_4K).max(1);
        if num == 0 || num > CHUNK_FRAMES || !align.is_power_of_two() || align_frames > CHUNK_FRAMES
        {
            return None;
        }
        STATE.with_borrow_mut(|s| {
            if !s.attempt() {
                return None;
            }
            loop {
                let n = s.next;
                let fits = n % align_frames == 0 && n % CHUNK_FRAMES + num <= CHUNK_FRAMES;
                if fits && n + num <= ARENA_MAX_FRAMES {
                    for _ in 0..num {
                        let m = s.fresh()?;
                        s.take(m);
                    }
                    return Some(PhysAddr::from_usize(ARENA_PHYS_BASE + n * PAGE_SIZE_4K));
                }
                let skipped = s.fresh()?;
                s.free.push(skipped);
            }
        })
    }

    /// The frames of a run are tracked one by one, so each may be freed alone.
    fn alloc_frames_separable(num: usize, align: usize) -> Option<PhysAddr> {
        Self::alloc_frames(num, align)
    }

    unsafe fn dealloc_frame(paddr: PhysAddr) {
        STATE.with_borrow_mut(|s| {
            let n = match Self::frame_number(paddr) {
                Some(n) if n < s.next => n,
                _ => panic!("CountingHandler: foreign free of {:#x}", paddr.as_usize()),
            };
            assert!(
                s.allocated[n],
                "CountingHandler: double free of {:#x}",
                paddr.as_usize()
            );
            s.allocated[n] = false;
            s.live -= 1;
            s.free.push(n);
            #[cfg(debug_assertions)]
            // SAFETY: frame `n` is inside an allocated chunk.
            unsafe {
                core::ptr::write_bytes(s.frame_ptr(n), FREE_POISON, PAGE_SIZE_4K)
            };
        });
    }

    #[inline]
    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        let off = paddr.as_usize().wrapping_sub(ARENA_PHYS_BASE);
        let chunk = off / CHUNK_BYTES;
        let base = if chunk < MAX_CHUNKS {
            CHUNKS.with(|c| c[chunk].get())
        } else {
            core::ptr::null_mut()
        };
        assert!(
            !base.is_null(),
            "CountingHandler: phys_to_virt({:#x}) outside the arena",
            paddr.as_usize()
        );
        #[cfg(debug_assertions)]
        assert!(
            STATE.with_borrow(|s| s
                .allocated
                .get(off / PAGE_SIZE_4K)
                .copied()
                .unwrap_or(false)),
            "CountingHandler: phys_to_virt({:#x}) of a frame that is not allocated",
            paddr.as_usize()
        );
        VirtAddr::from_mut_ptr_of(base.wrapping_add(off % CHUNK_BYTES))
    }
}

/// One flush seen by [`RecordingMeta`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlushRecord {
    /// `flush_tlb(Some(vaddr))`.
    Page(usize),
    /// `flush_tlb(None)`.
    All,
}

std::thread_local! {
    static FLUSHES: RefCell<Vec<FlushRecord>> = const { RefCell::new(Vec::new()) };
}

/// Returns (and clears) the flushes issued through [`RecordingMeta`] on this thread.
pub fn take_flushes() -> Vec<FlushRecord> {
    FLUSHES.with_borrow_mut(core::mem::take)
}

/// Paging metadata identical to `M` except that `flush_tlb` only logs the
/// flush for [`take_flushes`] (on every build, so it never runs an instruction).
#[derive(Debug, Clone, Copy)]
pub struct RecordingMeta<M>(PhantomData<fn() -> M>);

impl<M: crate::PagingMetaData32> crate::PagingMetaData32 for RecordingMeta<M> {
    const L1_SHIFT: usize = M::L1_SHIFT;
    const L1_ENTRIES: usize = M::L1_ENTRIES;
    const L2_ENTRIES: usize = M::L2_ENTRIES;
    const ROOT_FRAMES: usize = M::ROOT_FRAMES;
}

impl<M: PagingMetaData> PagingMetaData for RecordingMeta<M> {
    const LEVELS: usize = M::LEVELS;
    const PA_MAX_BITS: usize = M::PA_MAX_BITS;
    const VA_MAX_BITS: usize = M::VA_MAX_BITS;
    const PA_MAX_ADDR: usize = M::PA_MAX_ADDR;
    const VA_LAYOUT: crate::VaLayout = M::VA_LAYOUT;
    type VirtAddr = M::VirtAddr;

    fn vaddr_is_valid(vaddr: usize) -> bool {
        M::vaddr_is_valid(vaddr)
    }

    fn paddr_is_valid(paddr: usize) -> bool {
        M::paddr_is_valid(paddr)
    }

    fn flush_tlb(vaddr: Option<Self::VirtAddr>) {
        let rec = match vaddr {
            Some(va) => FlushRecord::Page(va.into()),
            None => FlushRecord::All,
        };
        FLUSHES.with_borrow_mut(|f| f.push(rec));
    }
}

/// A cached translation of [`SoftTlb`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbEntry {
    /// Start of the cached page.
    pub vaddr: usize,
    /// Page size in bytes.
    pub size: usize,
    /// Frame of the page.
    pub paddr: PhysAddr,
    /// Flags at the time it was cached.
    pub flags: MappingFlags,
}

/// A software TLB: caches present translations on access (several page
/// sizes may overlap, as after a split), drops them on flushes, and can
/// check every cached entry against the current table. A cached entry that
/// no longer matches after the owed flushes were applied is a missing flush.
#[derive(Debug, Default, Clone)]
pub struct SoftTlb {
    entries: BTreeMap<(usize, usize), TlbEntry>,
}

impl SoftTlb {
    const SIZES: [usize; 3] = [0x1000, 0x20_0000, 0x4000_0000];

    /// An empty TLB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached translations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Translates `va` like hardware: a cached entry wins (even if stale);
    /// otherwise the table is walked and a present leaf is cached.
    pub fn translate<M, PTE, H>(
        &mut self,
        pt: &PageTable64<M, PTE, H>,
        va: usize,
    ) -> Option<(PhysAddr, MappingFlags)>
    where
        M: PagingMetaData,
        PTE: GenericPTE,
        H: PagingHandler,
    {
        for size in Self::SIZES {
            if let Some(e) = self.entries.get(&(va & !(size - 1), size)) {
                return Some((
                    PhysAddr::from_usize(e.paddr.as_usize() + va % size),
                    e.flags,
                ));
            }
        }
        let (pa, flags, size) = pt.query(M::VirtAddr::from(va)).ok()?;
        if flags.is_empty() {
            return None; // not present: hardware does not cache it
        }
        let size = size as usize;
        let vaddr = va & !(size - 1);
        let paddr = PhysAddr::from_usize(pa.as_usize() - va % size);
        self.entries.insert(
            (vaddr, size),
            TlbEntry {
                vaddr,
                size,
                paddr,
                flags,
            },
        );
        Some((pa, flags))
    }

    /// Drops the entries covering `va`.
    pub fn flush_page(&mut self, va: usize) {
        for size in Self::SIZES {
            self.entries.remove(&(va & !(size - 1), size));
        }
    }

    /// Drops everything.
    pub fn flush_all(&mut self) {
        self.entries.clear();
    }

    /// Applies logged flushes (from [`take_flushes`]).
    pub fn apply(&mut self, records: &[FlushRecord]) {
        for r in records {
            match *r {
                FlushRecord::Page(va) => self.flush_page(va),
                FlushRecord::All => self.flush_all(),
            }
        }
    }

    /// The first cached entry that disagrees with `pt` anywhere in its page
    /// (different frame or flags, or no longer mapped), if any.
    pub fn find_stale<M, PTE, H>(&self, pt: &PageTable64<M, PTE, H>) -> Option<TlbEntry>
    where
        M: PagingMetaData,
        PTE: GenericPTE,
        H: PagingHandler,
    {
        self.entries.values().copied().find(|e| {
            let Ok(iter) = pt.iter_range(M::VirtAddr::from(e.vaddr), e.size) else {
                return true;
            };
            // Bytes of the entry covered so far by consistent leaves.
            let mut covered: isize = 0;
            for m in iter {
                let rel = (m.vaddr.into() as isize).wrapping_sub(e.vaddr as isize);
                let same_frame =
                    (m.paddr.as_usize() as isize).wrapping_sub(rel) == e.paddr.as_usize() as isize;
                if rel > covered || !same_frame || m.flags != e.flags {
                    return true;
                }
                covered = rel + m.size as isize;
            }
            covered < e.size as isize
        })
    }
}
