//! Owned physical frames ([`PhysFrame`]) and physical memory nobody owns
//! ([`PhysRegion`]).
//!
//! # Aliasing contract
//!
//! A frame's memory is treated like memory shared with other agents (user
//! programs through their mappings, other CPUs, devices):
//! - [`PhysFrame::read_at`], [`PhysFrame::write_at`] and the source side of
//!   [`PhysFrame::copy_from`] work through `&self` and never create Rust
//!   references to the frame: they copy with relaxed atomic loads/stores (8
//!   bytes at a time where aligned). A frame shared by `Arc` (copy-on-write,
//!   shared memory, page cache) can therefore be read and written from
//!   several CPUs without `unsafe` and without data races; concurrent writes
//!   to the same bytes leave one of the values (bytes may mix at 8-byte
//!   granularity), as with memory written by a user program.
//! - [`PhysFrame::as_slice`] and [`PhysFrame::as_mut_slice`] create ordinary
//!   references and take `&mut self`, so no other handle can write through
//!   `write_at` meanwhile. The caller must also ensure that the frame is not
//!   mapped writable into a running address space while such a slice lives
//!   (use them on frames being prepared, before they are mapped).

use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use memory_addr::{PAGE_SIZE_4K, PhysAddr, PhysAddrRange};

use crate::{PagingError, PagingHandler, PagingResult};

/// An owned 4K frame from `H`, freed when dropped.
pub struct PhysFrame<H: PagingHandler> {
    paddr: PhysAddr,
    _handler: PhantomData<fn() -> H>,
}

impl<H: PagingHandler> PhysFrame<H> {
    /// Frame size in bytes.
    pub const SIZE: usize = PAGE_SIZE_4K;

    /// Allocates a frame with unspecified contents.
    ///
    /// # Errors
    /// [`PagingError::NoMemory`].
    pub fn alloc() -> PagingResult<Self> {
        let paddr = H::alloc_frame().ok_or(PagingError::NoMemory)?;
        Ok(Self {
            paddr,
            _handler: PhantomData,
        })
    }

    /// Allocates a frame filled with zeros.
    ///
    /// # Errors
    /// [`PagingError::NoMemory`].
    pub fn alloc_zeroed() -> PagingResult<Self> {
        let mut frame = Self::alloc()?;
        frame.fill(0);
        Ok(frame)
    }

    /// Takes ownership of an allocated frame (e.g. one given away with
    /// [`into_paddr`](Self::into_paddr)).
    ///
    /// # Safety
    /// `paddr` was returned by `H::alloc_frame` (or is a frame of a run from
    /// `H::alloc_frames_separable`), is not freed, and nothing
    /// else owns or uses it (no other `PhysFrame`, page table or reference):
    /// the new `PhysFrame` frees it when dropped.
    pub unsafe fn from_paddr(paddr: PhysAddr) -> Self {
        Self {
            paddr,
            _handler: PhantomData,
        }
    }

    /// Gives up ownership without freeing the frame; returns its address.
    pub fn into_paddr(self) -> PhysAddr {
        let paddr = self.paddr;
        core::mem::forget(self);
        paddr
    }

    /// Physical address of the first byte.
    pub fn start_paddr(&self) -> PhysAddr {
        self.paddr
    }

    /// Gives the frame up for good: it is never freed, so it may be mapped
    /// anywhere for the rest of the program (see [`PhysRegion`]).
    pub fn leak(self) -> PhysRegion {
        PhysRegion {
            start: self.into_paddr(),
            size: Self::SIZE,
        }
    }

    fn base(&self) -> *mut u8 {
        H::phys_to_virt(self.paddr).as_mut_ptr()
    }

    /// The contents as bytes (see the [module docs](self) for why this takes
    /// `&mut self`).
    pub fn as_slice(&mut self) -> &[u8] {
        // SAFETY: we own the frame, it is mapped for its whole size, and
        // `&mut self` excludes every other access through this crate.
        unsafe { core::slice::from_raw_parts(self.base(), Self::SIZE) }
    }

