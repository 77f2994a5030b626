//! The page table: layout helpers and the core walk (single-page operations
//! are in `single`).
//!
//! Internally a virtual address is handled in its *truncated* form
//! `t = va & (2^VA_MAX_BITS - 1)`: table indices are bit fields of `t`, the
//! lower half comes first and ranges never wrap. [`PageTable64::sext`] turns
//! `t` back into the canonical address.
//!
//! Invariants (all operations keep them, tests check them):
//! - every table that is not the root and not directly below the root has at
//!   least one used entry (empty tables are unlinked at once, and freed at
//!   the end of the operation after a full flush: see `deferred`);
//! - tables directly below the root are kept until `Drop`, so top-level
//!   entries shared with [`PageTable64::copy_from`] never dangle;
//! - a top-level slot marked shared holds a table entry borrowed from another
//!   page table; it is never rewritten (except by `copy_from`) nor freed.

use core::marker::PhantomData;
use core::ptr;

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::deferred::DeferredFree;
use crate::{
    GenericPTE, PageSize, PagingError, PagingHandler, PagingMetaData, PagingResult, VaLayout,
};

/// Entries per table (4K tables of 8-byte entries).
pub(crate) const ENTRIES: usize = 512;
/// Deepest supported paging mode (5 levels).
pub(crate) const MAX_LEVELS: usize = 5;

/// Bit position of the index of `level` (0 = last level).
#[inline(always)]
pub(crate) const fn shift(level: usize) -> usize {
    12 + 9 * level
}

/// Bytes covered by one entry of `level`.
#[inline(always)]
pub(crate) const fn block(level: usize) -> usize {
    1 << shift(level)
}

/// Index of `t` in the table of `level`.
#[inline(always)]
pub(crate) const fn index(t: usize, level: usize) -> usize {
    (t >> shift(level)) & (ENTRIES - 1)
}

/// Size of a leaf at `level` (leaves exist only at levels 0..=2).
#[inline(always)]
pub(crate) const fn leaf_size(level: usize) -> PageSize {
    match level {
        0 => PageSize::Size4K,
        1 => PageSize::Size2M,
        _ => PageSize::Size1G,
    }
}

/// Reads entry `idx` of `table`.
///
/// # Safety
/// `table` points to a live table of this page table and `idx < ENTRIES`.
#[inline(always)]
pub(crate) unsafe fn get<PTE: GenericPTE>(table: *mut PTE, idx: usize) -> PTE {
    // SAFETY: guaranteed by the caller.
    unsafe { table.add(idx).read() }
}

/// Writes entry `idx` of `table` with one store (hardware may walk it).
///
/// # Safety
/// As for [`get`].
#[inline(always)]
pub(crate) unsafe fn set<PTE: GenericPTE>(table: *mut PTE, idx: usize, pte: PTE) {
    // SAFETY: guaranteed by the caller.
    unsafe { table.add(idx).write_volatile(pte) }
}

/// Writes raw `bits` as entry `idx` of `table` with one store: the entry's
/// in-memory form is its bits as a native `u64` (`GenericPTE` contract).
///
/// # Safety
/// As for [`get`]; `bits` are the bits of an entry the caller could write
/// with [`set`].
#[inline(always)]
pub(crate) unsafe fn set_bits<PTE: GenericPTE>(table: *mut PTE, idx: usize, bits: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { table.add(idx).cast::<u64>().write_volatile(bits as u64) }
}

/// Clears entry `idx` of `table`.
///
/// # Safety
/// As for [`get`].
#[inline(always)]
pub(crate) unsafe fn clear<PTE: GenericPTE>(table: *mut PTE, idx: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let mut e = get(table, idx);
        e.clear();
        set(table, idx, e);
    }
}

/// Whether every entry of `table` is unused.
///
/// # Safety
/// `table` points to a live table.
pub(crate) unsafe fn table_is_empty<PTE: GenericPTE>(table: *mut PTE) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { table_is_empty_near(table, 0) }
}

