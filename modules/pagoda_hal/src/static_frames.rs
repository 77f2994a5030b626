//! Physical memory for linear (huge-page) mappings: [`PhysRegion`]s minted by the HAL.
//!
//! A linear mapping of an address space (`AddrSpace::map_linear`) does not own the frames
//! it maps, and `fork` copies it. It therefore takes a [`PhysRegion`]: memory that nobody
//! owns and that outlives every address space. Only this crate mints them, for two kinds of
//! memory: [`StaticFrames`] blocks, taken from the frame allocator for the rest of the
//! program ([`StaticFrames::region`]), and the platform's MMIO ranges ([`mmio_region`]).

use core::sync::atomic::{AtomicU64, Ordering};

use memory_addr::{PAGE_SIZE_4K, PhysAddr, align_down_4k, align_up_4k};
use page_table_multiarch::PhysRegion;

use crate::HalError;
use crate::arch::mmio_regions;
use crate::mem::phys_to_virt;

/// `[pa, pa + size)` (4 KiB-aligned) as a region, if it lies inside one of the platform's
/// MMIO ranges ([`mmio_regions`], rounded out to whole pages). `None`
/// otherwise: RAM is never handed out this way.
pub fn mmio_region(pa: PhysAddr, size: usize) -> Option<PhysRegion> {
    let start = pa.as_usize();
    let end = start.checked_add(size)?;
    let inside = mmio_regions().iter().any(|&(base, len)| {
        let (lo, hi) = (align_down_4k(base), align_up_4k(base.saturating_add(len)));
        lo <= start && end <= hi
    });
    if !inside {
        return None;
    }
    // SAFETY: the range is device memory of the platform (checked just above), which no
    // allocator hands out and which stays there for the whole run. The constructor checks
    // alignment and size.
    unsafe { PhysRegion::new(pa, size) }.ok()
}

/// A block of physically contiguous frames allocated for good (see the module docs).
/// The kernel reaches it through the direct map with [`read_u64`](Self::read_u64) and
/// [`write_u64`](Self::write_u64), which (like user programs mapping it) never form Rust
/// references to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticFrames {
    start: PhysAddr,
    size: usize,
    region: PhysRegion,
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
        // SAFETY: the frames were just taken from the allocator and are never given back
        // (this type has no way to free them), so they stay valid and owned by nobody for
        // the rest of the program; the kernel touches them only through atomic accesses
        // (`read_u64`/`write_u64`), never through references.
        let region = unsafe { PhysRegion::new(start, size) }
            .map_err(|_| HalError::Frames(pagoda_alloc::FrameError::InvalidRequest))?;
        Ok(Self {
            start,
            size,
            region,
        })
    }

    /// The first physical address.
    pub fn start_paddr(&self) -> PhysAddr {
        self.start
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The block as a [`PhysRegion`], to map it (`AddrSpace::map_linear`).
    pub fn region(&self) -> PhysRegion {
        self.region
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
