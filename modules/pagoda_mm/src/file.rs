//! Files that can be mapped, their page caches, and [`MemFile`], an in-memory file.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use axerrno::{LinuxError, LinuxResult};
use kspin::SpinNoIrq;
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;
use page_table_multiarch::frame::PhysFrame;

use crate::FaultError;
use crate::frame::FrameRef;

/// A file that can be mapped with [`AddrSpace::mmap`](crate::AddrSpace::mmap).
///
/// Offsets are byte offsets. The mm layer reads whole pages through
/// [`read_at`](Self::read_at) on a fault and writes pages of `MAP_SHARED` mappings back with
/// [`write_at`](Self::write_at) on `msync`, `munmap` and teardown, never past
/// [`size`](Self::size).
pub trait File: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns the number read (0 at or past EOF).
    ///
    /// # Errors
    ///
    /// An I/O error; a fault that needs this page then fails with [`FaultError::Bus`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize>;

    /// Writes `data` at `offset`; returns the number of bytes written.
    ///
    /// # Errors
    ///
    /// An I/O error (reported by [`msync`](crate::AddrSpace::msync); ignored on unmap).
    fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize>;

    /// The current size in bytes.
    fn size(&self) -> u64;

    /// Where the mm layer keeps this file's page cache: every address space mapping the file
    /// finds the same cache here, so they share the frames of its pages. Implementors embed
    /// one [`PageCacheSlot`] per file object and return it.
    fn page_cache_slot(&self) -> &PageCacheSlot;

    /// A name for `/proc/<pid>/maps`-style listings.
    fn name(&self) -> Option<&str> {
        None
    }
}

/// Storage for the page cache of one file (see [`File::page_cache_slot`]). The cache itself
/// is created on first use; it is typed by the frame handler, hence stored type-erased.
#[derive(Default)]
pub struct PageCacheSlot {
    caches: SpinNoIrq<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl PageCacheSlot {
    /// An empty slot.
    pub const fn new() -> Self {
        Self {
            caches: SpinNoIrq::new(Vec::new()),
        }
    }

    /// The cache for frames of handler `H`, created on first use.
    pub(crate) fn get<H: PagingHandler + 'static>(&self) -> Arc<PageCache<H>>
    where
        PhysFrame<H>: Send + Sync,
    {
        let mut caches = self.caches.lock();
        for cache in caches.iter() {
            if let Ok(cache) = cache.clone().downcast::<PageCache<H>>() {
                return cache;
            }
        }
        let cache = Arc::new(PageCache::<H>::new());
        caches.push(cache.clone());
        cache
    }
}

impl core::fmt::Debug for PageCacheSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PageCacheSlot").finish_non_exhaustive()
    }
}

/// The cached pages of one file: page index → frame. Shared by every mapping of the file.
/// A page stays cached while some area maps it and is evicted when the last one lets go
/// (`MAP_SHARED` areas write their pages back before that).
pub struct PageCache<H: PagingHandler> {
    pages: SpinNoIrq<BTreeMap<u64, FrameRef<H>>>,
}

impl<H: PagingHandler> PageCache<H> {
    fn new() -> Self {
        Self {
            pages: SpinNoIrq::new(BTreeMap::new()),
        }
    }

    /// The number of cached pages.
    pub fn cached_pages(&self) -> usize {
        self.pages.lock().len()
    }

    /// The frame of page `idx`, read from `file` on a miss. The bytes of the last page past
    /// EOF are zero.
    ///
    /// # Errors
    ///
    /// [`FaultError::Bus`] if the page lies wholly past EOF or the read fails;
    /// [`FaultError::NoMemory`] if no frame is available.
    pub(crate) fn get_or_load(&self, file: &dyn File, idx: u64) -> Result<FrameRef<H>, FaultError> {
        if let Some(frame) = self.pages.lock().get(&idx) {
            return Ok(frame.clone());
        }
        let off = idx
            .checked_mul(PAGE_SIZE_4K as u64)
            .ok_or(FaultError::Bus)?;
        let size = file.size();
        if off >= size {
            return Err(FaultError::Bus);
        }
        // Read without holding the lock; if another mapper raced us, keep its frame.
        let mut frame = PhysFrame::<H>::alloc_zeroed().map_err(|_| FaultError::NoMemory)?;
        let len = (size - off).min(PAGE_SIZE_4K as u64) as usize;
        let buf = &mut frame.as_mut_slice()[..len];
        let mut done = 0;
        while done < len {
            match file.read_at(off + done as u64, &mut buf[done..]) {
                Ok(0) => break, // shrank under us: the rest reads as zeros
                // A file claiming more than asked must not push `done` past `len`.
                Ok(n) => done += n.min(len - done),
                Err(_) => return Err(FaultError::Bus),
            }
        }
        let frame = Arc::new(frame);
        Ok(self.pages.lock().entry(idx).or_insert(frame).clone())
    }

