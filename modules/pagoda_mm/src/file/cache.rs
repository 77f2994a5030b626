//! The pages of one file's page cache, typed by the frame handler, and the untyped view of
//! them ([`PageStore`]) that the file's byte-level I/O uses.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use kspin::SpinNoIrq;
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;
use page_table_multiarch::frame::PhysFrame;

use super::{FileBacking, page_bytes};
use crate::FaultError;
use crate::frame::FrameRef;

const P: u64 = PAGE_SIZE_4K as u64;

/// One cached page.
struct Page<H: PagingHandler> {
    frame: FrameRef<H>,
    /// Written (by `write_at` or a kernel store) since the last write-back.
    dirty: bool,
    /// Some shared mapping was given a writable entry for it: stores may reach the frame
    /// without any fault, so the page counts as dirty until no mapping holds it any more
    /// (`GenericPTE` exposes no hardware dirty bit).
    write_mapped: bool,
}

impl<H: PagingHandler> Page<H> {
    fn needs_write_back(&self) -> bool {
        self.dirty || self.write_mapped
    }
}

/// The cached pages of one file for frames of handler `H`: page index → frame. Shared by
/// every mapping of the file; every access runs with the owning file's state lock held
/// (lock order: file state → these pages → frame allocator / backing store).
pub struct PageCache<H: PagingHandler> {
    pages: SpinNoIrq<BTreeMap<u64, Page<H>>>,
}

impl<H: PagingHandler> PageCache<H> {
    pub(super) fn new() -> Self {
        Self {
            pages: SpinNoIrq::new(BTreeMap::new()),
        }
    }

    /// The frame of page `idx`, read from `backing` on a miss (the tail past `size` is zero).
    /// The caller holds the file's state lock and has checked `idx` against the size.
    pub(super) fn load(
        &self,
        backing: &dyn FileBacking,
        size: u64,
        idx: u64,
    ) -> Result<FrameRef<H>, FaultError> {
        let mut pages = self.pages.lock();
        if let Some(page) = pages.get(&idx) {
            return Ok(page.frame.clone());
        }
        let mut frame = PhysFrame::<H>::alloc().map_err(|_| FaultError::NoMemory)?;
        let len = page_bytes(size, idx);
        let buf = frame.as_mut_slice();
        let mut done = 0;
        while done < len {
            match backing.read_at(idx * P + done as u64, &mut buf[done..len]) {
                Ok(0) => break, // the backing store is shorter (or a hole): zeros
                // A store claiming more than asked must not push `done` past `len`.
                Ok(n) => done += n.min(len - done),
                Err(_) => return Err(FaultError::Bus),
            }
        }
        // Only what the store did not give is zeroed: one pass over the page either way.
        if done == 0 {
            frame.fill(0);
        } else {
            frame.as_mut_slice()[done..].fill(0);
        }
        let frame = alloc::sync::Arc::new(frame);
        pages.insert(
            idx,
            Page {
                frame: frame.clone(),
                dirty: false,
                write_mapped: false,
            },
        );
        Ok(frame)
    }

    /// Whether `frame` is the cached page `idx`, and then whether it needs write-back.
    pub(crate) fn holds(&self, idx: u64, frame: &FrameRef<H>) -> Option<bool> {
        let pages = self.pages.lock();
        let page = pages.get(&idx)?;
        alloc::sync::Arc::ptr_eq(&page.frame, frame).then(|| page.needs_write_back())
    }

    /// Notes that a shared mapping maps page `idx` writable (`write`) or that the kernel
    /// stored into it (`!write`). Nothing happens if the page left the cache (truncated).
    pub(super) fn mark(&self, idx: u64, frame: &FrameRef<H>, write_mapped: bool) {
        if let Some(page) = self.pages.lock().get_mut(&idx)
            && alloc::sync::Arc::ptr_eq(&page.frame, frame)
        {
            if write_mapped {
                page.write_mapped = true;
            } else {
                page.dirty = true;
            }
        }
    }
}

