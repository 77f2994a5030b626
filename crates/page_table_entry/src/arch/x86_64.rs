//! x86-64 4-level/5-level paging entries (Intel SDM Vol. 3A, §4.5, tables 4-15..4-20).
//!
//! Layout: `P`=0, `R/W`=1, `U/S`=2, `PWT`=3, `PCD`=4, `A`=5, `D`=6,
//! `PS`=7 (in PDPTE/PDE; it is `PAT` in a 4K PTE), `G`=8, bits 9..=11
//! ignored, address 12..=51 (`PAT` is bit 12 of a 1G/2M leaf), bits
//! 52..=58 ignored, `XD`/`NX`=63.
//!
//! Encoding choices:
//! - Present leaves are always readable; `EXECUTE` clears `NX` (the kernel
//!   must set `EFER.NXE`, otherwise bit 63 is reserved).
//! - `DEVICE` → `PCD|PWT` (PAT entry 3, UC with the power-on PAT);
//!   `UNCACHED` → `PCD` (PAT entry 2, UC-). `PAT` bits are never set, so a
//!   4K leaf never has bit 7 set and [`GenericPTE::is_huge`] is exact.
//! - `A` and `D` (for writable leaves) are set eagerly.
//! - `COW` lives in ignored bit 9; reserved-not-present leaves have `P`=0
//!   and ignored bit 10 set, keeping `PS` for `is_huge`.
//! - Huge leaves hold 2M-aligned addresses (bits 21..=51), since bit 12 is
//!   `PAT` and bits 13..=20 are reserved there.
//!
//! See [`X64PTE::normalize`] for what `flags()` reports.

use memory_addr::PhysAddr;

use super::bit_range;
use crate::{GenericPTE, MappingFlags};

bitflags::bitflags! {
    /// Bits of an x86-64 paging-structure entry (names follow the `x86_64` crate).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PTF: u64 {
        /// Present.
        const PRESENT = 1 << 0;
        /// Writable.
        const WRITABLE = 1 << 1;
        /// User accessible.
        const USER_ACCESSIBLE = 1 << 2;
        /// Page-level write-through (PWT).
        const WRITE_THROUGH = 1 << 3;
        /// Page-level cache disable (PCD).
        const NO_CACHE = 1 << 4;
        /// Accessed.
        const ACCESSED = 1 << 5;
        /// Dirty (leaves only).
        const DIRTY = 1 << 6;
        /// Page size: this PDPTE/PDE maps a 1G/2M page.
        const HUGE_PAGE = 1 << 7;
        /// PAT index bit of a 4K PTE (same position as `HUGE_PAGE`).
        const PAT_4K = 1 << 7;
        /// Global (not flushed on CR3 writes when CR4.PGE=1).
        const GLOBAL = 1 << 8;
        /// Ignored bit 9: Pagoda's copy-on-write marker.
        const COW = 1 << 9;
        /// Ignored bit 10: marks a reserved-not-present leaf (with `PRESENT` clear).
        const RESERVED_LEAF = 1 << 10;
        /// PAT index bit of a 1G/2M leaf.
        const PAT_HUGE = 1 << 12;
        /// Execute disable (requires EFER.NXE).
        const NO_EXECUTE = 1 << 63;
    }
}

/// An x86-64 paging-structure entry (PML4E/PDPTE/PDE/PTE).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct X64PTE(u64);

const PA_MASK: u64 = bit_range(12, 52);
/// The attribute bits of every table entry (`P|R/W|U/S|A`).
const TABLE_ATTR: u64 = PTF::PRESENT
    .union(PTF::WRITABLE)
    .union(PTF::USER_ACCESSIBLE)
    .union(PTF::ACCESSED)
    .bits();
const HUGE_PA_MASK: u64 = bit_range(21, 52);

impl X64PTE {
    /// Physical address width (MAXPHYADDR is at most 52).
    pub const PA_MAX_BITS: usize = 52;

