//! User address spaces: create one, make it current, map memory into it (the mmap family,
//! files, shared memory, huge pages), fork it, run programs in it, and look at it through
//! the real MMU.
//!
//! An [`AddrSpace`] is `pagoda_mm::AddrSpace` for the running arch. Build it while it is
//! not current (it is a plain value), or change the current one with [`with_current`].
//! [`switch_to`] makes a space current: its page table is what the CPU uses for user
//! addresses, so [`probe_read`]/[`probe_write`] and user programs ([`exec`]) see it, and
//! their page faults go to it (counted in [`fault_stats`]).
//!
//! Never probe inside [`with_current`]: the kernel table is active there and the space is
//! locked, so the probe would fail.

mod exec;
mod probe;
pub mod shm;

pub use memory_addr::{PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
pub use page_table_entry::MappingFlags;
pub use page_table_multiarch::{PageSize, PhysRegion};
pub use pagoda_alloc::FrameStats;
pub use pagoda_hal::static_frames::{StaticFrames, mmio_region};
pub use pagoda_hal::user_space::{
    FaultOutcome, FaultStats, InstallError, KernelAddrSpace as AddrSpace, Unresolved,
    resolve_fault, user_range,
};
pub use pagoda_hal::{Fault, HalError, Signal, UserContext, UserTrap};
pub use pagoda_mm::{
    Advice, BackendKind, FaultError, File, LinuxError, LinuxResult, MemFile, MmapFlags,
    MremapFlags, MsyncFlags, Populate, SharedMem,
};

pub use exec::{
    ExecArgs, ExitStatus, RunReport, exec, load_elf, load_elf_env, load_program, map_code, run,
};
pub use probe::{
    PatternError, ProbeError, check_pattern, pattern, probe_read, probe_write, write_pattern,
};

use core::fmt;

/// `PROT_READ | PROT_WRITE`.
pub const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
/// `PROT_READ`.
pub const RO: MappingFlags = MappingFlags::READ;
/// `PROT_NONE`.
pub const NONE: MappingFlags = MappingFlags::empty();

/// An error of this module: the HAL's or the address space's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Creating or installing an address space failed.
    Hal(HalError),
    /// An address-space operation failed with this errno.
    Linux(LinuxError),
    /// No user address space is current.
    NoSpace,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hal(e) => write!(f, "{e}"),
            Self::Linux(e) => write!(f, "{e}"),
            Self::NoSpace => f.write_str("no current address space"),
        }
    }
}

impl From<HalError> for Error {
    fn from(e: HalError) -> Self {
        Self::Hal(e)
    }
}

impl From<LinuxError> for Error {
    fn from(e: LinuxError) -> Self {
        Self::Linux(e)
    }
}

impl From<InstallError> for Error {
    fn from(e: InstallError) -> Self {
        Self::Hal(e.error)
    }
}

/// A new, empty user address space (user half [`user_range`], kernel half shared with the
/// kernel page table). Not current until [`switch_to`].
///
/// # Errors
/// [`HalError::Mm`] without memory for its root table.
pub fn new_space() -> Result<AddrSpace, HalError> {
    pagoda_hal::user_space::new_space()
}

/// Makes `space` the current user address space and returns the previous one (no longer
/// used by the CPU).
///
/// # Errors
/// [`InstallError`] (holding `space`) if it does not share the kernel half, e.g. it was
/// not made by [`new_space`] or a `fork` of one.
#[allow(
    clippy::result_large_err,
    reason = "the error hands the space back: no larger than the `Ok` value"
)]
pub fn switch_to(space: AddrSpace) -> Result<Option<AddrSpace>, InstallError> {
    pagoda_hal::user_space::install(space)
}

/// Makes a fresh address space ([`new_space`]) current; returns the previous one.
///
/// # Errors
/// As [`new_space`].
pub fn switch_to_new() -> Result<Option<AddrSpace>, Error> {
    Ok(switch_to(new_space()?)?)
}