/// What the byte-level I/O of a file needs from its page cache, without knowing the frame
/// handler. Every method runs with the file's state lock held.
pub(super) trait PageStore: Send + Sync {
    /// Copies from cached page `idx` at `off`; `false` if the page is not cached.
    fn read(&self, idx: u64, off: usize, buf: &mut [u8]) -> bool;
    /// Copies into cached page `idx` at `off` and marks it dirty; `false` if not cached.
    fn write(&self, idx: u64, off: usize, data: &[u8]) -> bool;
    /// Zeroes bytes `from..` of cached page `idx`.
    fn zero_tail(&self, idx: u64, from: usize);
    /// Drops the pages with index `>= idx` (truncate). Mappings keep their frames until
    /// their address space applies the truncation; the cache never writes those back.
    fn drop_from(&self, idx: u64);
    /// Writes the dirty pages in `[lo, hi)` to `backing`, never past `size`, and marks
    /// them clean.
    fn write_back(&self, backing: &dyn FileBacking, size: u64, lo: u64, hi: u64) -> LinuxResult;
    /// Drops the pages in `[lo, hi)` that no mapping holds, after writing dirty ones back
    /// (a page whose write-back fails stays, dirty).
    fn evict_unused(&self, backing: &dyn FileBacking, size: u64, lo: u64, hi: u64);
    /// `(cached pages, pages that need write-back)`.
    fn counts(&self) -> (usize, usize);
}

impl<H: PagingHandler> PageStore for PageCache<H> {
    fn read(&self, idx: u64, off: usize, buf: &mut [u8]) -> bool {
        match self.pages.lock().get(&idx) {
            Some(page) => page.frame.read_at(off, buf).is_ok(),
            None => false,
        }
    }

    fn write(&self, idx: u64, off: usize, data: &[u8]) -> bool {
        match self.pages.lock().get_mut(&idx) {
            Some(page) => {
                page.dirty = true;
                page.frame.write_at(off, data).is_ok()
            }
            None => false,
        }
    }

    fn zero_tail(&self, idx: u64, from: usize) {
        if from >= PAGE_SIZE_4K {
            return;
        }
        if let Some(page) = self.pages.lock().get(&idx) {
            let zeros = [0u8; PAGE_SIZE_4K];
            // In bounds: `from < PAGE_SIZE_4K`.
            let _ = page.frame.write_at(from, &zeros[from..]);
        }
    }

    fn drop_from(&self, idx: u64) {
        let dead = self.pages.lock().split_off(&idx);
        drop(dead); // frames still mapped somewhere live on in those mappings
    }

    fn write_back(&self, backing: &dyn FileBacking, size: u64, lo: u64, hi: u64) -> LinuxResult {
        let mut pages = self.pages.lock();
        let mut result = Ok(());
        let mut buf = alloc::vec![0u8; PAGE_SIZE_4K];
        for (&idx, page) in pages.range_mut(lo..hi.max(lo)) {
            if !page.needs_write_back() {
                continue;
            }
            match write_page(backing, size, idx, &page.frame, &mut buf) {
                Ok(()) => page.dirty = false,
                Err(err) => {
                    if result.is_ok() {
                        result = Err(err);
                    }
                }
            }
        }
        result
    }

    fn evict_unused(&self, backing: &dyn FileBacking, size: u64, lo: u64, hi: u64) {
        let mut dead = Vec::new();
        let mut pages = self.pages.lock();
        let idle: Vec<u64> = pages
            .range(lo..hi.max(lo))
            .filter(|(_, p)| alloc::sync::Arc::strong_count(&p.frame) == 1)
            .map(|(&i, _)| i)
            .collect();
        let mut buf = alloc::vec![0u8; PAGE_SIZE_4K];
        for idx in idle {
            let Some(page) = pages.get_mut(&idx) else {
                continue;
            };
            if page.needs_write_back()
                && let Err(err) = write_page(backing, size, idx, &page.frame, &mut buf)
            {
                log::warn!("page cache: write-back of page {idx} failed: {err}");
                // Keep the data; no mapping can make it dirty any more.
                page.write_mapped = false;
                page.dirty = true;
                continue;
            }
            dead.extend(pages.remove(&idx));
        }
        drop(pages);
        drop(dead);
    }

    fn counts(&self) -> (usize, usize) {
        let pages = self.pages.lock();
        let dirty = pages.values().filter(|p| p.needs_write_back()).count();
        (pages.len(), dirty)
    }
}

/// Writes cached page `idx` (its bytes before `size`) to `backing`.
fn write_page<H: PagingHandler>(
    backing: &dyn FileBacking,
    size: u64,
    idx: u64,
    frame: &PhysFrame<H>,
    buf: &mut [u8],
) -> LinuxResult {
    let len = page_bytes(size, idx);
    if len == 0 {
        return Ok(());
    }
    let buf = &mut buf[..len];
    frame.read_at(0, buf).map_err(|_| LinuxError::EIO)?;
    super::write_all(backing, idx * P, buf)
}
