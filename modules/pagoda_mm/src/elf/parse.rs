//! Validation of an ELF image and the load plan derived from it (no memory is touched).
//!
//! Every bound is checked here, on raw little-endian bytes, *before* `xmas-elf` sees the
//! image: `xmas-elf` 0.10 slices the input without bounds checks when it reads program
//! headers, and its `zero::read` asserts that headers are naturally aligned in memory. So
//! this module (1) checks the header fields and the program-header table bounds itself,
//! (2) hands `xmas-elf` only an 8-byte aligned copy of the headers when the caller's buffer
//! is not aligned, and (3) reads segment contents and `PT_INTERP` through checked slices.

use alloc::vec::Vec;
use core::ops::Range;

use axerrno::LinuxError;
use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use page_table_entry::MappingFlags;
use xmas_elf::{
    ElfFile,
    header::{Machine, Type as FileType},
    program::{ProgramHeader, Type as SegType},
};

/// Size of an ELF64 file header.
const EHDR_SIZE: usize = 64;
/// Size of an ELF64 program header.
pub const PHDR_SIZE: usize = 56;
/// Largest program-header table accepted (Linux's limit: 64 KiB).
const MAX_PHDR_TABLE: usize = 64 * 1024;
/// Longest `PT_INTERP` path accepted, including the NUL (Linux's `PATH_MAX`).
const MAX_INTERP: usize = 4096;
const PAGE: usize = PAGE_SIZE_4K;

/// The instruction set an image must be built for; chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfMachine {
    /// RV64 (`EM_RISCV`, 243).
    RiscV64,
    /// x86-64 (`EM_X86_64`, 62).
    X86_64,
    /// AArch64 (`EM_AARCH64`, 183).
    AArch64,
}

impl ElfMachine {
    fn matches(self, m: Machine) -> bool {
        matches!(
            (self, m),
            (Self::RiscV64, Machine::RISC_V)
                | (Self::X86_64, Machine::X86_64)
                | (Self::AArch64, Machine::AArch64)
        )
    }
}

/// Whether the image was linked for a fixed address or is position independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: segments go exactly where the file says.
    Static,
    /// `ET_DYN`: the lowest segment page is placed at the caller's base.
    Pie,
}

/// Where the image may go: the user range, and the base for position-independent images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfLayout {
    /// Required `e_machine`.
    pub machine: ElfMachine,
    /// Lowest user address (page aligned).
    pub user_start: VirtAddr,
    /// One past the highest user address (page aligned).
    pub user_end: VirtAddr,
    /// Where the lowest `PT_LOAD` page of an `ET_DYN` image is placed (page aligned).
    pub pie_base: VirtAddr,
}

/// One `PT_LOAD` segment, already moved by the load bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSegment {
    /// First page of the segment.
    pub start: VirtAddr,
    /// Size in bytes, a multiple of the page size (covers `p_memsz`).
    pub size: usize,
    /// `USER` plus the segment's R/W/X (empty when the segment has none: `PROT_NONE`).
    pub flags: MappingFlags,
    /// Where the file bytes begin (`p_vaddr` + bias).
    pub data_start: VirtAddr,
    /// The file bytes (`p_offset .. p_offset + p_filesz`), inside the image.
    pub file_range: Range<usize>,
    /// End of `p_memsz` (`data_start + p_memsz`); `[data_start + filesz, mem_end)` is bss.
    pub mem_end: VirtAddr,
}

/// Everything the loader needs, computed from a validated image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfPlan {
    /// Static or PIE.
    pub kind: ElfKind,
    /// Added to every file address (0 for static images; may wrap for PIE).
    pub load_bias: usize,
    /// Entry point (`e_entry` + bias).
    pub entry: VirtAddr,
    /// `PT_LOAD` segments in ascending address order, page ranges disjoint.
    pub segments: Vec<LoadSegment>,
    /// Address of the program headers in the loaded image (`AT_PHDR`); 0 if they are not
    /// inside any segment and there is no `PT_PHDR`.
    pub phdr: VirtAddr,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: usize,
    /// Requested interpreter path from `PT_INTERP`, without the NUL; not loaded.
    pub interp: Option<Vec<u8>>,
    /// First byte after the highest segment, page aligned: where `brk` starts.
    pub brk_start: VirtAddr,
}

fn le16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

const NOEXEC: LinuxError = LinuxError::ENOEXEC;

fn to_usize(v: u64) -> Result<usize, LinuxError> {
    usize::try_from(v).map_err(|_| NOEXEC)
}

fn page_down(v: usize) -> usize {
    v & !(PAGE - 1)
}

