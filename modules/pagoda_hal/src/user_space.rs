//! The current user address space: the one whose page table the CPU runs with.
//!
//! This module owns it. [`install`] makes a [`KernelAddrSpace`] current (its root goes into
//! `satp` / CR3) and keeps it in a slot until [`take`] or the next [`install`] hands it back,
//! *after* the CPU has switched away from its table. So a root table is never freed while
//! the CPU can still walk it:
//!
//! - the space in the slot cannot be dropped or moved by anyone else (the slot owns it);
//! - `pagoda_mm::AddrSpace` never replaces its page table, so its root stays the same
//!   frame for its whole life, and it flushes the TLB entries it changes before it frees a
//!   frame;
//! - [`with_current`] lends the space out with the *kernel* table active, so even a closure
//!   that swaps the space for another one (`core::mem::swap`) and drops it leaves no
//!   dangling root: afterwards the slot's (possibly new) space is checked and re-activated.
//!
//! Kernel-mode page faults on user addresses (the uaccess probes) are resolved by
//! [`resolve_fault`], which the runtime's fault hook calls. It only *tries* the slot lock:
//! a fault while the slot is held (inside [`with_current`]) stays unresolved, so a probe
//! returns `Err` instead of deadlocking. Applications therefore never probe inside
//! [`with_current`]; they probe with the space installed and the slot free.

use core::sync::atomic::{AtomicUsize, Ordering};

use kspin::SpinNoIrq;
use memory_addr::{PhysAddr, VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;
use pagoda_mm::FaultError;
pub use pagoda_mm::FaultOutcome;

use crate::HalError;
use crate::arch::{
    KERNEL_HALF_START, PagingMeta, Pte, USER_VA_END, USER_VA_START, activate_page_table,
};
use crate::kernel_space::{kernel_half_size, kernel_page_table, kernel_root, shares_kernel_half};
use crate::paging::KernelPaging;

/// An address space of the running arch with frames from the kernel frame allocator.
pub type KernelAddrSpace = pagoda_mm::AddrSpace<PagingMeta, Pte, KernelPaging>;

static CURRENT: SpinNoIrq<Option<KernelAddrSpace>> = SpinNoIrq::new(None);

/// The user half every new space covers: `USER_VA_START..USER_VA_END`.
pub fn user_range() -> VirtAddrRange {
    VirtAddrRange::new(
        VirtAddr::from_usize(USER_VA_START),
        VirtAddr::from_usize(USER_VA_END),
    )
}

/// A new, empty user address space over [`user_range`] whose kernel half shares the
/// installed kernel page table's top-level entries (so it can be installed).
///
/// # Errors
/// [`HalError::NotInstalled`] before the kernel page table is installed;
/// [`HalError::Mm`] if the root table cannot be allocated.
pub fn new_space() -> Result<KernelAddrSpace, HalError> {
    let kernel = kernel_page_table().ok_or(HalError::NotInstalled)?;
    let mut space = KernelAddrSpace::new(user_range()).map_err(HalError::Mm)?;
    let start = VirtAddr::from_usize(KERNEL_HALF_START);
    space
        .share_kernel_mappings(kernel, start, kernel_half_size())
        .map_err(HalError::Mm)?;
    Ok(space)
}

/// Why [`install`] refused a space; the space comes back unchanged.
#[derive(Debug)]
pub struct InstallError {
    /// [`HalError::NotInstalled`] (no kernel table yet), [`HalError::KernelHalfMismatch`]
    /// (the space does not share the kernel half) or [`HalError::Busy`] (called from inside
    /// [`with_current`]).
    pub error: HalError,
    /// The space that was not installed.
    pub space: KernelAddrSpace,
}

impl core::fmt::Display for InstallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot install the address space: {}", self.error)
    }
}

