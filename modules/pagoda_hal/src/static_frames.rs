//! Physically contiguous memory that is never freed, for linear (huge-page) mappings.
//!
//! A linear mapping of an address space (`AddrSpace::map_linear`) does not own the frames
//! it maps, and `fork` copies it. Memory mapped that way must therefore outlive every
//! address space: a [`StaticFrames`] block is taken from the frame allocator for the rest
//! of the program, so mapping it anywhere, any number of times, is sound.

use core::sync::atomic::{AtomicU64, Ordering};

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::HalError;
use crate::mem::phys_to_virt;

/// A block of physically contiguous frames allocated for good (see the module docs).
/// The kernel reaches it through the direct map with [`read_u64`](Self::read_u64) and
/// [`write_u64`](Self::write_u64), which (like user programs mapping it) never form Rust
/// references to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticFrames {
    start: PhysAddr,
    size: usize,
}

impl StaticFrames {
    /// Allocates `size` bytes (a non-zero multiple of 4 KiB) of contiguous physical memory
    /// aligned to `align` (a power of two, at least 4 KiB), contents unspecified.
    ///
    /// # Errors
    /// [`HalError::Frames`]: a bad size or alignment, or no such run of free frames.
    pub fn alloc(size: usize, align: usize) -> Result<Self, HalError> {
        if size == 0 || !size.is_multiple_of(PAGE_SIZE_4K) {
            return Err(HalError::Frames(pagoda_alloc::FrameError::InvalidRequest));
        }
        let start = pagoda_alloc::alloc_frames(size / PAGE_SIZE_4K, align.max(PAGE_SIZE_4K))?;
        Ok(Self { start, size })
    }

    /// The first physical address.
    pub fn start_paddr(&self) -> PhysAddr {
        self.start
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn word(&self, offset: usize) -> Option<*mut u64> {
        let in_bounds = offset.is_multiple_of(8) && offset.checked_add(8)? <= self.size;
        in_bounds.then(|| phys_to_virt(self.start + offset).as_mut_ptr_of::<u64>())
    }

    /// Reads the 8-byte-aligned word at byte `offset`.
    ///
    /// # Errors
    /// [`HalError::OutOfBounds`] for an unaligned or out-of-range offset.
    pub fn read_u64(&self, offset: usize) -> Result<u64, HalError> {
        let p = self.word(offset).ok_or(HalError::OutOfBounds)?;
        // SAFETY: `p` is an aligned word of this block, which is allocated forever and
        // mapped writable in the direct map; only atomic accesses and the MMU (user
        // mappings, probes) ever touch it, so a relaxed atomic load races with nothing.
        Ok(unsafe { AtomicU64::from_ptr(p) }.load(Ordering::Relaxed))
    }

    /// Writes the 8-byte-aligned word at byte `offset`.
    ///
    /// # Errors
    /// [`HalError::OutOfBounds`] for an unaligned or out-of-range offset.
    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), HalError> {
        let p = self.word(offset).ok_or(HalError::OutOfBounds)?;
        // SAFETY: as in `read_u64`.
        unsafe { AtomicU64::from_ptr(p) }.store(value, Ordering::Relaxed);
        Ok(())
    }
}
