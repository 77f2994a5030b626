#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(all(feature = "testing", not(test)))]
extern crate std;

pub mod abi;
mod aspace;
mod backend;
pub mod elf;
mod file;
mod flags;
mod frame;
pub mod mdwe;
mod mmu;
mod perm;
pub mod shm;
pub mod thp;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use core::fmt;

pub use axerrno::{LinuxError, LinuxResult};

pub use self::aspace::mempolicy;
pub use self::aspace::{
    AddrSpace, Area, AreaInfo, ClearRefs, DEFAULT_MAX_MAP_COUNT, DEFAULT_MMAP_MIN_ADDR,
    DEFAULT_STACK_LIMIT, PageInfo, STACK_GUARD_GAP,
};
pub use self::backend::{Backend, BackendKind, SharedMem};
pub use self::file::{AccessMode, CachedFile, File, FileBacking, MAX_FILE_SIZE, MemFile, OpenFile};
pub use self::flags::{Advice, MmapFlags, MremapFlags, MsyncFlags, Populate};
pub use self::frame::FrameRef;
pub use self::mdwe::Mdwe;
pub use self::mmu::Mmu;

/// How [`AddrSpace::handle_page_fault`] resolved a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOutcome {
    /// A page appeared where there was none: zero-filled, loaded from a file or the page
    /// cache, or taken from a shared object.
    Filled,
    /// Copy-on-write: the private page was shared (after `fork`, or with the page cache),
    /// so this space got its own copy.
    CopiedOnWrite,
    /// The frame stayed and its entry changed to allow the access: copy-on-write without
    /// a copy (this space was the page's only owner, so the page became writable again in
    /// place), or an entry that lagged behind its area brought up to date.
    Reused,
    /// Nothing to change: the present entry already allows the access (another CPU
    /// resolved it first, or the TLB entry was stale and has been flushed). Never the
    /// answer when the entry refuses the access, which would make it fault forever.
    Spurious,
}

/// Why a page fault could not be resolved (the signal a user process would get).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultError {
    /// No mapping at the address, or the mapping forbids the access (`SIGSEGV`).
    Segv,
    /// The mapping exists but has no page there: past the end of its file or object, or
    /// the file could not be read (`SIGBUS`).
    Bus,
    /// No memory for the page or a page table; nothing changed (the OOM path).
    NoMemory,
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Segv => "segmentation fault",
            Self::Bus => "bus error",
            Self::NoMemory => "out of memory",
        })
    }
}

impl core::error::Error for FaultError {}
