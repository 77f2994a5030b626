//! Files that can be mapped: the backing-store side ([`FileBacking`]), the page-cache front
//! every access goes through ([`CachedFile`]), what `mmap` takes ([`File`]), and
//! [`MemFile`], an in-memory file.
//!
//! The contract is on [`CachedFile`].

mod cache;
mod mem;
mod notice;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use axerrno::{LinuxError, LinuxResult};
use kspin::SpinNoIrq;
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;

pub(crate) use self::cache::PageCache;
use self::cache::PageStore;
pub use self::mem::MemFile;
pub(crate) use self::notice::Notices;
use crate::FaultError;
use crate::frame::FrameRef;

const P: u64 = PAGE_SIZE_4K as u64;

/// The largest file size (Linux's `MAX_LFS_FILESIZE` on 64-bit).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// The storage behind a file: what a file system provides. Only the file's [`CachedFile`]
/// calls it, with the file's lock held (so it must not call back into the file; its own
/// locks are fine). Offsets are byte offsets.
pub trait FileBacking: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns the number read (0 at or past
    /// the end). A sparse store may also return fewer bytes, or 0, where it holds no data
    /// before the end (a hole): the cache reads zeros there.
    ///
    /// # Errors
    ///
    /// An I/O error; a fault that needs the page then fails with [`FaultError::Bus`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize>;

    /// Writes `data` at `offset`, growing the storage if needed; returns the number of
    /// bytes written. The cache never writes past [`size`](Self::size).
    ///
    /// # Errors
    ///
    /// An I/O error (reported by `write_at`, `msync` and `sync`; on eviction the page
    /// stays cached and dirty).
    fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize>;

    /// The size in bytes.
    fn size(&self) -> u64;

    /// Truncates or zero-extends the storage to `len` bytes.
    ///
    /// # Errors
    ///
    /// `EFBIG` if the storage cannot be that large, or an I/O error; the size is then
    /// unchanged.
    fn set_len(&self, len: u64) -> LinuxResult;
}

/// How a file was opened (the `O_ACCMODE` of its file description); `mmap` checks it as
/// Linux does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessMode {
    /// `O_RDONLY`.
    ReadOnly,
    /// `O_WRONLY`: cannot be mapped at all.
    WriteOnly,
    /// `O_RDWR`.
    ReadWrite,
}

impl AccessMode {
    /// Whether reads are allowed.
    pub fn readable(self) -> bool {
        self != Self::WriteOnly
    }

    /// Whether writes are allowed.
    pub fn writable(self) -> bool {
        self != Self::ReadOnly
    }
}

/// What [`AddrSpace::mmap`](crate::AddrSpace::mmap) maps: something with a [`CachedFile`].
/// All I/O goes through [`cached`](Self::cached), so every implementor is coherent.
pub trait File: Send + Sync {
    /// The file's page-cache front (the same object for every open of the file).
    fn cached(&self) -> &CachedFile;

    /// The access mode of this open file (default: read-write).
    fn access(&self) -> AccessMode {
        AccessMode::ReadWrite
    }

    /// A name for `/proc/<pid>/maps`-style listings.
    fn name(&self) -> Option<&str> {
        self.cached().name()
    }
}

impl dyn File + '_ {
    /// [`CachedFile::read_at`] (`pread`).
    ///
    /// # Errors
    ///
    /// As [`CachedFile::read_at`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        self.cached().read_at(offset, buf)
    }

    /// [`CachedFile::write_at`] (`pwrite`).
    ///
    /// # Errors
    ///
    /// As [`CachedFile::write_at`].
    pub fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize> {
        self.cached().write_at(offset, data)
    }

    /// [`CachedFile::size`].
    pub fn size(&self) -> u64 {
        self.cached().size()
    }

    /// [`CachedFile::set_len`] (`ftruncate`).
    ///
    /// # Errors
    ///
    /// As [`CachedFile::set_len`].
    pub fn set_len(&self, len: u64) -> LinuxResult {
        self.cached().set_len(len)
    }

    /// [`CachedFile::sync`] (`fsync`).
    ///
    /// # Errors
    ///
    /// As [`CachedFile::sync`].
    pub fn sync(&self) -> LinuxResult {
        self.cached().sync()
    }
}

