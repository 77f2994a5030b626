#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

mod frame;
mod global;
mod heap;
mod ranges;

#[cfg(test)]
mod tests;

pub use frame::{FrameAllocator, FrameStats};
pub use global::{
    KernelFrames, alloc_frame, alloc_frames, alloc_user_frames, dealloc_frame, dealloc_frames,
    frame_stats, heap_reserve, init, is_initialized, phys_to_virt, set_heap_reserve,
    set_table_drop_hook, virt_to_phys,
};
pub use heap::{HeapStats, KernelHeap};
pub use ranges::MAX_RANGES;

/// Errors of the frame allocator. Every failing call leaves the allocator unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free frame, or no free run of the requested size and alignment.
    NoMemory,
    /// A count of zero or an alignment that is not a power of two.
    InvalidRequest,
    /// The address is not 4 KiB aligned.
    NotAligned,
    /// The address (or part of the run) is not a usable frame of this allocator: a foreign
    /// free, or a reserved frame such as the kernel image.
    NotManaged,
    /// The frame (or a frame of the run) is already free.
    DoubleFree,
    /// RAM and reservations split into more than [`MAX_RANGES`] usable ranges.
    TooManyRegions,
    /// The bitmap storage is smaller than [`FrameAllocator::storage_words`].
    StorageTooSmall,
    /// The global allocator was initialized already.
    AlreadyInitialized,
    /// The global allocator is not initialized yet.
    Uninitialized,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoMemory => "out of physical memory",
            Self::InvalidRequest => "invalid frame count or alignment",
            Self::NotAligned => "physical address not 4 KiB aligned",
            Self::NotManaged => "frame not managed by this allocator",
            Self::DoubleFree => "frame is already free",
            Self::TooManyRegions => "too many usable memory ranges",
            Self::StorageTooSmall => "bitmap storage too small",
            Self::AlreadyInitialized => "frame allocator already initialized",
            Self::Uninitialized => "frame allocator not initialized",
        })
    }
}

impl core::error::Error for FrameError {}
