//! Anonymous shared memory objects (`MAP_SHARED | MAP_ANONYMOUS`, System V segments).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;

use axerrno::{LinuxError, LinuxResult};
use kspin::SpinNoIrq;
use memory_addr::{PAGE_SIZE_4K, align_up_4k};
use page_table_multiarch::PagingHandler;

use crate::FaultError;
use crate::frame::{FrameRef, alloc_zeroed};

struct Pages<H: PagingHandler> {
    /// Size in pages; a page index at or above it is past the end.
    len: usize,
    frames: BTreeMap<usize, FrameRef<H>>,
}

/// A zero-filled shared memory object: every area that maps page `i` of it maps the same
/// frame, in every address space, and its pages are never copy-on-write.
///
/// Frames are allocated on first touch (or all at once with
/// [`new_populated`](Self::new_populated)) and freed when the object and every mapping of it
/// are gone. Keep an `Arc` of it to keep the contents alive while nothing maps it (as a
/// System V segment does).
pub struct SharedMem<H: PagingHandler> {
    pages: SpinNoIrq<Pages<H>>,
    name: Option<String>,
}

impl<H: PagingHandler> SharedMem<H> {
    /// A lazily allocated object of `size` bytes, rounded up to whole pages.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] if `size` is 0 or rounding it up overflows.
    pub fn new(size: usize) -> LinuxResult<Arc<Self>> {
        Self::build(size, None)
    }

    /// Like [`new`](Self::new), with a name shown in `maps` listings (for example
    /// `SYSV0000002a`).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_name(size: usize, name: &str) -> LinuxResult<Arc<Self>> {
        Self::build(size, Some(String::from(name)))
    }

    fn build(size: usize, name: Option<String>) -> LinuxResult<Arc<Self>> {
        if size == 0 || size > usize::MAX - PAGE_SIZE_4K {
            return Err(LinuxError::EINVAL);
        }
        Ok(Arc::new(Self {
            pages: SpinNoIrq::new(Pages {
                len: align_up_4k(size) / PAGE_SIZE_4K,
                frames: BTreeMap::new(),
            }),
            name,
        }))
    }

    /// An object of `size` bytes whose frames are all allocated now.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] as [`new`](Self::new); [`LinuxError::ENOMEM`] if the frames
    /// cannot be allocated (then none stays allocated).
    pub fn new_populated(size: usize) -> LinuxResult<Arc<Self>> {
        let obj = Self::new(size)?;
        for idx in 0..obj.size() / PAGE_SIZE_4K {
            obj.frame(idx).map_err(|_| LinuxError::ENOMEM)?;
        }
        Ok(obj)
    }

    /// The size in bytes (a multiple of the page size).
    pub fn size(&self) -> usize {
        self.pages.lock().len * PAGE_SIZE_4K
    }

    /// The number of pages that have a frame.
    pub fn resident_pages(&self) -> usize {
        self.pages.lock().frames.len()
    }

    /// Whether page `idx` has a frame (`mincore`).
    pub(crate) fn has_frame(&self, idx: usize) -> bool {
        self.pages.lock().frames.contains_key(&idx)
    }

    /// The name given at creation.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The frame of page `idx`, allocated (zeroed) on first use.
    ///
    /// # Errors
    ///
    /// [`FaultError::Bus`] past the end, [`FaultError::NoMemory`] if no frame is available.
    pub(crate) fn frame(&self, idx: usize) -> Result<FrameRef<H>, FaultError> {
        let mut pages = self.pages.lock();
        if idx >= pages.len {
            return Err(FaultError::Bus);
        }
        if let Some(frame) = pages.frames.get(&idx) {
            return Ok(frame.clone());
        }
        let frame = alloc_zeroed::<H>().ok_or(FaultError::NoMemory)?;
        pages.frames.insert(idx, frame.clone());
        Ok(frame)
    }
}

impl<H: PagingHandler> core::fmt::Debug for SharedMem<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedMem")
            .field("size", &self.size())
            .field("resident_pages", &self.resident_pages())
            .field("name", &self.name)
            .finish()
    }
}
