//! Loading a validated plan into an [`AddrSpace`]: segments, stack, heap start.

use alloc::sync::Arc;
use alloc::vec::Vec;

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::interp::{ExecInfo, full_auxv, place_interp};
use super::parse::{ElfLayout, ElfMachine, ElfPlan, LoadSegment, plan};
use super::stack::{StackStrings, auxv_for, build_stack_with};
use crate::AddrSpace;
use crate::file::File;
use crate::flags::{MmapFlags, Populate};

/// What to load and how the new program starts.
#[derive(Debug, Clone)]
pub struct ElfLoadRequest<'a, A: AsRef<[u8]>, E: AsRef<[u8]>> {
    /// Required instruction set.
    pub machine: ElfMachine,
    /// Where an `ET_DYN` image's lowest page goes (page aligned).
    pub pie_base: VirtAddr,
    /// One past the highest stack byte (16-byte aligned, page aligned).
    pub stack_top: VirtAddr,
    /// Size of the stack area (a multiple of the page size); argv/envp/auxv must fit.
    pub stack_size: usize,
    /// Arguments (`argv[0]` first), without NULs.
    pub argv: &'a [A],
    /// Environment strings, without NULs.
    pub envp: &'a [E],
    /// The 16 bytes `AT_RANDOM` points at (the caller's entropy).
    pub random: [u8; 16],
    /// [`load_elf`]: `AT_BASE`, where the caller loaded the interpreter, or 0 without one.
    /// [`load_elf_ex`] with an interpreter: where to place it (its lowest page); 0 places
    /// it as `mmap` without an address would (top-down below the mmap top, after the
    /// stack is mapped), which is what Linux does.
    pub interp_base: VirtAddr,
}

/// What the new program needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedElf {
    /// The validated plan (segments, `PT_INTERP` path, bias, ...).
    pub plan: ElfPlan,
    /// Where the program starts: the interpreter's entry when one was loaded
    /// ([`load_elf_ex`]), else the program's (with [`load_elf`] the interpreter is the
    /// caller's business when [`ElfPlan::interp`] is set).
    pub entry: VirtAddr,
    /// The interpreter's plan (segments moved to where it was loaded), if one was loaded.
    pub interp: Option<ElfPlan>,
    /// `AT_BASE`: the interpreter's lowest page, or 0.
    pub interp_base: VirtAddr,
    /// Initial stack pointer (16-byte aligned, at `argc`).
    pub sp: VirtAddr,
    /// The stack area.
    pub stack: VirtAddrRange,
    /// Where `brk` starts (also set with [`AddrSpace::set_heap_start`]).
    pub brk_start: VirtAddr,
}

/// Loads `image` into `aspace`, builds the stack and sets the heap start.
///
/// Segment contents are copied into private anonymous pages (`force_write_bytes`, so
/// read-only segments are filled too); bytes past `p_filesz` are zero because only file bytes
/// are written into fresh zero pages, which also zeroes the tail of the last file page. When
/// `file` is given (it must hold the same bytes as `image`), whole file pages of segments
/// whose `p_offset` and `p_vaddr` agree modulo the page size are mapped private from the
/// file instead (shared through its page cache until written); the page holding the end of
/// the file data is always a copy so the bss part of it is zero.
///
/// On error nothing stays mapped and the heap start is unchanged.
///
/// # Errors
/// - `ENOEXEC`, `EINVAL`: as [`plan`]; `EINVAL` also for a stack range that is not page
///   aligned, lies outside the space or overlaps a segment.
/// - `E2BIG`: argv/envp/auxv do not fit in `stack_size`.
/// - `EEXIST`: something is already mapped where a segment or the stack goes.
/// - `ENOMEM`: out of frames or page-table memory.
pub fn load_elf<M, P, H, A, E>(
    aspace: &mut AddrSpace<M, P, H>,
    image: &[u8],
    file: Option<&Arc<dyn File>>,
    req: &ElfLoadRequest<'_, A, E>,
) -> LinuxResult<LoadedElf>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler + 'static,
    A: AsRef<[u8]>,
    E: AsRef<[u8]>,
{
    load_inner(aspace, image, file, req, None)
}

