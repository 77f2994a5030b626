//! Splitting paths into components, with Linux's limits.

use super::{FsError, FsResult};

/// The longest file name (`NAME_MAX`).
pub const MAX_NAME: usize = 255;
/// The longest path, without its NUL (`PATH_MAX - 1`).
pub const MAX_PATH: usize = 4095;
/// How many symlinks one resolution follows before `ELOOP` (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// A path split for resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// Starts at the root (`/...`) rather than the start directory.
    pub absolute: bool,
    /// The components, without empty ones (`a//b`); `.` and `..` kept.
    pub parts: alloc::vec::Vec<&'a str>,
    /// Ends in `/`: the last component must be a directory.
    pub trailing_slash: bool,
}

/// Splits `path`.
///
/// # Errors
/// `ENOENT` for the empty path, `ENAMETOOLONG` past [`MAX_PATH`] or with a component past
/// [`MAX_NAME`].
pub(crate) fn parse(path: &str) -> FsResult<Parsed<'_>> {
    if path.is_empty() {
        return Err(FsError::NotFound);
    }
    if path.len() > MAX_PATH {
        return Err(FsError::NameTooLong);
    }
    let absolute = path.starts_with('/');
    let trailing_slash = path.ends_with('/');
    let mut parts = alloc::vec::Vec::new();
    for part in path.split('/') {
        if part.len() > MAX_NAME {
            return Err(FsError::NameTooLong);
        }
        if !part.is_empty() {
            parts.push(part);
        }
    }
    Ok(Parsed {
        absolute,
        parts,
        trailing_slash,
    })
}

/// Checks a name a new entry gets.
///
/// # Errors
/// `EEXIST` for `.` and `..` (they always exist), `ENAMETOOLONG`, `ENOENT` for an empty name.
pub(crate) fn check_new_name(name: &str) -> FsResult<()> {
    match name {
        "" => Err(FsError::NotFound),
        "." | ".." => Err(FsError::Exists),
        n if n.len() > MAX_NAME => Err(FsError::NameTooLong),
        _ => Ok(()),
    }
}
