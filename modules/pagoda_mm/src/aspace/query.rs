//! Read-only questions about areas and pages that `/proc/<pid>/smaps` and `pagemap` ask:
//! what an area is, and for each touched page its frame, whether an entry maps it now, how
//! many address spaces map it, whether it is dirty and whether it is anonymous.

use memory_addr::{MemoryAddr, PAGE_SIZE_4K, PhysAddr, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PageSize, PagingHandler, PagingMetaData};

use super::{AddrSpace, Area};
use crate::backend::{BackendKind, Source};
use crate::mmu::{page_va, vpn};

/// What `/proc/<pid>/maps` and `smaps` show about one area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaInfo<'a> {
    /// The area's range.
    pub range: VirtAddrRange,
    /// Its protection.
    pub flags: MappingFlags,
    /// What it maps.
    pub kind: BackendKind,
    /// Whether it is a shared mapping (`s` in maps, `sh` in `VmFlags`).
    pub shared: bool,
    /// The byte offset of its first page in the file or shared object (0 otherwise).
    pub offset: u64,
    /// The file's or shared object's name, or `[heap]` for the program break area.
    pub name: Option<&'a str>,
    /// Whether the file (of a file mapping) may be written through this mapping
    /// (Linux's `VM_MAYWRITE` of a shared file mapping); `true` for other areas.
    pub may_write: bool,
    /// `mlock`ed (`VM_LOCKED`).
    pub locked: bool,
    /// `MADV_DONTFORK` (`VM_DONTCOPY`).
    pub dontfork: bool,
    /// `MADV_WIPEONFORK` (`VM_WIPEONFORK`).
    pub wipeonfork: bool,
    /// Sealed by `mseal` (`VM_SEALED`, `sl` in `VmFlags`).
    pub sealed: bool,
    /// Charged as private writable memory (`VM_ACCOUNT`, `ac`): made writable once,
    /// without `MAP_NORESERVE`.
    pub accounted: bool,
    /// `MAP_NORESERVE` (`VM_NORESERVE`, `nr`).
    pub noreserve: bool,
    /// Soft-dirty as a whole (`VM_SOFTDIRTY`, `sd`): new, grown or moved since the last
    /// `clear_refs`.
    pub softdirty: bool,
    /// Grows down on faults below it (`VM_GROWSDOWN`: the stack, `MAP_GROWSDOWN`).
    pub growsdown: bool,
    /// A first touch may fill a transparent huge page here now (`THPeligible` in smaps):
    /// private anonymous memory for which the [`thp`](crate::thp) policy allows some block
    /// size, with the area's advice, that the area holds an aligned block of (Linux 6.12
    /// counts every enabled size).
    pub thp_eligible: bool,
}

/// What `smaps` and `pagemap` know about one touched page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    /// The page's virtual address.
    pub va: VirtAddr,
    /// Its frame.
    pub paddr: PhysAddr,
    /// A page-table entry holds the frame now (also under `PROT_NONE`, which Linux's
    /// `pagemap` reports as present too).
    pub present: bool,
    /// How many address spaces map the frame (at least 1; fork-shared and shared-memory
    /// pages count every sharer known to the frame's reference counts).
    pub mappers: usize,
    /// Written since it was read in: anonymous memory and private copies always (there is
    /// no swap to clean them), page-cache pages while they need write-back.
    pub dirty: bool,
    /// Anonymous memory: private anonymous pages and private copies of file pages (not a
    /// page of the page cache or of a shared object).
    pub anon: bool,
    /// Mapped now by a PMD-level leaf (a transparent huge page: `AnonHugePages`).
    pub huge: bool,
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// What `area` (one of [`areas`](Self::areas)) is.
    pub fn area_info<'a>(&self, area: &'a Area<M, P, H>) -> AreaInfo<'a> {
        let backend = area.backend();
        let kind = backend.kind();
        let attrs = backend.paged().map(|p| p.attrs).unwrap_or_default();
        let shared = matches!(
            kind,
            BackendKind::FileShared | BackendKind::Shared | BackendKind::Linear
        );
        let offset = backend
            .file_offset(area.start())
            .or_else(|| backend.shared_offset(area.start()).map(|o| o as u64))
            .unwrap_or(0);
        let may_write = match (kind, backend.file()) {
            (BackendKind::FileShared, Some(f)) => f.access().writable(),
            _ => true,
        };
        AreaInfo {
            range: area.va_range(),
            flags: area.flags(),
            kind,
            shared,
            offset,
            name: self.area_name(area),
            may_write,
            locked: attrs.locked,
            dontfork: attrs.dontfork,
            wipeonfork: attrs.wipeonfork,
            sealed: area.backend().sealed(),
            accounted: attrs.accounted,
            noreserve: attrs.noreserve,
            softdirty: attrs.softdirty,
            growsdown: attrs.growsdown,
            thp_eligible: backend.paged().is_some_and(|p| {
                let orders = crate::thp::allowed_orders(attrs.hugepage, attrs.nohugepage);
                matches!(p.source, Source::Anon)
                    && crate::thp::orders().any(|o| {
                        let size = PAGE_SIZE_4K << o;
                        orders & (1 << o) != 0 && area.start().align_up(size) + size <= area.end()
                    })
            }),
        }
    }

    /// The touched pages of `area` in `[start, end)` (clamped to the area), in address
    /// order. Linear areas have none (their frames are not memory the space owns).
    pub fn area_pages<'a>(
        &'a self,
        area: &'a Area<M, P, H>,
        start: VirtAddr,
        end: VirtAddr,
    ) -> impl Iterator<Item = PageInfo> + 'a {
        let paged = area.backend().paged();
        let lo = vpn(start.max(area.start()));
        let hi = vpn(end.min(area.end()));
        paged.into_iter().flat_map(move |p| {
            p.frames.range(lo, hi).map(move |(page, frame)| {
                let va = page_va(page);
                let (chunk_owners, frame_owners) = p.frames.owners(page).unwrap_or((1, 1));
                // Who else holds the frame without mapping it: the page cache or the
                // shared object it belongs to.
                let (held, dirty, anon) = match &p.source {
                    Source::Anon => (false, true, true),
                    Source::File { cache, .. } => {
                        let cached = p
                            .source
                            .file_index(page)
                            .and_then(|idx| cache.holds(idx, frame));
                        match cached {
                            Some(dirty) => (true, dirty, false),
                            None => (false, true, true),
                        }
                    }
                    Source::Shared { .. } => (true, true, false),
                };
                let mappers = (chunk_owners + frame_owners)
                    .saturating_sub(1 + usize::from(held))
                    .max(1);
                let (present, huge) = match self.page_table().query(va) {
                    Ok((pa, _, size)) if pa == frame.start_paddr() => {
                        (true, size == PageSize::Size2M)
                    }
                    _ => (false, false),
                };
                PageInfo {
                    va,
                    paddr: frame.start_paddr(),
                    present,
                    mappers,
                    dirty,
                    anon,
                    huge,
                }
            })
        })
    }

    /// The touched page at `va`, if any (see [`area_pages`](Self::area_pages)).
    pub fn page_info(&self, va: VirtAddr) -> Option<PageInfo> {
        let area = self.find_area(va)?;
        let page = va.align_down_4k();
        self.area_pages(area, page, page_va(vpn(page) + 1)).next()
    }
}
