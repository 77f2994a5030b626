//! The file namespace every process sees: the RAM file system the initramfs was unpacked
//! into, kept globally behind one lock so that any system call (exec here, the file layer
//! later) reaches it. The kernel runs one trap at a time with interrupts off, so the lock
//! is never contended; it is held only inside one call and never across a wait.

use alloc::sync::Arc;
use alloc::vec::Vec;

use pagoda::fs::vfs::{Access, FsError, NodeKind, ROOT_INO};
use pagoda::mm::{LinuxError, MemFile};

use crate::boot::RamFs;

static NAMESPACE: kspin::SpinRaw<Option<RamFs>> = kspin::SpinRaw::new(None);

/// Makes `fs` the namespace (at boot, once).
pub fn install(fs: RamFs) {
    *NAMESPACE.lock() = Some(fs);
}

/// Runs `f` on the namespace; `None` before [`install`].
pub fn with<R>(f: impl FnOnce(&mut RamFs) -> R) -> Option<R> {
    NAMESPACE.lock().as_mut().map(f)
}

/// The errno a namespace error means.
pub fn errno(e: FsError) -> LinuxError {
    match e {
        FsError::NotFound => LinuxError::ENOENT,
        FsError::NotDir => LinuxError::ENOTDIR,
        FsError::IsDir => LinuxError::EISDIR,
        FsError::Exists => LinuxError::EEXIST,
        FsError::NotEmpty => LinuxError::ENOTEMPTY,
        FsError::Access => LinuxError::EACCES,
        FsError::Perm => LinuxError::EPERM,
        FsError::Loop => LinuxError::ELOOP,
        FsError::NameTooLong => LinuxError::ENAMETOOLONG,
        FsError::Invalid => LinuxError::EINVAL,
        FsError::Busy => LinuxError::EBUSY,
        FsError::TooManyLinks => LinuxError::EMLINK,
    }
}

/// The contents of the executable at `path` (absolute, or relative to `/`: there is no
/// working directory yet) for `who`.
///
/// # Errors
/// The lookup's errno (`ENOENT`, `ENOTDIR`, `ELOOP`, `EACCES` for a directory on the way
/// without search permission); `EACCES` when the file is not a regular file or `who` may
/// not execute it (as execve(2) answers).
pub fn read_executable(path: &str, who: Access) -> Result<Vec<u8>, LinuxError> {
    let file: Arc<MemFile> = with(|fs| {
        let ino = fs.lookup(ROOT_INO, path, true, who).map_err(errno)?;
        let inode = fs.inode(ino).ok_or(LinuxError::ENOENT)?;
        match &inode.kind {
            NodeKind::File(file) if inode.permits(who, 1) => Ok(file.clone()),
            _ => Err(LinuxError::EACCES),
        }
    })
    .ok_or(LinuxError::ENOENT)??;
    Ok(file.contents())
}