/// An open file: a [`File`] seen through an [`AccessMode`] (a file description).
pub struct OpenFile {
    file: Arc<dyn File>,
    mode: AccessMode,
}

impl OpenFile {
    /// `file` opened with `mode`.
    pub fn new(file: Arc<dyn File>, mode: AccessMode) -> Self {
        Self { file, mode }
    }
}

impl File for OpenFile {
    fn cached(&self) -> &CachedFile {
        self.file.cached()
    }
    fn access(&self) -> AccessMode {
        self.mode
    }
    fn name(&self) -> Option<&str> {
        self.file.name()
    }
}

/// The page cache of a file, typed by frame handler, behind `Any` so that the file need not
/// know the handler (an address space binds it on its first `mmap`).
struct Bound {
    any: Arc<dyn Any + Send + Sync>,
    store: Arc<dyn PageStore>,
}

struct State {
    size: u64,
    cache: Option<Bound>,
    /// The reverse map: mailboxes of the address spaces that map this file.
    mappers: Vec<Weak<Notices>>,
}

/// The page-cache front of a file: the one way to read, write, truncate, sync and map it.
///
/// # Coherence contract
///
/// A file has exactly one page cache, inside its `CachedFile`. Its `read_at`, `write_at`,
/// `set_len` and `sync`, page faults, `msync`, `munmap` and eviction all go through it,
/// under one lock per file, so:
/// - a `write_at` shows at once in every mapping (it writes the cached frame they map) and
///   is never overwritten by a write-back (there is only one copy of a cached page);
/// - a `read_at` sees stores made through `MAP_SHARED` mappings at once;
/// - write-back (`msync`, `sync`, eviction when the last mapping lets go of a page) writes
///   only pages that are dirty: written by `write_at` or the kernel, or mapped writable by
///   a shared mapping since (pages only read, or mapped read-only, are never written);
/// - `set_len` shrinking drops the cached pages past the new end, zeroes the tail of the
///   new last page and posts a notice to every address space mapping the file (a weak
///   reverse map); [`AddrSpace::apply_truncations`](crate::AddrSpace::apply_truncations)
///   (run by the space itself at every fault, uaccess, msync and fork, and to be run by the
///   kernel before it returns to user mode in a space) unmaps those pages, private copies
///   included, so later accesses are bus errors.
///
/// A file system implements [`FileBacking`] (the storage) and hands out
/// `Arc<CachedFile>` (or a type implementing [`File`] that returns its `CachedFile`); it
/// never reads or writes the storage behind the cache's back. Page-cache frames come
/// from the handler of the first address space that maps the file (one handler per
/// file: mapping it with another is `ENODEV`).
pub struct CachedFile {
    /// Unique for the life of the system: truncation notices name files by it.
    id: u64,
    backing: Box<dyn FileBacking>,
    name: Option<String>,
    state: SpinNoIrq<State>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The bytes of page `idx` that lie before `size`.
pub(crate) fn page_bytes(size: u64, idx: u64) -> usize {
    match idx.checked_mul(P) {
        Some(off) if off < size => (size - off).min(P) as usize,
        _ => 0,
    }
}

fn write_all(backing: &dyn FileBacking, mut off: u64, mut data: &[u8]) -> LinuxResult {
    while !data.is_empty() {
        match backing.write_at(off, data)? {
            0 => return Err(LinuxError::EIO),
            n => {
                let n = n.min(data.len());
                data = &data[n..];
                off += n as u64;
            }
        }
    }
    Ok(())
}

impl CachedFile {
    /// A file over `backing`.
    pub fn new(backing: impl FileBacking + 'static) -> Self {
        Self::build(Box::new(backing), None)
    }

    /// A named file over `backing` (the name shows in `maps` listings).
    pub fn with_name(name: &str, backing: impl FileBacking + 'static) -> Self {
        Self::build(Box::new(backing), Some(String::from(name)))
    }

    fn build(backing: Box<dyn FileBacking>, name: Option<String>) -> Self {
        let size = backing.size().min(MAX_FILE_SIZE);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            backing,
            name,
            state: SpinNoIrq::new(State {
                size,
                cache: None,
                mappers: Vec::new(),
            }),
        }
    }

    /// The name given at creation.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// `(cached pages, pages that need write-back)`.
    pub fn cache_stats(&self) -> (usize, usize) {
        match &self.state.lock().cache {
            Some(b) => b.store.counts(),
            None => (0, 0),
        }
    }

