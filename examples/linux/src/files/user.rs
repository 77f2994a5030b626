//! User memory for the file calls: every access goes through the current address space's
//! uaccess (`read_bytes` / `write_bytes`), never a raw pointer.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use pagoda::fs::vfs::MAX_PATH;
use pagoda::mm::{self, LinuxError, VirtAddr};

/// Most iovecs one call takes (`UIO_MAXIOV`).
pub const IOV_MAX: usize = 1024;
/// The largest transfer one call makes (Linux's `MAX_RW_COUNT`, about 2 GiB).
pub const MAX_RW: usize = 0x7fff_f000;

/// Copies `buf.len()` bytes from user address `at`.
pub fn get(at: usize, buf: &mut [u8]) -> Result<(), LinuxError> {
    if buf.is_empty() {
        return Ok(());
    }
    mm::with_current(|s| s.read_bytes(VirtAddr::from_usize(at), buf))
        .unwrap_or(Err(LinuxError::EFAULT))
}

/// Copies `data` to user address `at`.
pub fn put(at: usize, data: &[u8]) -> Result<(), LinuxError> {
    if data.is_empty() {
        return Ok(());
    }
    mm::with_current(|s| s.write_bytes(VirtAddr::from_usize(at), data))
        .unwrap_or(Err(LinuxError::EFAULT))
}

/// A NUL-terminated path at `at`: `ENAMETOOLONG` past `PATH_MAX`, `EFAULT` if unreadable.
/// Linux takes any bytes; the namespace keeps UTF-8 names, so a path that is not UTF-8
/// names nothing (`ENOENT`).
pub fn path(at: usize) -> Result<String, LinuxError> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        // Read up to the next 64-byte boundary so a string ending before an unmapped page
        // is still read.
        let pos = at.checked_add(out.len()).ok_or(LinuxError::EFAULT)?;
        let n = 64 - pos % 64;
        get(pos, &mut chunk[..n])?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > MAX_PATH {
            return Err(LinuxError::ENAMETOOLONG);
        }
    }
    if out.len() > MAX_PATH {
        return Err(LinuxError::ENAMETOOLONG);
    }
    String::from_utf8(out).map_err(|_| LinuxError::ENOENT)
}

/// The `(base, len)` pairs of an iovec array, checked as Linux does before any transfer:
/// `EINVAL` for more than [`IOV_MAX`] or lengths adding up past `isize::MAX`, `EFAULT`
/// for an unreadable array. The total is clamped to [`MAX_RW`].
pub fn iovecs(iov: usize, count: usize) -> Result<Vec<(usize, usize)>, LinuxError> {
    if count > IOV_MAX {
        return Err(LinuxError::EINVAL);
    }
    let mut raw = vec![0u8; count * 16];
    get(iov, &mut raw)?;
    let word = |b: &[u8]| usize::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let mut sum = 0usize;
    let mut out = Vec::with_capacity(count);
    for v in raw.chunks_exact(16) {
        let (base, len) = (word(&v[..8]), word(&v[8..]));
        sum = sum
            .checked_add(len)
            .filter(|&s| s <= isize::MAX as usize)
            .ok_or(LinuxError::EINVAL)?;
        out.push((base, len));
    }
    Ok(out)
}

/// Writes a 32-bit value (`int *`).
pub fn put_u32(at: usize, v: u32) -> Result<(), LinuxError> {
    put(at, &v.to_le_bytes())
}
