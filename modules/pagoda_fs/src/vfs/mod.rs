//! A RAM file-system namespace with Linux's rules: inodes (directories, regular files,
//! symlinks, device nodes, fifos), path resolution (`..`, symlinks with `ELOOP` after 40,
//! trailing slashes, `ENAMETOOLONG`), permission checks (owner / group / other bits, root
//! bypasses read and write), `link` counts, `unlink` / `rmdir` / `rename` with
//! `renameat2`'s flags, and open references so that an unlinked file lives on while open.
//!
//! The contents of regular files are the kernel's (a page cache): an inode holds a `F` the
//! kernel supplies when it creates the file and gets back on lookup. This module is plain
//! logic; the kernel serialises calls with one lock.

mod attr;
mod ops;
mod path;
mod tree;

pub use self::attr::SetTime;
pub use self::ops::{OpenIntent, Opened};
pub use self::path::{MAX_NAME, MAX_PATH, MAX_SYMLINKS};
pub use self::tree::{Access, Fs, Ino, Inode, NodeKind, ROOT_INO, RenameFlags};

/// Why a file-system operation failed, as the errno a system call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsError {
    /// `ENOENT`: a component does not exist (or the path is empty).
    NotFound,
    /// `ENOTDIR`: a component used as a directory is not one.
    NotDir,
    /// `EISDIR`: a directory where something else is needed.
    IsDir,
    /// `EEXIST`: the name exists.
    Exists,
    /// `ENOTEMPTY`: the directory has entries.
    NotEmpty,
    /// `EACCES`: permission denied.
    Access,
    /// `EPERM`: the operation is not permitted (hard link to a directory, sticky directory).
    Perm,
    /// `ELOOP`: too many symlinks, or `O_NOFOLLOW` met one.
    Loop,
    /// `ENAMETOOLONG`: a component over 255 bytes or a path over 4095.
    NameTooLong,
    /// `EINVAL`: a directory moved into itself, bad flags, `.` / `..` as a final component.
    Invalid,
    /// `EBUSY`: the root directory.
    Busy,
    /// `EMLINK`: too many links.
    TooManyLinks,
}

impl FsError {
    /// The Linux errno number.
    pub const fn errno(self) -> i32 {
        match self {
            FsError::NotFound => 2,
            FsError::NotDir => 20,
            FsError::IsDir => 21,
            FsError::Exists => 17,
            FsError::NotEmpty => 39,
            FsError::Access => 13,
            FsError::Perm => 1,
            FsError::Loop => 40,
            FsError::NameTooLong => 36,
            FsError::Invalid => 22,
            FsError::Busy => 16,
            FsError::TooManyLinks => 31,
        }
    }

    /// The errno as the [`LinuxError`](axerrno::LinuxError) a system call returns.
    pub const fn linux(self) -> axerrno::LinuxError {
        use axerrno::LinuxError as E;
        match self {
            FsError::NotFound => E::ENOENT,
            FsError::NotDir => E::ENOTDIR,
            FsError::IsDir => E::EISDIR,
            FsError::Exists => E::EEXIST,
            FsError::NotEmpty => E::ENOTEMPTY,
            FsError::Access => E::EACCES,
            FsError::Perm => E::EPERM,
            FsError::Loop => E::ELOOP,
            FsError::NameTooLong => E::ENAMETOOLONG,
            FsError::Invalid => E::EINVAL,
            FsError::Busy => E::EBUSY,
            FsError::TooManyLinks => E::EMLINK,
        }
    }
}

impl From<FsError> for axerrno::LinuxError {
    fn from(e: FsError) -> Self {
        e.linux()
    }
}

impl core::fmt::Display for FsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?} (errno {})", self.errno())
    }
}

/// A result of this module.
pub type FsResult<T> = Result<T, FsError>;
