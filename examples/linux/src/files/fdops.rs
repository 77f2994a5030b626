//! Descriptor calls: `close`, `dup2` / `dup3`, `fcntl`, `pipe2`, `memfd_create`, `ioctl`.

use alloc::format;
use alloc::sync::Arc;

use pagoda::fs::pipe::{Pipe, SetSizeError};
use pagoda::fs::vfs::ROOT_INO;
use pagoda::mm::{LinuxError, MemFile};

use super::desc::{Description, Kind, PipeObj, flag};
use super::namespace::{self, WHO, errno};
use super::{Files, SysResult, new_key, user};

/// `fcntl` commands.
const F_DUPFD: usize = 0;
const F_GETFD: usize = 1;
const F_SETFD: usize = 2;
const F_GETFL: usize = 3;
const F_SETFL: usize = 4;
const F_DUPFD_CLOEXEC: usize = 1030;
const F_SETPIPE_SZ: usize = 1031;
const F_GETPIPE_SZ: usize = 1032;
/// `FD_CLOEXEC`.
const FD_CLOEXEC: usize = 1;

/// `ioctl` requests (the same numbers on x86_64 and riscv64).
const FIONREAD: usize = 0x541b;
const FIONBIO: usize = 0x5421;
const FIONCLEX: usize = 0x5450;
const FIOCLEX: usize = 0x5451;

/// `memfd_create` flags: `MFD_CLOEXEC`, `MFD_ALLOW_SEALING`, `MFD_NOEXEC_SEAL`, `MFD_EXEC`.
const MFD_CLOEXEC: usize = 1;
const MFD_KNOWN: usize = 1 | 2 | 8 | 0x10;
/// The longest memfd name (`NAME_MAX` minus `"memfd:"`).
const MFD_NAME_MAX: usize = 249;

impl Files {
    pub(super) fn close(&mut self, fd: usize) -> SysResult {
        let fd = i32::try_from(fd).map_err(|_| LinuxError::EBADF)?;
        drop(self.fds().close(fd)?);
        Ok(0)
    }

    /// `dup2` (`flags: None`) and `dup3`.
    pub(super) fn dup3(&mut self, old: usize, new: usize, flags: Option<usize>) -> SysResult {
        let (old, new) = (old as i32, new as i32);
        let (fd, replaced) = match flags {
            None => self.fds().dup2(old, new)?,
            Some(f) if f & !(flag::CLOEXEC as usize) != 0 => return Err(LinuxError::EINVAL),
            Some(f) => self.fds().dup3(old, new, f != 0)?,
        };
        drop(replaced);
        Ok(fd as usize)
    }