fn page_up(v: usize) -> Option<usize> {
    Some(v.checked_add(PAGE - 1)? & !(PAGE - 1))
}

/// Checks the identification bytes and the header fields that decide whether the rest can be
/// parsed safely. Returns the byte length of the headers (ELF header + program headers).
fn check_ident(image: &[u8]) -> Result<usize, LinuxError> {
    if image.len() < EHDR_SIZE || image[..4] != [0x7f, b'E', b'L', b'F'] {
        return Err(NOEXEC);
    }
    // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, EI_VERSION = EV_CURRENT, e_version = 1.
    if image[4] != 2 || image[5] != 1 || image[6] != 1 || image[20..24] != [1, 0, 0, 0] {
        return Err(NOEXEC);
    }
    let phoff = to_usize(le64(image, 32))?;
    let phentsize = usize::from(le16(image, 54));
    let phnum = usize::from(le16(image, 56));
    // PN_XNUM (0xffff) would need section 0; such images are not executables we load.
    if phentsize != PHDR_SIZE || phnum == 0 || phnum * PHDR_SIZE > MAX_PHDR_TABLE {
        return Err(NOEXEC);
    }
    // The table must follow the ELF header and be 8-byte aligned (xmas-elf reads it in place).
    if phoff < EHDR_SIZE || !phoff.is_multiple_of(8) {
        return Err(NOEXEC);
    }
    let end = phoff.checked_add(phnum * PHDR_SIZE).ok_or(NOEXEC)?;
    if end > image.len() {
        return Err(NOEXEC);
    }
    Ok(end)
}

/// Returns `headers` itself when it is 8-byte aligned, otherwise an aligned copy of it kept in
/// `buf` (no unsafe: over-allocate and pick the aligned window).
fn aligned<'a>(headers: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
    if (headers.as_ptr() as usize).is_multiple_of(8) {
        return headers;
    }
    buf.resize(headers.len() + 7, 0);
    let skip = (8 - (buf.as_ptr() as usize) % 8) % 8;
    let window = &mut buf[skip..skip + headers.len()];
    window.copy_from_slice(headers);
    &buf[skip..skip + headers.len()]
}

fn flags_of(ph: &ProgramHeader<'_>) -> MappingFlags {
    let f = ph.flags();
    let mut flags = MappingFlags::empty();
    if f.is_read() {
        flags |= MappingFlags::READ;
    }
    if f.is_write() {
        flags |= MappingFlags::WRITE;
    }
    if f.is_execute() {
        flags |= MappingFlags::EXECUTE;
    }
    if !flags.is_empty() {
        flags |= MappingFlags::USER;
    }
    flags
}

/// A `PT_LOAD` as read from the file, before the bias is applied.
struct RawLoad {
    vaddr: usize,
    memsz: usize,
    file_range: Range<usize>,
    flags: MappingFlags,
}

