//! The address-space side of System V shm: `shmat`, `shmdt`, and the stamps that munmap,
//! fork and exit leave in `shmid_ds`.
//!
//! The registry lock is released before any address-space call: `shmat` looks the segment
//! up (one short critical section), then maps it with no registry lock held. Counting
//! attachments needs no lock at all (see [`ShmAttachment`]).

use alloc::sync::Arc;
use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use memory_set::OnOverlap;
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::registry::ShmRegistry;
use super::segment::{SegStats, ShmAttachment};
use super::{SHM_EXEC, SHM_RDONLY, SHM_REMAP, SHM_RND, SHMLBA, ShmContext, ShmId};
use crate::AddrSpace;
use crate::backend::Source;
use crate::flags::Populate;
use crate::mmu::vpn;

/// The attachment of the area starting exactly at `va`, if it is where `shmat` put it.
fn head_attachment<M, P, H>(aspace: &AddrSpace<M, P, H>, va: VirtAddr) -> Option<&ShmAttachment>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    let area = aspace.find_area(va).filter(|a| a.start() == va)?;
    area.backend().shm_attachment().filter(|a| a.base() == va)
}

/// The highest free, page-aligned range of `size` bytes in the space (top-down like mmap).
fn find_free<M, P, H>(aspace: &AddrSpace<M, P, H>, size: usize) -> Option<VirtAddr>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    let range = aspace.va_range();
    let mut top = range.end.as_usize();
    for area in aspace.areas().rev() {
        let gap_lo = area.end().as_usize().max(range.start.as_usize());
        if top >= gap_lo && top - gap_lo >= size {
            return Some(VirtAddr::from(top - size));
        }
        top = top.min(area.start().as_usize());
    }
    let lo = range.start.as_usize();
    (top >= lo && top - lo >= size).then(|| VirtAddr::from(top - size))
}

impl<H: PagingHandler> ShmRegistry<H> {
    /// `shmat(id, addr, shmflg)`: maps the whole segment and returns where.
    ///
    /// `addr` `None` lets the space choose (top-down). A given address must be
    /// [`SHMLBA`]-aligned unless `SHM_RND` rounds it down. The area is readable, writable
    /// unless `SHM_RDONLY`, executable with `SHM_EXEC`, and never copy-on-write (fork shares
    /// it). `SHM_REMAP` replaces existing mappings instead of failing. Sets `shm_atime`,
    /// `shm_lpid`, and counts one more in `shm_nattch`. A segment removed with `IPC_RMID`
    /// but still attached can be attached again, as on Linux.
    ///
    /// # Errors
    /// - `EINVAL`: no such segment; an unaligned address without `SHM_RND`; an address that
    ///   rounds to 0; `SHM_REMAP` without an address; the range outside the space or (without
    ///   `SHM_REMAP`) overlapping a mapping.
    /// - `ENOMEM`: no free range, or no memory for page tables (nothing changes).
    pub fn shmat<M, P>(
        &self,
        aspace: &mut AddrSpace<M, P, H>,
        id: ShmId,
        addr: Option<VirtAddr>,
        shmflg: u32,
        ctx: ShmContext,
    ) -> LinuxResult<VirtAddr>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
    {
        let seg = self.segment(id)?; // the registry lock is released here
        let size = seg.obj.size();
        let remap = shmflg & SHM_REMAP != 0;
        let (start, on_overlap) = match addr.map(VirtAddr::as_usize).filter(|&a| a != 0) {
            None if remap => return Err(LinuxError::EINVAL),
            None => (
                find_free(aspace, size).ok_or(LinuxError::ENOMEM)?,
                OnOverlap::Fail,
            ),
            Some(a) => {
                let a = match (a % SHMLBA, shmflg & SHM_RND) {
                    (0, _) => a,
                    (_, 0) => return Err(LinuxError::EINVAL),
                    _ => a - a % SHMLBA,
                };
                let end = a.checked_add(size).ok_or(LinuxError::EINVAL)?;
                let range = VirtAddrRange::new(VirtAddr::from(a), VirtAddr::from(end));
                if a == 0 || !aspace.va_range().contains_range(range) {
                    return Err(LinuxError::EINVAL);
                }
                let policy = if remap {
                    OnOverlap::Replace
                } else {
                    OnOverlap::Fail
                };
                (VirtAddr::from(a), policy)
            }
        };
        let mut flags = MappingFlags::READ | MappingFlags::USER;
        if shmflg & SHM_RDONLY == 0 {
            flags |= MappingFlags::WRITE;
        }
        if shmflg & SHM_EXEC != 0 {
            flags |= MappingFlags::EXECUTE;
        }
        let source = Source::Shared {
            obj: seg.obj.clone(),
            base_vpn: vpn(start),
            base_idx: 0,
            attach: Some(ShmAttachment::new(seg.stats.clone(), start)),
        };
        // The frames exist already: map them all now. On failure the attachment is dropped
        // with the source and the count goes back.
        // An occupied range is EINVAL for shmat (EEXIST for mmap).
        aspace
            .map_source(start, size, flags, source, Populate::Eager, on_overlap)
            .map_err(|e| {
                if e == LinuxError::EEXIST {
                    LinuxError::EINVAL
                } else {
                    e
                }
            })?;
        seg.stats.stamp_attach(ctx);
        Ok(start)
    }

