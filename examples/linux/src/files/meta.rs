//! Metadata calls: the `stat` family, `statx`, `statfs`, `getdents64`, `chmod` / `chown`,
//! `access`, `truncate`, `fsync`.

use alloc::vec::Vec;

use pagoda::fs::vfs::{Ino, Inode, NodeKind, ROOT_INO};
use pagoda::linux::abi::{Stat, Timespec, encode_dirent64, make_dev, stat_size};
use pagoda::mm::{self, LinuxError, MemFile};

use super::desc::{Description, Kind};
use super::namespace::{self, WHO, errno};
use super::paths::AT_EMPTY_PATH;
use super::{Files, SysResult, procfs, user};

/// `AT_SYMLINK_NOFOLLOW`.
pub(super) const AT_SYMLINK_NOFOLLOW: usize = 0x100;
/// `AT_NO_AUTOMOUNT` (nothing is ever automounted here).
const AT_NO_AUTOMOUNT: usize = 0x800;
/// `AT_EACCESS`.
const AT_EACCESS: usize = 0x200;
/// `AT_STATX_SYNC_TYPE` bits (every kind of sync is the same for a RAM file system).
const AT_STATX_SYNC_TYPE: usize = 0x6000;
/// The device number of the RAM file system, pipes, and `/proc`.
const DEV_RAMFS: u64 = make_dev(0, 0x20);
const DEV_PIPEFS: u64 = make_dev(0, 0x0e);
const DEV_PROC: u64 = make_dev(0, 0x16);
const DEV_SOCKFS: u64 = make_dev(0, 0x08);
/// `f_type` of `statfs`: tmpfs and proc.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

fn time((sec, nsec): (i64, i64)) -> Timespec {
    Timespec { sec, nsec }
}

/// The `stat` of an inode of the namespace.
fn inode_stat(ino: Ino, node: &Inode<alloc::sync::Arc<MemFile>>) -> Stat {
    let size = match &node.kind {
        NodeKind::File(f) => f.size() as i64,
        NodeKind::Symlink(t) => t.len() as i64,
        NodeKind::Dir { .. } => 4096,
        _ => 0,
    };
    Stat {
        dev: DEV_RAMFS,
        ino,
        mode: node.mode(),
        nlink: node.nlink,
        uid: node.uid,
        gid: node.gid,
        rdev: node.rdev,
        size,
        blksize: 4096,
        blocks: (size.max(0) as u64).div_ceil(4096) as i64 * 8,
        atime: time(node.times[0]),
        mtime: time(node.times[1]),
        ctime: time(node.times[2]),
    }
}

/// The `stat` of a generated `/proc` file.
fn proc_stat(path: &str) -> Stat {
    Stat {
        dev: DEV_PROC,
        ino: 0x1000 + path.len() as u64,
        mode: 0o100_444,
        nlink: 1,
        blksize: 1024,
        ..Stat::default()
    }
}

/// The `stat` of what a description refers to.
fn desc_stat(d: &Description) -> Result<Stat, LinuxError> {
    let pipe = |key: u64| Stat {
        dev: DEV_PIPEFS,
        ino: key,
        mode: 0o010_600,
        nlink: 1,
        blksize: 4096,
        ..Stat::default()
    };
    match (&d.kind, d.ino()) {
        (Kind::PipeRead(p) | Kind::PipeWrite(p), _) => Ok(pipe(p.key.0)),
        (Kind::Proc(_), _) => Ok(proc_stat("")),
        (Kind::Socket(s), _) => Ok(Stat {
            dev: DEV_SOCKFS,
            ino: s.pair.key.0 * 2 + s.side as u64,
            mode: 0o140_777,
            ..pipe(0)
        }),
        (_, Some(ino)) => namespace::with(|fs| {
            fs.inode(ino)
                .map(|n| inode_stat(ino, n))
                .ok_or(LinuxError::EBADF)
        }),
        // The boot console: the node of /dev/console if there is one.
        (_, None) => namespace::with(|fs| {
            let ino = fs.lookup(ROOT_INO, "/dev/console", true, WHO).ok();
            Ok(
                match ino.and_then(|i| fs.inode(i).map(|n| inode_stat(i, n))) {
                    Some(st) => st,
                    None => Stat {
                        dev: DEV_RAMFS,
                        mode: 0o020_620,
                        nlink: 1,
                        rdev: namespace::DEV_CONSOLE,
                        blksize: 1024,
                        ..Stat::default()
                    },
                },
            )
        }),
    }
}

