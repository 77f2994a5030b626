//! `fallocate(fd, mode, offset, len)` on the RAM file system, with tmpfs's modes: plain
//! allocation (grows the file; RAM files have no blocks to reserve, so nothing else
//! changes), `FALLOC_FL_KEEP_SIZE`, and `FALLOC_FL_PUNCH_HOLE` (with `KEEP_SIZE`: the range
//! reads as zeros again, in every shared mapping too). Collapse, zero, insert and unshare
//! ranges are `EOPNOTSUPP`, as on tmpfs.

use alloc::vec;

use pagoda::mm::LinuxError;

use super::desc::Kind;
use super::{Files, SysResult, namespace};

const KEEP_SIZE: u32 = 0x01;
const PUNCH_HOLE: u32 = 0x02;
const COLLAPSE_RANGE: u32 = 0x08;
const ZERO_RANGE: u32 = 0x10;
const INSERT_RANGE: u32 = 0x20;
const UNSHARE_RANGE: u32 = 0x40;
const SUPPORTED: u32 =
    KEEP_SIZE | PUNCH_HOLE | COLLAPSE_RANGE | ZERO_RANGE | INSERT_RANGE | UNSHARE_RANGE;

impl Files {
    /// Linux's order (`vfs_fallocate`): the descriptor, the range, the mode's shape, write
    /// access, the file type (`ESPIPE`, `EISDIR`, `ENODEV`), the size limit, then what the
    /// file system supports.
    pub(super) fn fallocate(&mut self, fd: usize, mode: usize, offset: i64, len: i64) -> SysResult {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        let mode = mode as u32;
        if offset < 0 || len <= 0 {
            return Err(LinuxError::EINVAL);
        }
        if mode & !SUPPORTED != 0
            || mode & (PUNCH_HOLE | ZERO_RANGE) == PUNCH_HOLE | ZERO_RANGE
            || (mode & PUNCH_HOLE != 0 && mode & KEEP_SIZE == 0)
        {
            return Err(LinuxError::EOPNOTSUPP);
        }
        let exclusive = |bit: u32| mode & bit != 0 && mode & !bit != 0;
        if exclusive(COLLAPSE_RANGE)
            || exclusive(INSERT_RANGE)
            || (mode & UNSHARE_RANGE != 0 && mode & !(UNSHARE_RANGE | KEEP_SIZE) != 0)
        {
            return Err(LinuxError::EINVAL);
        }
        if !d.writable() {
            return Err(LinuxError::EBADF);
        }
        let (ino, file) = match &d.kind {
            Kind::PipeRead(_) | Kind::PipeWrite(_) => return Err(LinuxError::ESPIPE),
            Kind::Dir(_) => return Err(LinuxError::EISDIR),
            Kind::File { ino, file } => (*ino, file.clone()),
            Kind::Proc(_) => return Err(LinuxError::EOPNOTSUPP),
            _ => return Err(LinuxError::ENODEV),
        };
        let end = offset.checked_add(len).ok_or(LinuxError::EFBIG)? as u64;
        if mode & !(KEEP_SIZE | PUNCH_HOLE) != 0 {
            return Err(LinuxError::EOPNOTSUPP);
        }
        let size = file.size();
        if mode & PUNCH_HOLE != 0 {
            // Zeros over the part of the range inside the file.
            let end = end.min(size);
            let mut at = offset as u64;
            let zeros = vec![0u8; 64 * 1024];
            while at < end {
                let n = ((end - at) as usize).min(zeros.len());
                file.write_at(at, &zeros[..n])?;
                at += n as u64;
            }
        } else if mode & KEEP_SIZE == 0 && end > size {
            let f: &dyn pagoda::mm::File = &*file;
            f.set_len(end)?;
        } else {
            return Ok(0);
        }
        namespace::with(|fs| fs.touch(ino, 1));
        Ok(0)
    }
}