    /// Writes the cached pages with `lo <= idx < hi` back to `file`, never past its EOF.
    ///
    /// # Errors
    ///
    /// The first write error (the remaining pages are still written).
    pub(crate) fn write_back(&self, file: &dyn File, lo: u64, hi: u64) -> LinuxResult {
        if lo >= hi {
            return Ok(());
        }
        let pages: Vec<(u64, FrameRef<H>)> = self
            .pages
            .lock()
            .range(lo..hi)
            .map(|(&i, f)| (i, f.clone()))
            .collect();
        let mut result = Ok(());
        let size = file.size();
        let mut buf = alloc::vec![0u8; PAGE_SIZE_4K];
        for (idx, frame) in pages {
            let off = idx * PAGE_SIZE_4K as u64;
            if off >= size {
                break;
            }
            let len = (size - off).min(PAGE_SIZE_4K as u64) as usize;
            let buf = &mut buf[..len];
            let r = frame
                .read_at(0, buf)
                .map_err(|_| LinuxError::EIO)
                .and_then(|()| write_all(file, off, buf));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// Drops the pages in `[lo, hi)` that only the cache still holds.
    pub(crate) fn evict_unused(&self, lo: u64, hi: u64) {
        if lo >= hi {
            return;
        }
        let mut dead = Vec::new();
        {
            let mut pages = self.pages.lock();
            let idle: Vec<u64> = pages
                .range(lo..hi)
                .filter(|(_, f)| Arc::strong_count(f) == 1)
                .map(|(&i, _)| i)
                .collect();
            for idx in idle {
                dead.extend(pages.remove(&idx));
            }
        }
        // Frames are freed outside the lock.
        drop(dead);
    }
}

fn write_all(file: &dyn File, mut off: u64, mut data: &[u8]) -> LinuxResult {
    while !data.is_empty() {
        match file.write_at(off, data)? {
            0 => return Err(LinuxError::EIO),
            n => {
                data = &data[n.min(data.len())..];
                off += n as u64;
            }
        }
    }
    Ok(())
}

/// A file held in memory: the reference [`File`] for tests and examples.
#[derive(Debug, Default)]
pub struct MemFile {
    data: SpinNoIrq<Vec<u8>>,
    name: Option<String>,
    cache: PageCacheSlot,
}

impl MemFile {
    /// A file with the given contents.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Self {
            data: SpinNoIrq::new(data.into()),
            name: None,
            cache: PageCacheSlot::new(),
        }
    }

    /// A named file with the given contents (the name shows in `maps` listings).
    pub fn with_name(name: &str, data: impl Into<Vec<u8>>) -> Self {
        Self {
            name: Some(String::from(name)),
            ..Self::new(data)
        }
    }

    /// A copy of the current contents.
    pub fn contents(&self) -> Vec<u8> {
        self.data.lock().clone()
    }

    /// Truncates or zero-extends the file to `len` bytes.
    pub fn set_len(&self, len: usize) {
        self.data.lock().resize(len, 0);
    }
}

impl File for MemFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        let data = self.data.lock();
        let Ok(off) = usize::try_from(offset) else {
            return Ok(0);
        };
        let Some(src) = data.get(off..) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    fn write_at(&self, offset: u64, src: &[u8]) -> LinuxResult<usize> {
        let off = usize::try_from(offset).map_err(|_| LinuxError::EFBIG)?;
        let end = off.checked_add(src.len()).ok_or(LinuxError::EFBIG)?;
        let mut data = self.data.lock();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[off..end].copy_from_slice(src);
        Ok(src.len())
    }

    fn size(&self) -> u64 {
        self.data.lock().len() as u64
    }

    fn page_cache_slot(&self) -> &PageCacheSlot {
        &self.cache
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}