impl Files {
    /// What a `*at` metadata call names: `path` from `dirfd` (following the last symlink
    /// unless `AT_SYMLINK_NOFOLLOW`), or with `AT_EMPTY_PATH` and an empty path, `dirfd`.
    fn stat_target(&self, dirfd: usize, path: usize, flags: usize) -> Result<Stat, LinuxError> {
        let path = user::path(path)?;
        if path.is_empty() {
            if flags & AT_EMPTY_PATH == 0 {
                return Err(LinuxError::ENOENT);
            }
            if dirfd as i32 == -100 {
                let ino = self.cwd_ino();
                return namespace::with(|fs| fs.inode(ino).map(|n| inode_stat(ino, n)))
                    .ok_or(LinuxError::ENOENT);
            }
            return desc_stat(&*self.get(dirfd)?);
        }
        let path = procfs::redirect(self, &path);
        let start = self.start(dirfd, &path)?;
        let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
        namespace::with(|fs| {
            let ino = fs.lookup(start, &path, follow, self.who).map_err(errno)?;
            fs.inode(ino)
                .map(|n| inode_stat(ino, n))
                .ok_or(LinuxError::ENOENT)
        })
    }

    pub(super) fn fstat(&mut self, fd: usize, buf: usize) -> SysResult {
        let st = desc_stat(&*self.get(fd)?)?;
        user::put(buf, &st.encode(self.arch)[..stat_size(self.arch)]).map(|()| 0)
    }

    pub(super) fn fstatat(
        &mut self,
        dirfd: usize,
        path: usize,
        buf: usize,
        flags: usize,
    ) -> SysResult {
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
            return Err(LinuxError::EINVAL);
        }
        let st = self.stat_target(dirfd, path, flags)?;
        user::put(buf, &st.encode(self.arch)[..stat_size(self.arch)]).map(|()| 0)
    }

    pub(super) fn statx(
        &mut self,
        dirfd: usize,
        path: usize,
        flags: usize,
        buf: usize,
    ) -> SysResult {
        let known = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
        if flags & !known != 0 || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE {
            return Err(LinuxError::EINVAL);
        }
        let st = self.stat_target(dirfd, path, flags)?;
        user::put(buf, &st.encode_statx()).map(|()| 0)
    }

    pub(super) fn statfs(&mut self, path: usize, buf: usize) -> SysResult {
        let path = user::path(path)?;
        let start = self.cwd_ino();
        let ino = namespace::with(|fs| fs.lookup(start, &path, true, self.who)).map_err(errno)?;
        let proc = path.starts_with("/proc") && ino != ROOT_INO;
        user::put(buf, &statfs_bytes(proc)).map(|()| 0)
    }

    pub(super) fn fstatfs(&mut self, fd: usize, buf: usize) -> SysResult {
        let d = self.get(fd)?;
        user::put(buf, &statfs_bytes(matches!(d.kind, Kind::Proc(_)))).map(|()| 0)
    }

    /// `getdents64(fd, buf, count)`: entries from the description's offset (an entry
    /// index); `EINVAL` when not even one fits.
    pub(super) fn getdents64(&mut self, fd: usize, buf: usize, count: usize) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        let Kind::Dir(ino) = d.kind else {
            return Err(LinuxError::ENOTDIR);
        };
        let entries = namespace::with(|fs| fs.read_dir(ino)).map_err(errno)?;
        let start = usize::try_from(d.offset()).unwrap_or(usize::MAX);
        let mut out: Vec<u8> = Vec::new();
        let mut next = start;
        for (i, (name, e_ino, d_type)) in entries.iter().enumerate().skip(start) {
            let room = count.saturating_sub(out.len());
            let Some(rec) = encode_dirent64(*e_ino, i as i64 + 1, *d_type, name.as_bytes(), room)
            else {
                if out.is_empty() {
                    return Err(LinuxError::EINVAL);
                }
                break;
            };
            out.extend_from_slice(&rec);
            next = i + 1;
        }
        user::put(buf, &out)?;
        d.set_offset(next as u64);
        Ok(out.len())
    }

    pub(super) fn fchmod(&mut self, fd: usize, mode: u32) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        // Pipes and the boot console have no stored metadata here.
        if let Some(ino) = d.ino() {
            namespace::with(|fs| fs.chmod(ino, mode, self.who)).map_err(errno)?;
        }
        Ok(0)
    }

    pub(super) fn fchmodat(
        &mut self,
        dirfd: usize,
        path: usize,
        mode: u32,
        _flags: usize,
    ) -> SysResult {
        let path = user::path(path)?;
        let start = self.start(dirfd, &path)?;
        namespace::with(|fs| {
            let ino = fs.lookup(start, &path, true, self.who)?;
            fs.chmod(ino, mode, self.who)
        })
        .map(|()| 0)
        .map_err(errno)
    }

    pub(super) fn fchown(&mut self, fd: usize, uid: usize, gid: usize) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        if let Some(ino) = d.ino() {
            namespace::with(|fs| fs.chown(ino, uid as u32, gid as u32, self.who)).map_err(errno)?;
        }
        Ok(0)
    }

    pub(super) fn fchownat(
        &mut self,
        dirfd: usize,
        path: usize,
        uid: usize,
        gid: usize,
        flags: usize,
    ) -> SysResult {
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(LinuxError::EINVAL);
        }
        let path = user::path(path)?;
        let ino = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            self.fd_ino(dirfd)?
        } else {
            let start = self.start(dirfd, &path)?;
            let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
            namespace::with(|fs| fs.lookup(start, &path, follow, self.who)).map_err(errno)?
        };
        namespace::with(|fs| fs.chown(ino, uid as u32, gid as u32, self.who))
            .map(|()| 0)
            .map_err(errno)
    }

    /// `faccessat2(dirfd, path, mode, flags)`: `F_OK` (0) or `R_OK | W_OK | X_OK`.
    pub(super) fn faccessat(
        &mut self,
        dirfd: usize,
        path: usize,
        mode: usize,
        flags: usize,
    ) -> SysResult {
        if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(LinuxError::EINVAL);
        }
        let path = user::path(path)?;
        // The real ids unless AT_EACCESS asks for the effective ones (as Linux's access).
        let who = if flags & AT_EACCESS != 0 {
            self.who
        } else {
            self.real
        };
        let ino = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            self.fd_ino(dirfd)?
        } else {
            let path = procfs::redirect(self, &path);
            let start = self.start(dirfd, &path)?;
            let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
            namespace::with(|fs| fs.lookup(start, &path, follow, who)).map_err(errno)?
        };
        namespace::with(|fs| match fs.inode(ino) {
            Some(node) if mode == 0 || node.permits(who, mode as u32) => Ok(0),
            Some(_) => Err(LinuxError::EACCES),
            None => Err(LinuxError::ENOENT),
        })
    }

    pub(super) fn truncate(&mut self, path: usize, len: i64) -> SysResult {
        let path = user::path(path)?;
        let len = u64::try_from(len).map_err(|_| LinuxError::EINVAL)?;
        let start = self.start(-100i32 as usize, &path)?;
        let (ino, file) = namespace::with(|fs| {
            let ino = fs.lookup(start, &path, true, self.who).map_err(errno)?;
            let node = fs.inode(ino).ok_or(LinuxError::ENOENT)?;
            match &node.kind {
                NodeKind::Dir { .. } => Err(LinuxError::EISDIR),
                NodeKind::File(_) if !node.permits(self.who, 2) => Err(LinuxError::EACCES),
                NodeKind::File(f) => Ok((ino, f.clone())),
                _ => Err(LinuxError::EINVAL),
            }
        })?;
        resize(ino, &file, len)
    }

    pub(super) fn ftruncate(&mut self, fd: usize, len: i64) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        let len = u64::try_from(len).map_err(|_| LinuxError::EINVAL)?;
        match &d.kind {
            Kind::File { ino, file } if d.writable() => resize(*ino, file, len),
            _ => Err(LinuxError::EINVAL),
        }
    }

    pub(super) fn fsync(&mut self, fd: usize) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        match &d.kind {
            Kind::File { file, .. } => file.sync().map(|()| 0),
            Kind::Dir(_) => Ok(0),
            _ => Err(LinuxError::EINVAL),
        }
    }
}

