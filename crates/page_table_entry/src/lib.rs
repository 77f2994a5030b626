#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]

mod arch;

use core::fmt::Debug;

use memory_addr::PhysAddr;

pub use self::arch::{aarch64, arm, loongarch64, riscv, x86_64};

bitflags::bitflags! {
    /// Architecture-neutral permissions and attributes of a mapping.
    ///
    /// Empty flags mean `PROT_NONE`: [`GenericPTE::new_page`] then builds a
    /// reserved entry that hardware treats as not present. Flags that grant no
    /// access (none of `READ`, `WRITE`, `EXECUTE`) are treated the same way.
    /// Each PTE format documents in its `normalize` function which other
    /// combinations it widens or drops; no combination panics.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MappingFlags: usize {
        /// The memory is readable.
        const READ = 1 << 0;
        /// The memory is writable.
        const WRITE = 1 << 1;
        /// The memory is executable.
        const EXECUTE = 1 << 2;
        /// The memory is accessible from user mode.
        const USER = 1 << 3;
        /// Device memory (MMIO): uncached, strongly ordered.
        const DEVICE = 1 << 4;
        /// Normal memory that is not cached.
        const UNCACHED = 1 << 5;
        /// The mapping is present in every address space and survives
        /// address-space switches (not tagged by ASID/PCID).
        const GLOBAL = 1 << 6;
        /// Software bit: the page is shared copy-on-write; a write fault
        /// copies it. Stored in a bit each format leaves to software.
        const COW = 1 << 7;
    }
}

impl Default for MappingFlags {
    fn default() -> Self {
        Self::empty()
    }
}

impl MappingFlags {
    /// The access permission bits (`READ | WRITE | EXECUTE`).
    pub const ACCESS: Self = Self::READ.union(Self::WRITE).union(Self::EXECUTE);

    /// Whether the flags grant any access; flags that do not are mapped as
    /// reserved-not-present entries.
    pub const fn grants_access(self) -> bool {
        self.intersects(Self::ACCESS)
    }

    /// The normalization every format applies: unknown bits are dropped,
    /// flags without access become empty, and `DEVICE | UNCACHED` becomes
    /// `DEVICE` (device memory is already uncached).
    pub(crate) const fn normalize_common(self) -> Self {
        let f = Self::from_bits_truncate(self.bits());
        if !f.grants_access() {
            return Self::empty();
        }
        if f.contains(Self::DEVICE) {
            f.difference(Self::UNCACHED)
        } else {
            f
        }
    }
}