/// Activates `space` (its root table) and keeps it as the current user address space.
/// Returns the previous one, which the CPU no longer uses.
///
/// # Errors
/// An [`InstallError`] holding `space` if its kernel half is not the kernel table's (made
/// by [`new_space`] or a `fork` of such a space), before the kernel table is installed, or
/// when called inside [`with_current`].
#[allow(
    clippy::result_large_err,
    reason = "the error hands the space back: no larger than the `Ok` value"
)]
pub fn install(space: KernelAddrSpace) -> Result<Option<KernelAddrSpace>, InstallError> {
    let Some(kernel) = kernel_root() else {
        return Err(InstallError {
            error: HalError::NotInstalled,
            space,
        });
    };
    if !shares_kernel_half(space.page_table(), kernel) {
        return Err(InstallError {
            error: HalError::KernelHalfMismatch,
            space,
        });
    }
    let Some(mut slot) = CURRENT.try_lock() else {
        return Err(InstallError {
            error: HalError::Busy,
            space,
        });
    };
    // SAFETY: the root maps the kernel exactly as the kernel table does (its kernel half is
    // the kernel table's, checked above; `pagoda_mm` maps only the user half, and user
    // mappings are of frames the space owns or `PhysRegion`s), and it lives as long as it
    // is active: the slot owns the space until `take`/`install` switch away first, and
    // `AddrSpace` never replaces its root table.
    unsafe { activate_page_table(space.root_paddr()) };
    Ok(slot.replace(space))
}

/// Switches to the kernel page table and hands back the current user address space.
/// `None` if there is none (or when called inside [`with_current`]).
pub fn take() -> Option<KernelAddrSpace> {
    let kernel = kernel_root()?;
    let mut slot = CURRENT.try_lock()?;
    let space = slot.take()?;
    // SAFETY: the installed kernel table, alive and unchanged for the rest of the program.
    unsafe { activate_page_table(kernel) };
    Some(space)
}

/// Whether a user address space is current.
pub fn is_installed() -> bool {
    CURRENT.try_lock().is_none_or(|slot| slot.is_some())
}

/// Runs `f` on the current user address space (mmap, fork, copy-in/out, its `Display`...).
/// `None` if none is installed, or when called inside another `with_current`.
///
/// The space stays active while `f` runs (its own operations flush what they change), and
/// the slot is locked: a uaccess probe inside `f` fails, and `f` must not call
/// [`install`]/[`take`] (they would fail). Should `f` replace the space, the old one may be
/// dropped while active: the kernel frames' drop hook switches to the kernel table before
/// any of its frames is freed (`kernel_space`). Afterwards, if the slot holds another
/// space or the CPU left it, the slot's space is activated (or, if it does not share the
/// kernel half, dropped with the kernel table active, and the CPU stays on the kernel
/// table).
pub fn with_current<R>(f: impl FnOnce(&mut KernelAddrSpace) -> R) -> Option<R> {
    let kernel = kernel_root()?;
    let mut slot = CURRENT.try_lock()?;
    let space = slot.as_mut()?;
    let r = f(space);
    match slot.as_ref() {
        // Still active (the usual case: `f` did not replace it). Compared with the
        // hardware, not with the root before: a replaced space's root frame may have been
        // freed (switching to the kernel table) and reused by its successor.
        Some(space) if crate::arch::current_page_table() == space.root_paddr() => {}
        Some(space) if shares_kernel_half(space.page_table(), kernel) => {
            // SAFETY: as in `install`: the slot owns this space, whose kernel half was just
            // checked.
            unsafe { activate_page_table(space.root_paddr()) };
        }
        _ => {
            log::error!("with_current: the address space was replaced by an unusable one");
            // SAFETY: as in `take`.
            unsafe { activate_page_table(kernel) };
            *slot = None;
        }
    }
    Some(r)
}

/// The root table of the current user address space.
pub fn current_root() -> Option<PhysAddr> {
    CURRENT
        .try_lock()?
        .as_ref()
        .map(KernelAddrSpace::root_paddr)
}

/// Why [`resolve_fault`] did not resolve a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// No user address space is installed.
    NoSpace,
    /// The slot is held (the fault came from inside [`with_current`]).
    Busy,
    /// The address space refused: `SIGSEGV`, `SIGBUS` or out of memory.
    Fault(FaultError),
}

