#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod aspace;
mod backend;
pub mod elf;
mod file;
mod flags;
mod frame;
mod mmu;
pub mod shm;

#[cfg(test)]
mod tests;

use core::fmt;

pub use axerrno::{LinuxError, LinuxResult};

pub use self::aspace::{AddrSpace, Area};
pub use self::backend::{Backend, BackendKind, SharedMem};
pub use self::file::{File, MemFile, PageCache, PageCacheSlot};
pub use self::flags::{Advice, MmapFlags, MremapFlags, MsyncFlags, Populate};
pub use self::frame::FrameRef;
pub use self::mmu::Mmu;

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