/// Entries per 64-byte line, the unit [`table_is_empty_near`] tests at once.
const LINE: usize = 8;

/// [`table_is_empty`], looking at the entries around `near` first: tables empty
/// out in address order or its reverse (an unmap loop, a shrinking stack), so
/// a used entry, if there is one, is usually beside the one just cleared, and
/// scanning from entry 0 would make such a loop quadratic. Lines of eight
/// entries are tested with one OR each (unused means all bits zero,
/// `GenericPTE` contract), alternately after and before `near`'s line.
///
/// # Safety
/// As for [`get`]; `near < ENTRIES`.
#[inline]
pub(crate) unsafe fn table_is_empty_near<PTE: GenericPTE>(table: *mut PTE, near: usize) -> bool {
    let words = table.cast::<u64>();
    // SAFETY: guaranteed by the caller; `l < ENTRIES / LINE`, so every index
    // is below ENTRIES, and an entry's memory is its bits as a `u64`.
    let used =
        |l: usize| (0..LINE).fold(0, |acc, i| acc | unsafe { words.add(l * LINE + i).read() }) != 0;
    let (home, lines) = (near / LINE, ENTRIES / LINE);
    // `near`'s line, then the lines 1, 2, ... away from it, the one after first.
    let around =
        (1..lines).flat_map(|d| [Some(home + d).filter(|&l| l < lines), home.checked_sub(d)]);
    !core::iter::once(home).chain(around.flatten()).any(used)
}

/// What [`PageTable64::remap`] does when the entry maps a present frame other
/// than the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnPresent {
    /// Refuse with [`PagingError::AlreadyMapped`] (the safe default: a present
    /// frame is usually still in use).
    Fail,
    /// Replace the frame (e.g. copy-on-write resolution); the old frame is
    /// returned and may be freed after the flush.
    Replace,
}

/// A multi-level page table with 4K entries of 8 bytes and 512 entries per
/// table: `M` gives the paging mode, `PTE` the entry format, `H` the frames.
///
/// Every operation that changes a translation returns a `#[must_use]`
/// [`TlbFlush`](crate::TlbFlush) or [`FlushBatch`](crate::FlushBatch). Every failing operation leaves the table
/// unchanged. Dropping the table frees every table frame it owns (never the
/// mapped frames, never tables shared through [`copy_from`](Self::copy_from)).
/// Operations never write below a shared top-level slot: they fail with
/// [`PagingError::Shared`] (see [Sharing top-level
/// entries](crate#sharing-top-level-entries)).
///
/// Table frames an operation unlinks are freed at its end, after a full
/// flush it issues itself; `Drop` frees without flushing, so **never drop a
/// table that is active on a CPU**. See [Freeing table
/// frames](crate#freeing-table-frames).
pub struct PageTable64<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> {
    pub(crate) root: PhysAddr,
    /// Top-level slots whose table is borrowed from another page table.
    pub(crate) shared: [u64; ENTRIES / 64],
    _phantom: Marker<M, PTE, H>,
}

/// Variance/auto-trait marker: the table owns PTEs, not `M` or `H` values.
type Marker<M, PTE, H> = PhantomData<(fn() -> M, PTE, fn() -> H)>;

