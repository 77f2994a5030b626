//! The files read at the reader's offset rather than made at open: `pagemap` (8 bytes per
//! virtual page) and `mem` (the process's memory, read and written through uaccess).

use pagoda::fs::procfs::pagemap_word;
use pagoda::mm::{AddrSpace, LinuxError, VirtAddr};
use pagoda_mm::ClearRefs;

use super::info::info;

const PAGE: u64 = 4096;
/// `pagemap` answers for user addresses below this (the largest user half, x86-64's and
/// Sv48's 2^47; Sv39's pages above its 2^38 simply read as absent).
const USER_TOP: u64 = 1 << 47;

/// `pagemap` of `pid` at byte `pos`: one word per page from page `pos / 8` on. The offset
/// and the length must be multiples of 8 (`EINVAL`, as Linux); past the user half it reads
/// end of file. `show_pfn`: the reader may see frame numbers (root).
pub fn pagemap(pid: u32, pos: u64, out: &mut [u8], show_pfn: bool) -> Result<usize, LinuxError> {
    if !pos.is_multiple_of(8) || !out.len().is_multiple_of(8) {
        return Err(LinuxError::EINVAL);
    }
    let first = pos / 8;
    let pages = (USER_TOP / PAGE).saturating_sub(first);
    let n = (out.len() as u64 / 8).min(pages) as usize;
    let found = info().with_space(pid, &mut |s: &mut AddrSpace| {
        for (i, word) in out[..n * 8].chunks_exact_mut(8).enumerate() {
            let va = VirtAddr::from_usize(((first + i as u64) * PAGE) as usize);
            // Bit 55 (soft-dirty) also for pages not present, as Linux's VM_SOFTDIRTY.
            let sd = s.soft_dirty(va);
            let w = match s.page_info(va) {
                Some(p) if p.present => pagemap_word(
                    Some(p.paddr.as_usize() as u64 / PAGE),
                    !p.anon,
                    p.mappers == 1,
                    sd,
                    show_pfn,
                ),
                _ => pagemap_word(None, false, false, sd, show_pfn),
            };
            word.copy_from_slice(&w.to_le_bytes());
        }
    });
    if !found {
        return Ok(0);
    }
    Ok(n * 8)
}

/// `mem` of `pid`: reads (`data: None`, into `out`) or writes `data` at address `pos`, page
/// by page through uaccess (lazy pages are faulted in; a write ignores the protection as a
/// debugger's does, copying private pages first). Stops at the first page that cannot be
/// accessed; `EIO` if that is the first one, as Linux.
pub fn mem(pid: u32, pos: u64, out: &mut [u8], data: Option<&[u8]>) -> Result<usize, LinuxError> {
    let len = data.map_or(out.len(), <[u8]>::len);
    let mut done = 0;
    let found = info().with_space(pid, &mut |s: &mut AddrSpace| {
        while done < len {
            let Some(at) = pos.checked_add(done as u64).filter(|&a| a < USER_TOP) else {
                break;
            };
            let n = (len - done).min((PAGE - at % PAGE) as usize);
            let va = VirtAddr::from_usize(at as usize);
            let r = match data {
                Some(d) => s.force_write_bytes(va, &d[done..done + n]),
                None => s.read_bytes(va, &mut out[done..done + n]),
            };
            if r.is_err() {
                break;
            }
            done += n;
        }
    });
    match (found, done) {
        (false, _) => Err(LinuxError::ESRCH),
        (true, 0) if len > 0 => Err(LinuxError::EIO),
        (true, n) => Ok(n),
    }
}

/// A write to `clear_refs` of `pid`: the value (`ClearRefs::parse`; Linux reads at most 12
/// bytes of it) is applied to the process's space; the whole write is consumed.
pub fn clear_refs(pid: u32, data: &[u8]) -> Result<usize, LinuxError> {
    let what = ClearRefs::parse(&data[..data.len().min(12)])?;
    let mut r = Ok(());
    let found = info().with_space(pid, &mut |s: &mut AddrSpace| r = s.clear_refs(what));
    if !found {
        return Err(LinuxError::ESRCH);
    }
    r.map(|()| data.len())
}