    /// An all-zero (unused) entry.
    #[inline]
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Wraps raw bits.
    #[inline]
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The raw bits.
    #[inline]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// What [`GenericPTE::flags`] reports after `new_page(_, flags, _)`:
    ///
    /// | request | result |
    /// |---|---|
    /// | none of `READ`/`WRITE`/`EXECUTE` (incl. empty) | empty (reserved leaf) |
    /// | any access without `READ` | `READ` added (present implies readable) |
    /// | `DEVICE \| UNCACHED` | `DEVICE` |
    /// | unknown bits | dropped |
    #[inline]
    pub const fn normalize(flags: MappingFlags) -> MappingFlags {
        let f = flags.normalize_common();
        if f.is_empty() {
            f
        } else {
            f.union(MappingFlags::READ)
        }
    }

    #[inline]
    const fn pa_mask(is_huge: bool) -> u64 {
        if is_huge { HUGE_PA_MASK } else { PA_MASK }
    }

    #[inline]
    const fn leaf_attr(flags: MappingFlags, is_huge: bool) -> u64 {
        let huge = if is_huge { PTF::HUGE_PAGE.bits() } else { 0 };
        let f = Self::normalize(flags);
        if f.is_empty() {
            return PTF::RESERVED_LEAF.bits() | huge;
        }
        let mut b = PTF::PRESENT.bits() | PTF::ACCESSED.bits() | huge;
        if f.contains(MappingFlags::WRITE) {
            b |= PTF::WRITABLE.bits() | PTF::DIRTY.bits();
        }
        if !f.contains(MappingFlags::EXECUTE) {
            b |= PTF::NO_EXECUTE.bits();
        }
        if f.contains(MappingFlags::USER) {
            b |= PTF::USER_ACCESSIBLE.bits();
        }
        if f.contains(MappingFlags::GLOBAL) {
            b |= PTF::GLOBAL.bits();
        }
        if f.contains(MappingFlags::DEVICE) {
            b |= PTF::NO_CACHE.bits() | PTF::WRITE_THROUGH.bits();
        } else if f.contains(MappingFlags::UNCACHED) {
            b |= PTF::NO_CACHE.bits();
        }
        if f.contains(MappingFlags::COW) {
            b |= PTF::COW.bits();
        }
        b
    }

    /// `const` form of [`GenericPTE::new_page`].
    #[inline]
    pub const fn page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self((paddr.as_usize() as u64 & Self::pa_mask(is_huge)) | Self::leaf_attr(flags, is_huge))
    }

    /// `const` form of [`GenericPTE::new_table`]: `P|R/W|U/S` so the leaf
    /// alone decides permissions, and `A`, which the CPU sets on the first
    /// walk through the entry anyway (Linux's `_PAGE_TABLE` has it too): set
    /// from the start, the entry stays bit for bit what this makes, which is
    /// what [`GenericPTE::is_table_entry`] tests.
    #[inline]
    pub const fn table(paddr: PhysAddr) -> Self {
        Self((paddr.as_usize() as u64 & PA_MASK) | TABLE_ATTR)
    }

    #[inline]
    const fn has(self, f: PTF) -> bool {
        self.0 & f.bits() != 0
    }

    #[inline]
    const fn is_huge_bits(self) -> bool {
        self.has(PTF::HUGE_PAGE)
    }
}

// SAFETY: a `repr(transparent)` `u64` whose bits are the entry; the
// encodings follow x86-64 4-level paging (Intel SDM Vol. 3A, 4.5) and meet the trait's contract: tables and leaves
// are told apart as the walkers expect, empty flags give an invalid entry,
// the address bits are the ones `set_paddr` writes. The unit tests check
// every rule on every flag combination.
unsafe impl GenericPTE for X64PTE {
    common_pte_methods!();

