//! The one contract between the file layer (`files/`) and the memory system calls
//! (`memory/`): what `mmap` needs to know about a file descriptor.

use alloc::sync::Arc;

use pagoda::mm::{File, LinuxError};

/// What a file descriptor offers `mmap`.
pub enum MmapTarget {
    /// The descriptor maps as anonymous memory (`/dev/zero`): private → anonymous private,
    /// shared → anonymous shared, as on Linux.
    Zero,
    /// A page-cache file, carrying the access mode the descriptor was opened with
    /// (`File::access`), which `mmap` checks against `PROT_*` and `MAP_SHARED`.
    File(Arc<dyn File>),
}

/// The descriptor table as `mmap` sees it.
pub trait MmapSource {
    /// The mapping target behind `fd`.
    ///
    /// # Errors
    /// `EBADF` when `fd` is not open; `ENODEV` when its file cannot be mapped (a pipe, a
    /// directory, the console).
    fn mmap_target(&self, fd: usize) -> Result<MmapTarget, LinuxError>;
}