/// A leaf found by [`PageTable64::find`], with the tables on the way.
pub(crate) struct Leaf<PTE> {
    pub(crate) level: usize,
    pub(crate) table: *mut PTE,
    pub(crate) idx: usize,
    pub(crate) path: [*mut PTE; MAX_LEVELS],
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Level of the root table.
    pub(crate) const ROOT: usize = M::LEVELS - 1;
    /// Size of the truncated address space (`2^VA_MAX_BITS`).
    pub(crate) const SPACE: usize = 1 << M::VA_MAX_BITS;
    /// Bits of the truncated form: `VA_MAX_BITS`, one more with
    /// [`VaLayout::SplitHalves`], whose upper half is then truncated to
    /// `[SPACE, 2 * SPACE)` and indexes the same entries as the lower half
    /// (the root index drops the bit).
    const CANON_BITS: usize = match M::VA_LAYOUT {
        VaLayout::SplitHalves => M::VA_MAX_BITS + 1,
        _ => M::VA_MAX_BITS,
    };
    /// Start of the truncated upper half (`SPACE` when there is none).
    const HALF: usize = match M::VA_LAYOUT {
        VaLayout::ZeroExtended => Self::SPACE,
        _ => 1 << (Self::CANON_BITS - 1),
    };
    const PA_LIMIT: usize = 1 << M::PA_MAX_BITS;
    /// The highest frame address (every address bit set).
    pub(crate) const PA_ALL: usize = Self::PA_LIMIT - PAGE_SIZE_4K;
    const CHECKS: () = assert!(
        M::LEVELS >= 2
            && M::LEVELS <= MAX_LEVELS
            && M::VA_MAX_BITS > 12
            && M::VA_MAX_BITS <= shift(M::LEVELS)
            && M::PA_MAX_BITS < usize::BITS as usize
            && size_of::<PTE>() == 8,
        "unsupported paging metadata or PTE format"
    );

    /// Creates an empty table (allocates the root frame).
    ///
    /// # Errors
    /// [`PagingError::NoMemory`] if the root frame cannot be allocated.
    pub fn try_new() -> PagingResult<Self> {
        let () = Self::CHECKS;
        Ok(Self {
            root: Self::alloc_table()?,
            shared: [0; ENTRIES / 64],
            _phantom: PhantomData,
        })
    }

    /// Physical address of the root table (for `satp`, `CR3`, `TTBR`, `PGDL`).
    pub const fn root_paddr(&self) -> PhysAddr {
        self.root
    }

    // ---- address helpers -------------------------------------------------

    #[inline(always)]
    pub(crate) fn trunc(va: usize) -> usize {
        va & (usize::MAX >> (usize::BITS as usize - Self::CANON_BITS))
    }

    /// Canonical (sign-extended) form of a truncated address.
    #[inline(always)]
    pub(crate) fn sext(t: usize) -> usize {
        if M::VA_LAYOUT == VaLayout::ZeroExtended {
            return t;
        }
        let s = usize::BITS as usize - Self::CANON_BITS;
        (((t << s) as isize) >> s) as usize
    }

    /// Validates one address; returns its truncated form.
    #[inline(always)]
    pub(crate) fn check_va(va: usize) -> PagingResult<usize> {
        let t = Self::trunc(va);
        if M::VA_LAYOUT.contains(va, M::VA_MAX_BITS) && M::vaddr_is_valid(va) {
            Ok(t)
        } else {
            Err(PagingError::InvalidAddress)
        }
    }

    /// Validates `[va, va + size)` (4K-aligned, non-empty, inside one half of
    /// the address space); returns the truncated `(lo, hi)`.
    pub(crate) fn check_range(va: usize, size: usize) -> PagingResult<(usize, usize)> {
        let lo = Self::check_va(va)?;
        if size == 0 {
            return Err(PagingError::InvalidAddress);
        }
        if !va.is_multiple_of(PAGE_SIZE_4K) || !size.is_multiple_of(PAGE_SIZE_4K) {
            return Err(PagingError::NotAligned);
        }
        let limit = if lo < Self::HALF {
            Self::HALF
        } else {
            Self::HALF * 2
        };
        let hi = lo
            .checked_add(size)
            .filter(|&hi| hi <= limit)
            .ok_or(PagingError::InvalidAddress)?;
        if !M::vaddr_is_valid(Self::sext(hi - 1)) {
            return Err(PagingError::InvalidAddress);
        }
        Ok((lo, hi))
    }

    /// Validates a physical address of a leaf of `size` bytes.
    #[inline(always)]
    pub(crate) fn check_pa(pa: usize, size: usize) -> PagingResult {
        if pa & (size - 1) != 0 {
            Err(PagingError::NotAligned)
        } else if pa > Self::PA_LIMIT - size {
            Err(PagingError::InvalidAddress)
        } else {
            Ok(())
        }
    }

    // ---- table frames ----------------------------------------------------

