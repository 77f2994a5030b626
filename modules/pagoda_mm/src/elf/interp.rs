//! What `execve` adds to a plain load: the program interpreter (`PT_INTERP`, the dynamic
//! linker) and the auxv entries describing the process and the CPU.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::VirtAddr;
use page_table_entry::GenericPTE;
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::parse::{ElfLayout, ElfMachine, ElfPlan, plan};
use super::stack::{
    AT_CLKTCK, AT_EGID, AT_EUID, AT_FLAGS, AT_GID, AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ, AT_SECURE,
    AT_UID, StackStrings, auxv_for,
};
use crate::AddrSpace;
use crate::file::File;

/// `times()` ticks per second (`AT_CLKTCK`), Linux's `USER_HZ`.
const CLOCK_TICKS: usize = 100;

/// An interpreter image to load with the program.
#[derive(Clone, Copy)]
pub struct InterpImage<'a> {
    /// The interpreter's file bytes.
    pub image: &'a [u8],
    /// The same bytes as a page-cache file: its segments are then mapped from it (shared
    /// until written) instead of copied.
    pub file: Option<&'a Arc<dyn File>>,
}

impl fmt::Debug for InterpImage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterpImage")
            .field("len", &self.image.len())
            .field("file", &self.file.and_then(|f| f.name()))
            .finish()
    }
}

/// What `execve` knows beyond the image and the stack: the interpreter and the values of
/// the process and CPU auxv entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecInfo<'a> {
    /// The program's interpreter, loaded after it; `None` for a static program.
    pub interp: Option<InterpImage<'a>>,
    /// `AT_UID`, `AT_EUID`, `AT_GID`, `AT_EGID`; `AT_SECURE` is 1 when they differ.
    pub ids: [u32; 4],
    /// `AT_HWCAP`.
    pub hwcap: usize,
    /// `AT_HWCAP2`.
    pub hwcap2: usize,
    /// `AT_MINSIGSTKSZ`, where the kernel reports it.
    pub minsigstksz: Option<usize>,
    /// `AT_PLATFORM`'s string, where the kernel reports it (x86_64: `"x86_64"`).
    pub platform: Option<&'a [u8]>,
    /// `AT_EXECFN`: the path the program was run by.
    pub execfn: Option<&'a [u8]>,
}

impl<'a> ExecInfo<'a> {
    /// The strings the stack builder places.
    pub(super) fn strings(&self) -> StackStrings<'a> {
        StackStrings {
            execfn: self.execfn,
            platform: self.platform,
        }
    }
}

/// The auxv of `plan` started through `execve`, without the entries pointing at stack
/// strings (`AT_EXECFN`, `AT_PLATFORM`, `AT_RANDOM`: the stack builder adds them).
pub(super) fn full_auxv(
    plan: &ElfPlan,
    base: VirtAddr,
    info: &ExecInfo<'_>,
) -> Vec<(usize, usize)> {
    let mut auxv = auxv_for(plan, base);
    let [uid, euid, gid, egid] = info.ids.map(|v| v as usize);
    let secure = usize::from(uid != euid || gid != egid);
    auxv.extend([
        (AT_FLAGS, 0),
        (AT_UID, uid),
        (AT_EUID, euid),
        (AT_GID, gid),
        (AT_EGID, egid),
        (AT_SECURE, secure),
        (AT_HWCAP, info.hwcap),
        (AT_HWCAP2, info.hwcap2),
        (AT_CLKTCK, CLOCK_TICKS),
    ]);
    if let Some(size) = info.minsigstksz {
        auxv.push((AT_MINSIGSTKSZ, size));
    }
    auxv
}

/// Linux's verdict on an interpreter before its segments are read: `ELIBBAD` for one that
/// is not an ELF image for this machine (or whose headers are malformed), `EINVAL` for an
/// ELF image that is neither `ET_EXEC` nor `ET_DYN`.
fn interp_error(image: &[u8], err: LinuxError) -> LinuxError {
    if err != LinuxError::ENOEXEC {
        return err;
    }
    let elf = image.len() >= 18 && image[..4] == [0x7f, b'E', b'L', b'F'];
    match elf.then(|| u16::from_le_bytes([image[16], image[17]])) {
        Some(ty) if ty != 2 && ty != 3 => LinuxError::EINVAL,
        _ => LinuxError::ELIBBAD,
    }
}

/// Validates the interpreter `image` and decides where it goes: at `base` when non-zero,
/// else where `mmap` without an address would put its whole span (an `ET_EXEC`
/// interpreter stays where it was linked). Nothing is mapped.
pub(super) fn place_interp<M, P, H>(
    aspace: &AddrSpace<M, P, H>,
    image: &[u8],
    machine: ElfMachine,
    base: VirtAddr,
) -> LinuxResult<ElfPlan>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler + 'static,
{
    let range = aspace.va_range();
    let mut layout = ElfLayout {
        machine,
        user_start: range.start,
        user_end: range.end,
        pie_base: range.start,
    };
    let probe = plan(image, &layout).map_err(|e| interp_error(image, e))?;
    if probe.kind == super::ElfKind::Static {
        return Ok(probe);
    }
    layout.pie_base = if base.as_usize() != 0 {
        base
    } else {
        // The span is computed at the lowest base, where it fits (`plan` checked it).
        let first = probe.segments.first().ok_or(LinuxError::ELIBBAD)?.start;
        let end = probe.brk_start;
        let span = end.as_usize() - first.as_usize();
        aspace
            .find_free_area(VirtAddr::from(0), span)
            .ok_or(LinuxError::ENOMEM)?
    };
    plan(image, &layout).map_err(|e| interp_error(image, e))
}