/// `truncate` / `ftruncate`: the page cache shrinks or grows; mappings lose the pages past
/// the end before user code runs again (`apply_truncations` in the run loop).
fn resize(ino: Ino, file: &MemFile, len: u64) -> SysResult {
    let file: &dyn mm::File = file;
    file.set_len(len)?;
    namespace::with(|fs| fs.touch(ino, 1));
    Ok(0)
}

/// `struct statfs` (120 bytes on 64-bit Linux): a tmpfs as large as RAM, or `/proc`.
fn statfs_bytes(proc: bool) -> [u8; 120] {
    let frames = mm::frame_stats();
    let inodes = namespace::with(|fs| fs.len()) as u64;
    let max_inodes = (frames.total as u64 / 2).max(inodes);
    let words: [u64; 7] = if proc {
        [PROC_SUPER_MAGIC, 4096, 0, 0, 0, 0, 0]
    } else {
        [
            TMPFS_MAGIC,
            4096,
            frames.total as u64,
            frames.free as u64,
            frames.free as u64,
            max_inodes,
            max_inodes - inodes,
        ]
    };
    let mut out = [0u8; 120];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    // f_fsid (56..64) stays 0; then f_namelen, f_frsize, and f_flags = ST_VALID (0x20):
    // no mount options.
    out[64..72].copy_from_slice(&255u64.to_le_bytes());
    out[72..80].copy_from_slice(&4096u64.to_le_bytes());
    out[80..88].copy_from_slice(&0x20u64.to_le_bytes());
    out
}
