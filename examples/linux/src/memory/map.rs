//! `mmap`, `munmap`, `mprotect`, `mremap`, `msync`, `brk`, with `RLIMIT_AS`/`RLIMIT_DATA`
//! and `mlockall(MCL_FUTURE)`.

use pagoda::mm::shm;
use pagoda::mm::{
    self, BackendKind, LinuxError, MappingFlags, MmapFlags, MremapFlags, MsyncFlags, PAGE_SIZE_4K,
    VirtAddr, VirtAddrRange,
};
use pagoda_mm::Mdwe;
use pagoda_mm::abi::{self, PROT_GROWS, RLIMIT_DATA};

use super::{Memory, SysResult, placing, space};
use crate::mmap_source::{MmapSource, MmapTarget};

/// `MAP_SHARED`, `MAP_PRIVATE`, `MAP_SHARED_VALIDATE`, `MAP_DROPPABLE`: the mapping type bits.
const MAP_TYPE: u32 = 0x0f;
/// `MAP_32BIT` (x86-64): place the mapping in the first 2 GiB.
const MAP_32BIT: u32 = 0x40;
/// `MAP_HUGETLB`.
const MAP_HUGETLB: u32 = 0x4_0000;
/// Where `MAP_32BIT` mappings end.
const LOW_2G: usize = 0x8000_0000;

/// A user length rounded up to pages (`None`: 0 or overflow).
fn page_len(len: usize) -> Option<usize> {
    len.checked_add(PAGE_SIZE_4K - 1)
        .map(|l| l & !(PAGE_SIZE_4K - 1))
        .filter(|&l| l != 0)
}

/// Whether `va` is page-aligned.
fn aligned(va: VirtAddr) -> bool {
    va.as_usize().is_multiple_of(PAGE_SIZE_4K)
}

/// `va` rounded up to a page (addresses of the heap never overflow: they are at most the
/// aligned end of the space).
fn align_up(va: VirtAddr) -> VirtAddr {
    VirtAddr::from_usize(va.as_usize().div_ceil(PAGE_SIZE_4K) * PAGE_SIZE_4K)
}

/// Bytes mapped in `range` (everything with `None`): all of them, and the private
/// writable ones that count as data for `RLIMIT_DATA` (Linux's `data_vm`; the stack, the
/// area at the top of the space, does not).
fn usage(s: &mm::AddrSpace, range: Option<VirtAddrRange>) -> (usize, usize) {
    let top = s.va_range().end;
    let range = range.unwrap_or(s.va_range());
    let (mut total, mut data) = (0, 0);
    for area in s.areas_in(range) {
        let size = area.end().min(range.end) - area.start().max(range.start);
        total += size;
        let private = matches!(
            area.backend().kind(),
            BackendKind::Alloc | BackendKind::FilePrivate
        );
        if private && area.flags().contains(MappingFlags::WRITE) && area.end() != top {
            data += size;
        }
    }
    (total, data)
}

/// Linux's default overcommit heuristic (`OVERCOMMIT_GUESS`): one request for more
/// memory than there is RAM (no swap here) fails.
fn overcommit_ok(len: usize) -> bool {
    len / PAGE_SIZE_4K <= mm::frame_stats().total
}

/// Whether `len` more bytes (data or not) fit `RLIMIT_AS`/`RLIMIT_DATA`, not counting
/// what `replaced` (a range a fixed mapping replaces) holds now, as Linux counts.
fn fits(
    m: &Memory,
    s: &mm::AddrSpace,
    len: usize,
    data: bool,
    replaced: Option<VirtAddrRange>,
) -> bool {
    if m.limits.finite(abi::RLIMIT_AS).is_none() && m.limits.finite(RLIMIT_DATA).is_none() {
        return true;
    }
    let (total, data_now) = usage(s, None);
    let gone = replaced.map_or(0, |r| usage(s, Some(r)).0);
    abi::may_expand(&m.limits, total, data_now, len.saturating_sub(gone), data)
}