impl Unresolved {
    /// The signal a user program gets for this fault.
    pub fn signal(&self) -> crate::Signal {
        match self {
            Self::Fault(FaultError::Bus) => crate::Signal::Bus,
            Self::Fault(FaultError::NoMemory) => crate::Signal::Kill,
            _ => crate::Signal::Segv,
        }
    }
}

impl core::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSpace => f.write_str("no user address space"),
            Self::Busy => f.write_str("the address space is busy"),
            Self::Fault(e) => write!(f, "{e}"),
        }
    }
}

/// Counts of page faults seen by [`resolve_fault`] since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// [`FaultOutcome::Filled`].
    pub filled: usize,
    /// [`FaultOutcome::CopiedOnWrite`].
    pub cow_copied: usize,
    /// [`FaultOutcome::Reused`].
    pub cow_reused: usize,
    /// [`FaultOutcome::Spurious`].
    pub spurious: usize,
    /// Faults left unresolved.
    pub unresolved: usize,
}

impl FaultStats {
    /// Every fault counted.
    pub fn total(&self) -> usize {
        self.filled + self.cow_copied + self.cow_reused + self.spurious + self.unresolved
    }

    /// Field-wise `self - earlier` (what happened in between).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            filled: self.filled.wrapping_sub(earlier.filled),
            cow_copied: self.cow_copied.wrapping_sub(earlier.cow_copied),
            cow_reused: self.cow_reused.wrapping_sub(earlier.cow_reused),
            spurious: self.spurious.wrapping_sub(earlier.spurious),
            unresolved: self.unresolved.wrapping_sub(earlier.unresolved),
        }
    }
}

static COUNTS: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
/// The last unresolved fault: its address and why.
static LAST_UNRESOLVED: SpinNoIrq<Option<(VirtAddr, Unresolved)>> = SpinNoIrq::new(None);

/// Takes the record of the last fault [`resolve_fault`] left unresolved (to tell a
/// failed probe's `SIGSEGV` from its `SIGBUS`).
pub fn take_last_unresolved() -> Option<(VirtAddr, Unresolved)> {
    LAST_UNRESOLVED.try_lock()?.take()
}

/// The fault counters.
pub fn fault_stats() -> FaultStats {
    let n = |i: usize| COUNTS[i].load(Ordering::Relaxed);
    FaultStats {
        filled: n(0),
        cow_copied: n(1),
        cow_reused: n(2),
        spurious: n(3),
        unresolved: n(4),
    }
}

/// Resolves a page fault at `va` in the current user address space: `access` is `READ`,
/// `WRITE` or `EXECUTE`, plus `USER` for a fault from user mode. Never blocks: the slot is
/// only tried (see the module docs). Every call is counted in [`fault_stats`].
///
/// # Errors
/// [`Unresolved`]; addresses outside [`user_range`] are `Fault(Segv)` without looking.
pub fn resolve_fault(va: VirtAddr, access: MappingFlags) -> Result<FaultOutcome, Unresolved> {
    let r = resolve(va, access);
    let idx = match r {
        Ok(FaultOutcome::Filled) => 0,
        Ok(FaultOutcome::CopiedOnWrite) => 1,
        Ok(FaultOutcome::Reused) => 2,
        Ok(FaultOutcome::Spurious) => 3,
        Err(why) => {
            if let Some(mut last) = LAST_UNRESOLVED.try_lock() {
                *last = Some((va, why));
            }
            4
        }
    };
    COUNTS[idx].fetch_add(1, Ordering::Relaxed);
    r
}

fn resolve(va: VirtAddr, access: MappingFlags) -> Result<FaultOutcome, Unresolved> {
    if !user_range().contains(va) {
        return Err(Unresolved::Fault(FaultError::Segv));
    }
    let mut slot = CURRENT.try_lock().ok_or(Unresolved::Busy)?;
    let space = slot.as_mut().ok_or(Unresolved::NoSpace)?;
    space
        .handle_page_fault(va, access)
        .map_err(Unresolved::Fault)
}