/// [`load_elf`] as `execve` does it: loads `info.interp` too (when given: the caller found
/// the program's `PT_INTERP` path), starts at the interpreter's entry, and gives the full
/// Linux auxv (`AT_PHDR`, `AT_PHENT`, `AT_PHNUM`, `AT_PAGESZ`, `AT_BASE`, `AT_FLAGS`,
/// `AT_ENTRY` = the program's entry, `AT_UID`/`EUID`/`GID`/`EGID`, `AT_SECURE`, `AT_HWCAP`,
/// `AT_HWCAP2`, `AT_CLKTCK` 100, `AT_MINSIGSTKSZ` when given, `AT_PLATFORM` and
/// `AT_EXECFN` when given, `AT_RANDOM`). No `AT_SYSINFO_EHDR`: there is no vDSO.
///
/// The interpreter's segments are mapped like the program's: private file mappings of
/// `interp.file` where the layout allows (so `/proc/self/maps` names the file), copies
/// otherwise. On error nothing stays mapped and the heap start is unchanged.
///
/// # Errors
/// As [`load_elf`], and for the interpreter: `ELIBBAD` when it is not an ELF image for
/// this machine or its headers are malformed, `EINVAL` when it is neither `ET_EXEC` nor
/// `ET_DYN` or does not fit, `ENOMEM` when there is no room for it, `EEXIST` when
/// `req.interp_base` is taken.
pub fn load_elf_ex<M, P, H, A, E>(
    aspace: &mut AddrSpace<M, P, H>,
    image: &[u8],
    file: Option<&Arc<dyn File>>,
    req: &ElfLoadRequest<'_, A, E>,
    info: &ExecInfo<'_>,
) -> LinuxResult<LoadedElf>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler + 'static,
    A: AsRef<[u8]>,
    E: AsRef<[u8]>,
{
    load_inner(aspace, image, file, req, Some(info))
}

fn load_inner<M, P, H, A, E>(
    aspace: &mut AddrSpace<M, P, H>,
    image: &[u8],
    file: Option<&Arc<dyn File>>,
    req: &ElfLoadRequest<'_, A, E>,
    info: Option<&ExecInfo<'_>>,
) -> LinuxResult<LoadedElf>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler + 'static,
    A: AsRef<[u8]>,
    E: AsRef<[u8]>,
{
    let range = aspace.va_range();
    let layout = ElfLayout {
        machine: req.machine,
        user_start: range.start,
        user_end: range.end,
        pie_base: req.pie_base,
    };
    let plan = plan(image, &layout)?;
    let stack = stack_range(req, range, &plan)?;
    let stack_image = |base: VirtAddr| {
        let (auxv, strings) = match info {
            Some(info) => (full_auxv(&plan, base, info), info.strings()),
            None => (auxv_for(&plan, base), StackStrings::default()),
        };
        build_stack_with(
            req.stack_top,
            req.argv,
            req.envp,
            &auxv,
            &req.random,
            req.stack_size,
            &strings,
        )
    };
    // Arguments that do not fit are E2BIG before anything is mapped (the size does not
    // depend on where the interpreter goes).
    stack_image(req.interp_base)?;

    let mut mapped: Vec<(VirtAddr, usize)> = Vec::new();
    let r = (|| {
        for seg in &plan.segments {
            map_segment(aspace, image, file, seg, &mut mapped)?;
        }
        let rw = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
        aspace.map_alloc(stack.start, stack.size(), rw, Populate::Lazy)?;
        mapped.push((stack.start, stack.size()));
        let interp = match info.and_then(|i| i.interp) {
            Some(it) => {
                let p = place_interp(aspace, it.image, req.machine, req.interp_base)?;
                for seg in &p.segments {
                    map_segment(aspace, it.image, it.file, seg, &mut mapped)?;
                }
                Some(p)
            }
            None => None,
        };
        let base = match &interp {
            Some(p) => p.segments.first().map_or(VirtAddr::from(0), |s| s.start),
            None => req.interp_base,
        };
        let img = stack_image(base)?;
        aspace.force_write_bytes(img.sp, &img.bytes)?;
        Ok((img.sp, interp, base))
    })();
    // Last, so that a bad break start (a hostile image) is undone like the rest.
    let r = r.and_then(|v| aspace.set_heap_start(plan.brk_start).map(|()| v));
    let (sp, interp, interp_base) = match r {
        Ok(v) => v,
        Err(err) => {
            for &(start, size) in mapped.iter().rev() {
                // Unmapping whole areas we just created cannot meet a partial huge page.
                let _ = aspace.munmap(start, size);
            }
            return Err(err);
        }
    };
    Ok(LoadedElf {
        entry: interp.as_ref().map_or(plan.entry, |p| p.entry),
        sp,
        stack,
        brk_start: plan.brk_start,
        plan,
        interp,
        interp_base,
    })
}