    #[inline(always)]
    pub(crate) fn table_of(pa: PhysAddr) -> *mut PTE {
        H::phys_to_virt(pa).as_mut_ptr().cast()
    }

    #[inline(always)]
    pub(crate) fn root_table(&self) -> *mut PTE {
        Self::table_of(self.root)
    }

    /// Allocates a zeroed table frame.
    pub(crate) fn alloc_table() -> PagingResult<PhysAddr> {
        let pa = H::alloc_frame().ok_or(PagingError::NoMemory)?;
        // SAFETY: the handler gives us exclusive use of a 4K frame that is
        // writable through `phys_to_virt`.
        unsafe { ptr::write_bytes(Self::table_of(pa).cast::<u8>(), 0, PAGE_SIZE_4K) };
        Ok(pa)
    }

    /// Whether a used entry at `level` points to a next-level table (leaves
    /// are only created at levels 0..=2).
    #[inline(always)]
    pub(crate) fn is_table(e: &PTE, level: usize) -> bool {
        level > 0 && e.is_present() && (level > 2 || !e.is_huge())
    }

    /// [`is_table`](Self::is_table) with the format's one-test shortcut
    /// first (`is_table_entry`, which implies it), for the loops of the
    /// range operations that meet a table entry per 2M.
    #[inline(always)]
    pub(crate) fn is_table_fast(e: &PTE, level: usize) -> bool {
        level > 0 && (e.is_table_entry() || Self::is_table(e, level))
    }

    /// The table an entry that [`is_table`](Self::is_table) accepts points
    /// to: `paddr_4k`, which is `paddr` for a table entry, without the
    /// block test `paddr` makes.
    #[inline(always)]
    pub(crate) fn child(e: &PTE) -> *mut PTE {
        Self::table_of(e.paddr_4k())
    }

    #[inline(always)]
    pub(crate) fn is_shared(&self, root_idx: usize) -> bool {
        self.shared[root_idx / 64] & (1 << (root_idx % 64)) != 0
    }

    // ---- core walk ---------------------------------------------------------

