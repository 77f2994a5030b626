//! The bitmap frame allocator: pure logic over caller-provided storage.

use memory_addr::{PAGE_SIZE_4K, PhysAddr, PhysAddrRange};

use crate::FrameError;
use crate::ranges::RangeList;

const WORD_BITS: usize = u64::BITS as usize;

/// Frame counts of a [`FrameAllocator`]; multiply by 4096 for bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Usable frames managed (RAM minus reservations).
    pub total: usize,
    /// Frames currently free.
    pub free: usize,
    /// Frames currently allocated (`total - free`).
    pub allocated: usize,
    /// The highest `allocated` ever seen.
    pub peak: usize,
}

/// Computes the usable frame ranges: `ram` rounded inwards to 4 KiB, minus `reserved` rounded
/// outwards, minus frame 0 (physical address 0 is never handed out).
pub(crate) fn usable_frames(
    ram: &[PhysAddrRange],
    reserved: &[PhysAddrRange],
) -> Result<RangeList, FrameError> {
    let mut list = RangeList::new();
    for r in ram {
        let start = r.start.as_usize().div_ceil(PAGE_SIZE_4K);
        let end = r.end.as_usize() / PAGE_SIZE_4K;
        list.insert(start, end)?;
    }
    list.remove(0, 1)?;
    for r in reserved {
        let start = r.start.as_usize() / PAGE_SIZE_4K;
        let end = r.end.as_usize().div_ceil(PAGE_SIZE_4K);
        list.remove(start, end)?;
    }
    Ok(list)
}

/// Bitmap words needed to cover the span of `usable`.
pub(crate) fn words_for(usable: &RangeList) -> usize {
    match (usable.as_slice().first(), usable.as_slice().last()) {
        (Some(first), Some(last)) => (last.1 - first.0).div_ceil(WORD_BITS),
        _ => 0,
    }
}

/// A physical frame allocator: one bit per 4 KiB frame over the span of the usable ranges
/// (bit set = allocated or not usable), single frames and aligned contiguous runs.
///
/// Every failing call returns a [`FrameError`] and leaves the allocator unchanged.
///
/// ```
/// use memory_addr::{pa, PhysAddrRange};
/// use pagoda_alloc::{FrameAllocator, FrameError};
///
/// let ram = [PhysAddrRange::from_start_size(pa!(0x8000_0000), 64 * 4096)];
/// let kernel = [PhysAddrRange::from_start_size(pa!(0x8000_0000), 16 * 4096)];
/// let mut storage = [0u64; 1];
/// let mut frames = FrameAllocator::new(&mut storage, &ram, &kernel).unwrap();
/// assert_eq!(frames.stats().total, 48);
/// let run = frames.alloc_contiguous(4, 0x4000).unwrap();
/// assert_eq!(run.as_usize() % 0x4000, 0);
/// frames.dealloc_contiguous(run, 4).unwrap();
/// assert_eq!(frames.dealloc(run), Err(FrameError::DoubleFree));
/// assert_eq!(frames.dealloc(pa!(0x8000_0000)), Err(FrameError::NotManaged));
/// ```
#[derive(Debug)]
pub struct FrameAllocator<'a> {
    bits: &'a mut [u64],
    /// Frame number of bit 0.
    base: usize,
    /// Frames covered by `bits`.
    span: usize,
    usable: RangeList,
    free: usize,
    peak: usize,
    /// Word where the last single-frame search stopped.
    hint: usize,
}

impl<'a> FrameAllocator<'a> {
    /// Words of `u64` storage that [`FrameAllocator::new`] needs for these regions.
    ///
    /// # Errors
    /// [`FrameError::TooManyRegions`] if the regions split into more than
    /// [`MAX_RANGES`](crate::MAX_RANGES) usable ranges.
    pub fn storage_words(
        ram: &[PhysAddrRange],
        reserved: &[PhysAddrRange],
    ) -> Result<usize, FrameError> {
        Ok(words_for(&usable_frames(ram, reserved)?))
    }

