//! The generated `/proc` files: `/proc/meminfo`, `/proc/self/maps` (the current address
//! space) and the `/proc/self/exe` link. They are recognised by absolute path (the
//! namespace holds only the empty `/proc` directory); a file's text is made when it is
//! opened, so one open reads one consistent snapshot.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use pagoda::fs::procfs::{MemInfo, meminfo};
use pagoda::mm::{self, LinuxError, PAGE_SIZE_4K};

use super::Files;

/// The generated regular files.
const FILES: &[&str] = &["/proc/meminfo", "/proc/self/maps"];
/// The `/proc/self/exe` link.
const EXE: &str = "/proc/self/exe";

/// Whether `path` names a generated regular file.
pub fn is_file(path: &str) -> bool {
    FILES.contains(&path)
}

/// The text of the generated file `path`, or `None` if it is not one.
pub fn open(_files: &Files, path: &str) -> Option<Result<Vec<u8>, LinuxError>> {
    match path {
        "/proc/meminfo" => Some(Ok(meminfo_text().into_bytes())),
        "/proc/self/maps" => {
            Some(mm::with_current(|s| format!("{s}").into_bytes()).ok_or(LinuxError::ENOENT))
        }
        _ => None,
    }
}

/// `path` with `/proc/self/exe` replaced by the program's path (opening the link opens
/// the program).
pub fn redirect(files: &Files, path: &str) -> String {
    match (&files.exe, path) {
        (Some(exe), EXE) => exe.clone(),
        _ => String::from(path),
    }
}

/// `readlink` of a generated link, or `None` if `path` is not one.
pub fn readlink(files: &Files, path: &str) -> Option<Result<String, LinuxError>> {
    (path == EXE).then(|| files.exe.clone().ok_or(LinuxError::ENOENT))
}

/// `/proc/meminfo` from the frame allocator's figures.
fn meminfo_text() -> String {
    let frames = mm::frame_stats();
    let page = PAGE_SIZE_4K as u64;
    let free = frames.free as u64 * page;
    meminfo(&MemInfo {
        total: frames.total as u64 * page,
        free,
        available: free,
        ..MemInfo::default()
    })
}