    pub(super) fn fcntl(&mut self, fd: usize, cmd: usize, arg: usize) -> SysResult {
        let d = self.get(fd)?;
        let fd = fd as i32;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => self
                .fds()
                .dup_from(fd, i64::from(arg as i32), cmd == F_DUPFD_CLOEXEC)
                .map(|n| n as usize),
            F_GETFD => Ok(usize::from(self.fds().cloexec(fd)?)),
            F_SETFD => self
                .fds()
                .set_cloexec(fd, arg & FD_CLOEXEC != 0)
                .map(|()| 0),
            F_GETFL => Ok(d.flags() as usize),
            F_SETFL if d.is_path() => Err(LinuxError::EBADF),
            F_SETFL => {
                d.set_flags(arg as u32);
                Ok(0)
            }
            F_GETPIPE_SZ | F_SETPIPE_SZ => {
                let (Kind::PipeRead(p) | Kind::PipeWrite(p)) = &d.kind else {
                    return Err(LinuxError::EBADF);
                };
                let mut pipe = p.pipe.lock();
                if cmd == F_GETPIPE_SZ {
                    return Ok(pipe.capacity());
                }
                // Root (every process for now) may exceed pipe-max-size.
                let r = pipe.set_capacity(arg as u32 as usize, self.who.uid == 0);
                drop(pipe);
                super::wake(p.key);
                r.map_err(|e| match e {
                    SetSizeError::TooBig => LinuxError::EPERM,
                    SetSizeError::Invalid => LinuxError::EINVAL,
                    SetSizeError::Busy => LinuxError::EBUSY,
                })
            }
            _ => Err(LinuxError::EINVAL),
        }
    }

    pub(super) fn pipe2(&mut self, fds: usize, flags: usize) -> SysResult {
        let known = (flag::CLOEXEC | flag::NONBLOCK | flag::DIRECT) as usize;
        if flags & !known != 0 {
            return Err(LinuxError::EINVAL);
        }
        let status = flags as u32 & (flag::NONBLOCK | flag::DIRECT);
        let cloexec = flags & flag::CLOEXEC as usize != 0;
        let obj = Arc::new(PipeObj {
            key: new_key(),
            pipe: kspin::SpinNoIrq::new(Pipe::new()),
        });
        let r = Description::new(Kind::PipeRead(obj.clone()), status, None);
        let w = Description::new(Kind::PipeWrite(obj), status | 1, None);
        let rfd = self.fds().insert(r, cloexec)?;
        let wfd = match self.fds().insert(w, cloexec) {
            Ok(fd) => fd,
            Err(e) => {
                drop(self.fds().close(rfd));
                return Err(e);
            }
        };
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&rfd.to_le_bytes());
        out[4..].copy_from_slice(&wfd.to_le_bytes());
        if let Err(e) = user::put(fds, &out) {
            drop(self.fds().close(rfd));
            drop(self.fds().close(wfd));
            return Err(e);
        }
        Ok(0)
    }

    /// `memfd_create(name, flags)`: an anonymous regular file (mode 0777, read-write),
    /// an inode of the namespace that never has a name.
    pub(super) fn memfd_create(&mut self, name: usize, flags: usize) -> SysResult {
        let name = user::path(name).map_err(|e| match e {
            LinuxError::ENAMETOOLONG => LinuxError::EINVAL,
            e => e,
        })?;
        if name.len() > MFD_NAME_MAX || flags & !MFD_KNOWN != 0 || flags & 0x18 == 0x18 {
            return Err(LinuxError::EINVAL);
        }
        let file = Arc::new(MemFile::with_name(
            &format!("/memfd:{name} (deleted)"),
            alloc::vec::Vec::new(),
        ));
        let key = new_key().0;
        let hidden = format!("/.memfd-{key}");
        let ino = namespace::with(|fs| {
            // Created, held and unlinked under one lock: no one ever sees the name.
            let ino = fs.create(ROOT_INO, &hidden, 0o777, WHO, file.clone())?;
            fs.open_ref(ino)?;
            fs.unlink(ROOT_INO, &hidden, WHO)?;
            Ok(ino)
        })
        .map_err(errno)?;
        let d = Description::new(Kind::File { ino, file }, 2, None);
        self.fds()
            .insert(d, flags & MFD_CLOEXEC != 0)
            .map(|fd| fd as usize)
    }

    pub(super) fn ioctl(&mut self, fd: usize, req: usize, arg: usize) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        match req {
            FIONBIO => {
                let mut on = [0u8; 4];
                user::get(arg, &mut on)?;
                let f = d.flags();
                d.set_flags(if on != [0; 4] {
                    f | flag::NONBLOCK
                } else {
                    f & !flag::NONBLOCK
                });
                return Ok(0);
            }
            FIOCLEX | FIONCLEX => {
                return self
                    .fds()
                    .set_cloexec(fd as i32, req == FIOCLEX)
                    .map(|()| 0);
            }
            _ => {}
        }
        match (&d.kind, req) {
            // Job control (the process group calls) is the kernel's: crate::ttyjobs.
            (Kind::Console, _) => super::tty::ioctl(req, arg),
            (Kind::PipeRead(p) | Kind::PipeWrite(p), FIONREAD) => {
                let n = p.pipe.lock().len();
                user::put_u32(arg, n as u32).map(|()| 0)
            }
            (Kind::Socket(s), FIONREAD) => user::put_u32(arg, s.pending() as u32).map(|()| 0),
            (Kind::File { file, .. }, FIONREAD) => {
                let left = file.size().saturating_sub(d.offset());
                user::put_u32(arg, left.min(i32::MAX as u64) as u32).map(|()| 0)
            }
            _ => Err(LinuxError::ENOTTY),
        }
    }
}