    /// Manages the frames of `ram` minus `reserved`, all initially free.
    ///
    /// # Errors
    /// [`FrameError::TooManyRegions`], or [`FrameError::StorageTooSmall`] if `storage` is
    /// shorter than [`FrameAllocator::storage_words`].
    pub fn new(
        storage: &'a mut [u64],
        ram: &[PhysAddrRange],
        reserved: &[PhysAddrRange],
    ) -> Result<Self, FrameError> {
        Self::from_usable(storage, usable_frames(ram, reserved)?)
    }

    pub(crate) fn from_usable(
        storage: &'a mut [u64],
        usable: RangeList,
    ) -> Result<Self, FrameError> {
        let words = words_for(&usable);
        let base = usable.as_slice().first().map_or(0, |r| r.0);
        let span = usable.as_slice().last().map_or(0, |r| r.1 - base);
        let bits = storage
            .get_mut(..words)
            .ok_or(FrameError::StorageTooSmall)?;
        bits.fill(!0);
        let mut this = Self {
            bits,
            base,
            span,
            usable,
            free: usable.frames(),
            peak: 0,
            hint: 0,
        };
        for &(s, e) in usable.as_slice() {
            this.fill_bits(s - base, e - base, false);
        }
        Ok(this)
    }

    /// Current statistics.
    pub fn stats(&self) -> FrameStats {
        let total = self.usable.frames();
        FrameStats {
            total,
            free: self.free,
            allocated: total - self.free,
            peak: self.peak,
        }
    }

    /// Calls `f` for each usable range (in address order).
    pub fn for_each_usable(&self, mut f: impl FnMut(PhysAddrRange)) {
        for &(s, e) in self.usable.as_slice() {
            f(PhysAddrRange::new(frame_addr(s), frame_addr(e)));
        }
    }

    /// Whether the managed frame at `paddr` is allocated.
    ///
    /// # Errors
    /// [`FrameError::NotAligned`] or [`FrameError::NotManaged`].
    pub fn is_allocated(&self, paddr: PhysAddr) -> Result<bool, FrameError> {
        let f = self.managed_frame(paddr, 1)?;
        Ok(self.bit(f - self.base))
    }

    /// Allocates one frame.
    ///
    /// # Errors
    /// [`FrameError::NoMemory`] if every frame is allocated.
    pub fn alloc(&mut self) -> Result<PhysAddr, FrameError> {
        if self.free == 0 {
            return Err(FrameError::NoMemory);
        }
        let n = self.bits.len();
        for k in 0..n {
            let w = (self.hint + k) % n;
            let word = self.bits[w];
            if word != !0 {
                let idx = w * WORD_BITS + word.trailing_ones() as usize;
                // Bits past the span are set at construction, so `idx` is in range.
                self.hint = w;
                self.take(idx, idx + 1);
                return Ok(frame_addr(self.base + idx));
            }
        }
        Err(FrameError::NoMemory)
    }

    /// Allocates `count` physically contiguous frames whose first address is a multiple of
    /// `align` bytes (a power of two; values below 4096 mean 4096). Lowest fit first.
    ///
    /// # Errors
    /// [`FrameError::InvalidRequest`] for `count == 0` or a bad `align`;
    /// [`FrameError::NoMemory`] if no such run is free.
    pub fn alloc_contiguous(&mut self, count: usize, align: usize) -> Result<PhysAddr, FrameError> {
        if count == 0 || !align.is_power_of_two() {
            return Err(FrameError::InvalidRequest);
        }
        let step = (align / PAGE_SIZE_4K).max(1);
        if count == 1 && step == 1 {
            return self.alloc();
        }
        if count > self.free {
            return Err(FrameError::NoMemory);
        }
        let limit = self.base + self.span;
        let mut cand = align_frame_up(self.base, step).ok_or(FrameError::NoMemory)?;
        loop {
            let end = cand
                .checked_add(count)
                .filter(|&e| e <= limit)
                .ok_or(FrameError::NoMemory)?;
            match self.find_bit(cand - self.base, end - self.base, true) {
                None => {
                    self.take(cand - self.base, end - self.base);
                    return Ok(frame_addr(cand));
                }
                Some(used) => {
                    cand =
                        align_frame_up(self.base + used + 1, step).ok_or(FrameError::NoMemory)?;
                }
            }
        }
    }