    /// Reads up to `buf.len()` bytes at `offset` (`pread`): cached pages from the cache
    /// (so stores through shared mappings show at once), the rest from the backing store.
    /// Returns the number of bytes read (0 at or past the end).
    ///
    /// # Errors
    ///
    /// An error of the backing store.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        let st = self.state.lock();
        if offset >= st.size {
            return Ok(0);
        }
        let n = (st.size - offset).min(buf.len() as u64) as usize;
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let (idx, off) = (pos / P, (pos % P) as usize);
            let len = (PAGE_SIZE_4K - off).min(n - done);
            let chunk = &mut buf[done..done + len];
            let cached = st
                .cache
                .as_ref()
                .is_some_and(|b| b.store.read(idx, off, chunk));
            if !cached {
                let mut got = 0;
                while got < len {
                    match self.backing.read_at(pos + got as u64, &mut chunk[got..])? {
                        0 => break,
                        k => got += k.min(len - got),
                    }
                }
                if got < len {
                    // The backing store is shorter than the size says: zeros.
                    chunk[got..].fill(0);
                }
            }
            done += len;
        }
        Ok(n)
    }

    /// Writes `data` at `offset` (`pwrite`), growing the file if needed: cached pages are
    /// written in the cache (every mapping sees it at once; they become dirty), the rest
    /// straight to the backing store. Returns `data.len()`.
    ///
    /// # Errors
    ///
    /// `EFBIG` past [`MAX_FILE_SIZE`]; an error of the backing store (part of the data may
    /// have been written then).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(LinuxError::EFBIG)?;
        let mut st = self.state.lock();
        let old_size = st.size;
        if end > st.size {
            self.resize(&mut st, end)?;
        }
        let r = self.write_locked(&mut st, offset, data);
        if r.is_err() && end > old_size {
            // The store could not hold the bytes: the file keeps its old size (a sparse
            // store's growth always succeeds, so only the write itself could fail).
            let _ = self.resize(&mut st, old_size);
        }
        r
    }

    /// The writes of [`write_at`](Self::write_at), into a file already large enough.
    fn write_locked(&self, st: &mut State, offset: u64, data: &[u8]) -> LinuxResult<usize> {
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (idx, off) = (pos / P, (pos % P) as usize);
            let len = (PAGE_SIZE_4K - off).min(data.len() - done);
            let chunk = &data[done..done + len];
            let cached = st
                .cache
                .as_ref()
                .is_some_and(|b| b.store.write(idx, off, chunk));
            if !cached {
                write_all(self.backing.as_ref(), pos, chunk)?;
            }
            done += len;
        }
        Ok(data.len())
    }

    /// Truncates or zero-extends the file to `len` bytes (`ftruncate`). Shrinking drops the
    /// cached pages past the end, zeroes the tail of the new last page, and tells every
    /// address space mapping the file to unmap the pages past the end (see
    /// [`AddrSpace::apply_truncations`](crate::AddrSpace::apply_truncations)).
    ///
    /// # Errors
    ///
    /// `EFBIG` past [`MAX_FILE_SIZE`]; an error of the backing store (nothing changed).
    pub fn set_len(&self, len: u64) -> LinuxResult {
        if len > MAX_FILE_SIZE {
            return Err(LinuxError::EFBIG);
        }
        let mut st = self.state.lock();
        let shrunk = len < st.size;
        self.resize(&mut st, len)?;
        if !shrunk {
            return Ok(());
        }
        st.mappers.retain(|w| w.strong_count() > 0);
        let mappers: Vec<Arc<Notices>> = st.mappers.iter().filter_map(Weak::upgrade).collect();
        drop(st);
        // Outside the file's lock: a mailbox lock is the only one taken.
        for m in mappers {
            m.post(self.id, len);
        }
        Ok(())
    }

    /// Changes the size in the backing store and the cache (the caller holds the lock).
    fn resize(&self, st: &mut State, len: u64) -> LinuxResult {
        self.backing.set_len(len)?;
        let old = st.size;
        if let Some(b) = &st.cache {
            if len < old {
                b.store.drop_from(len.div_ceil(P));
                b.store.zero_tail(len / P, (len % P) as usize);
            } else if len > old && !old.is_multiple_of(P) {
                // Stores past the old end in its last page must not show as file data.
                b.store.zero_tail(old / P, (old % P) as usize);
            }
        }
        st.size = len;
        Ok(())
    }

    /// Writes every dirty cached page back to the backing store (`fsync`), then drops the
    /// cached pages no mapping holds (left behind by a failed eviction).
    ///
    /// # Errors
    ///
    /// The first error of the backing store (the other pages are still written).
    pub fn sync(&self) -> LinuxResult {
        let r = self.write_back(0, u64::MAX);
        self.evict_unused(0, u64::MAX);
        r
    }

    /// Writes the dirty cached pages with index in `[lo, hi)` back (`msync`).
    pub(crate) fn write_back(&self, lo: u64, hi: u64) -> LinuxResult {
        let st = self.state.lock();
        match &st.cache {
            Some(b) => b.store.write_back(self.backing.as_ref(), st.size, lo, hi),
            None => Ok(()),
        }
    }

    /// Drops the cached pages in `[lo, hi)` that no mapping holds (dirty ones written back
    /// first).
    pub(crate) fn evict_unused(&self, lo: u64, hi: u64) {
        let st = self.state.lock();
        if let Some(b) = &st.cache {
            b.store.evict_unused(self.backing.as_ref(), st.size, lo, hi);
        }
    }

    /// The page cache for frames of `H`, created on first use, and registers `notices` (an
    /// address space's mailbox) in the reverse map.
    ///
    /// # Errors
    ///
    /// `ENODEV` if the cache already holds frames of another handler.
    pub(crate) fn bind<H: PagingHandler + 'static>(&self) -> LinuxResult<Arc<PageCache<H>>> {
        let mut st = self.state.lock();
        if let Some(b) = &st.cache {
            return b.any.clone().downcast().map_err(|_| LinuxError::ENODEV);
        }
        let cache = Arc::new(PageCache::<H>::new());
        st.cache = Some(Bound {
            any: cache.clone(),
            store: cache.clone(),
        });
        Ok(cache)
    }

    /// Adds an address space's mailbox to the reverse map (once).
    pub(crate) fn register(&self, notices: &Arc<Notices>) {
        let mut st = self.state.lock();
        st.mappers.retain(|w| w.strong_count() > 0);
        let weak = Arc::downgrade(notices);
        if !st.mappers.iter().any(|w| w.ptr_eq(&weak)) {
            st.mappers.push(weak);
        }
    }

    /// The frame of page `idx` of `cache` (this file's), loaded on a miss.
    ///
    /// # Errors
    ///
    /// [`FaultError::Bus`] for a page wholly past the end or a failed read,
    /// [`FaultError::NoMemory`] without a frame.
    pub(crate) fn load<H: PagingHandler>(
        &self,
        cache: &PageCache<H>,
        idx: u64,
    ) -> Result<FrameRef<H>, FaultError> {
        let st = self.state.lock();
        if page_bytes(st.size, idx) == 0 {
            return Err(FaultError::Bus);
        }
        cache.load(self.backing.as_ref(), st.size, idx)
    }

    /// Notes a writable shared mapping of page `idx` (`write_mapped`) or a kernel store
    /// into it, if `frame` is still that page's frame.
    pub(crate) fn mark<H: PagingHandler>(
        &self,
        cache: &PageCache<H>,
        idx: u64,
        frame: &FrameRef<H>,
        write_mapped: bool,
    ) {
        let _st = self.state.lock();
        cache.mark(idx, frame, write_mapped);
    }
}

impl File for CachedFile {
    fn cached(&self) -> &CachedFile {
        self
    }
}

impl Drop for CachedFile {
    fn drop(&mut self) {
        // Pages whose eviction could not write them back are the only dirty ones left.
        if let Err(err) = self.sync() {
            log::warn!("page cache: dirty pages of a dropped file lost: {err}");
        }
    }
}

impl core::fmt::Debug for CachedFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CachedFile")
            .field("name", &self.name)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

/// The access-mode checks of `mmap`: a writable shared mapping needs a writable file, every
/// mapping a readable one.
pub(crate) fn check_mmap_mode(file: &dyn File, shared: bool, write: bool) -> LinuxResult {
    let mode = file.access();
    if (shared && write && !mode.writable()) || !mode.readable() {
        return Err(LinuxError::EACCES);
    }
    Ok(())
}
