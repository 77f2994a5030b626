//! `utimensat(dirfd, path, times, flags)` (and `futimens`, its NULL-path form): setting a
//! file's access and modification times, with Linux's order of checks (`fs/utimes.c`).

use pagoda::fs::vfs::SetTime;
use pagoda::mm::LinuxError;

use super::meta::AT_SYMLINK_NOFOLLOW;
use super::namespace::{self, WHO, errno};
use super::paths::AT_EMPTY_PATH;
use super::{AT_FDCWD, Files, SysResult, user};

/// `tv_nsec` values that mean "the current time" and "leave this one".
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Reads the two `struct timespec` (`EFAULT`); `None` for a NULL pointer (both now).
fn get_times(at: usize) -> Result<Option<[(i64, i64); 2]>, LinuxError> {
    if at == 0 {
        return Ok(None);
    }
    let mut b = [0u8; 32];
    user::get(at, &mut b)?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        i64::from_le_bytes(w)
    };
    Ok(Some([(word(0), word(8)), (word(16), word(24))]))
}

/// A timespec as a [`SetTime`]; `EINVAL` for a `tv_nsec` out of range.
fn stamp((sec, nsec): (i64, i64)) -> Result<SetTime, LinuxError> {
    match nsec {
        UTIME_NOW => Ok(SetTime::Now),
        UTIME_OMIT => Ok(SetTime::Keep),
        0..=999_999_999 => Ok(SetTime::At(sec, nsec)),
        _ => Err(LinuxError::EINVAL),
    }
}

impl Files {
    pub(super) fn utimensat(
        &mut self,
        dirfd: usize,
        path: usize,
        times: usize,
        flags: usize,
    ) -> SysResult {
        let times = get_times(times)?;
        // Nothing to do: not even the path is looked at.
        if times.is_some_and(|t| t[0].1 == UTIME_OMIT && t[1].1 == UTIME_OMIT) {
            return Ok(0);
        }
        let ino = if path == 0 && dirfd as i32 != AT_FDCWD {
            // futimens: no flags; an O_PATH descriptor is not enough.
            if flags != 0 {
                return Err(LinuxError::EINVAL);
            }
            let d = self.get(dirfd)?;
            if d.is_path() {
                return Err(LinuxError::EBADF);
            }
            match d.ino() {
                Some(ino) => ino,
                // Pipes and the boot console keep no times here.
                None => return Ok(0),
            }
        } else {
            if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
                return Err(LinuxError::EINVAL);
            }
            let path = user::path(path)?;
            if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
                self.fd_ino(dirfd)?
            } else {
                let start = self.start(dirfd, &path)?;
                let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
                namespace::with(|fs| fs.lookup(start, &path, follow, WHO)).map_err(errno)?
            }
        };
        let stamps = match times {
            None => [SetTime::Now; 2],
            Some([a, m]) => [stamp(a)?, stamp(m)?],
        };
        namespace::with(|fs| fs.set_times(ino, stamps, WHO))
            .map_err(errno)
            .map(|()| 0)
    }
}
