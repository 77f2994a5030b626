//! [`MemFile`]: a file held in memory, the reference [`File`] for tests and examples.

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use kspin::SpinNoIrq;

use super::{CachedFile, File, FileBacking};

/// Backing storage in a `Vec`.
#[derive(Debug, Default)]
struct MemBacking(SpinNoIrq<Vec<u8>>);

impl FileBacking for MemBacking {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        let data = self.0.lock();
        let Some(src) = usize::try_from(offset).ok().and_then(|o| data.get(o..)) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    fn write_at(&self, offset: u64, src: &[u8]) -> LinuxResult<usize> {
        let off = usize::try_from(offset).map_err(|_| LinuxError::EFBIG)?;
        let end = off.checked_add(src.len()).ok_or(LinuxError::EFBIG)?;
        let mut data = self.0.lock();
        if data.len() < end {
            grow(&mut data, end)?;
        }
        data[off..end].copy_from_slice(src);
        Ok(src.len())
    }

    fn size(&self) -> u64 {
        self.0.lock().len() as u64
    }

    fn set_len(&self, len: u64) -> LinuxResult {
        let len = usize::try_from(len).map_err(|_| LinuxError::EFBIG)?;
        let mut data = self.0.lock();
        if len > data.len() {
            grow(&mut data, len)?;
        } else {
            data.truncate(len);
        }
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
        let store = alloc::sync::Arc::new(MemBacking(SpinNoIrq::new(data.into())));
        Self {
            file: CachedFile::new(store.clone()),
            store,
        }
    }

    /// A named file with the given contents (the name shows in `maps` listings).
    pub fn with_name(name: &str, data: impl Into<Vec<u8>>) -> Self {
        let store = alloc::sync::Arc::new(MemBacking(SpinNoIrq::new(data.into())));
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
    pub fn stored(&self) -> Vec<u8> {
        self.store.0.lock().clone()
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
