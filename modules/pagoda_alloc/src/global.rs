//! The kernel's global frame allocator and its `PagingHandler`.

use core::sync::atomic::{AtomicUsize, Ordering};

use kspin::SpinNoIrq;
use memory_addr::{PAGE_SIZE_4K, PhysAddr, PhysAddrRange, VirtAddr};
use page_table_multiarch::PagingHandler;

use crate::FrameError;
use crate::frame::{FrameAllocator, FrameStats, usable_frames, words_for};

static FRAMES: SpinNoIrq<Option<FrameAllocator<'static>>> = SpinNoIrq::new(None);
static PHYS_VIRT_OFFSET: AtomicUsize = AtomicUsize::new(0);
/// Frames [`alloc_frame`] leaves free for the kernel heap ([`set_heap_reserve`]).
static HEAP_RESERVE: AtomicUsize = AtomicUsize::new(0);

/// Initializes the global frame allocator over `ram` minus `reserved`. Its bitmap is placed
/// in the first usable frames large enough (and those frames are withheld).
///
/// # Errors
/// [`FrameError::AlreadyInitialized`] on a second call, [`FrameError::TooManyRegions`], or
/// [`FrameError::NoMemory`] if no usable range can hold the bitmap. Nothing changes on error.
///
/// # Safety
/// - Every byte of `ram` outside `reserved` is memory that nothing else uses, now or later:
///   from here on the allocator owns it.
/// - That memory is mapped readable and writable at `pa + phys_virt_offset` in every address
///   space the kernel runs in, for the rest of the program.
pub unsafe fn init(
    ram: &[PhysAddrRange],
    reserved: &[PhysAddrRange],
    phys_virt_offset: usize,
) -> Result<(), FrameError> {
    let mut slot = FRAMES.lock();
    if slot.is_some() {
        return Err(FrameError::AlreadyInitialized);
    }
    let mut usable = usable_frames(ram, reserved)?;
    let words = words_for(&usable);
    let storage: &'static mut [u64] = if words == 0 {
        &mut []
    } else {
        let frames = (words * size_of::<u64>()).div_ceil(PAGE_SIZE_4K);
        let &(start, _) = usable
            .as_slice()
            .iter()
            .find(|&&(s, e)| e - s >= frames)
            .ok_or(FrameError::NoMemory)?;
        // Removing the head of a range never splits it, so this cannot run out of slots;
        // the span (and so the bitmap size) can only shrink.
        usable.remove(start, start + frames)?;
        let ptr = (start * PAGE_SIZE_4K).wrapping_add(phys_virt_offset) as *mut u64;
        // SAFETY: by the caller's contract these usable frames are unused memory mapped
        // writable at `ptr`, 4 KiB aligned; we zero them before forming the slice and they
        // were just removed from `usable`, so nothing else will ever hand them out.
        unsafe {
            ptr.write_bytes(0, words);
            core::slice::from_raw_parts_mut(ptr, words)
        }
    };
    let frames = FrameAllocator::from_usable(storage, usable)?;
    PHYS_VIRT_OFFSET.store(phys_virt_offset, Ordering::Release);
    *slot = Some(frames);
    Ok(())
}

/// Whether [`init`] succeeded.
pub fn is_initialized() -> bool {
    FRAMES.lock().is_some()
}