    #[inline]
    fn new_page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self::page(paddr, flags, is_huge)
    }
    #[inline]
    fn new_table(paddr: PhysAddr) -> Self {
        Self::table(paddr)
    }
    #[inline]
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from_usize((self.0 & Self::pa_mask(self.is_huge_bits())) as usize)
    }
    #[inline]
    fn paddr_4k(&self) -> PhysAddr {
        PhysAddr::from_usize((self.0 & PA_MASK) as usize)
    }
    #[inline]
    fn flags(&self) -> MappingFlags {
        // A table entry has the same format as a 4K leaf, so it reports the
        // permissions it grants (READ|WRITE|EXECUTE|USER).
        if !self.has(PTF::PRESENT) {
            return MappingFlags::empty();
        }
        let mut f = MappingFlags::READ;
        if self.has(PTF::WRITABLE) {
            f = f.union(MappingFlags::WRITE);
        }
        if !self.has(PTF::NO_EXECUTE) {
            f = f.union(MappingFlags::EXECUTE);
        }
        if self.has(PTF::USER_ACCESSIBLE) {
            f = f.union(MappingFlags::USER);
        }
        if self.has(PTF::GLOBAL) {
            f = f.union(MappingFlags::GLOBAL);
        }
        if self.has(PTF::NO_CACHE) {
            f = f.union(if self.has(PTF::WRITE_THROUGH) {
                MappingFlags::DEVICE
            } else {
                MappingFlags::UNCACHED
            });
        }
        if self.has(PTF::COW) {
            f = f.union(MappingFlags::COW);
        }
        f
    }
    #[inline]
    fn set_paddr(&mut self, paddr: PhysAddr) {
        let mask = Self::pa_mask(self.is_huge_bits());
        self.0 = (self.0 & !mask) | (paddr.as_usize() as u64 & mask);
    }
    #[inline]
    fn paddr_step(size: usize) -> Option<usize> {
        // The address is one field, at its own bit positions.
        Some(size)
    }
    #[inline]
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        let pa = self.0 & Self::pa_mask(is_huge);
        self.0 = pa | Self::leaf_attr(flags, is_huge);
    }
    #[inline]
    fn is_present(&self) -> bool {
        self.has(PTF::PRESENT)
    }
    #[inline]
    fn is_table_entry(&self) -> bool {
        // Exactly what `new_table` makes (so P = 1, PS = 0): subtracting its
        // attribute bits leaves nothing but an address.
        self.0.wrapping_sub(TABLE_ATTR) & !PA_MASK == 0
    }
    #[inline]
    fn table_paddr(&self) -> PhysAddr {
        PhysAddr::from_usize(self.0.wrapping_sub(TABLE_ATTR) as usize)
    }
    #[inline]
    fn is_huge(&self) -> bool {
        self.is_huge_bits()
    }
}

common_pte_impls!(X64PTE, PTF);

#[cfg(test)]
mod tests {
    use memory_addr::pa;

    use super::*;
    use crate::MappingFlags as MF;

    // Literal bit positions from the SDM, Vol. 3A, table 4-20 (4K PTE).
    const P: u64 = 1;
    const RW: u64 = 1 << 1;
    const US: u64 = 1 << 2;
    const PWT: u64 = 1 << 3;
    const PCD: u64 = 1 << 4;
    const A: u64 = 1 << 5;
    const D: u64 = 1 << 6;
    const PS: u64 = 1 << 7;
    const G: u64 = 1 << 8;
    const NX: u64 = 1 << 63;

    fn leaf(f: MF) -> u64 {
        X64PTE::new_page(pa!(0), f, false).as_u64()
    }

    #[test]
    fn last_level_paddr_ignores_pat() {
        // Bit 7 of a 4K PTE is PAT (SDM table 4-20), not PS: every address bit counts.
        let e = X64PTE::from_bits(0x1234_5000 | PS | P);
        assert_eq!(e.paddr_4k(), pa!(0x1234_5000));
        assert_eq!(
            e.paddr(),
            pa!(0x1220_0000),
            "as a 2M leaf, bits 12..21 are not address"
        );
        let plain = X64PTE::new_page(pa!(0x1234_5000), MF::READ, false);
        assert_eq!(plain.paddr_4k(), plain.paddr());
    }

