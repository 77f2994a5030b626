//! Linux's `vm.max_map_count`: how many areas one address space may hold.
//!
//! Linux refuses, with `ENOMEM`, an `mmap` while the space holds more than the limit, and
//! any split of an area (by `mprotect`, or by `munmap` of a hole in its middle) that would
//! take it past the limit. The limit also bounds the kernel memory one process's areas
//! take.

use memory_addr::VirtAddr;
use page_table_multiarch::{GenericPTE, PagingHandler, PagingMetaData};

use super::AddrSpace;
use crate::LinuxError;

/// Linux's default `vm.max_map_count`.
pub const DEFAULT_MAX_MAP_COUNT: usize = 65530;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Sets the most areas this space may hold (Linux's `vm.max_map_count`,
    /// [`DEFAULT_MAX_MAP_COUNT`] in a new space; a forked space keeps its parent's).
    pub fn set_max_map_count(&mut self, max: usize) {
        self.max_map_count = max;
    }

    /// The most areas this space may hold ([`set_max_map_count`](Self::set_max_map_count)).
    pub fn max_map_count(&self) -> usize {
        self.max_map_count
    }

    /// `mmap`'s check (Linux's `do_mmap`): `ENOMEM` while the space holds more areas than
    /// the limit.
    pub(super) fn check_map_count(&self) -> Result<(), LinuxError> {
        if self.areas.len() > self.max_map_count {
            return Err(LinuxError::ENOMEM);
        }
        Ok(())
    }

    /// A split's check (Linux's `__split_vma`): `ENOMEM` if `splits` more areas would take
    /// the space past the limit.
    pub(super) fn check_splits(&self, splits: usize) -> Result<(), LinuxError> {
        if self.areas.len().saturating_add(splits) > self.max_map_count {
            return Err(LinuxError::ENOMEM);
        }
        Ok(())
    }

    /// Whether `addr` lies strictly inside an area (a change starting or ending there
    /// splits it) and `changes` says that area would change.
    pub(super) fn splits_at(
        &self,
        addr: VirtAddr,
        changes: impl Fn(&super::Area<M, P, H>) -> bool,
    ) -> bool {
        self.areas
            .find(addr)
            .is_some_and(|a| a.start() < addr && changes(a))
    }
}