    /// The contents as mutable bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_slice`.
        unsafe { core::slice::from_raw_parts_mut(self.base(), Self::SIZE) }
    }

    /// Sets every byte to `byte`: eight word stores per loop iteration. A generic
    /// `memset` stores one word per iteration, and x86-64's is `rep stos`, which an
    /// emulator runs one element at a time (Linux clears pages with an unrolled loop on
    /// CPUs without fast `rep` strings for the same reason).
    pub fn fill(&mut self, byte: u8) {
        let word = u64::from_ne_bytes([byte; 8]);
        let dst = self.base().cast::<u64>();
        for i in (0..Self::SIZE / 8).step_by(8) {
            for k in 0..8 {
                // SAFETY: as for `as_slice`; 8-byte aligned, inside the frame. Volatile
                // keeps the unrolled stores from becoming a `memset` call again.
                unsafe { dst.add(i + k).write_volatile(word) };
            }
        }
    }

    /// Copies the contents of `src` (which may be shared and concurrently
    /// written: it is read atomically), eight words per loop iteration.
    pub fn copy_from(&mut self, src: &PhysFrame<H>) {
        let (dst, from) = (self.base().cast::<u64>(), src.base().cast::<u64>());
        for i in (0..Self::SIZE / 8).step_by(8) {
            // SAFETY: both frames are owned, mapped and 4K aligned; `src` is
            // only ever accessed atomically while shared; `&mut self` makes
            // the plain stores to `dst` exclusive.
            unsafe {
                let words: [u64; 8] = core::array::from_fn(|k| {
                    AtomicU64::from_ptr(from.add(i + k)).load(Ordering::Relaxed)
                });
                for (k, w) in words.into_iter().enumerate() {
                    dst.add(i + k).write(w);
                }
            }
        }
    }

    fn check(offset: usize, len: usize) -> PagingResult {
        match offset.checked_add(len) {
            Some(end) if end <= Self::SIZE => Ok(()),
            _ => Err(PagingError::InvalidAddress),
        }
    }

    /// Reads `buf.len()` bytes at `offset` (atomically, see the module docs).
    ///
    /// # Errors
    /// [`PagingError::InvalidAddress`] if the bytes are not all in the frame.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> PagingResult {
        Self::check(offset, buf.len())?;
        // SAFETY: the range is inside the owned frame.
        let src = unsafe { self.base().add(offset) };
        let mut i = 0;
        while i < buf.len() {
            // SAFETY: `src + i` is inside the frame; frame memory is only
            // accessed atomically while shared, and 8-byte accesses are aligned.
            unsafe {
                let p = src.add(i);
                if (p as usize).is_multiple_of(8) && buf.len() - i >= 8 {
                    let w = AtomicU64::from_ptr(p.cast()).load(Ordering::Relaxed);
                    buf[i..i + 8].copy_from_slice(&w.to_ne_bytes());
                    i += 8;
                } else {
                    buf[i] = AtomicU8::from_ptr(p).load(Ordering::Relaxed);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset` through a shared reference (atomically, see
    /// the module docs).
    ///
    /// # Errors
    /// [`PagingError::InvalidAddress`] if the bytes are not all in the frame.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> PagingResult {
        Self::check(offset, data.len())?;
        // SAFETY: the range is inside the owned frame.
        let dst = unsafe { self.base().add(offset) };
        let mut i = 0;
        while i < data.len() {
            // SAFETY: as in `read_at`.
            unsafe {
                let p = dst.add(i);
                if (p as usize).is_multiple_of(8) && data.len() - i >= 8 {
                    let mut w = [0; 8];
                    w.copy_from_slice(&data[i..i + 8]);
                    AtomicU64::from_ptr(p.cast()).store(u64::from_ne_bytes(w), Ordering::Relaxed);
                    i += 8;
                } else {
                    AtomicU8::from_ptr(p).store(data[i], Ordering::Relaxed);
                    i += 1;
                }
            }
        }
        Ok(())
    }
}

impl<H: PagingHandler> Drop for PhysFrame<H> {
    fn drop(&mut self) {
        // SAFETY: the frame is owned (from `H::alloc_frame` or a separable
        // run, or handed over
        // through `from_paddr`'s contract) and the owner is going away; every
        // borrow of it has ended.
        unsafe { H::dealloc_frame(self.paddr) };
    }
}

/// The frames of one [`PagingHandler::alloc_frames_separable`] run, handed
/// out one [`PhysFrame`] at a time in address order; the frames not taken
/// are freed when the run drops.
pub struct FrameRun<H: PagingHandler> {
    next: PhysAddr,
    left: usize,
    _handler: PhantomData<fn() -> H>,
}

impl<H: PagingHandler> FrameRun<H> {
    /// Allocates `num` physically contiguous frames starting at a multiple
    /// of `align` (a power of two), each owned on its own.
    ///
    /// # Errors
    /// [`PagingError::NoMemory`] if the handler has no such run (or no
    /// separable runs at all); [`PagingError::InvalidAddress`] for `num == 0`
    /// or an `align` that is not a power of two of at least 4K.
    pub fn alloc(num: usize, align: usize) -> PagingResult<Self> {
        if num == 0 || !align.is_power_of_two() || align < PAGE_SIZE_4K {
            return Err(PagingError::InvalidAddress);
        }
        let next = H::alloc_frames_separable(num, align).ok_or(PagingError::NoMemory)?;
        Ok(Self {
            next,
            left: num,
            _handler: PhantomData,
        })
    }

    /// The address of the next frame to be handed out.
    pub fn start_paddr(&self) -> PhysAddr {
        self.next
    }

    /// The frames not yet handed out.
    pub fn len(&self) -> usize {
        self.left
    }

    /// Whether every frame was handed out.
    pub fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl<H: PagingHandler> Iterator for FrameRun<H> {
    type Item = PhysFrame<H>;

    fn next(&mut self) -> Option<PhysFrame<H>> {
        if self.left == 0 {
            return None;
        }
        let paddr = self.next;
        self.next = PhysAddr::from_usize(paddr.as_usize() + PAGE_SIZE_4K);
        self.left -= 1;
        // SAFETY: `paddr` is a frame of the run, handed out exactly once; the
        // handler's contract lets `dealloc_frame` free it on its own.
        Some(unsafe { PhysFrame::from_paddr(paddr) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<H: PagingHandler> ExactSizeIterator for FrameRun<H> {}

impl<H: PagingHandler> Drop for FrameRun<H> {
    fn drop(&mut self) {
        // Each frame not handed out is freed on its own.
        for frame in self.by_ref() {
            drop(frame);
        }
    }
}

impl<H: PagingHandler> fmt::Debug for PhysFrame<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysFrame({:#x})", self.paddr.as_usize())
    }
}

/// Physical memory that nobody owns and that stays valid for the rest of the
/// program: device memory (MMIO), or RAM taken out of every allocator for
/// good (`'static` frames). It may be mapped any number of times, into any
/// address space (and its forks), for as long as anyone likes.
///
/// A page table maps raw physical addresses; a safe layer that builds tables
/// the hardware runs (an address space a user program executes in) must only
/// map frames it owns, or a `PhysRegion`. The region is the proof that the
/// mapping cannot reach memory that Rust code owns (the heap, page tables,
/// frames of other owners): minting one is `unsafe` ([`new`](Self::new)),
/// except for frames given up with [`PhysFrame::leak`] or
/// [`leak_frames`](Self::leak_frames). Copying is fine: mapping the same
/// region twice is.
///
/// Invariant: `start` and `size` are multiples of 4 KiB, `size > 0`, and
/// `start + size` does not overflow.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhysRegion {
    start: PhysAddr,
    size: usize,
}

impl PhysRegion {
    /// Checks the shape: 4K-aligned, non-empty, no overflow.
    const fn checked(start: PhysAddr, size: usize) -> PagingResult<Self> {
        if !start.as_usize().is_multiple_of(PAGE_SIZE_4K) || !size.is_multiple_of(PAGE_SIZE_4K) {
            return Err(PagingError::NotAligned);
        }
        if size == 0 || start.as_usize().checked_add(size).is_none() {
            return Err(PagingError::InvalidAddress);
        }
        Ok(Self { start, size })
    }

    /// The region `[start, start + size)`.
    ///
    /// # Errors
    /// [`PagingError::NotAligned`] if `start` or `size` is not a multiple of
    /// 4 KiB; [`PagingError::InvalidAddress`] if `size` is 0 or the end
    /// overflows.
    ///
    /// # Safety
    /// The range is device memory, or memory that is never handed to a frame
    /// allocator, the Rust heap or any other owner, for the rest of the
    /// program: it stays valid and unowned for as long as any mapping of it
    /// may exist (which is forever, since regions can be cloned). Nothing
    /// that Rust code reaches through references may live there, because
    /// mappings of it (possibly writable, possibly in user space) can change
    /// it at any time.
    pub const unsafe fn new(start: PhysAddr, size: usize) -> PagingResult<Self> {
        Self::checked(start, size)
    }

    /// Allocates `n` frames from `H` that are physically contiguous and in
    /// ascending order, and gives them up for good (they are never freed).
    ///
    /// # Errors
    /// [`PagingError::InvalidAddress`] if `n` is 0; [`PagingError::NoMemory`]
    /// if `H` runs out of frames or returns a frame that does not continue
    /// the run. The frames allocated so far are then freed again.
    pub fn leak_frames<H: PagingHandler>(n: usize) -> PagingResult<Self> {
        let size = n
            .checked_mul(PAGE_SIZE_4K)
            .ok_or(PagingError::InvalidAddress)?;
        if n == 0 {
            return Err(PagingError::InvalidAddress);
        }
        let first = PhysFrame::<H>::alloc()?;
        let start = first.start_paddr();
        let mut got = 1;
        while got < n {
            // A frame that does not continue the run is dropped (freed) here.
            let Ok(f) = PhysFrame::<H>::alloc() else {
                break;
            };
            let next = start.as_usize().checked_add(got * PAGE_SIZE_4K);
            if next != Some(f.start_paddr().as_usize()) {
                break;
            }
            f.into_paddr();
            got += 1;
        }
        let run = first.into_paddr();
        if got < n {
            for i in 0..got {
                // SAFETY: the `got` frames of the run came from `H` just
                // above, and nothing else knows about them.
                unsafe { H::dealloc_frame(run + i * PAGE_SIZE_4K) };
            }
            return Err(PagingError::NoMemory);
        }
        // A run of frames from `H` never overflows and is 4K-aligned.
        Self::checked(run, size)
    }

    /// A region over any range, for host tests only (feature `testing`).
    ///
    /// Sound because the feature needs `std`, so it never builds for a
    /// kernel: on a host no MMU walks the page tables this region is mapped
    /// into, and nothing reads memory through a mapping of it.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    #[cfg(any(test, feature = "testing"))]
    pub const fn for_host_tests(start: PhysAddr, size: usize) -> PagingResult<Self> {
        Self::checked(start, size)
    }

    /// The first physical address.
    pub const fn start(&self) -> PhysAddr {
        self.start
    }

    /// Size in bytes (a non-zero multiple of 4 KiB).
    pub const fn size(&self) -> usize {
        self.size
    }

    /// The address just past the region.
    pub const fn end(&self) -> PhysAddr {
        PhysAddr::from_usize(self.start.as_usize() + self.size)
    }

    /// The region as an address range.
    pub const fn range(&self) -> PhysAddrRange {
        PhysAddrRange {
            start: self.start,
            end: self.end(),
        }
    }

    /// The part `[start + offset, start + offset + size)` of this region (a
    /// part of a region is a region).
    ///
    /// # Errors
    /// [`PagingError::NotAligned`] if `offset` or `size` is not a multiple
    /// of 4 KiB; [`PagingError::InvalidAddress`] if `size` is 0 or the part
    /// does not lie inside the region.
    pub const fn sub_region(&self, offset: usize, size: usize) -> PagingResult<Self> {
        if !offset.is_multiple_of(PAGE_SIZE_4K) || !size.is_multiple_of(PAGE_SIZE_4K) {
            return Err(PagingError::NotAligned);
        }
        match offset.checked_add(size) {
            Some(end) if size > 0 && end <= self.size => Ok(Self {
                start: PhysAddr::from_usize(self.start.as_usize() + offset),
                size,
            }),
            _ => Err(PagingError::InvalidAddress),
        }
    }
}

impl fmt::Debug for PhysRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PhysRegion({:#x}..{:#x})",
            self.start.as_usize(),
            self.end().as_usize()
        )
    }
}

#[cfg(test)]
mod tests {
    use memory_addr::{PAGE_SIZE_4K, PhysAddr};

    use super::{PhysFrame, PhysRegion};
    use crate::PagingError;
    use crate::testing::CountingHandler;

    const P: usize = PAGE_SIZE_4K;

    fn pa(x: usize) -> PhysAddr {
        PhysAddr::from_usize(x)
    }

    #[test]
    fn new_checks_the_shape() {
        // SAFETY: nothing ever maps or touches this range; it is only inspected.
        let ok = unsafe { PhysRegion::new(pa(0x1000_0000), 3 * P) }.unwrap();
        assert_eq!(
            (ok.start(), ok.size(), ok.end()),
            (pa(0x1000_0000), 3 * P, pa(0x1000_3000))
        );
        assert_eq!(ok.range().size(), 3 * P);
        assert_eq!(format!("{ok:?}"), "PhysRegion(0x10000000..0x10003000)");
        let err = |start, size| {
            // SAFETY: as above (and these calls fail anyway).
            unsafe { PhysRegion::new(pa(start), size) }.unwrap_err()
        };
        assert_eq!(err(0x1000_0010, P), PagingError::NotAligned);
        assert_eq!(err(0x1000_0000, P + 8), PagingError::NotAligned);
        assert_eq!(err(0x1000_0000, 0), PagingError::InvalidAddress);
        assert_eq!(err(usize::MAX & !(P - 1), P), PagingError::InvalidAddress);
    }

    #[test]
    fn sub_regions_stay_inside() {
        let r = PhysRegion::for_host_tests(pa(0x4000_0000), 4 * P).unwrap();
        let s = r.sub_region(P, 2 * P).unwrap();
        assert_eq!((s.start(), s.size()), (pa(0x4000_1000), 2 * P));
        assert_eq!(r.sub_region(0, 4 * P), Ok(r));
        assert_eq!(r.sub_region(3 * P, 2 * P), Err(PagingError::InvalidAddress));
        assert_eq!(r.sub_region(P, 0), Err(PagingError::InvalidAddress));
        assert_eq!(
            r.sub_region(usize::MAX & !(P - 1), P),
            Err(PagingError::InvalidAddress)
        );
        assert_eq!(r.sub_region(8, P), Err(PagingError::NotAligned));
    }

    #[test]
    fn leaked_frames_are_never_freed() {
        CountingHandler::reset();
        let frame = PhysFrame::<CountingHandler>::alloc().unwrap();
        let at = frame.start_paddr();
        let r = frame.leak();
        assert_eq!((r.start(), r.size()), (at, P));
        let run = PhysRegion::leak_frames::<CountingHandler>(5).unwrap();
        assert_eq!((run.start(), run.size()), (at + P, 5 * P));
        assert_eq!(CountingHandler::live_frames(), 6);
        assert!(CountingHandler::is_allocated(run.start() + 4 * P));
        assert_eq!(
            PhysRegion::leak_frames::<CountingHandler>(0),
            Err(PagingError::InvalidAddress)
        );
    }

    #[test]
    fn leak_frames_gives_everything_back_on_failure() {
        CountingHandler::reset();
        CountingHandler::fail_after(3);
        assert_eq!(
            PhysRegion::leak_frames::<CountingHandler>(8),
            Err(PagingError::NoMemory)
        );
        assert_eq!(CountingHandler::live_frames(), 0);
        // Not contiguous: the free list hands out a frame below the run.
        let low = PhysFrame::<CountingHandler>::alloc().unwrap();
        let _high = PhysFrame::<CountingHandler>::alloc().unwrap();
        drop(low);
        let live = CountingHandler::live_frames();
        let r = PhysRegion::leak_frames::<CountingHandler>(2);
        assert_eq!(r, Err(PagingError::NoMemory));
        assert_eq!(CountingHandler::live_frames(), live);
    }
}
