//! Owned physical frames.
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

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

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
    /// `paddr` was returned by `H::alloc_frame`, is not freed, and no other
    /// owner (`PhysFrame` or otherwise) will free it.
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

    /// Sets every byte to `byte`.
    pub fn fill(&mut self, byte: u8) {
        // SAFETY: as for `as_slice`.
        unsafe { core::ptr::write_bytes(self.base(), byte, Self::SIZE) };
    }

    /// Copies the contents of `src` (which may be shared and concurrently
    /// written: it is read atomically).
    pub fn copy_from(&mut self, src: &PhysFrame<H>) {
        let (dst, from) = (self.base().cast::<u64>(), src.base().cast::<u64>());
        for i in 0..Self::SIZE / 8 {
            // SAFETY: both frames are owned, mapped and 4K aligned; `src` is
            // only ever accessed atomically while shared; `&mut self` makes
            // the plain store to `dst` exclusive.
            unsafe {
                dst.add(i)
                    .write(AtomicU64::from_ptr(from.add(i)).load(Ordering::Relaxed))
            };
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
        H::dealloc_frame(self.paddr);
    }
}

impl<H: PagingHandler> fmt::Debug for PhysFrame<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysFrame({:#x})", self.paddr.as_usize())
    }
}