/// Validates `image` and computes where everything goes.
///
/// # Errors
/// - `ENOEXEC`: not an ELF64 little-endian executable (`ET_EXEC`/`ET_DYN`) for
///   `layout.machine`; truncated headers; program-header table out of the file, unaligned or
///   larger than 64 KiB; a segment whose file bytes lie outside the image; `p_filesz >
///   p_memsz`; `PT_LOAD` segments not in ascending order or overlapping at page granularity;
///   no `PT_LOAD`; address arithmetic that overflows; a bad or repeated `PT_INTERP`.
/// - `EINVAL`: a well-formed image that does not fit: a segment or the entry point outside
///   `[user_start, user_end)`, or an unaligned `pie_base`.
pub fn plan(image: &[u8], layout: &ElfLayout) -> Result<ElfPlan, LinuxError> {
    let headers_len = check_ident(image)?;
    let mut buf = Vec::new();
    let headers = aligned(&image[..headers_len], &mut buf);
    // Cannot fail after `check_ident` (size and class checked), but never unwrap input.
    let file = ElfFile::new(headers).map_err(|_| NOEXEC)?;
    let pt2 = &file.header.pt2;
    let kind = match pt2.type_().as_type() {
        FileType::Executable => ElfKind::Static,
        FileType::SharedObject => ElfKind::Pie,
        _ => return Err(NOEXEC),
    };
    if !layout.machine.matches(pt2.machine().as_machine()) {
        return Err(NOEXEC);
    }
    let phnum = usize::from(pt2.ph_count());
    let phoff = to_usize(pt2.ph_offset())?;

    let mut loads: Vec<RawLoad> = Vec::new();
    let mut interp = None;
    let mut pt_phdr = None;
    for i in 0..pt2.ph_count() {
        let ph = file.program_header(i).map_err(|_| NOEXEC)?;
        // Unknown types are ignored, as Linux does.
        let Ok(ty) = ph.get_type() else { continue };
        let file_bytes = || -> Result<(usize, usize), LinuxError> {
            let offset = to_usize(ph.offset())?;
            let filesz = to_usize(ph.file_size())?;
            Ok((offset, offset.checked_add(filesz).ok_or(NOEXEC)?))
        };
        match ty {
            SegType::Load => {
                let (offset, file_end) = file_bytes()?;
                let filesz = file_end - offset;
                let memsz = to_usize(ph.mem_size())?;
                if filesz > memsz || (filesz > 0 && file_end > image.len()) {
                    return Err(NOEXEC);
                }
                if memsz == 0 {
                    continue;
                }
                let vaddr = to_usize(ph.virtual_addr())?;
                page_up(vaddr.checked_add(memsz).ok_or(NOEXEC)?).ok_or(NOEXEC)?;
                let file_range = if filesz == 0 { 0..0 } else { offset..file_end };
                loads.push(RawLoad {
                    vaddr,
                    memsz,
                    file_range,
                    flags: flags_of(&ph),
                });
            }
            SegType::Interp => {
                let (offset, file_end) = file_bytes()?;
                let filesz = file_end - offset;
                let sane = (2..=MAX_INTERP).contains(&filesz) && file_end <= image.len();
                if interp.is_some() || !sane {
                    return Err(NOEXEC);
                }
                let path = &image[offset..file_end - 1];
                if image[file_end - 1] != 0 || path.contains(&0) {
                    return Err(NOEXEC);
                }
                interp = Some(path.to_vec());
            }
            SegType::Phdr => pt_phdr = Some(to_usize(ph.virtual_addr())?),
            _ => {}
        }
    }
    let first = loads.first().ok_or(NOEXEC)?;
    for pair in loads.windows(2) {
        // `page_up` of the end was checked above; the end is at most `usize::MAX`.
        let prev_end = page_up(pair[0].vaddr + pair[0].memsz).ok_or(NOEXEC)?;
        if page_down(pair[1].vaddr) < prev_end {
            return Err(NOEXEC);
        }
    }

    let load_bias = match kind {
        ElfKind::Static => 0,
        ElfKind::Pie => {
            let base = layout.pie_base.as_usize();
            if !base.is_multiple_of(PAGE) {
                return Err(LinuxError::EINVAL);
            }
            base.wrapping_sub(page_down(first.vaddr))
        }
    };
    let (user_start, user_end) = (layout.user_start.as_usize(), layout.user_end.as_usize());
    // Moves a file address by the bias; out of `[user_start, user_end]` is EINVAL.
    let place = |v: usize| -> Result<usize, LinuxError> {
        let moved = match kind {
            ElfKind::Static => v,
            ElfKind::Pie => v
                .checked_sub(page_down(first.vaddr))
                .and_then(|d| d.checked_add(layout.pie_base.as_usize()))
                .ok_or(LinuxError::EINVAL)?,
        };
        if moved < user_start || moved > user_end {
            return Err(LinuxError::EINVAL);
        }
        Ok(moved)
    };

    let mut segments = Vec::with_capacity(loads.len());
    for l in &loads {
        let data_start = place(l.vaddr)?;
        let mem_end = place(l.vaddr + l.memsz)?;
        let start = page_down(data_start);
        let end = page_up(mem_end).ok_or(LinuxError::EINVAL)?;
        if start < user_start || end > user_end {
            return Err(LinuxError::EINVAL);
        }
        segments.push(LoadSegment {
            start: VirtAddr::from(start),
            size: end - start,
            flags: l.flags,
            data_start: VirtAddr::from(data_start),
            file_range: l.file_range.clone(),
            mem_end: VirtAddr::from(mem_end),
        });
    }
    let entry = place(to_usize(pt2.entry_point())?)?;
    if entry == user_end {
        return Err(LinuxError::EINVAL);
    }
    let table_end = phoff + phnum * PHDR_SIZE;
    let phdr = match pt_phdr {
        Some(v) => place(v)?,
        None => loads
            .iter()
            .find(|l| l.file_range.start <= phoff && table_end <= l.file_range.end)
            .map_or(Ok(0), |l| place(l.vaddr + (phoff - l.file_range.start)))?,
    };
    // Segments are sorted, so the last one ends highest.
    let brk_start = segments.last().map_or(0, |s| s.start.as_usize() + s.size);
    Ok(ElfPlan {
        kind,
        load_bias,
        entry: VirtAddr::from(entry),
        segments,
        phdr: VirtAddr::from(phdr),
        phnum,
        interp,
        brk_start: VirtAddr::from(brk_start),
    })
}