    #[test]
    fn flag_bits_match_sdm() {
        assert_eq!(PTF::PAT_4K.bits(), 0x80);
        assert_eq!(PTF::PAT_HUGE.bits(), 0x1000);
        assert_eq!(leaf(MF::READ), P | A | NX);
        assert_eq!(leaf(MF::READ | MF::WRITE), P | RW | A | D | NX);
        assert_eq!(leaf(MF::READ | MF::EXECUTE), P | A);
        assert_eq!(leaf(MF::READ | MF::USER), P | US | A | NX);
        assert_eq!(leaf(MF::READ | MF::GLOBAL), P | G | A | NX);
        assert_eq!(leaf(MF::READ | MF::DEVICE), P | PCD | PWT | A | NX);
        assert_eq!(leaf(MF::READ | MF::UNCACHED), P | PCD | A | NX);
        assert_eq!(leaf(MF::READ | MF::COW), P | A | NX | (1 << 9));
    }

    #[test]
    fn huge_sets_ps_and_never_pat() {
        let h = X64PTE::new_page(pa!(0x4000_0000), MF::READ | MF::WRITE, true);
        assert_eq!(h.as_u64(), 0x4000_0000 | P | RW | A | D | PS | NX);
        assert!(h.is_huge());
        assert!(!X64PTE::new_page(pa!(0x1000), MF::READ, false).is_huge());
        // A 4K-aligned address in a huge leaf loses bits 12..=20 (bit 12 is PAT).
        let m = X64PTE::new_page(pa!(0x20_1000), MF::READ, true);
        assert_eq!(m.as_u64() & PTF::PAT_HUGE.bits(), 0);
        assert_eq!(m.paddr(), pa!(0x20_0000));
    }

    #[test]
    fn address_bits_12_to_51() {
        let top = X64PTE::new_page(pa!((1 << 52) - 0x1000), MF::READ, false);
        assert_eq!(top.as_u64(), 0x000f_ffff_ffff_f000 | P | A | NX);
        let wide = X64PTE::new_page(pa!(usize::MAX), MF::READ | MF::EXECUTE, false);
        assert_eq!(wide.as_u64() >> 52, 0);
    }

    #[test]
    fn write_only_and_exec_only_widen() {
        assert_eq!(leaf(MF::WRITE), P | RW | A | D | NX);
        assert_eq!(leaf(MF::EXECUTE), P | A);
        assert_eq!(
            X64PTE::new_page(pa!(0), MF::EXECUTE, false).flags(),
            MF::READ | MF::EXECUTE
        );
    }

    #[test]
    fn table_entry() {
        let t = X64PTE::new_table(pa!(0x1234_5000));
        assert_eq!(t.as_u64(), 0x1234_5000 | P | RW | US | A);
        assert!(t.is_present() && !t.is_huge() && t.is_table_entry());
        // Once the CPU's A bit is cleared (or any other bit set), the entry
        // is no longer the exact form: walkers take the generic path.
        assert!(!X64PTE::from_bits(t.as_u64() & !A).is_table_entry());
        assert!(!X64PTE::from_bits(t.as_u64() | NX).is_table_entry());
        assert_eq!(t.flags(), MF::READ | MF::WRITE | MF::EXECUTE | MF::USER);
    }

    #[test]
    fn reserved_entries() {
        let r = X64PTE::new_page(pa!(0), MF::empty(), false);
        assert_eq!(r.as_u64(), 1 << 10);
        assert!(!r.is_unused() && !r.is_present() && !r.is_huge());
        let h = X64PTE::new_page(pa!(0x20_0000), MF::empty(), true);
        assert_eq!(h.as_u64(), 0x20_0000 | PS | (1 << 10));
        assert!(h.is_huge() && !h.is_present());
        assert_eq!(h.paddr(), pa!(0x20_0000));
    }

    #[test]
    fn debug_shows_paddr_and_flags() {
        let s = format!("{:?}", X64PTE::new_page(pa!(0x5000), MF::READ, false));
        assert!(s.contains("paddr: 0x5000") && s.contains("READ"), "{s}");
    }
}