impl Memory {
    /// `mmap(addr, len, prot, flags, fd, offset)`.
    pub(super) fn mmap(&self, a: [usize; 6], files: &dyn MmapSource) -> SysResult {
        let (addr, len, offset) = (a[0], a[1], a[5]);
        // sys_mmap: the offset first; then the descriptor (ksys_mmap_pgoff).
        if !offset.is_multiple_of(PAGE_SIZE_4K) {
            return Err(LinuxError::EINVAL);
        }
        let prot = abi::mmap_prot(a[2]);
        // Bits above 32 are unknown flags: ignored, or EOPNOTSUPP under MAP_SHARED_VALIDATE.
        let high_bits = a[3] >> 32 != 0;
        let raw = a[3] as u32;
        let mut flags = MmapFlags::from_bits_retain(raw);
        let target = if flags.contains(MmapFlags::ANONYMOUS) {
            None
        } else {
            match files.mmap_target(a[4]) {
                Err(LinuxError::EBADF) => return Err(LinuxError::EBADF),
                other => Some(other),
            }
        };
        if raw & MAP_HUGETLB != 0 {
            // No huge page pool: Linux fails anonymous hugetlb mappings with ENOMEM (none
            // reserved) and refuses the flag on files that are not in hugetlbfs.
            return Err(match target {
                None => LinuxError::ENOMEM,
                Some(_) => LinuxError::EINVAL,
            });
        }
        let validate = raw & MAP_TYPE == MmapFlags::SHARED_VALIDATE.bits();
        // Shared anonymous memory is charged like private memory (shmem accounting).
        let target_is_memory = matches!(target, None | Some(Ok(MmapTarget::Zero)));
        let file = match target {
            None => None,
            Some(Ok(MmapTarget::File(file))) => {
                if validate && high_bits {
                    return Err(LinuxError::EOPNOTSUPP);
                }
                Some(file)
            }
            // /dev/zero maps as anonymous memory, private or shared.
            // It is still a file to Linux: MAP_DROPPABLE (anonymous only) is EINVAL.
            Some(Ok(MmapTarget::Zero)) => {
                pre_checks(addr, len, raw, high_bits)?;
                if validate {
                    flags.remove(MmapFlags::PRIVATE);
                }
                flags.insert(MmapFlags::ANONYMOUS);
                None
            }
            // Linux finds out late that the file cannot be mapped.
            Some(Err(e)) => {
                pre_checks(addr, len, raw, high_bits)?;
                return Err(e);
            }
        };
        // MAP_POPULATE | MAP_NONBLOCK does not populate (Linux).
        if flags.contains(MmapFlags::NONBLOCK) {
            flags.remove(MmapFlags::POPULATE);
        }
        let fixed = flags.intersects(MmapFlags::FIXED | MmapFlags::FIXED_NOREPLACE);
        // MAP_DROPPABLE is private data (RLIMIT_DATA) but never committed memory: Linux
        // sets VM_NORESERVE for it.
        let noreserve =
            flags.contains(MmapFlags::NORESERVE) || raw & MAP_TYPE == MmapFlags::DROPPABLE.bits();
        let shared = matches!(raw & MAP_TYPE, 0x01 | 0x03);
        let data = !shared && prot.contains(MappingFlags::WRITE);
        let locked = flags.contains(MmapFlags::LOCKED);
        placing(self.creds.0, |s| {
            let mut addr = VirtAddr::from_usize(addr);
            if let Some(len) = page_len(len) {
                let replaced = VirtAddrRange::try_from_start_size(addr, len)
                    .filter(|_| fixed && aligned(addr));
                if !fits(self, s, len, data, replaced) {
                    return Err(LinuxError::ENOMEM);
                }
                let accounted = (data || (shared && target_is_memory)) && !noreserve;
                if accounted && !overcommit_ok(len) {
                    return Err(LinuxError::ENOMEM);
                }
                if raw & MAP_32BIT != 0 && !fixed && pagoda::ARCH == "x86_64" {
                    let hint = LOW_2G.checked_sub(len).ok_or(LinuxError::ENOMEM)?;
                    addr = s
                        .find_free_area(VirtAddr::from_usize(hint), len)
                        .ok_or(LinuxError::ENOMEM)?;
                    flags.insert(MmapFlags::FIXED_NOREPLACE);
                }
            }
            // Linux's mmap_region: no writable+executable mapping under MDWE.
            if self.mdwe.denies(prot, prot) {
                return Err(LinuxError::EACCES);
            }
            let start = s.mmap(addr, len, prot, flags, file, offset as u64)?;
            if locked {
                let _ = s.mlock(start, len, true);
            }
            self.lock_new(s, start.as_usize(), len);
            Ok(start.as_usize())
        })
    }

    /// `munmap(addr, len)`, stamping System V detaches.
    pub(super) fn munmap(&self, addr: usize, len: usize) -> SysResult {
        let ctx = shm::context(self.pid);
        space(|s| shm::registry().munmap(s, VirtAddr::from_usize(addr), len, ctx)).map(|()| 0)
    }

    /// `mremap(old, old_len, new_len, flags, new)`; growth counts against the limits.
    pub(super) fn mremap(&self, a: [usize; 6]) -> SysResult {
        let (old, old_len, new_len) = (VirtAddr::from_usize(a[0]), a[1], a[2]);
        let flags = u32::try_from(a[3])
            .map(MremapFlags::from_bits_retain)
            .map_err(|_| LinuxError::EINVAL)?;
        let new = VirtAddr::from_usize(a[4]);
        placing(self.creds.0, |s| {
            let grow = match (page_len(old_len), page_len(new_len)) {
                _ if flags.contains(MremapFlags::DONTUNMAP) => page_len(new_len),
                (None, new) => new,
                (Some(o), Some(n)) if n > o => Some(n - o),
                _ => None,
            };
            let data = s.find_area(old).is_some_and(|area| {
                area.backend().kind() == BackendKind::Alloc
                    && area.flags().contains(MappingFlags::WRITE)
            });
            if let Some(extra) = grow
                && s.find_area(old).is_some()
                && (!fits(self, s, extra, data, None) || (data && !overcommit_ok(extra)))
            {
                return Err(LinuxError::ENOMEM);
            }
            let at = s.mremap(old, old_len, new_len, flags, new)?;
            // A locked mapping that grew is populated (Linux).
            if let (Some(o), Some(n)) = (page_len(old_len), page_len(new_len))
                && n > o
                && s.range_locked(VirtAddrRange::from_start_size(at, PAGE_SIZE_4K))
            {
                let _ = s.mlock(at + o, n - o, true);
            }
            Ok(at.as_usize())
        })
    }

