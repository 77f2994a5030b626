//! [`MemFile`]: a file held in memory, the reference [`File`] for tests and examples.

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use kspin::SpinNoIrq;

use super::{CachedFile, File, FileBacking};

/// Backing storage in a `Vec`, sparse past its written bytes: growing the size
/// (`ftruncate`) allocates nothing, as tmpfs; bytes past `data` up to `size` read as zeros.
#[derive(Debug, Default)]
struct MemBacking(SpinNoIrq<Store>);

#[derive(Debug, Default)]
struct Store {
    data: Vec<u8>,
    size: u64,
}

impl MemBacking {
    fn new(data: Vec<u8>) -> Self {
        let size = data.len() as u64;
        Self(SpinNoIrq::new(Store { data, size }))
    }
}

impl FileBacking for MemBacking {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        let st = self.0.lock();
        // Past the written bytes: a hole (the cache reads zeros there without a copy).
        let Some(src) = usize::try_from(offset).ok().and_then(|o| st.data.get(o..)) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    fn write_at(&self, offset: u64, src: &[u8]) -> LinuxResult<usize> {
        let off = usize::try_from(offset).map_err(|_| LinuxError::EFBIG)?;
        let end = off.checked_add(src.len()).ok_or(LinuxError::EFBIG)?;
        let mut st = self.0.lock();
        if st.data.len() < end {
            grow(&mut st.data, end)?;
        }
        st.data[off..end].copy_from_slice(src);
        st.size = st.size.max(end as u64);
        Ok(src.len())
    }

    fn size(&self) -> u64 {
        self.0.lock().size
    }

    fn set_len(&self, len: u64) -> LinuxResult {
        let keep = usize::try_from(len).map_err(|_| LinuxError::EFBIG)?;
        let mut st = self.0.lock();
        st.data.truncate(keep);
        st.size = len;
        Ok(())
    }
}

/// Zero-extends `data` to `len` bytes. The bytes are held in memory, so a size the heap
/// cannot hold is `ENOSPC` (a full tmpfs), never an allocation failure that aborts.
fn grow(data: &mut Vec<u8>, len: usize) -> LinuxResult {
    data.try_reserve_exact(len - data.len())
        .map_err(|_| LinuxError::ENOSPC)?;
    data.resize(len, 0);
    Ok(())
}

/// A file held in memory: a [`CachedFile`] over a `Vec<u8>`. It derefs to its
/// [`CachedFile`], so `read_at`, `write_at`, `size` and `sync` are the coherent ones.
#[derive(Debug)]
pub struct MemFile {
    file: CachedFile,
    store: alloc::sync::Arc<MemBacking>,
}

/// Lets the cache and the [`MemFile`] share the storage (for [`MemFile::stored`]).
impl FileBacking for alloc::sync::Arc<MemBacking> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize> {
        (**self).write_at(offset, data)
    }
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn set_len(&self, len: u64) -> LinuxResult {
        (**self).set_len(len)
    }
}

impl MemFile {
    /// A file with the given contents.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        let store = alloc::sync::Arc::new(MemBacking::new(data.into()));
        Self {
            file: CachedFile::new(store.clone()),
            store,
        }
    }

    /// A named file with the given contents (the name shows in `maps` listings).
    pub fn with_name(name: &str, data: impl Into<Vec<u8>>) -> Self {
        let store = alloc::sync::Arc::new(MemBacking::new(data.into()));
        Self {
            file: CachedFile::with_name(name, store.clone()),
            store,
        }
    }

    /// The current contents, as `read` sees them (stores through shared mappings
    /// included).
    pub fn contents(&self) -> Vec<u8> {
        let size = usize::try_from(self.file.size()).unwrap_or(usize::MAX);
        let mut buf = alloc::vec![0u8; size];
        // Cannot fail: the memory store never errs on reads.
        let n = self.file.read_at(0, &mut buf).unwrap_or(0);
        buf.truncate(n);
        buf
    }

    /// What the backing store holds: the contents as of the last write-back (tests use it
    /// to see what `msync`, `sync` and eviction wrote).
    /// The hole past the bytes the store holds reads as zeros, up to the size (so the
    /// size must fit in memory).
    pub fn stored(&self) -> Vec<u8> {
        let st = self.store.0.lock();
        let mut bytes = st.data.clone();
        bytes.resize(usize::try_from(st.size).unwrap_or(usize::MAX), 0);
        bytes
    }

    /// Truncates or zero-extends the file to `len` bytes (`ftruncate`, see
    /// [`CachedFile::set_len`]).
    pub fn set_len(&self, len: usize) {
        // Cannot fail: a memory store takes any `usize` length (or aborts on OOM).
        if let Err(err) = self.file.set_len(len as u64) {
            log::warn!("MemFile::set_len({len}): {err}");
        }
    }
}

impl core::ops::Deref for MemFile {
    type Target = CachedFile;
    fn deref(&self) -> &CachedFile {
        &self.file
    }
}

impl File for MemFile {
    fn cached(&self) -> &CachedFile {
        &self.file
    }
}
