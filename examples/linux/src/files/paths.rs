//! Calls that name files by path: `openat`, `mkdirat`, `unlinkat`, `renameat2`, `linkat`,
//! `symlinkat`, `readlinkat`, `getcwd`, `chdir`, `fchdir`.

use alloc::format;
use alloc::sync::Arc;

use pagoda::fs::vfs::{Access, Ino, NodeKind, OpenIntent, RenameFlags};
use pagoda::mm::{LinuxError, MemFile};

use super::desc::{Description, Kind, flag};
use super::namespace::{self, DEV_CONSOLE, DEV_NULL, DEV_TTY, DEV_ZERO, errno};
use super::procfs::ProcFile;
use super::{Files, SysResult, procfs, sysfs, user};

/// `AT_SYMLINK_FOLLOW`.
const AT_SYMLINK_FOLLOW: usize = 0x400;
/// `AT_EMPTY_PATH`.
pub(super) const AT_EMPTY_PATH: usize = 0x1000;
/// `AT_REMOVEDIR`.
const AT_REMOVEDIR: usize = 0x200;

impl Files {
    pub(super) fn openat(&mut self, dirfd: usize, path: usize, flags: u32, mode: u32) -> SysResult {
        if flags & flag::TMPFILE != 0 {
            // No unnamed temporary files yet; programs fall back to a named one.
            return Err(LinuxError::EOPNOTSUPP);
        }
        let path = user::path(path)?;
        let cloexec = flags & flag::CLOEXEC != 0;
        let path = procfs::redirect(self, &path);
        let start = self.start(dirfd, &path)?;
        if let Some(file) = procfs::open(self, start, &path, flags) {
            let d = Description::new(Kind::Proc(file?), flags, None);
            return self.fds().insert(d, cloexec).map(|fd| fd as usize);
        }
        if let Some(file) = sysfs::open(self, start, &path, flags) {
            let d = Description::new(Kind::Proc(ProcFile::Sys(file?)), flags, None);
            return self.fds().insert(d, cloexec).map(|fd| fd as usize);
        }
        let d = if flags & flag::PATH != 0 {
            open_path(start, &path, flags, self.who)?
        } else {
            open_file(start, &path, flags, mode & 0o7777 & !self.umask(), self.who)?
        };
        self.fds().insert(d, cloexec).map(|fd| fd as usize)
    }

    pub(super) fn mkdirat(&mut self, dirfd: usize, path: usize, mode: u32) -> SysResult {
        let path = user::path(path)?;
        let start = self.start(dirfd, &path)?;
        let perm = mode & 0o1777 & !self.umask();
        namespace::with(|fs| fs.mkdir(start, &path, perm, self.who))
            .map(|_| 0)
            .map_err(errno)
    }

    pub(super) fn unlinkat(&mut self, dirfd: usize, path: usize, flags: usize) -> SysResult {
        if flags & !AT_REMOVEDIR != 0 {
            return Err(LinuxError::EINVAL);
        }
        let path = user::path(path)?;
        let start = self.start(dirfd, &path)?;
        if flags & AT_REMOVEDIR != 0 {
            namespace::with(|fs| fs.rmdir(start, &path, self.who)).map_err(errno)?;
        } else {
            // A freed inode's contents are released here, outside the lock.
            let _freed = namespace::with(|fs| fs.unlink(start, &path, self.who)).map_err(errno)?;
        }
        Ok(0)
    }

    pub(super) fn renameat2(
        &mut self,
        olddir: usize,
        old: usize,
        newdir: usize,
        new: usize,
        flags: usize,
    ) -> SysResult {
        let flags = u32::try_from(flags).map_err(|_| LinuxError::EINVAL)?;
        let flags = RenameFlags::from_bits(flags).map_err(errno)?;
        let (old, new) = (user::path(old)?, user::path(new)?);
        let (from, to) = (self.start(olddir, &old)?, self.start(newdir, &new)?);
        let _freed = namespace::with(|fs| fs.rename(from, &old, to, &new, flags, self.who))
            .map_err(errno)?;
        Ok(0)
    }