/// A page table entry of one hardware format.
///
/// Entries come in four kinds, told apart by [`is_unused`](Self::is_unused)
/// and [`is_present`](Self::is_present):
///
/// | kind | `is_unused` | `is_present` | made by |
/// |---|---|---|---|
/// | unused | true | false | [`clear`](Self::clear) |
/// | table | false | true | [`new_table`](Self::new_table) |
/// | present leaf | false | true | `new_page` with access flags |
/// | reserved leaf | false | false | `new_page` with empty flags (`PROT_NONE`) |
///
/// A reserved leaf is not present to hardware (any access faults) but keeps
/// its [`paddr`](Self::paddr) and [`is_huge`](Self::is_huge); its
/// [`flags`](Self::flags) are empty. Walkers treat
/// `!is_unused() && !is_present()` as a leaf.
///
/// # Safety
///
/// Page-table walkers (`page_table_multiarch`) follow the addresses entries
/// report and write the tables they lead to, and hardware translates through
/// the entries, so a wrong format corrupts memory. Implementations promise,
/// for every 4 KiB-aligned `pa` below the format's physical address width
/// (block-aligned for huge leaves) and all `flags`:
///
/// 1. **Representation.** `Self` is 8 bytes without padding, its in-memory
///    form is the native-endian `u64` [`bits`](Self::bits) (walkers read and
///    write entries as raw `u64`s), [`is_unused`](Self::is_unused) holds
///    exactly when every bit is zero, and [`clear`](Self::clear) zeroes them.
/// 2. **Tables.** `new_table(pa)` is present, not unused, not huge, and its
///    `paddr()` is `pa`; hardware reads it as a pointer to the table at `pa`.
/// 3. **Leaves.** `new_page(pa, flags, huge)` is not unused and its
///    `paddr()` is `pa`. With flags that grant access it is present and, if
///    `huge`, `is_huge()`; hardware reads it as a leaf mapping `pa` with at
///    most the permissions [`flags`](Self::flags) reports (never `USER`
///    access unless `flags` has `USER`). With empty flags it is not present:
///    hardware treats it as invalid at every level.
/// 4. **Updates.** `paddr`, `flags`, `is_present`, `is_huge` depend only on
///    the bits. `set_paddr(pa)` changes only the address bits (so the kind,
///    flags and huge bit stay and `paddr()` becomes `pa`); `set_flags(flags,
///    huge)` keeps `paddr()` and gives the entry `new_page(paddr(), flags,
///    huge)` would.
/// 5. **Walker shortcuts.** Whenever [`is_table_entry`](Self::is_table_entry)
///    holds, so do `is_present()` and `!is_huge()`, and
///    [`table_paddr`](Self::table_paddr) is `paddr()`.
/// 6. The methods touch no memory but `self`.
/// 7. **Address steps.** If [`paddr_step`](Self::paddr_step)`(size)` is
///    `Some(step)`, then for every entry `e` and every `pa` such that `pa`
///    and `pa + size` are both addresses `e` can hold (aligned, inside the
///    format's PA width), `e` after `set_paddr(pa + size)` has the bits of
///    `e` after `set_paddr(pa)` plus `step` (wrapping).
///
/// A safe trait would let a format report a leaf as a table (or a table at
/// another address) and make `map` write into memory the page table does not
/// own. Safe code cannot implement it:
///
/// ```compile_fail,E0200
/// use memory_addr::PhysAddr;
/// use page_table_entry::{GenericPTE, MappingFlags};
///
/// #[derive(Debug, Clone, Copy)]
/// struct Bogus(u64);
///
/// impl GenericPTE for Bogus {
///     fn new_page(pa: PhysAddr, _: MappingFlags, _: bool) -> Self { Self(pa.as_usize() as u64 | 1) }
///     fn new_table(pa: PhysAddr) -> Self { Self(pa.as_usize() as u64 | 1) }
///     fn paddr(&self) -> PhysAddr { PhysAddr::from_usize(self.0 as usize & !0xfff) }
///     fn flags(&self) -> MappingFlags { MappingFlags::empty() }
///     fn set_paddr(&mut self, pa: PhysAddr) { self.0 = pa.as_usize() as u64 | 1 }
///     fn set_flags(&mut self, _: MappingFlags, _: bool) {}
///     fn bits(self) -> usize { self.0 as usize }
///     fn is_unused(&self) -> bool { self.0 == 0 }
///     fn is_present(&self) -> bool { self.0 & 1 != 0 }
///     fn is_huge(&self) -> bool { false }
///     fn clear(&mut self) { self.0 = 0 }
/// }
/// ```
pub unsafe trait GenericPTE: Debug + Clone + Copy + Sync + Send + Sized + 'static {
    /// Creates a leaf entry mapping `paddr` (a 4K page, or a block when
    /// `is_huge`). Empty flags give a reserved-not-present leaf. Address
    /// bits the format cannot hold (beyond its PA width, below the page or
    /// block alignment) are dropped.
    fn new_page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self;
    /// Creates an entry pointing to a next-level table at `paddr`.
    fn new_table(paddr: PhysAddr) -> Self;
    /// The physical address this entry maps or points to.
    fn paddr(&self) -> PhysAddr;
    /// The mapping flags of a leaf (empty for unused and reserved entries).
    /// Only meaningful for leaves: formats whose table entries look like
    /// 4K leaves (x86-64) report the permissions the table grants.
    fn flags(&self) -> MappingFlags;
    /// Replaces the physical address, keeping flags and kind.
    fn set_paddr(&mut self, paddr: PhysAddr);
    /// Makes this entry a leaf with `flags`, keeping the physical address.
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool);
    /// The raw bits of the entry.
    fn bits(self) -> usize;
    /// Whether all bits are zero.
    fn is_unused(&self) -> bool;
    /// Whether hardware treats the entry as valid (a table or a present leaf).
    fn is_present(&self) -> bool;
    /// Whether the entry is a block leaf when found above the last level.
    /// Formats that cannot tell a 4K leaf from a block by its bits (RISC-V)
    /// report `true` for every present leaf; see each format's docs.
    fn is_huge(&self) -> bool;
    /// Sets all bits to zero.
    fn clear(&mut self);

    /// Whether this entry, found above the last level, points to a
    /// next-level table: the fast test a walker makes at every level. It
    /// implies `is_present() && !is_huge()` and equals it for every entry the
    /// constructors make; formats override it with one test of the bits and
    /// may refuse more (LoongArch: a 4K leaf, which is never found there;
    /// x86-64, RISC-V and AArch64: any entry that is not bit for bit what
    /// `new_table` makes, so that [`table_paddr`](Self::table_paddr) needs
    /// no mask). Refused entries take a walker's generic path.
    #[inline]
    fn is_table_entry(&self) -> bool {
        self.is_present() && !self.is_huge()
    }
    /// [`paddr`](Self::paddr) of an entry that
    /// [`is_table_entry`](Self::is_table_entry) accepts, the walker's next
    /// table, computed the cheapest way the format has (meaningless for
    /// other entries). Formats whose table test accepts exactly the bits
    /// [`new_table`](Self::new_table) makes get it by one subtraction.
    #[inline]
    fn table_paddr(&self) -> PhysAddr {
        self.paddr_4k()
    }
    /// [`paddr`](Self::paddr) of an entry that is not a block: a table entry
    /// or an entry of the last level (a 4K leaf). Formats whose huge bit
    /// means something else at the last level (x86-64: PAT) override it, so
    /// that the bit is not consulted.
    #[inline]
    fn paddr_4k(&self) -> PhysAddr {
        self.paddr()
    }
    /// What one step of `size` bytes in the address adds to the bits (see
    /// item 7 of the trait's contract), for formats that keep the address
    /// as one shifted field: a range mapper then makes each entry of a
    /// physically contiguous run with one add instead of encoding its
    /// address. `None` (the default) promises nothing, and every entry is
    /// encoded with [`set_paddr`](Self::set_paddr).
    #[inline]
    fn paddr_step(size: usize) -> Option<usize> {
        let _ = size;
        None
    }
    /// Whether this is a reserved-not-present leaf (`!is_unused() && !is_present()`).
    fn is_reserved(&self) -> bool {
        !self.is_unused() && !self.is_present()
    }

    /// The flags [`flags`](Self::flags) reports after `new_page(_, flags, _)`:
    /// what this format can express of `flags`.
    fn normalize_flags(flags: MappingFlags) -> MappingFlags {
        Self::new_page(PhysAddr::from_usize(0), flags, false).flags()
    }
}

#[cfg(test)]
mod tests;
