//! The kernel heap: talc, growing on demand with contiguous frames from the global allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use memory_addr::PAGE_SIZE_4K;
use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;

use crate::global::{alloc_frames, dealloc_frames, phys_to_virt};

/// Smallest chunk the heap takes from the frame allocator at a time.
const GROW_MIN: usize = 256 * 1024;

type RawLock = spin::mutex::SpinMutex<()>;

/// Byte counts of a [`KernelHeap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes taken from the frame allocator (never given back).
    pub claimed: usize,
    /// Bytes in live allocations (as requested by their layouts).
    pub in_use: usize,
    /// The highest `in_use` ever seen.
    pub peak: usize,
}

/// The talc memory source: frames from the global frame allocator, reached through its
/// direct map. Adjacent chunks extend the previous heap instead of starting a new one.
#[derive(Debug)]
pub struct FrameSource {
    claimed: usize,
    /// End of the last heap talc reported (an address, so the source stays `Send`).
    heap_end: usize,
}

// SAFETY: `acquire` only uses the global frame allocator, which never allocates from the heap,
// and the `talc` reference it is given; it never touches the wrapping lock.
unsafe impl Source for FrameSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        // Room for the request at any alignment plus talc's per-heap metadata.
        let need = layout
            .size()
            .checked_add(layout.align())
            .and_then(|n| n.checked_add(talc::min_first_heap_size::<B>()))
            .ok_or(())?;
        let bytes = need
            .max(GROW_MIN)
            .checked_next_multiple_of(PAGE_SIZE_4K)
            .ok_or(())?;
        let paddr = alloc_frames(bytes / PAGE_SIZE_4K, PAGE_SIZE_4K).map_err(|_| ())?;
        let base = phys_to_virt(paddr).as_mut_ptr();
        let end = base.wrapping_add(bytes);
        let new_end = match NonNull::new(talc.source.heap_end as *mut u8) {
            // SAFETY: `heap_end` is the end talc returned for the previous chunk and the new
            // frames start exactly there; they are ours for good (never freed), mapped
            // writable by the frame allocator's `init` contract.
            Some(old) if old.as_ptr() == base => unsafe { Some(talc.extend(old, end)) },
            // SAFETY: as above; a fresh region that nothing else references.
            _ => unsafe { talc.claim(base, bytes) },
        };
        let Some(new_end) = new_end else {
            // Too small for talc's metadata (cannot happen with GROW_MIN): give them back.
            // SAFETY: allocated just above; talc refused them, so nothing refers to them.
            let _ = unsafe { dealloc_frames(paddr, bytes / PAGE_SIZE_4K) };
            return Err(());
        };
        talc.source.heap_end = new_end.as_ptr() as usize;
        talc.source.claimed += bytes;
        Ok(())
    }
}

/// The kernel heap: a `GlobalAlloc` to install as `#[global_allocator]`. It needs no setup;
/// allocations fail (return null) until the global frame allocator is initialized.
pub struct KernelHeap {
    talc: talc::TalcLock<RawLock, FrameSource>,
    in_use: AtomicUsize,
    peak: AtomicUsize,
}

impl KernelHeap {
    /// An empty heap.
    pub const fn new() -> Self {
        Self {
            talc: talc::TalcLock::new(FrameSource {
                claimed: 0,
                heap_end: 0,
            }),
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Current statistics.
    pub fn stats(&self) -> HeapStats {
        HeapStats {
            claimed: self.talc.lock().source.claimed,
            in_use: self.in_use.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
        }
    }

    fn account(&self, added: usize, removed: usize) {
        if added >= removed {
            let grow = added - removed;
            let now = self.in_use.fetch_add(grow, Ordering::Relaxed) + grow;
            self.peak.fetch_max(now, Ordering::Relaxed);
        } else {
            self.in_use.fetch_sub(removed - added, Ordering::Relaxed);
        }
    }
}

impl core::fmt::Debug for KernelHeap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KernelHeap")
            .field("in_use", &self.in_use)
            .field("peak", &self.peak)
            .finish()
    }
}

impl Default for KernelHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call forwards to talc's `GlobalAlloc` with the caller's arguments unchanged;
// the counters are bookkeeping only.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract (non-zero size layout).
        let p = unsafe { self.talc.alloc(layout) };
        if !p.is_null() {
            self.account(layout.size(), 0);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract: `ptr` came from this allocator with `layout`.
        unsafe { self.talc.dealloc(ptr, layout) };
        self.account(0, layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A block that would end past the top of the address space can never exist (the
        // heap lives in the upper half, so a legal `new_size` of 2^62 wraps). talc's
        // in-place growth computes that end with wrapping arithmetic and would take the
        // wrapped value for a free neighbour: refuse it here.
        if (ptr as usize).checked_add(new_size).is_none() {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        let p = unsafe { self.talc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.account(new_size, layout.size());
        }
        p
    }
}
