//! Soft-dirty tracking (`/proc/<pid>/clear_refs`, `pagemap` bit 55), the same on every
//! architecture: it needs no page-table bit. A page is soft-dirty when its frame was
//! written since the last clear (set by write faults; its entry is writable only then, so
//! the first write after a clear always faults), or when its area is (Linux's
//! `VM_SOFTDIRTY`: new areas, and areas grown or moved by `mremap`).

use axerrno::{LinuxError, LinuxResult};
use memory_addr::VirtAddr;
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::AddrSpace;
use crate::mmu::vpn;

/// What a write of `value` to `/proc/<pid>/clear_refs` asks for (Linux's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearRefs {
    /// 1: the referenced bits of every page.
    All,
    /// 2: those of anonymous pages.
    Anon,
    /// 3: those of file pages.
    Mapped,
    /// 4: the soft-dirty bits.
    SoftDirty,
    /// 5: the peak resident set size.
    PeakRss,
}

impl ClearRefs {
    /// Parses what was written: a decimal number with optional surrounding white space.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] for anything but 1 to 5.
    pub fn parse(text: &[u8]) -> Result<Self, LinuxError> {
        let text = core::str::from_utf8(text).map_err(|_| LinuxError::EINVAL)?;
        Ok(match text.trim().parse::<i32>() {
            Ok(1) => Self::All,
            Ok(2) => Self::Anon,
            Ok(3) => Self::Mapped,
            Ok(4) => Self::SoftDirty,
            Ok(5) => Self::PeakRss,
            _ => return Err(LinuxError::EINVAL),
        })
    }
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `clear_refs`: [`ClearRefs::SoftDirty`] makes every page clean (no area
    /// soft-dirty, no page written) and write-protects the pages, so that the next
    /// write to each faults and marks it again. The others have nothing to clear here:
    /// no accessed bits are kept (`Referenced` is the resident size) and the peak
    /// resident size is always the current one.
    ///
    /// # Errors
    ///
    /// [`LinuxError::ENOMEM`] if a page table could not be changed (the pages before
    /// stay write-protected; all bits are cleared).
    pub fn clear_refs(&mut self, what: ClearRefs) -> LinuxResult {
        if what != ClearRefs::SoftDirty {
            return Ok(());
        }
        let mut result = Ok(());
        for area in self.areas.iter_mut() {
            let (start, size, flags) = (area.start(), area.size(), area.flags());
            let Some(paged) = area.backend_mut().paged_mut() else {
                continue;
            };
            paged.attrs.softdirty = false;
            paged.frames.clear_soft_dirty();
            if flags.contains(MappingFlags::WRITE)
                && paged.protect(start, size, flags, &mut self.mmu).is_err()
            {
                result = Err(LinuxError::ENOMEM);
            }
        }
        self.mmu.commit();
        result
    }

    /// Whether the page at `va` is soft-dirty (`pagemap` bit 55): written since the last
    /// [`clear_refs`](Self::clear_refs), or in a soft-dirty area; `false` outside areas.
    pub fn soft_dirty(&self, va: VirtAddr) -> bool {
        self.areas
            .find(va)
            .and_then(|a| a.backend().paged())
            .is_some_and(|p| p.attrs.softdirty || p.frames.is_soft_dirty(vpn(va)))
    }

    /// Whether the frame at `va` was written since the last clear (tests' invariant: an
    /// entry is writable only then).
    #[cfg(test)]
    pub(crate) fn page_written(&self, va: VirtAddr) -> bool {
        self.areas
            .find(va)
            .and_then(|a| a.backend().paged())
            .is_some_and(|p| p.frames.is_soft_dirty(vpn(va)))
    }

    /// Whether the area at `va` is soft-dirty as a whole (`sd` in `VmFlags`).
    pub fn area_soft_dirty(&self, va: VirtAddr) -> bool {
        self.areas
            .find(va)
            .and_then(|a| a.backend().paged())
            .is_some_and(|p| p.attrs.softdirty)
    }
}
