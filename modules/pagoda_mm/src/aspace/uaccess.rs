//! Kernel access to the memory of an address space (copy in / copy out), through the
//! frames, faulting lazy pages in and breaking copy-on-write as a real access would.

use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData, PagingResult};

use super::AddrSpace;
use super::fault::Check;
use crate::FaultError;
use crate::mmu::vpn;
use crate::perm::permits;

fn fault_errno(err: FaultError) -> LinuxError {
    match err {
        FaultError::NoMemory => LinuxError::ENOMEM,
        FaultError::Segv | FaultError::Bus => LinuxError::EFAULT,
    }
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Runs `f(frame offset, chunk index range)` over the pages of `[va, va + len)` after
    /// making each page accessible for `access`.
    fn for_each_page(
        &mut self,
        va: VirtAddr,
        len: usize,
        access: MappingFlags,
        check: Check,
        mut f: impl FnMut(&crate::FrameRef<H>, usize, core::ops::Range<usize>) -> PagingResult,
    ) -> LinuxResult {
        self.apply_truncations();
        let end = va.as_usize().checked_add(len).ok_or(LinuxError::EFAULT)?;
        let write = access.contains(MappingFlags::WRITE);
        let mut cur = va.as_usize();
        let mut result = Ok(());
        while cur < end {
            // `cur + left` may be 2^64 on the last page: take the minimum first.
            let chunk_end = cur + (PAGE_SIZE_4K - cur % PAGE_SIZE_4K).min(end - cur);
            let addr = VirtAddr::from_usize(cur);
            let r = self.prepare(addr, access, check, write);
            if let Err(err) = r {
                result = Err(err);
                break;
            }
            let Some(frame) = self.frame_at(addr) else {
                result = Err(LinuxError::EFAULT);
                break;
            };
            let done = cur - va.as_usize();
            if f(frame, cur % PAGE_SIZE_4K, done..done + (chunk_end - cur)).is_err() {
                result = Err(LinuxError::EFAULT);
                break;
            }
            cur = chunk_end;
        }
        self.mmu.commit();
        result
    }

    /// Makes the page at `va` present (and privately owned for a write).
    fn prepare(
        &mut self,
        va: VirtAddr,
        access: MappingFlags,
        check: Check,
        write: bool,
    ) -> LinuxResult {
        if self.areas.find(va).is_none() {
            // The kernel's accesses grow a stack as the program's own would.
            self.expand_stack(va).map_err(|_| LinuxError::EFAULT)?;
        }
        let area = self.areas.find_mut(va).ok_or(LinuxError::EFAULT)?;
        if check == Check::Perms && !permits::<P>(area.flags(), access) {
            return Err(LinuxError::EFAULT);
        }
        // Linear areas own no frames: the kernel reaches them through its direct map.
        let paged = area.backend_mut().paged_mut().ok_or(LinuxError::EFAULT)?;
        let vpn = vpn(va);
        let ready = paged.frames.get(vpn).is_some()
            && (!write || !paged.source.is_private() || paged.frames.is_exclusive(vpn));
        if ready
            && write
            && let Some(frame) = paged.frames.get(vpn)
        {
            // A kernel store into a shared file page: dirty in the page cache.
            paged.source.note_write(vpn, frame, false);
            // Written, as a user store would mark it (its entry may stay read-only).
            paged.frames.set_soft_dirty(vpn);
        }
        if !ready {
            // A replaced frame goes to the reclaim list: freed after the caller's commit.
            let (_, old) = self.resolve(va, access, check).map_err(fault_errno)?;
            if let Some(old) = old {
                self.mmu.reclaim.push_frame(old);
            }
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from `va` (a `copy_from_user`). Lazy pages are faulted in;
    /// the area must be readable.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EFAULT`] if some byte is unmapped, not readable, past the end of a file,
    /// or in a linear area; [`LinuxError::ENOMEM`] if a page could not be allocated.
    /// Bytes before the failing page have been copied.
    #[doc(alias = "copy_from_user")]
    pub fn read_bytes(&mut self, va: VirtAddr, buf: &mut [u8]) -> LinuxResult {
        self.for_each_page(
            va,
            buf.len(),
            MappingFlags::READ,
            Check::Perms,
            |frame, off, r| frame.read_at(off, &mut buf[r]),
        )
    }

    /// Copies `data` to `va` (a `copy_to_user`). Lazy pages are faulted in and
    /// copy-on-write pages copied; the area must be writable.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Self::read_bytes), for writability.
    #[doc(alias = "copy_to_user")]
    pub fn write_bytes(&mut self, va: VirtAddr, data: &[u8]) -> LinuxResult {
        self.for_each_page(
            va,
            data.len(),
            MappingFlags::WRITE,
            Check::Perms,
            |frame, off, r| frame.write_at(off, &data[r]),
        )
    }

    /// Like [`write_bytes`](Self::write_bytes) but ignoring the area's protection (as a
    /// loader filling a read-only segment, or a debugger): private pages are still copied
    /// before the write, shared pages are written in place.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EFAULT`] if some byte is outside every area, past the end of a file or
    /// in a linear area; [`LinuxError::ENOMEM`] if a page could not be allocated.
    pub fn force_write_bytes(&mut self, va: VirtAddr, data: &[u8]) -> LinuxResult {
        self.for_each_page(
            va,
            data.len(),
            MappingFlags::WRITE,
            Check::Force,
            |frame, off, r| frame.write_at(off, &data[r]),
        )
    }

    /// Reads a NUL-terminated string at `va` of at most `max` bytes (without the NUL).
    ///
    /// # Errors
    ///
    /// [`LinuxError::EFAULT`] as [`read_bytes`](Self::read_bytes) for a byte before the
    /// NUL; [`LinuxError::ENAMETOOLONG`] if no NUL is found within `max` bytes.
    pub fn read_cstr(&mut self, va: VirtAddr, max: usize) -> LinuxResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur = va.as_usize();
        while out.len() < max {
            let page_left = PAGE_SIZE_4K - cur % PAGE_SIZE_4K;
            let n = page_left.min(max - out.len());
            let mut buf = [0u8; 256];
            let n = n.min(buf.len());
            self.read_bytes(VirtAddr::from_usize(cur), &mut buf[..n])?;
            if let Some(nul) = buf[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
            cur = cur.checked_add(n).ok_or(LinuxError::EFAULT)?;
        }
        Err(LinuxError::ENAMETOOLONG)
    }
}
