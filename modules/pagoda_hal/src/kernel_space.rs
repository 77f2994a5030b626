//! The kernel address space: built after boot, then installed for good (it is `'static`:
//! user address spaces borrow its top-level tables).
//!
//! Layout (all `GLOBAL`): the direct map of RAM (`va = pa + PHYS_VIRT_OFFSET`, read-write,
//! huge leaves up to the arch's `max_page_size()` where aligned) minus the kernel image's
//! frames (no writable alias of the text); the image section by section with its permissions
//! at its linked addresses (`pa = va - KERNEL_IMAGE_VIRT_OFFSET`, which on riscv64 is the
//! direct map itself), except the guard page below the boot stack, which stays unmapped so
//! a kernel stack overflow faults; the MMIO regions as `DEVICE`.

use memory_addr::{PhysAddr, VirtAddr, align_down_4k, align_up_4k};
use page_table_entry::MappingFlags;
use page_table_multiarch::{Mapping, PageSize};

use page_table_multiarch::PagingMetaData;

use crate::arch::{
    KERNEL_HALF_START, PagingMeta, activate_page_table, max_page_size, mmio_regions,
    stack_guard_page,
};
use crate::boot::MAX_MEM_REGIONS;
use crate::mem::{image_virt_to_phys, kernel_image, kernel_sections, phys_to_virt, virt_to_phys};
use crate::paging::KernelPageTable;
use crate::{BootInfo, HalError};

/// Written once by [`install`], then only read: never dropped, never changed.
static KERNEL_SPACE: spin::Once<KernelPageTable> = spin::Once::new();

/// Maps physical `[start, end)` (page-aligned, non-empty) into the direct map.
fn map_direct(
    pt: &mut KernelPageTable,
    start: usize,
    end: usize,
    flags: MappingFlags,
) -> Result<(), HalError> {
    if start >= end {
        return Ok(());
    }
    let va = phys_to_virt(PhysAddr::from_usize(start));
    // The table is not active yet: nothing to flush.
    pt.map_region(
        va,
        virt_to_phys,
        end - start,
        flags | MappingFlags::GLOBAL,
        max_page_size(),
    )?
    .ignore();
    Ok(())
}

/// RAM ranges of `info`, 4 KiB aligned inwards, sorted and merged.
fn merged_ram(info: &BootInfo) -> ([(usize, usize); MAX_MEM_REGIONS], usize) {
    let mut out = [(0, 0); MAX_MEM_REGIONS];
    let mut n = 0;
    for r in info.ram_regions() {
        let range = r.range();
        let (s, e) = (
            align_up_4k(range.start.as_usize()),
            align_down_4k(range.end.as_usize()),
        );
        if s < e {
            out[n] = (s, e);
            n += 1;
        }
    }
    out[..n].sort_unstable();
    let mut m = 0;
    for i in 0..n {
        if m > 0 && out[i].0 <= out[m - 1].1 {
            out[m - 1].1 = out[m - 1].1.max(out[i].1);
        } else {
            out[m] = out[i];
            m += 1;
        }
    }
    (out, m)
}

/// Builds the kernel address space for `info` (not yet active).
///
/// # Errors
/// [`HalError::Paging`] if a mapping fails (e.g. no frames for tables).
fn build(info: &BootInfo) -> Result<KernelPageTable, HalError> {
    let mut pt = KernelPageTable::try_new()?;
    let rw = MappingFlags::READ | MappingFlags::WRITE;
    let image = kernel_image();
    let (img_s, img_e) = (image.start.as_usize(), image.end.as_usize());
    let (ram, n) = merged_ram(info);
    for &(s, e) in &ram[..n] {
        // RAM minus the kernel image (mapped below with per-section permissions).
        map_direct(&mut pt, s, e.min(img_s), rw)?;
        map_direct(&mut pt, s.max(img_e), e, rw)?;
    }
    let guard = stack_guard_page();
    for sec in kernel_sections() {
        let flags = sec.flags | MappingFlags::GLOBAL;
        // The guard page below the boot stack stays unmapped: an overflow faults there.
        let (s, e) = (sec.range.start, sec.range.end);
        let pieces = if s <= guard.start && guard.end <= e {
            [(s, guard.start), (guard.end, e)]
        } else {
            [(s, e), (e, e)]
        };
        for (start, end) in pieces {
            if start < end {
                pt.map_region(
                    start,
                    image_virt_to_phys,
                    end - start,
                    flags,
                    max_page_size(),
                )?
                .ignore();
            }
        }
    }
    for &(pa, size) in mmio_regions() {
        let (s, e) = (align_down_4k(pa), align_up_4k(pa + size));
        map_direct(&mut pt, s, e, rw | MappingFlags::DEVICE)?;
    }
    Ok(pt)
}