/// Makes `space` current and returns the one it replaces (for going back and forth
/// between two spaces).
///
/// # Errors
/// [`Error::NoSpace`] if none was current (`space` is current anyway); the
/// [`InstallError`] of [`switch_to`] (then `space` is dropped).
pub fn exchange(space: AddrSpace) -> Result<AddrSpace, Error> {
    switch_to(space)?.ok_or(Error::NoSpace)
}

/// Maps `len` bytes of private anonymous memory with `prot` in the current address space,
/// wherever there is room (`mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`).
///
/// # Errors
/// [`Error::NoSpace`], or `mmap`'s errno.
pub fn mmap_anon(len: usize, prot: MappingFlags) -> Result<VirtAddr, Error> {
    let flags = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS;
    current(|s| s.mmap(VirtAddr::from_usize(0), len, prot, flags, None, 0))
}

/// Switches to the kernel page table and returns the current user address space.
pub fn take_current() -> Option<AddrSpace> {
    pagoda_hal::user_space::take()
}

/// Runs `f` on the current user address space; `None` if there is none. Do not probe or
/// switch spaces inside `f` (see the module docs).
pub fn with_current<R>(f: impl FnOnce(&mut AddrSpace) -> R) -> Option<R> {
    pagoda_hal::user_space::with_current(f)
}

/// Runs the fallible `f` on the current user address space ([`with_current`] with the
/// errors merged): `mm::current(|s| s.mmap(..))`.
///
/// # Errors
/// [`Error::NoSpace`] if none is current, or `f`'s error.
pub fn current<R, E: Into<Error>>(
    f: impl FnOnce(&mut AddrSpace) -> Result<R, E>,
) -> Result<R, Error> {
    with_current(f).ok_or(Error::NoSpace)?.map_err(Into::into)
}

/// Page faults resolved (or not) in user address spaces since boot, by outcome.
pub fn fault_stats() -> FaultStats {
    pagoda_hal::user_space::fault_stats()
}

/// Physical frame statistics (4 KiB frames).
pub fn frame_stats() -> FrameStats {
    pagoda_alloc::frame_stats()
}

/// Keeps the last `frames` free frames for the kernel heap: user pages and page tables
/// fail (`ENOMEM`, an OOM kill) rather than take them.
pub fn set_heap_reserve(frames: usize) {
    pagoda_alloc::set_heap_reserve(frames);
}

/// The frames kept for the kernel heap ([`set_heap_reserve`]).
pub fn heap_reserve() -> usize {
    pagoda_alloc::heap_reserve()
}

/// Frames allocated right now (page tables, user pages, kernel heap, ...).
pub fn allocated_frames() -> usize {
    frame_stats().allocated
}

/// Allocated frames not held by the kernel heap: page tables, user pages, shared memory,
/// static blocks. (The heap grows in 256 KiB steps and never shrinks, so this is the count
/// that returns to its old value when an address space gives its memory back.)
pub fn page_frames() -> usize {
    allocated_frames() - pagoda_runtime::heap_stats().claimed / PAGE_SIZE_4K
}

/// The largest page size the kernel's page tables may use on this CPU (x86_64 CPUs may
/// lack 1 GiB pages).
pub fn max_page_size() -> PageSize {
    pagoda_hal::max_page_size()
}

/// The leaf page size the space's page table uses at `va`, if mapped.
pub fn page_size_at(space: &AddrSpace, va: VirtAddr) -> Option<PageSize> {
    space.page_table().query(va).ok().map(|(_, _, size)| size)
}

/// Maps the whole of `block` at `va` (user-accessible, with `prot`), with the largest
/// leaves its alignment and the CPU ([`max_page_size`]) allow. `block` is never freed, so
/// the mapping can never outlive its memory, in this space or in forks of it.
///
/// # Errors
/// As `AddrSpace::map_linear`: `EINVAL` (unaligned, outside the space), `EEXIST`
/// (overlap), `ENOMEM`.
pub fn map_static(
    space: &mut AddrSpace,
    va: VirtAddr,
    block: StaticFrames,
    prot: MappingFlags,
) -> LinuxResult {
    space.map_linear(
        va,
        block.region(),
        prot | MappingFlags::USER,
        max_page_size(),
    )
}