    /// Frees one frame.
    ///
    /// # Errors
    /// [`FrameError::NotAligned`], [`FrameError::NotManaged`] (not a usable frame of this
    /// allocator) or [`FrameError::DoubleFree`] (the frame is free).
    pub fn dealloc(&mut self, paddr: PhysAddr) -> Result<(), FrameError> {
        self.dealloc_contiguous(paddr, 1)
    }

    /// Frees `count` contiguous frames starting at `paddr`; all or nothing.
    ///
    /// # Errors
    /// As [`FrameAllocator::dealloc`], plus [`FrameError::InvalidRequest`] for `count == 0`.
    /// If any frame of the run is free, nothing is freed.
    pub fn dealloc_contiguous(&mut self, paddr: PhysAddr, count: usize) -> Result<(), FrameError> {
        let f = self.managed_frame(paddr, count)?;
        let (s, e) = (f - self.base, f - self.base + count);
        if self.find_bit(s, e, false).is_some() {
            return Err(FrameError::DoubleFree);
        }
        self.fill_bits(s, e, false);
        self.free += count;
        self.hint = self.hint.min(s / WORD_BITS);
        Ok(())
    }

    /// Validates that `[paddr, +count frames)` lies in one usable range; returns its frame.
    fn managed_frame(&self, paddr: PhysAddr, count: usize) -> Result<usize, FrameError> {
        if count == 0 {
            return Err(FrameError::InvalidRequest);
        }
        if !paddr.as_usize().is_multiple_of(PAGE_SIZE_4K) {
            return Err(FrameError::NotAligned);
        }
        let f = paddr.as_usize() / PAGE_SIZE_4K;
        let end = f.checked_add(count).ok_or(FrameError::NotManaged)?;
        if !self.usable.contains_range(f, end) {
            return Err(FrameError::NotManaged);
        }
        Ok(f)
    }

    /// Marks bits `[s, e)` allocated and updates the counters.
    fn take(&mut self, s: usize, e: usize) {
        self.fill_bits(s, e, true);
        self.free -= e - s;
        let allocated = self.usable.frames() - self.free;
        self.peak = self.peak.max(allocated);
    }

    fn bit(&self, i: usize) -> bool {
        self.bits[i / WORD_BITS] & (1 << (i % WORD_BITS)) != 0
    }

    /// Sets or clears bits `[s, e)` a word at a time.
    fn fill_bits(&mut self, s: usize, e: usize, value: bool) {
        let mut i = s;
        while i < e {
            let w = i / WORD_BITS;
            let lo = i % WORD_BITS;
            let hi = (e - w * WORD_BITS).min(WORD_BITS);
            let mask = word_mask(lo, hi);
            if value {
                self.bits[w] |= mask;
            } else {
                self.bits[w] &= !mask;
            }
            i = (w + 1) * WORD_BITS;
        }
    }

    /// First bit in `[s, e)` equal to `value`.
    fn find_bit(&self, s: usize, e: usize, value: bool) -> Option<usize> {
        let mut i = s;
        while i < e {
            let w = i / WORD_BITS;
            let lo = i % WORD_BITS;
            let hi = (e - w * WORD_BITS).min(WORD_BITS);
            let word = if value { self.bits[w] } else { !self.bits[w] };
            let hits = word & word_mask(lo, hi);
            if hits != 0 {
                return Some(w * WORD_BITS + hits.trailing_zeros() as usize);
            }
            i = (w + 1) * WORD_BITS;
        }
        None
    }
}

/// Bits `[lo, hi)` of a word, `lo < hi <= 64`.
fn word_mask(lo: usize, hi: usize) -> u64 {
    let upper = if hi == WORD_BITS {
        !0
    } else {
        (1u64 << hi) - 1
    };
    upper & !((1u64 << lo) - 1)
}

fn frame_addr(frame: usize) -> PhysAddr {
    PhysAddr::from_usize(frame * PAGE_SIZE_4K)
}

fn align_frame_up(frame: usize, step: usize) -> Option<usize> {
    frame.checked_next_multiple_of(step)
}