/// Builds the kernel address space for `info`, activates it and keeps it as the kernel
/// address space for the rest of the program (the runtime calls this once at boot).
///
/// Only a table built here is ever installed: it maps the kernel image section by section,
/// the direct map and MMIO like the boot page table, and nothing to user mode, so switching
/// to it is sound. (Installing a caller-made table would let safe code run the CPU on any
/// mappings.)
///
/// # Errors
/// [`HalError::AlreadyInitialized`] if a table was installed before (nothing is built);
/// [`HalError::Paging`] if building fails (nothing is installed).
pub fn install(info: &BootInfo) -> Result<(), HalError> {
    if KERNEL_SPACE.is_completed() {
        return Err(HalError::AlreadyInitialized);
    }
    let table = build(info)?;
    let mut first = false;
    KERNEL_SPACE.call_once(|| {
        // SAFETY: `table` was built just above from the boot information: it maps the kernel
        // image at its linked addresses with the boot table's permissions, the direct map of
        // RAM and the MMIO ranges (everything the kernel runs on), and nothing to user mode.
        // It lives in the `Once` for the rest of the program and is only ever read (the
        // root frame stays where it is when the value moves into the `Once`).
        unsafe { activate_page_table(table.root_paddr()) };
        first = true;
        table
    });
    if first {
        pagoda_alloc::set_table_drop_hook(leave_if_active);
        Ok(())
    } else {
        Err(HalError::AlreadyInitialized)
    }
}

/// Runs before the frames of a kernel-handler page table are freed: if this CPU has the
/// table active (a user space dropped while active, e.g. replaced inside
/// `user_space::with_current`), it switches to the kernel table first.
fn leave_if_active(root: PhysAddr) {
    if crate::arch::current_page_table() == root
        && let Some(kernel) = kernel_root()
    {
        // SAFETY: the kernel table is `'static` and read-only (`install`); it maps the
        // kernel half every user table shares, so the code running now stays mapped.
        unsafe { activate_page_table(kernel) };
    }
}

/// The installed kernel page table (`None` before [`install`]). Read-only and `'static`:
/// the live table cannot be replaced, changed or dropped.
pub fn kernel_page_table() -> Option<&'static KernelPageTable> {
    KERNEL_SPACE.get()
}

/// Runs `f` on the installed kernel page table (`None` before [`install`]); see
/// [`kernel_page_table`].
pub fn with_kernel_space<R>(f: impl FnOnce(&KernelPageTable) -> R) -> Option<R> {
    kernel_page_table().map(f)
}

/// Root of the installed kernel page table.
pub fn kernel_root() -> Option<PhysAddr> {
    with_kernel_space(KernelPageTable::root_paddr)
}

/// Root-table slots of the kernel half.
fn kernel_slots() -> core::ops::Range<usize> {
    let bits = PagingMeta::VA_MAX_BITS;
    let first = (KERNEL_HALF_START & ((1 << bits) - 1)) >> (bits - 9);
    first..512
}

/// Bytes of the kernel half (from `KERNEL_HALF_START` to the top of the address space).
pub(crate) fn kernel_half_size() -> usize {
    KERNEL_HALF_START.wrapping_neg()
}

/// Whether `pt` has exactly the kernel table's root entries in the kernel half.
pub(crate) fn shares_kernel_half(pt: &KernelPageTable, kernel_root: PhysAddr) -> bool {
    let entries = |root: PhysAddr| pagoda_alloc::phys_to_virt(root).as_ptr_of::<u64>();
    let (mine, kernel) = (entries(pt.root_paddr()), entries(kernel_root));
    kernel_slots().all(|i| {
        // SAFETY: both roots are live 4 KiB tables of 512 entries (the kernel table is never
        // freed, `pt` is borrowed), reached through the direct map; `i < 512`.
        unsafe { mine.add(i).read_volatile() == kernel.add(i).read_volatile() }
    })
}

/// A run of leaf mappings with the same page size and flags, contiguous in both address spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingRun {
    /// First virtual address.
    pub vaddr: VirtAddr,
    /// First physical address.
    pub paddr: PhysAddr,
    /// Bytes covered.
    pub size: usize,
    /// Size of each leaf.
    pub page_size: PageSize,
    /// Flags of every leaf.
    pub flags: MappingFlags,
}

impl MappingRun {
    fn extend(&mut self, m: &Mapping<VirtAddr>) -> bool {
        let same = m.size == self.page_size
            && m.flags == self.flags
            && m.vaddr.as_usize() == self.vaddr.as_usize().wrapping_add(self.size)
            && m.paddr.as_usize() == self.paddr.as_usize().wrapping_add(self.size);
        if same {
            self.size += m.size as usize;
        }
        same
    }
}

/// Calls `f` for each [`MappingRun`] of the installed kernel page table, in address order.
/// Returns `false` if no table is installed. `f` must not call back into this module.
pub fn for_each_run(mut f: impl FnMut(&MappingRun)) -> bool {
    with_kernel_space(|pt| {
        let mut cur: Option<MappingRun> = None;
        for m in pt.iter() {
            if cur.as_mut().is_some_and(|run| run.extend(&m)) {
                continue;
            }
            if let Some(run) = cur.take() {
                f(&run);
            }
            cur = Some(MappingRun {
                vaddr: m.vaddr,
                paddr: m.paddr,
                size: m.size as usize,
                page_size: m.size,
                flags: m.flags,
            });
        }
        if let Some(run) = cur {
            f(&run);
        }
    })
    .is_some()
}
