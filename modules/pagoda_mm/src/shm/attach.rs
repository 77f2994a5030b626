//! The address-space side of System V shm: `shmat`, `shmdt`, and the stamps that munmap,
//! fork and exit leave in `shmid_ds`.
//!
//! The registry lock is released before any address-space call: `shmat` looks the segment
//! up (one short critical section), then maps it with no registry lock held. Counting
//! attachments needs no lock at all (see [`ShmAttachment`]).

use alloc::sync::Arc;
use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{VirtAddr, VirtAddrRange, align_up_4k};
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

/// `(start, size)` of one area of an attachment.
type Piece = (VirtAddr, usize);

/// The pieces (areas) of the attachment whose segment starts at `addr`, and its segment:
/// Linux's rule. An area is a piece if it is a System V attachment at or above `addr` whose
/// offset in its segment equals its distance from `addr`; the lowest piece decides the
/// segment, and the others must belong to it and start within its size. Pieces left by
/// munmap/mprotect and attachments moved by mremap are found the same way. Only the areas
/// in `[addr, addr + max_size)` are visited: O(log n + k).
fn pieces<M, P, H>(
    aspace: &AddrSpace<M, P, H>,
    addr: VirtAddr,
    max_size: usize,
) -> Option<(Arc<SegStats>, Vec<Piece>)>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    let space_end = aspace.va_range().end;
    let bound = |size: usize| {
        let end = addr
            .as_usize()
            .saturating_add(align_up_4k(size.min(usize::MAX / 2)));
        VirtAddr::from(end).min(space_end)
    };
    let search = VirtAddrRange::try_new(addr, bound(max_size)).filter(|r| !r.is_empty())?;
    let mut found: Option<(Arc<SegStats>, VirtAddr)> = None;
    let mut pieces = Vec::new();
    for area in aspace.areas_in(search) {
        if area.start() < addr {
            continue;
        }
        if found.as_ref().is_some_and(|(_, end)| area.start() >= *end) {
            break;
        }
        let backend = area.backend();
        let (Some(att), Some(obj)) = (backend.shm_attachment(), backend.shared_object()) else {
            continue;
        };
        if backend.shared_offset(area.start()) != Some(area.start() - addr) {
            continue;
        }
        match &found {
            None => found = Some((att.stats().clone(), bound(obj.size()))),
            Some((stats, _)) if Arc::ptr_eq(stats, att.stats()) => {}
            Some(_) => continue,
        }
        pieces.push((area.start(), area.size()));
    }
    found.map(|(stats, _)| (stats, pieces))
}

impl<H: PagingHandler> ShmRegistry<H> {
    /// `shmat(id, addr, shmflg)`: maps the whole segment and returns where.
    ///
    /// `addr` `None` lets the space choose, as `mmap` does (top-down below the mmap top,
    /// [`AddrSpace::find_free_area`]). A given address must be
    /// [`SHMLBA`]-aligned unless `SHM_RND` rounds it down. The area is readable, writable
    /// unless `SHM_RDONLY`, executable with `SHM_EXEC`, and never copy-on-write (fork shares
    /// it). `SHM_REMAP` replaces existing mappings instead of failing. Sets `shm_atime`,
    /// `shm_lpid`, and counts one more in `shm_nattch`. A segment removed with `IPC_RMID`
    /// but still attached can be attached again, as on Linux.
    ///
    /// # Errors
    /// - `EINVAL`: no such segment; an unaligned address without `SHM_RND`; an address that
    ///   rounds to 0 with `SHM_REMAP`; `SHM_REMAP` without an address; the range outside the space or (without
    ///   `SHM_REMAP`) overlapping a mapping.
    /// - `EPERM`: an address below `mmap_min_addr` for an unprivileged caller
    ///   ([`AddrSpace::set_mmap_privileged`]).
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
            // Placed as mmap places: top-down below the mmap top.
            None => (
                aspace
                    .find_free_area(VirtAddr::from(0), size)
                    .ok_or(LinuxError::ENOMEM)?,
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
                // Linux: rounding down to 0 is refused only with SHM_REMAP; below
                // mmap_min_addr is EPERM for an unprivileged caller (do_mmap).
                if (a == 0 && remap) || !aspace.va_range().contains_range(range) {
                    return Err(LinuxError::EINVAL);
                }
                aspace.check_fixed_low(VirtAddr::from(a))?;
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
            attach: Some(ShmAttachment::new(
                seg.stats.clone(),
                start,
                shmflg & SHM_RDONLY != 0,
            )),
        };
        // Mapped lazily as on Linux: a page gets its entry (and, on first use, its frame) when
        // touched, so an attach costs no page-table work and `Rss` counts touched pages only.
        // On failure the attachment is dropped with the source and the count goes back.
        // An occupied range is EINVAL for shmat (EEXIST for mmap).
        aspace
            .map_source(start, size, flags, source, Populate::Lazy, on_overlap)
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

    /// `shmdt(addr)`: detaches the attachment whose segment starts at `addr` (the address
    /// `shmat` returned, or where `mremap` moved it), every piece of it: an attachment
    /// split by munmap/mprotect is several areas, and it stays detachable while any piece
    /// is left, as on Linux. Sets `shm_dtime` and `shm_lpid`; the last detach of a segment
    /// removed with `IPC_RMID` frees it. Visits only the areas in
    /// `[addr, addr + max segment size)`.
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
        if !addr.as_usize().is_multiple_of(SHMLBA) {
            return Err(LinuxError::EINVAL);
        }
        // The statistics, not a clone of the attachment (that would count in nattch).
        let (stats, pieces) =
            pieces(aspace, addr, self.limits().max_size).ok_or(LinuxError::EINVAL)?;
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
        let end = VirtAddr::from(addr.as_usize().saturating_add(len));
        let touched = VirtAddrRange::try_new(addr, end)
            .map(|range| attachments(aspace.areas_in(range)))
            .unwrap_or_default();
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
        attachments(child.areas())
            .iter()
            .for_each(|s| s.stamp_attach(ctx));
    }

    /// Tears `aspace` down (exit, exec) recording the detach of its attachments.
    pub fn exit<M, P>(&self, aspace: AddrSpace<M, P, H>, ctx: ShmContext)
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
    {
        let touched = attachments(aspace.areas());
        drop(aspace);
        touched.iter().for_each(|s| s.stamp_detach(ctx));
    }
}

/// The statistics of the attachments among `areas`.
fn attachments<'a, M, P, H>(
    areas: impl Iterator<Item = &'a crate::Area<M, P, H>>,
) -> Vec<Arc<SegStats>>
where
    M: PagingMetaData<VirtAddr = VirtAddr> + 'a,
    P: GenericPTE + 'a,
    H: PagingHandler + 'a,
{
    areas
        .filter_map(|a| a.backend().shm_attachment().map(|att| att.stats().clone()))
        .collect()
}
