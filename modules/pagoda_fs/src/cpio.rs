//! Reading `cpio -H newc` archives (the initramfs format): magic `070701`, or `070702` with
//! a checksum of the data.
//!
//! Layout of one member: a 110-byte header (the magic and 13 fields of 8 hex digits), the
//! name (with its NUL) padded so that header + name is a multiple of 4 bytes, then the data
//! padded to a multiple of 4. The member named `TRAILER!!!` ends an archive. As Linux's
//! initramfs does, NUL padding after a trailer is skipped and a further archive may follow.

use core::fmt;

const HEADER_LEN: usize = 110;
const MAGIC: &[u8; 6] = b"070701";
const MAGIC_CRC: &[u8; 6] = b"070702";
const TRAILER: &str = "TRAILER!!!";

/// Why an archive could not be read. `offset` is where the bad member starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpioError {
    /// The archive ends inside a member.
    Truncated {
        /// Offset of the member.
        offset: usize,
    },
    /// Not a newc header (an old binary or odc cpio, or garbage).
    BadMagic {
        /// Offset of the member.
        offset: usize,
    },
    /// A compressed archive (gzip, xz, zstd, ...): Pagoda unpacks only uncompressed ones.
    Compressed {
        /// Offset of the archive.
        offset: usize,
    },
    /// A header field is not 8 hex digits.
    BadField {
        /// Offset of the member.
        offset: usize,
    },
    /// The name is empty, lacks its NUL, holds a NUL, or is not UTF-8.
    BadName {
        /// Offset of the member.
        offset: usize,
    },
    /// A `070702` member whose data does not match its checksum.
    Checksum {
        /// Offset of the member.
        offset: usize,
    },
    /// The archive has no trailer.
    NoTrailer,
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::Truncated { offset } => write!(f, "cpio member at {offset:#x} is truncated"),
            CpioError::BadMagic { offset } => write!(f, "no newc cpio header at {offset:#x}"),
            CpioError::Compressed { offset } => {
                write!(
                    f,
                    "compressed archive at {offset:#x}: pass an uncompressed cpio"
                )
            }
            CpioError::BadField { offset } => write!(f, "bad header field at {offset:#x}"),
            CpioError::BadName { offset } => write!(f, "bad member name at {offset:#x}"),
            CpioError::Checksum { offset } => write!(f, "checksum mismatch at {offset:#x}"),
            CpioError::NoTrailer => f.write_str("cpio archive without trailer"),
        }
    }
}

/// The file type in an entry's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (its data is the contents).
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (its data is the target).
    Symlink,
    /// A character device (`rdev` says which).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
}

/// One member of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The path as stored (often without a leading `/`, sometimes with `./`).
    pub name: &'a str,
    /// Inode number: members with the same `ino` and `nlink > 1` are hard links (newc stores
    /// the data with the last of them).
    pub ino: u32,
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// The device a device node names: (major, minor).
    pub rdev: (u32, u32),
    /// Contents (regular files) or target (symlinks).
    pub data: &'a [u8],
}

impl Entry<'_> {
    /// The file type.
    ///
    /// # Errors
    /// The unknown type bits (`mode & 0o170000`).
    pub fn kind(&self) -> Result<EntryKind, u32> {
        Ok(match self.mode & 0o170_000 {
            0o100_000 => EntryKind::Regular,
            0o040_000 => EntryKind::Directory,
            0o120_000 => EntryKind::Symlink,
            0o020_000 => EntryKind::CharDevice,
            0o060_000 => EntryKind::BlockDevice,
            0o010_000 => EntryKind::Fifo,
            0o140_000 => EntryKind::Socket,
            other => return Err(other),
        })
    }

    /// The permission bits, with set-id and sticky bits (`mode & 0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// An iterator over the members of one or more concatenated archives. After an error it
/// yields nothing more.
#[derive(Debug, Clone)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Whether a trailer was seen since the last member.
    closed: bool,
    done: bool,
}

impl<'a> Archive<'a> {
    /// Reads `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            closed: false,
            done: false,
        }
    }

    fn member(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        loop {
            // NUL padding between archives, in 4-byte steps.
            while self.closed && self.bytes.get(self.pos..self.pos + 4) == Some(&[0; 4]) {
                self.pos += 4;
            }
            let offset = self.pos;
            let rest = &self.bytes[offset.min(self.bytes.len())..];
            if rest.is_empty() {
                return if self.closed {
                    Ok(None)
                } else {
                    Err(CpioError::NoTrailer)
                };
            }
            if is_compressed(rest) {
                return Err(CpioError::Compressed { offset });
            }
            let header = rest
                .get(..HEADER_LEN)
                .ok_or(CpioError::Truncated { offset })?;
            let with_crc = match &header[..6] {
                m if m == MAGIC => false,
                m if m == MAGIC_CRC => true,
                _ => return Err(CpioError::BadMagic { offset }),
            };
            let field = |i: usize| hex_field(&header[6 + 8 * i..14 + 8 * i], offset);
            let (ino, mode, uid, gid, nlink, mtime) = (
                field(0)?,
                field(1)?,
                field(2)?,
                field(3)?,
                field(4)?,
                field(5)?,
            );
            let size = field(6)? as usize;
            let rdev = (field(9)?, field(10)?);
            let name_size = field(11)? as usize;
            let check = field(12)?;
            let name_end = HEADER_LEN
                .checked_add(name_size)
                .ok_or(CpioError::Truncated { offset })?;
            let raw_name = rest
                .get(HEADER_LEN..name_end)
                .ok_or(CpioError::Truncated { offset })?;
            let name = match raw_name.split_last() {
                Some((0, name)) if !name.is_empty() && !name.contains(&0) => {
                    core::str::from_utf8(name).map_err(|_| CpioError::BadName { offset })?
                }
                _ => return Err(CpioError::BadName { offset }),
            };
            let data_start = align4(name_end);
            let data_end = data_start
                .checked_add(size)
                .ok_or(CpioError::Truncated { offset })?;
            let data = rest
                .get(data_start..data_end)
                .ok_or(CpioError::Truncated { offset })?;
            if with_crc
                && data
                    .iter()
                    .fold(0u32, |sum, b| sum.wrapping_add(u32::from(*b)))
                    != check
            {
                return Err(CpioError::Checksum { offset });
            }
            // The last member's padding may be missing at the very end of the input.
            self.pos = offset + align4(data_end).min(rest.len());
            if name == TRAILER {
                self.closed = true;
                continue;
            }
            self.closed = false;
            return Ok(Some(Entry {
                name,
                ino,
                mode,
                uid,
                gid,
                nlink,
                mtime,
                rdev,
                data,
            }));
        }
    }
}

impl<'a> Iterator for Archive<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.member().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn hex_field(digits: &[u8], offset: usize) -> Result<u32, CpioError> {
    digits.iter().try_fold(0u32, |acc, d| {
        let v = (*d as char)
            .to_digit(16)
            .ok_or(CpioError::BadField { offset })?;
        Ok((acc << 4) | v)
    })
}

/// gzip, xz, zstd, bzip2, lzma, lz4 magics.
fn is_compressed(bytes: &[u8]) -> bool {
    const MAGICS: [&[u8]; 6] = [
        &[0x1f, 0x8b],
        &[0xfd, b'7', b'z', b'X', b'Z'],
        &[0x28, 0xb5, 0x2f, 0xfd],
        b"BZh",
        &[0x5d, 0x00, 0x00],
        &[0x02, 0x21, 0x4c, 0x18],
    ];
    MAGICS.iter().any(|m| bytes.starts_with(m))
}