    /// `brk(addr)`: Linux's rules (`AddrSpace::brk`) plus `RLIMIT_DATA` on the heap size
    /// (Linux also counts the data segment, which the loader does not report here) and
    /// both limits on the pages added.
    pub(super) fn brk(&self, addr: usize) -> SysResult {
        space(|s| {
            let Some(heap) = s.heap() else {
                return Ok(s.brk(VirtAddr::from_usize(addr)).as_usize());
            };
            let (old_top, start) = (align_up(heap.end), heap.start.as_usize());
            if addr > heap.end.as_usize() && addr <= s.va_range().end.as_usize() {
                let new_top = align_up(VirtAddr::from_usize(addr));
                let heap_too_big = self
                    .limits
                    .finite(RLIMIT_DATA)
                    .is_some_and(|l| (addr - start) as u64 > l);
                let more = new_top - old_top;
                if heap_too_big || !fits(self, s, more, true, None) || !overcommit_ok(more) {
                    return Ok(heap.end.as_usize());
                }
            }
            let new = s.brk(VirtAddr::from_usize(addr));
            let new_top = align_up(new);
            if new_top > old_top {
                self.lock_new(s, old_top.as_usize(), new_top - old_top);
            }
            Ok(new.as_usize())
        })
    }
}

/// The checks Linux makes before it finds out that a descriptor cannot be mapped (or
/// before `/dev/zero`'s `MAP_SHARED_VALIDATE` becomes shared memory), in its order.
fn pre_checks(addr: usize, len: usize, raw: u32, high_bits: bool) -> Result<(), LinuxError> {
    if len == 0 {
        return Err(LinuxError::EINVAL);
    }
    page_len(len).ok_or(LinuxError::ENOMEM)?;
    let fixed = MmapFlags::FIXED | MmapFlags::FIXED_NOREPLACE;
    if MmapFlags::from_bits_retain(raw).intersects(fixed) && !addr.is_multiple_of(PAGE_SIZE_4K) {
        return Err(LinuxError::EINVAL);
    }
    match raw & MAP_TYPE {
        1 | 2 => Ok(()),
        3 if high_bits || raw & !MmapFlags::VALIDATE_MASK != 0 => Err(LinuxError::EOPNOTSUPP),
        3 => Ok(()),
        _ => Err(LinuxError::EINVAL),
    }
}

/// `mprotect(addr, len, prot)` with Linux's checks: both `PROT_GROWSDOWN` and
/// `PROT_GROWSUP` is `EINVAL`; then alignment, length and wrap-around; then unknown bits;
/// one of them alone is `EINVAL` on a mapping (none grows here), `ENOMEM` on a hole.
/// Pages before a hole are changed, as on Linux (`mprotect_linux`); under MDWE an area
/// that would gain `PROT_EXEC` or become W+X is `EACCES` (`mprotect_mdwe`).
pub(super) fn mprotect(addr: usize, len: usize, bits: usize, mdwe: Mdwe) -> SysResult {
    let grows = bits & PROT_GROWS;
    if grows == PROT_GROWS || !addr.is_multiple_of(PAGE_SIZE_4K) {
        return Err(LinuxError::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let end = page_len(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(LinuxError::ENOMEM)?;
    let prot = abi::mprotect_prot(bits & !grows)?;
    let (start, range) = (VirtAddr::from_usize(addr), VirtAddr::from_usize(end));
    space(|s| {
        if grows != 0 {
            let range = VirtAddrRange::new(start, range);
            return Err(match s.areas_in(range).next() {
                Some(_) => LinuxError::EINVAL,
                None => LinuxError::ENOMEM,
            });
        }
        s.mprotect_mdwe(start, len, prot, mdwe).map(|()| 0)
    })
}

/// `msync(addr, len, flags)`; `MS_INVALIDATE` on a locked range is `EBUSY` (Linux).
pub(super) fn msync(addr: usize, len: usize, flags: usize) -> SysResult {
    let flags = MsyncFlags::from_bits_retain(flags as u32);
    let start = VirtAddr::from_usize(addr);
    space(|s| {
        let valid = MsyncFlags::all().contains(flags)
            && !flags.contains(MsyncFlags::ASYNC | MsyncFlags::SYNC)
            && aligned(start);
        if valid
            && flags.contains(MsyncFlags::INVALIDATE)
            && let Some(range) =
                page_len(len).and_then(|l| VirtAddrRange::try_from_start_size(start, l))
            && s.range_locked(range)
        {
            return Err(LinuxError::EBUSY);
        }
        s.msync(start, len, flags).map(|()| 0)
    })
}