    /// Finds the leaf covering `t`, or `Err(level)` of the unused entry met.
    ///
    /// # Safety
    /// `t` is a truncated address; the table must be well formed.
    #[inline(always)]
    pub(crate) unsafe fn find(&self, t: usize) -> Result<Leaf<PTE>, usize> {
        let mut path = [ptr::null_mut(); MAX_LEVELS];
        let mut table = self.root_table();
        let mut level = Self::ROOT;
        loop {
            path[level] = table;
            let idx = index(t, level);
            // SAFETY: `table` is a live table of ours and idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if e.is_unused() {
                return Err(level);
            }
            if !Self::is_table(&e, level) {
                return Ok(Leaf {
                    level,
                    table,
                    idx,
                    path,
                });
            }
            table = Self::table_of(e.paddr());
            level -= 1;
        }
    }

    /// Descends to the table at `level` covering `t`, creating missing tables.
    ///
    /// Missing tables are built off-line and linked with one store, so the
    /// hardware never sees a partial chain and a failed allocation frees only
    /// frames that were never reachable (rule 2 of [Freeing table
    /// frames](crate#freeing-table-frames)).
    ///
    /// # Errors
    /// `AlreadyMapped` if a leaf sits above `level`; `NoMemory` if a table
    /// cannot be allocated (nothing changed).
    ///
    /// # Safety
    /// `t` is a truncated address; `level <= ROOT`.
    pub(crate) unsafe fn ensure_table(&mut self, t: usize, level: usize) -> PagingResult<*mut PTE> {
        // SAFETY: guaranteed by the caller.
        unsafe { self.ensure_table_fresh(t, level) }.map(|(table, _)| table)
    }

    /// [`ensure_table`](Self::ensure_table) that also tells whether the
    /// returned table was created by this call (then every entry is unused).
    ///
    /// # Errors
    /// As for [`ensure_table`](Self::ensure_table).
    ///
    /// # Safety
    /// As for [`ensure_table`](Self::ensure_table).
    #[inline]
    pub(crate) unsafe fn ensure_table_fresh(
        &mut self,
        t: usize,
        level: usize,
    ) -> PagingResult<(*mut PTE, bool)> {
        let mut table = self.root_table();
        let mut lvl = Self::ROOT;
        while lvl > level {
            let idx = index(t, lvl);
            // SAFETY: `table` is a live table of ours and idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if e.is_unused() {
                let (top, bottom) = Self::alloc_chain(t, lvl - 1, level)?;
                // SAFETY: as above; the chain is complete before it is linked.
                unsafe { set(table, idx, PTE::new_table(top)) };
                return Ok((Self::table_of(bottom), true));
            } else if Self::is_table(&e, lvl) {
                table = Self::table_of(e.paddr());
            } else {
                return Err(PagingError::AlreadyMapped);
            }
            lvl -= 1;
        }
        Ok((table, false))
    }

    /// Allocates the tables of levels `from` down to `to` covering `t`, each
    /// linked to the next one, and returns the first and the last. Nothing is
    /// linked into this page table yet; on `NoMemory` the frames are freed
    /// directly.
    fn alloc_chain(t: usize, from: usize, to: usize) -> PagingResult<(PhysAddr, PhysAddr)> {
        let mut frames = [PhysAddr::from_usize(0); MAX_LEVELS];
        let n = from - to + 1;
        for i in 0..n {
            match Self::alloc_table() {
                Ok(pa) => frames[i] = pa,
                Err(e) => {
                    // Never reachable by the hardware: no flush owed.
                    // SAFETY: fresh frames of `H`, never linked anywhere.
                    frames[..i]
                        .iter()
                        .for_each(|&pa| unsafe { H::dealloc_frame(pa) });
                    return Err(e);
                }
            }
        }
        for i in 1..n {
            // SAFETY: `frames[i - 1]` is a fresh table of ours (level
            // `from - i + 1`); the index is below ENTRIES.
            unsafe {
                set(
                    Self::table_of(frames[i - 1]),
                    index(t, from - i + 1),
                    PTE::new_table(frames[i]),
                )
            };
        }
        Ok((frames[0], frames[n - 1]))
    }

    /// After clearing an entry of `path[level]`, unlinks the tables on the
    /// path that became empty (never the root nor the tables directly below
    /// it) and queues them in `free`.
    ///
    /// # Safety
    /// `path` comes from [`find`](Self::find) for `t` and is still valid.
    pub(crate) unsafe fn prune_path(
        &mut self,
        t: usize,
        level: usize,
        path: &[*mut PTE; MAX_LEVELS],
        free: &mut DeferredFree<M, PTE, H>,
    ) {
        let mut l = level;
        // SAFETY: every path[l] is a live table; the parent entry points to it.
        while l + 1 < Self::ROOT && unsafe { table_is_empty_near(path[l], index(t, l)) } {
            let (parent, idx) = (path[l + 1], index(t, l + 1));
            // SAFETY: as above; once cleared nothing points to the table.
            unsafe {
                let pa = get(parent, idx).paddr();
                clear(parent, idx);
                free.push_empty(pa);
            }
            l += 1;
        }
    }

    /// The entry checks of `unmap`, `protect` and `remap`: finds the leaf
    /// that starts at the 4K-aligned `va`, in a slot this table owns.
    pub(crate) fn leaf_at(&self, va: usize) -> PagingResult<(Leaf<PTE>, usize)> {
        let t = Self::check_va(va)?;
        if !va.is_multiple_of(PAGE_SIZE_4K) {
            return Err(PagingError::NotAligned);
        }
        // Any leaf around `t` lies below the top-level slot of `t`.
        self.check_owned(t, t + PAGE_SIZE_4K)?;
        // SAFETY: `t` is a checked truncated address.
        let leaf = unsafe { self.find(t) }.map_err(|_| PagingError::NotMapped)?;
        if t & (block(leaf.level) - 1) != 0 {
            return Err(PagingError::MappedToHugePage);
        }
        Ok((leaf, t))
    }
}