    pub(super) fn linkat(
        &mut self,
        olddir: usize,
        old: usize,
        newdir: usize,
        new: usize,
        flags: usize,
    ) -> SysResult {
        if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(LinuxError::EINVAL);
        }
        let (old, new) = (user::path(old)?, user::path(new)?);
        let source = if old.is_empty() {
            if flags & AT_EMPTY_PATH == 0 {
                return Err(LinuxError::ENOENT);
            }
            None
        } else {
            Some(self.start(olddir, &old)?)
        };
        let ino = match source {
            Some(start) => {
                let follow = flags & AT_SYMLINK_FOLLOW != 0;
                namespace::with(|fs| fs.lookup(start, &old, follow, self.who)).map_err(errno)?
            }
            None => self.fd_ino(olddir)?,
        };
        let to = self.start(newdir, &new)?;
        namespace::with(|fs| fs.link_inode(ino, to, &new, self.who)).map_err(errno)?;
        Ok(0)
    }

    pub(super) fn symlinkat(&mut self, target: usize, newdir: usize, path: usize) -> SysResult {
        let (target, path) = (user::path(target)?, user::path(path)?);
        let start = self.start(newdir, &path)?;
        namespace::with(|fs| fs.symlink(&target, start, &path, self.who))
            .map(|_| 0)
            .map_err(errno)
    }

    pub(super) fn readlinkat(
        &mut self,
        dirfd: usize,
        path: usize,
        buf: usize,
        size: usize,
    ) -> SysResult {
        if size as i32 <= 0 {
            return Err(LinuxError::EINVAL);
        }
        let path = user::path(path)?;
        let target = match procfs::readlink(self, &path) {
            Some(t) => t?,
            None => {
                let start = self.start(dirfd, &path)?;
                namespace::with(|fs| {
                    fs.readlink(start, &path, self.who)
                        .map(alloc::string::String::from)
                })
                .map_err(errno)?
            }
        };
        let n = target.len().min(size);
        user::put(buf, &target.as_bytes()[..n])?;
        Ok(n)
    }

    pub(super) fn getcwd(&mut self, buf: usize, size: usize) -> SysResult {
        let cwd = self.cwd_ino();
        let path = namespace::with(|fs| namespace::dir_path(fs, cwd)).ok_or(LinuxError::ENOENT)?;
        if path.len() + 1 > size {
            return Err(LinuxError::ERANGE);
        }
        let mut bytes = path.into_bytes();
        bytes.push(0);
        user::put(buf, &bytes)?;
        Ok(bytes.len())
    }

    pub(super) fn chdir(&mut self, path: usize) -> SysResult {
        let path = user::path(path)?;
        let start = self.cwd_ino();
        let ino = namespace::with(|fs| fs.lookup(start, &path, true, self.who)).map_err(errno)?;
        self.enter(ino)
    }

    pub(super) fn fchdir(&mut self, fd: usize) -> SysResult {
        let ino = self.fd_ino(fd)?;
        self.enter(ino)
    }

    /// Makes directory `ino` the cwd: `ENOTDIR`, `EACCES` without search permission.
    fn enter(&mut self, ino: Ino) -> SysResult {
        namespace::with(|fs| {
            let node = fs.inode(ino).ok_or(LinuxError::ENOENT)?;
            if !node.is_dir() {
                return Err(LinuxError::ENOTDIR);
            }
            if !node.permits(self.who, 1) {
                return Err(LinuxError::EACCES);
            }
            fs.open_ref(ino).map_err(errno)
        })?;
        let cwd = Description::new(Kind::Path(ino), flag::PATH, None);
        // The old cwd's last close runs after the lock is released.
        let old = core::mem::replace(&mut self.fs.lock().cwd, cwd);
        drop(old);
        Ok(0)
    }

    /// The inode behind descriptor `fd` (`AT_FDCWD`: the cwd); `EBADF` when it has none.
    pub(super) fn fd_ino(&self, fd: usize) -> Result<Ino, LinuxError> {
        if fd as i32 == -100 {
            return Ok(self.cwd_ino());
        }
        let d = self.get(fd)?;
        match d.ino() {
            Some(ino) => Ok(ino),
            None => Err(LinuxError::EBADF),
        }
    }
}

