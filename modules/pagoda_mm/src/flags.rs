//! Flag types of the mmap family, with Linux's values so a syscall layer passes them through.

use axerrno::LinuxError;

bitflags::bitflags! {
    /// `mmap` flags (`MAP_*`). Bits not listed are kept by `from_bits_retain` and ignored,
    /// except under [`SHARED_VALIDATE`](Self::SHARED_VALIDATE), where they fail with
    /// `EOPNOTSUPP`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MmapFlags: u32 {
        /// `MAP_SHARED`: writes are visible to every mapping and reach the file.
        const SHARED = 0x01;
        /// `MAP_PRIVATE`: a private copy-on-write mapping.
        const PRIVATE = 0x02;
        /// `MAP_SHARED_VALIDATE`: `MAP_SHARED` that rejects unknown flags.
        const SHARED_VALIDATE = 0x03;
        /// `MAP_FIXED`: map exactly at the address, replacing what is there.
        const FIXED = 0x10;
        /// `MAP_ANONYMOUS`: zero-filled memory, no file.
        const ANONYMOUS = 0x20;
        /// `MAP_DENYWRITE` (ignored, as on Linux).
        const DENYWRITE = 0x0800;
        /// `MAP_EXECUTABLE` (ignored, as on Linux).
        const EXECUTABLE = 0x1000;
        /// `MAP_LOCKED` (accepted; pages are never swapped here).
        const LOCKED = 0x2000;
        /// `MAP_NORESERVE` (accepted; nothing is reserved in advance here).
        const NORESERVE = 0x4000;
        /// `MAP_POPULATE`: allocate / read every page now.
        const POPULATE = 0x8000;
        /// `MAP_NONBLOCK` (accepted, ignored).
        const NONBLOCK = 0x1_0000;
        /// `MAP_STACK` (accepted, ignored).
        const STACK = 0x2_0000;
        /// `MAP_FIXED_NOREPLACE`: map exactly at the address, or fail with `EEXIST`.
        const FIXED_NOREPLACE = 0x10_0000;
    }
}

impl MmapFlags {
    /// The flags `MAP_SHARED_VALIDATE` accepts (Linux's `LEGACY_MAP_MASK`: the old flags,
    /// `MAP_32BIT`, `MAP_GROWSDOWN`, `MAP_UNINITIALIZED`, `MAP_HUGETLB` and its size bits);
    /// anything else — `MAP_FIXED_NOREPLACE`, `MAP_SYNC` (no DAX files here), unknown bits —
    /// is `EOPNOTSUPP` under it.
    pub const VALIDATE_MASK: u32 = 0x03
        | 0x10
        | 0x20
        | 0x40
        | 0x100
        | 0x0800
        | 0x1000
        | 0x2000
        | 0x4000
        | 0x8000
        | 0x1_0000
        | 0x2_0000
        | 0x4_0000
        | 0xfc00_0000;
}

bitflags::bitflags! {
    /// `mremap` flags (`MREMAP_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MremapFlags: u32 {
        /// `MREMAP_MAYMOVE`: the mapping may move if it cannot grow in place.
        const MAYMOVE = 1;
        /// `MREMAP_FIXED`: move to the given new address (requires `MAYMOVE`).
        const FIXED = 2;
    }
}

bitflags::bitflags! {
    /// `msync` flags (`MS_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MsyncFlags: u32 {
        /// `MS_ASYNC`: schedule the write-back (done synchronously here).
        const ASYNC = 1;
        /// `MS_INVALIDATE`: accepted; mappings always see the page cache here.
        const INVALIDATE = 2;
        /// `MS_SYNC`: write back now.
        const SYNC = 4;
    }
}

/// `madvise` advice (`MADV_*`, Linux values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Advice {
    /// `MADV_NORMAL` (accepted, no effect).
    Normal = 0,
    /// `MADV_RANDOM` (accepted, no effect).
    Random = 1,
    /// `MADV_SEQUENTIAL` (accepted, no effect).
    Sequential = 2,
    /// `MADV_WILLNEED` (accepted, no effect).
    WillNeed = 3,
    /// `MADV_DONTNEED`: drop the pages; private anonymous memory reads zero afterwards,
    /// private file pages are read from the file again, shared pages keep their contents.
    DontNeed = 4,
}

impl TryFrom<u32> for Advice {
    type Error = LinuxError;

    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for advice not listed.
    fn try_from(raw: u32) -> Result<Self, LinuxError> {
        Ok(match raw {
            0 => Self::Normal,
            1 => Self::Random,
            2 => Self::Sequential,
            3 => Self::WillNeed,
            4 => Self::DontNeed,
            _ => return Err(LinuxError::EINVAL),
        })
    }
}

/// Whether an area populates its pages when it is mapped (an enum instead of a bool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Populate {
    /// Allocate or read each page on its first touch.
    Lazy,
    /// Allocate or read every page now; running out of memory is an error.
    Eager,
}