    /// `shmdt(addr)`: detaches the attachment `shmat` returned `addr` for, every piece of it
    /// (an attachment split by munmap/mprotect is several areas). Sets `shm_dtime` and
    /// `shm_lpid`; the last detach of a segment removed with `IPC_RMID` frees it.
    ///
    /// # Errors
    /// `EINVAL`: `addr` unaligned, or no attachment starts at `addr`.
    pub fn shmdt<M, P>(
        &self,
        aspace: &mut AddrSpace<M, P, H>,
        addr: VirtAddr,
        ctx: ShmContext,
    ) -> LinuxResult
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
    {
        if !addr.as_usize().is_multiple_of(PAGE_SIZE_4K) {
            return Err(LinuxError::EINVAL);
        }
        // Keep the statistics, not a clone of the attachment (that would count in nattch).
        let stats = head_attachment(aspace, addr)
            .ok_or(LinuxError::EINVAL)?
            .stats()
            .clone();
        let size = aspace
            .find_area(addr)
            .and_then(|a| a.backend().shared_object())
            .map_or(0, |obj| obj.size());
        let end = addr.as_usize().saturating_add(size);
        let pieces: Vec<(VirtAddr, usize)> = aspace
            .areas()
            .filter(|a| a.start() >= addr && a.start().as_usize() < end)
            .filter(|a| {
                let att = a.backend().shm_attachment();
                att.is_some_and(|att| Arc::ptr_eq(att.stats(), &stats) && att.base() == addr)
            })
            .map(|a| (a.start(), a.size()))
            .collect();
        for (start, size) in pieces {
            aspace.munmap(start, size)?;
        }
        stats.stamp_detach(ctx);
        Ok(())
    }

    /// `munmap` that also records the detach of every attachment it touches in
    /// `shm_dtime`/`shm_lpid` (a plain [`AddrSpace::munmap`] keeps `shm_nattch` exact but
    /// cannot know the time or the pid).
    ///
    /// # Errors
    /// As [`AddrSpace::munmap`].
    pub fn munmap<M, P>(
        &self,
        aspace: &mut AddrSpace<M, P, H>,
        addr: VirtAddr,
        len: usize,
        ctx: ShmContext,
    ) -> LinuxResult
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
    {
        let end = addr.as_usize().saturating_add(len);
        let touched = attachments(aspace, |a| a.start().as_usize() < end && a.end() > addr);
        aspace.munmap(addr, len)?;
        touched.iter().for_each(|s| s.stamp_detach(ctx));
        Ok(())
    }

    /// Records the attachments a fork just copied into `child` (`shm_atime`, `shm_lpid`;
    /// `shm_nattch` already counts them).
    pub fn forked<M, P>(&self, child: &AddrSpace<M, P, H>, ctx: ShmContext)
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
    {
        attachments(child, |_| true)
            .iter()
            .for_each(|s| s.stamp_attach(ctx));
    }

    /// Tears `aspace` down (exit, exec) recording the detach of its attachments.
    pub fn exit<M, P>(&self, aspace: AddrSpace<M, P, H>, ctx: ShmContext)
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
    {
        let touched = attachments(&aspace, |_| true);
        drop(aspace);
        touched.iter().for_each(|s| s.stamp_detach(ctx));
    }
}

/// The statistics of the attachments in the areas `pick` selects.
fn attachments<M, P, H>(
    aspace: &AddrSpace<M, P, H>,
    pick: impl Fn(&crate::Area<M, P, H>) -> bool,
) -> Vec<Arc<SegStats>>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    aspace
        .areas()
        .filter(|a| pick(a))
        .filter_map(|a| a.backend().shm_attachment().map(|att| att.stats().clone()))
        .collect()
}