fn with<T>(
    f: impl FnOnce(&mut FrameAllocator<'static>) -> Result<T, FrameError>,
) -> Result<T, FrameError> {
    FRAMES
        .lock()
        .as_mut()
        .map_or(Err(FrameError::Uninitialized), f)
}

/// Allocates one frame from the global allocator (user pages, page tables): never one of
/// the last [`heap_reserve`] free frames, which only the kernel heap ([`alloc_frames`])
/// may take, so that memory exhausted by programs leaves the kernel room to carry on
/// (and to tear them down).
///
/// # Errors
/// [`FrameError::Uninitialized`] or [`FrameError::NoMemory`] (also when only the reserve
/// is left).
pub fn alloc_frame() -> Result<PhysAddr, FrameError> {
    let reserve = HEAP_RESERVE.load(Ordering::Relaxed);
    with(|a| {
        if reserve != 0 && a.stats().free <= reserve {
            return Err(FrameError::NoMemory);
        }
        a.alloc()
    })
}

/// Allocates `count` contiguous frames aligned to `align` bytes for user memory (the
/// frames of a huge page): like [`alloc_frame`], never from the heap reserve. Each frame
/// may be freed on its own ([`dealloc_frame`]).
///
/// # Errors
/// [`FrameError::Uninitialized`], [`FrameError::InvalidRequest`] or [`FrameError::NoMemory`]
/// (also when the run would reach into the reserve).
pub fn alloc_user_frames(count: usize, align: usize) -> Result<PhysAddr, FrameError> {
    let reserve = HEAP_RESERVE.load(Ordering::Relaxed);
    with(|a| {
        if reserve != 0 && a.stats().free <= reserve.saturating_add(count) {
            return Err(FrameError::NoMemory);
        }
        a.alloc_contiguous(count, align)
    })
}

/// Sets how many free frames [`alloc_frame`] leaves to the kernel heap (0 at boot).
pub fn set_heap_reserve(frames: usize) {
    HEAP_RESERVE.store(frames, Ordering::Relaxed);
}

/// The frames [`alloc_frame`] leaves to the kernel heap.
pub fn heap_reserve() -> usize {
    HEAP_RESERVE.load(Ordering::Relaxed)
}

/// Allocates `count` contiguous frames aligned to `align` bytes
/// (see [`FrameAllocator::alloc_contiguous`]).
///
/// # Errors
/// [`FrameError::Uninitialized`], [`FrameError::InvalidRequest`] or [`FrameError::NoMemory`].
pub fn alloc_frames(count: usize, align: usize) -> Result<PhysAddr, FrameError> {
    with(|a| a.alloc_contiguous(count, align))
}

/// Frees one frame.
///
/// # Errors
/// As [`FrameAllocator::dealloc`], or [`FrameError::Uninitialized`]. Frees the bitmap can
/// tell are wrong (a double or foreign free) fail and change nothing.
///
/// # Safety
/// The frame was allocated from this allocator ([`alloc_frame`], [`alloc_frames`],
/// [`KernelFrames`]) by the caller or handed over to it, and nothing uses it any more: no
/// page table links it or maps it (unless that mapping was flushed from every TLB), no CPU
/// runs it as a root table, and no reference or pointer into it is used again. The next
/// allocation may hand it to a new owner, so freeing a frame in use (say the root of the
/// active page table) gives it two owners.
///
/// ```compile_fail,E0133
/// let frame = pagoda_alloc::alloc_frame().unwrap();
/// pagoda_alloc::dealloc_frame(frame).unwrap(); // safe code cannot free frames
/// ```
pub unsafe fn dealloc_frame(paddr: PhysAddr) -> Result<(), FrameError> {
    with(|a| a.dealloc(paddr))
}

/// Frees `count` contiguous frames (all or nothing).
///
/// # Errors
/// As [`FrameAllocator::dealloc_contiguous`], or [`FrameError::Uninitialized`].
///
/// # Safety
/// As [`dealloc_frame`], for each frame of the run.
pub unsafe fn dealloc_frames(paddr: PhysAddr, count: usize) -> Result<(), FrameError> {
    with(|a| a.dealloc_contiguous(paddr, count))
}

/// Statistics of the global allocator (all zero before [`init`]).
pub fn frame_stats() -> FrameStats {
    FRAMES
        .lock()
        .as_ref()
        .map(FrameAllocator::stats)
        .unwrap_or_default()
}

/// The direct-map address of `paddr` (the offset given to [`init`]).
pub fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
    VirtAddr::from_usize(
        paddr
            .as_usize()
            .wrapping_add(PHYS_VIRT_OFFSET.load(Ordering::Acquire)),
    )
}

/// The physical address of a direct-map address.
pub fn virt_to_phys(vaddr: VirtAddr) -> PhysAddr {
    PhysAddr::from_usize(
        vaddr
            .as_usize()
            .wrapping_sub(PHYS_VIRT_OFFSET.load(Ordering::Acquire)),
    )
}

/// What runs before a kernel page table's frames are freed (`table_dropping`): set once by
/// the HAL, whose hook switches the CPU away from the table if it is active.
static TABLE_DROP_HOOK: SpinNoIrq<Option<fn(PhysAddr)>> = SpinNoIrq::new(None);

/// Installs the hook [`KernelFrames`] calls with the root of every page table about to be
/// freed (before any of its frames is).
pub fn set_table_drop_hook(hook: fn(PhysAddr)) {
    *TABLE_DROP_HOOK.lock() = Some(hook);
}

/// The kernel's [`PagingHandler`]: frames from the global allocator, reached through the
/// direct map given to [`init`].
#[derive(Debug, Clone, Copy)]
pub struct KernelFrames;

// SAFETY: frames come from the global allocator, which hands each usable 4 KiB frame to one
// owner until it is freed; `init`'s contract makes `phys_to_virt` a writable mapping of it.
// Before `init`, `alloc_frame` fails, so no frame is ever handed out unmapped.
unsafe impl PagingHandler for KernelFrames {
    fn alloc_frame() -> Option<PhysAddr> {
        alloc_frame().ok()
    }

    /// The bitmap tracks frames one by one, so a run's frames are freed on their own.
    fn alloc_frames_separable(num: usize, align: usize) -> Option<PhysAddr> {
        alloc_user_frames(num, align).ok()
    }

    unsafe fn dealloc_frame(paddr: PhysAddr) {
        // SAFETY: the trait method's contract is this function's.
        if let Err(e) = unsafe { dealloc_frame(paddr) } {
            log::error!("page table freed frame {paddr:?}: {e}");
        }
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        phys_to_virt(paddr)
    }

    fn table_dropping(root: PhysAddr) {
        // Copied out first: the hook runs without the lock held.
        let hook = *TABLE_DROP_HOOK.lock();
        if let Some(hook) = hook {
            hook(root);
        }
    }
}
