//! Copying to and from the current process's memory: every user pointer goes through the
//! address space's uaccess (`read_bytes` / `write_bytes`), never a raw pointer.

use alloc::string::String;
use alloc::vec::Vec;

use pagoda::mm::{self, LinuxError, VirtAddr};

/// A system call's result: the value for the return register, or an errno.
pub type SysResult = Result<usize, LinuxError>;

/// A negative errno as the register value.
pub fn errno(e: LinuxError) -> usize {
    (-(e.code() as isize)) as usize
}

/// Runs `f` on the current address space (`EFAULT` if there is none).
pub fn space<R>(
    f: impl FnOnce(&mut mm::AddrSpace) -> Result<R, LinuxError>,
) -> Result<R, LinuxError> {
    mm::with_current(f).unwrap_or(Err(LinuxError::EFAULT))
}

/// Copies `buf.len()` bytes from user address `at` (`None`: the address overflowed).
pub fn get(at: Option<usize>, buf: &mut [u8]) -> Result<(), LinuxError> {
    let at = at.ok_or(LinuxError::EFAULT)?;
    space(|s| s.read_bytes(VirtAddr::from_usize(at), buf))
}

/// Copies `data` to user address `at`.
pub fn put(at: Option<usize>, data: &[u8]) -> Result<(), LinuxError> {
    let at = at.ok_or(LinuxError::EFAULT)?;
    space(|s| s.write_bytes(VirtAddr::from_usize(at), data))
}

/// Reads `N` bytes at `at`.
pub fn get_array<const N: usize>(at: usize) -> Result<[u8; N], LinuxError> {
    let mut b = [0u8; N];
    get(Some(at), &mut b)?;
    Ok(b)
}

/// Reads a `u64` at `at`.
pub fn get_u64(at: usize) -> Result<u64, LinuxError> {
    get_array::<8>(at).map(u64::from_le_bytes)
}

/// Reads a `u32` at `at`.
pub fn get_u32(at: usize) -> Result<u32, LinuxError> {
    get_array::<4>(at).map(u32::from_le_bytes)
}

/// Writes a `u32` at `at`.
pub fn put_u32(at: usize, v: u32) -> Result<(), LinuxError> {
    put(Some(at), &v.to_le_bytes())
}

/// Writes a `u64` at `at`.
pub fn put_u64(at: usize, v: u64) -> Result<(), LinuxError> {
    put(Some(at), &v.to_le_bytes())
}

/// Reads a NUL-terminated string of at most `max` bytes (NUL excluded) at `at`.
///
/// # Errors
/// `EFAULT` for an unreadable byte before the NUL; `too_long` when no NUL comes within
/// `max` bytes (`ENAMETOOLONG` for paths, `E2BIG` for arguments).
pub fn get_cstr(at: usize, max: usize, too_long: LinuxError) -> Result<Vec<u8>, LinuxError> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        let addr = at.checked_add(out.len()).ok_or(LinuxError::EFAULT)?;
        // Never read across a page boundary in one go: the string may end right before an
        // unmapped page.
        let n = chunk.len().min(4096 - (addr % 4096));
        get(Some(addr), &mut chunk[..n])?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return if out.len() > max {
                Err(too_long)
            } else {
                Ok(out)
            };
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > max {
            return Err(too_long);
        }
    }
}

/// The longest path a call accepts (`PATH_MAX` without its NUL).
pub const PATH_MAX: usize = 4095;

/// Reads a path argument (`ENOENT` for an empty one, as Linux answers).
///
/// # Errors
/// `EFAULT`, `ENAMETOOLONG`, `ENOENT` (also for bytes that are not UTF-8: the namespace
/// holds UTF-8 names only, so no such file exists).
pub fn get_path(at: usize) -> Result<String, LinuxError> {
    let bytes = get_cstr(at, PATH_MAX, LinuxError::ENAMETOOLONG)?;
    if bytes.is_empty() {
        return Err(LinuxError::ENOENT);
    }
    String::from_utf8(bytes).map_err(|_| LinuxError::ENOENT)
}