fn stack_range<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    req: &ElfLoadRequest<'_, A, E>,
    space: VirtAddrRange,
    plan: &ElfPlan,
) -> LinuxResult<VirtAddrRange> {
    let top = req.stack_top.as_usize();
    let size = req.stack_size;
    if !top.is_multiple_of(PAGE_SIZE_4K) || !size.is_multiple_of(PAGE_SIZE_4K) || size == 0 {
        return Err(LinuxError::EINVAL);
    }
    let start = top.checked_sub(size).ok_or(LinuxError::EINVAL)?;
    let stack = VirtAddrRange::new(VirtAddr::from(start), VirtAddr::from(top));
    let clash = plan
        .segments
        .iter()
        .any(|s| stack.overlaps(VirtAddrRange::from_start_size(s.start, s.size)));
    if !space.contains_range(stack) || clash {
        return Err(LinuxError::EINVAL);
    }
    Ok(stack)
}

/// Maps one segment (file pages when possible, then anonymous pages) and writes its bytes.
/// Every area created is recorded in `mapped` for the caller's rollback.
fn map_segment<M, P, H>(
    aspace: &mut AddrSpace<M, P, H>,
    image: &[u8],
    file: Option<&Arc<dyn File>>,
    seg: &LoadSegment,
    mapped: &mut Vec<(VirtAddr, usize)>,
) -> LinuxResult
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler + 'static,
{
    let start = seg.start.as_usize();
    let end = start + seg.size;
    let data = &image[seg.file_range.clone()];
    let data_start = seg.data_start.as_usize();
    let data_end = data_start + data.len();
    // Whole pages of file data (the page holding `data_end` is copied: its tail is bss).
    let file_pages_end = data_end & !(PAGE_SIZE_4K - 1);
    let congruent = seg.file_range.start % PAGE_SIZE_4K == data_start % PAGE_SIZE_4K;
    let mut anon_start = start;
    if let Some(file) = file.filter(|_| congruent && file_pages_end > start) {
        let offset = (seg.file_range.start - (data_start - start)) as u64;
        let size = file_pages_end - start;
        let prot = seg.flags - MappingFlags::USER;
        let how = MmapFlags::PRIVATE | MmapFlags::FIXED_NOREPLACE;
        aspace.mmap(seg.start, size, prot, how, Some(file.clone()), offset)?;
        mapped.push((seg.start, size));
        anon_start = file_pages_end;
    }
    if anon_start < end {
        let size = end - anon_start;
        aspace.map_alloc(VirtAddr::from(anon_start), size, seg.flags, Populate::Lazy)?;
        mapped.push((VirtAddr::from(anon_start), size));
        // File bytes that fall into the anonymous part.
        let from = data_start.max(anon_start);
        if from < data_end {
            let bytes = &data[from - data_start..];
            aspace.force_write_bytes(VirtAddr::from(from), bytes)?;
        }
    }
    Ok(())
}
