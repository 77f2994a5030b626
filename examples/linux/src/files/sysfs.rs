//! `/sys`: as much of sysfs as programs on Pagoda look at, the transparent huge page
//! settings under `/sys/kernel/mm/transparent_hugepage` ([`thp`]). As for `/proc`, the tree
//! is real namespace nodes (directories and empty placeholder files with Linux's modes), so
//! lookup, `stat` and `getdents64` need no special case; each placeholder's inode is
//! registered with the attribute it shows, and [`open`] gives a [`SysFile`].
//!
//! An attribute behaves as Linux's sysfs files (`fs/kernfs/file.c`, `fs/sysfs/file.c`):
//! a read shows the current value (made again for every read, read at the offset); a write
//! hands the first 4096 bytes (a page), up to a NUL byte, to the attribute's store, which
//! takes all or nothing and consumes the whole (truncated) write; an empty write does
//! nothing. A file without a write bit (`0444`) cannot be opened for writing, not even by
//! root (`EACCES`, kernfs's rule); the `0644` ones only by root, by their mode.
//! Not done: a placeholder's `stat` size is 0 (Linux shows 4096), `poll` notifications.

mod thp;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::fs::vfs::{Ino, ROOT_INO};
use pagoda::mm::{LinuxError, MemFile};

use self::thp::Attr;
use super::Files;
use super::desc::flag;
use super::namespace::{self, WHO};

/// Linux writes at most a page to a sysfs attribute.
const WRITE_MAX: usize = 4096;

/// An open sysfs attribute.
pub struct SysFile(Attr);

impl SysFile {
    /// Reads the shown value at byte `pos` into `out`.
    ///
    /// # Errors
    /// None today (the signature is the file layer's).
    pub fn read_at(&self, pos: u64, out: &mut [u8]) -> Result<usize, LinuxError> {
        let text = self.0.show();
        let t = text.as_bytes();
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(t.len());
        let n = out.len().min(t.len() - start);
        out[..n].copy_from_slice(&t[start..start + n]);
        Ok(n)
    }

    /// Stores `data` (the offset does not matter, as on Linux): the bytes consumed.
    ///
    /// # Errors
    /// `EINVAL` for a value the attribute refuses, `ERANGE` for a number out of range
    /// where Linux says so; the setting is unchanged then.
    pub fn write_at(&self, data: &[u8]) -> Result<usize, LinuxError> {
        let data = &data[..data.len().min(WRITE_MAX)];
        if data.is_empty() {
            return Ok(0);
        }
        let text = data.split(|&b| b == 0).next().unwrap_or_default();
        self.0.store(text)?;
        Ok(data.len())
    }

    /// Linux's sysfs files are a page long for `lseek(SEEK_END)`.
    pub fn size(&self) -> i64 {
        WRITE_MAX as i64
    }
}

static NODES: SpinNoIrq<BTreeMap<Ino, Attr>> = SpinNoIrq::new(BTreeMap::new());
static MADE: SpinNoIrq<bool> = SpinNoIrq::new(false);

/// Makes the `/sys` tree (once; boot calls it). Directories are `0755` below `/sys`
/// (`0555`).
pub fn init() {
    if core::mem::replace(&mut *MADE.lock(), true) {
        return;
    }
    let (dirs, files) = thp::tree();
    namespace::with(|fs| {
        let _ = fs.mkdir(ROOT_INO, "/sys", 0o555, WHO);
        for d in ["/sys/kernel", "/sys/kernel/mm"]
            .iter()
            .copied()
            .chain(dirs.iter().map(String::as_str))
        {
            let _ = fs.mkdir(ROOT_INO, d, 0o755, WHO);
        }
    });
    let made: Vec<(Ino, Attr)> = files
        .into_iter()
        .filter_map(|(path, attr)| {
            let ino = namespace::with(|fs| {
                let file = Arc::new(MemFile::new(Vec::new()));
                fs.create(ROOT_INO, &path, attr.mode(), WHO, file).ok()
            })?;
            Some((ino, attr))
        })
        .collect();
    NODES.lock().extend(made);
}

/// `openat` of `path` from directory `start`: the attribute if the path names one, `None`
/// otherwise (directories, `O_PATH`, `O_DIRECTORY` and `O_CREAT | O_EXCL` opens are the
/// namespace's, which answers those with its errors).
///
/// # Errors
/// `EACCES` if the mode refuses the access, or for writing a file without a write bit.
pub fn open(
    files: &Files,
    start: Ino,
    path: &str,
    flags: u32,
) -> Option<Result<SysFile, LinuxError>> {
    // `O_PATH`, and the flags that make an existing file an error (`EEXIST`, `ENOTDIR`),
    // are the namespace's.
    let excl = flag::CREAT | flag::EXCL;
    if flags & (flag::PATH | flag::DIRECTORY) != 0 || flags & excl == excl {
        return None;
    }
    let follow = flags & flag::NOFOLLOW == 0;
    let write = flags & flag::ACCMODE != 0 || flags & flag::TRUNC != 0;
    let want = match flags & flag::ACCMODE {
        0 => 4,
        1 => 2,
        _ => 6,
    } | if write { 2 } else { 0 };
    let (ino, permitted, writable) = namespace::with(|fs| {
        let ino = fs.lookup(start, path, follow, files.who).ok()?;
        let node = fs.inode(ino)?;
        Some((ino, node.permits(files.who, want), node.perm & 0o222 != 0))
    })?;
    let attr = NODES.lock().get(&ino).copied()?;
    if !permitted || (write && !writable) {
        return Some(Err(LinuxError::EACCES));
    }
    Some(Ok(SysFile(attr)))
}
