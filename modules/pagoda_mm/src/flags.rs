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
        /// `MAP_DROPPABLE` (Linux 6.11): private anonymous memory whose pages the kernel
        /// may drop (they read back as zeros); wiped on fork. Here only `MADV_PAGEOUT`
        /// drops them (there is no reclaim).
        const DROPPABLE = 0x08;
        /// `MAP_GROWSDOWN`: a private anonymous area grows down on faults below it.
        const GROWSDOWN = 0x0100;
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
        /// `MAP_STACK`: no huge pages (`VM_NOHUGEPAGE`, which keeps the area apart).
        const STACK = 0x2_0000;
        /// `MAP_FIXED_NOREPLACE`: map exactly at the address, or fail with `EEXIST`.
        const FIXED_NOREPLACE = 0x10_0000;
    }
}

impl MmapFlags {
    /// Linux's `MAP_TYPE`: the bits that name the mapping type (`SHARED`, `PRIVATE`,
    /// `SHARED_VALIDATE` or `DROPPABLE`; any other value is `EINVAL`).
    pub const TYPE_MASK: u32 = 0x0f;

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
        /// `MREMAP_DONTUNMAP`: move, but leave the old range mapped and empty (requires
        /// `MAYMOVE` and equal lengths).
        const DONTUNMAP = 4;
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

/// `madvise` advice (`MADV_*`, Linux values). Linux advice not listed (`MADV_REMOVE`,
/// `MADV_HWPOISON`, `MADV_SOFT_OFFLINE`, `MADV_COLLAPSE`, `MADV_GUARD_INSTALL/REMOVE`) is
/// `EINVAL`, as on a Linux kernel built without the feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Advice {
    /// `MADV_NORMAL` (accepted, no effect).
    Normal = 0,
    /// `MADV_RANDOM` (accepted, no effect).
    Random = 1,
    /// `MADV_SEQUENTIAL` (accepted, no effect).
    Sequential = 2,
    /// `MADV_WILLNEED` (accepted, no effect: nothing is swapped out or read ahead here).
    WillNeed = 3,
    /// `MADV_DONTNEED`: drop the pages; private anonymous memory reads zero afterwards,
    /// private file pages are read from the file again, shared pages keep their contents.
    /// Refused (`EINVAL`) on `mlock`ed areas.
    DontNeed = 4,
    /// `MADV_FREE`: private anonymous memory only (else `EINVAL`); the pages are dropped
    /// at once (Linux may keep them until memory is short: either way they read their old
    /// contents or zero).
    Free = 8,
    /// `MADV_DONTFORK`: a forked child does not get the range.
    DontFork = 10,
    /// `MADV_MERGEABLE` (accepted, no effect: there is no same-page merging).
    Mergeable = 12,
    /// `MADV_UNMERGEABLE` (accepted, no effect).
    Unmergeable = 13,
    /// `MADV_HUGEPAGE`: marks the area `VM_HUGEPAGE`: with the [`thp`](crate::thp) policy
    /// `madvise`, first touches of private anonymous memory fill huge pages.
    HugePage = 14,
    /// `MADV_NOHUGEPAGE`: marks the area `VM_NOHUGEPAGE`: no new huge pages (those there
    /// stay, as on Linux).
    NoHugePage = 15,
    /// `MADV_DOFORK`: undoes `MADV_DONTFORK`.
    DoFork = 11,
    /// `MADV_DONTDUMP` (accepted, no effect: there are no core dumps).
    DontDump = 16,
    /// `MADV_DODUMP` (accepted, no effect).
    DoDump = 17,
    /// `MADV_WIPEONFORK`: a forked child gets the range zero-filled (private anonymous
    /// memory only, else `EINVAL`).
    WipeOnFork = 18,
    /// `MADV_KEEPONFORK`: undoes `MADV_WIPEONFORK`.
    KeepOnFork = 19,
    /// `MADV_COLD` (accepted, no effect: there is no page reclaim; `EINVAL` when locked).
    Cold = 20,
    /// `MADV_PAGEOUT`: drops the pages of `MAP_DROPPABLE` areas; otherwise no effect
    /// (there is no swap); `EINVAL` when locked.
    PageOut = 21,
    /// `MADV_POPULATE_READ`: fault every page in for reading now.
    PopulateRead = 22,
    /// `MADV_POPULATE_WRITE`: fault every page in for writing now (breaks copy-on-write).
    PopulateWrite = 23,
    /// `MADV_DONTNEED_LOCKED`: `MADV_DONTNEED` that also drops locked pages.
    DontNeedLocked = 24,
    /// `MADV_COLLAPSE`: every 2 MiB block inside the range becomes one huge page now
    /// (private anonymous memory; see [`AddrSpace::madvise`](crate::AddrSpace::madvise)).
    Collapse = 25,
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
            8 => Self::Free,
            10 => Self::DontFork,
            11 => Self::DoFork,
            12 => Self::Mergeable,
            13 => Self::Unmergeable,
            14 => Self::HugePage,
            15 => Self::NoHugePage,
            16 => Self::DontDump,
            17 => Self::DoDump,
            18 => Self::WipeOnFork,
            19 => Self::KeepOnFork,
            20 => Self::Cold,
            21 => Self::PageOut,
            22 => Self::PopulateRead,
            23 => Self::PopulateWrite,
            24 => Self::DontNeedLocked,
            25 => Self::Collapse,
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