/// `open(O_PATH)`: only `O_DIRECTORY`, `O_NOFOLLOW` and `O_CLOEXEC` count; any node.
fn open_path(
    start: Ino,
    path: &str,
    flags: u32,
    who: Access,
) -> Result<Arc<Description>, LinuxError> {
    let follow = flags & flag::NOFOLLOW == 0;
    let ino = namespace::with(|fs| {
        let ino = fs.lookup(start, path, follow, who)?;
        if flags & flag::DIRECTORY != 0 && !fs.inode(ino).is_some_and(|n| n.is_dir()) {
            return Err(pagoda::fs::vfs::FsError::NotDir);
        }
        fs.open_ref(ino)?;
        Ok(ino)
    })
    .map_err(errno)?;
    Ok(Description::new(Kind::Path(ino), flag::PATH, None))
}

/// `open` of a file, directory or device node.
fn open_file(
    start: Ino,
    path: &str,
    flags: u32,
    perm: u32,
    who: Access,
) -> Result<Arc<Description>, LinuxError> {
    let acc = flags & flag::ACCMODE;
    let intent = OpenIntent {
        read: acc != 1,
        write: acc != 0,
        create: flags & flag::CREAT != 0,
        exclusive: flags & flag::CREAT != 0 && flags & flag::EXCL != 0,
        truncate: flags & flag::TRUNC != 0,
        directory: flags & flag::DIRECTORY != 0,
        nofollow: flags & flag::NOFOLLOW != 0,
    };
    let (opened, kind) = namespace::with(|fs| {
        let name = if path.starts_with('/') {
            alloc::string::String::from(path)
        } else {
            let dir = namespace::dir_path(fs, start).unwrap_or_default();
            format!("{}/{path}", dir.trim_end_matches('/'))
        };
        let opened = fs
            .open(start, path, intent, perm, who, || {
                Arc::new(MemFile::with_name(&name, alloc::vec::Vec::new()))
            })
            .map_err(errno)?;
        let node = fs.inode(opened.ino).ok_or(LinuxError::ENOENT)?;
        let kind = match &node.kind {
            NodeKind::File(file) => Some(Kind::File {
                ino: opened.ino,
                file: file.clone(),
            }),
            NodeKind::Dir { .. } => Some(Kind::Dir(opened.ino)),
            NodeKind::CharDev => match node.rdev {
                DEV_NULL => Some(Kind::Null),
                DEV_ZERO => Some(Kind::Zero),
                DEV_TTY | DEV_CONSOLE => Some(Kind::Console),
                _ => None,
            },
            _ => None,
        };
        if kind.is_none() {
            // No driver (another device, a fifo, a socket): Linux's answer for a device
            // without one.
            let _ = fs.close_ref(opened.ino);
            return Err(LinuxError::ENXIO);
        }
        Ok((opened, kind))
    })?;
    let Some(kind) = kind else {
        return Err(LinuxError::ENXIO);
    };
    if opened.truncate
        && let Kind::File { file, .. } = &kind
    {
        file.set_len(0);
        namespace::with(|fs| fs.touch(opened.ino, 1));
    }
    let node = match kind {
        Kind::Null | Kind::Zero | Kind::Console => Some(opened.ino),
        _ => None,
    };
    // Directories are never written through a descriptor.
    let flags = if matches!(kind, Kind::Dir(_)) {
        flags & !flag::ACCMODE
    } else {
        flags
    };
    Ok(Description::new(kind, flags, node))
}
