//! LoongArch64 page table entries (LoongArch Reference Manual Vol. 1,
//! "TLBELO" and "multi-level page table structure supported by page walking").
//!
//! Layout of a leaf: `V`=0, `D`=1, `PLV`=2..=3, `MAT`=4..=5, bit 6 is `G` in
//! a 4K PTE and `H` (huge) in a directory entry, bits 7..=11 are ignored by
//! the walker (software), PPN from bit 12 (a huge entry has its global bit
//! `HG` at 12, so its address starts at bit 21), `NR`=61, `NX`=62, `RPLV`=63.
//! Directory (table) entries hold only the next table's address, since
//! `lddir` uses the loaded value as a base address.
//!
//! Encoding choices:
//! - `P` (software bit 7) marks present leaves and `W` (software bit 8)
//!   records write permission; `D` is set with `W` so stores do not raise
//!   page-modify exceptions. `READ`/`EXECUTE` clear `NR`/`NX`, so write-only
//!   and execute-only pages are exact.
//! - `USER` → `PLV`=3, else `PLV`=0; `RPLV`=0.
//! - `MAT`: `DEVICE` → 0 (strongly-ordered uncached), `UNCACHED` → 2
//!   (weakly-ordered uncached), otherwise 1 (coherent cached).
//! - `GLOBAL` → `G` (bit 6) plus software bit 10 on a 4K leaf, so a 4K global
//!   leaf is not mistaken for a huge one; `HG` (bit 12) on a huge leaf.
//! - `COW` is software bit 9; reserved-not-present leaves have `V`=`P`=0
//!   and software bit 11 set, keeping `H` for `is_huge`.
//!
//! See [`LA64PTE::normalize`] for what `flags()` reports.

use memory_addr::PhysAddr;

use super::bit_range;
use crate::{GenericPTE, MappingFlags};

bitflags::bitflags! {
    /// Bits of a LoongArch64 PTE (names of the hardware bits follow arceos).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PTEFlags: u64 {
        /// Valid.
        const V = 1 << 0;
        /// Dirty: stores allowed without a page-modify exception.
        const D = 1 << 1;
        /// Privilege level, low bit.
        const PLVL = 1 << 2;
        /// Privilege level, high bit.
        const PLVH = 1 << 3;
        /// Memory access type, low bit.
        const MATL = 1 << 4;
        /// Memory access type, high bit.
        const MATH = 1 << 5;
        /// Global (4K PTE) or huge (directory entry).
        const GH = 1 << 6;
        /// Software: present.
        const P = 1 << 7;
        /// Software: writable.
        const W = 1 << 8;
        /// Software: copy-on-write.
        const COW = 1 << 9;
        /// Software: `GH` means global on this 4K leaf.
        const GLOBAL_4K = 1 << 10;
        /// Software: reserved-not-present leaf.
        const RESERVED_LEAF = 1 << 11;
        /// Global bit of a huge leaf.
        const G = 1 << 12;
        /// Not readable.
        const NR = 1 << 61;
        /// Not executable.
        const NX = 1 << 62;
        /// Restricted privilege level: only exactly `PLV` may access.
        const RPLV = 1 << 63;
    }
}

/// A LoongArch64 page table or directory entry.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct LA64PTE(u64);

const PA_MASK: u64 = bit_range(12, 48);
const HUGE_PA_MASK: u64 = bit_range(21, 48);
const MAT_SHIFT: u32 = 4;
const MAT_MASK: u64 = 0b11 << MAT_SHIFT;
const MAT_SUC: u64 = 0;
const MAT_CC: u64 = 1;
const MAT_WUC: u64 = 2;
const PLV_MASK: u64 = PTEFlags::PLVL.bits() | PTEFlags::PLVH.bits();
/// Bits a table entry never has (anything but the address).
const NON_ADDR: u64 = !PA_MASK;

impl LA64PTE {
    /// Physical address width (PALEN is at most 48).
    pub const PA_MAX_BITS: usize = 48;

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
    /// | `DEVICE \| UNCACHED` | `DEVICE` |
    /// | unknown bits | dropped |
    ///
    /// Write-only and execute-only are exact (`NR`/`NX`).
    #[inline]
    pub const fn normalize(flags: MappingFlags) -> MappingFlags {
        flags.normalize_common()
    }

    #[inline]
    const fn pa_mask(is_huge: bool) -> u64 {
        if is_huge { HUGE_PA_MASK } else { PA_MASK }
    }

    #[inline]
    const fn leaf_attr(flags: MappingFlags, is_huge: bool) -> u64 {
        let huge = if is_huge { PTEFlags::GH.bits() } else { 0 };
        let f = Self::normalize(flags);
        if f.is_empty() {
            return PTEFlags::RESERVED_LEAF.bits() | huge;
        }
        let mut b = PTEFlags::V.bits() | PTEFlags::P.bits() | huge;
        if !f.contains(MappingFlags::READ) {
            b |= PTEFlags::NR.bits();
        }
        if f.contains(MappingFlags::WRITE) {
            b |= PTEFlags::W.bits() | PTEFlags::D.bits();
        }
        if !f.contains(MappingFlags::EXECUTE) {
            b |= PTEFlags::NX.bits();
        }
        if f.contains(MappingFlags::USER) {
            b |= PLV_MASK;
        }
        let mat = if f.contains(MappingFlags::DEVICE) {
            MAT_SUC
        } else if f.contains(MappingFlags::UNCACHED) {
            MAT_WUC
        } else {
            MAT_CC
        };
        b |= mat << MAT_SHIFT;
        if f.contains(MappingFlags::GLOBAL) {
            b |= if is_huge {
                PTEFlags::G.bits()
            } else {
                PTEFlags::GH.bits() | PTEFlags::GLOBAL_4K.bits()
            };
        }
        if f.contains(MappingFlags::COW) {
            b |= PTEFlags::COW.bits();
        }
        b
    }

    /// `const` form of [`GenericPTE::new_page`].
    #[inline]
    pub const fn page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self((paddr.as_usize() as u64 & Self::pa_mask(is_huge)) | Self::leaf_attr(flags, is_huge))
    }

    /// `const` form of [`GenericPTE::new_table`]: the bare address. A table
    /// at physical address 0 would be indistinguishable from an unused entry.
    #[inline]
    pub const fn table(paddr: PhysAddr) -> Self {
        Self(paddr.as_usize() as u64 & PA_MASK)
    }

    #[inline]
    const fn has(self, f: PTEFlags) -> bool {
        self.0 & f.bits() != 0
    }

    /// A leaf (present or reserved) as opposed to a table or unused entry.
    #[inline]
    const fn is_leaf(self) -> bool {
        self.0 & NON_ADDR != 0
    }

    #[inline]
    const fn is_huge_bits(self) -> bool {
        self.has(PTEFlags::GH) && !self.has(PTEFlags::GLOBAL_4K)
    }
}

// SAFETY: a `repr(transparent)` `u64` whose bits are the entry; the
// encodings follow LoongArch64 page table entries and directory entries and meet the trait's contract: tables and leaves
// are told apart as the walkers expect, empty flags give an invalid entry,
// the address bits are the ones `set_paddr` writes. The unit tests check
// every rule on every flag combination.
unsafe impl GenericPTE for LA64PTE {
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
        // Bit 6 of a last-level entry is G, not the huge marker GH.
        PhysAddr::from_usize((self.0 & PA_MASK) as usize)
    }
    #[inline]
    fn flags(&self) -> MappingFlags {
        if !self.has(PTEFlags::P) {
            return MappingFlags::empty();
        }
        let mut f = MappingFlags::empty();
        if !self.has(PTEFlags::NR) {
            f = f.union(MappingFlags::READ);
        }
        if self.has(PTEFlags::W) {
            f = f.union(MappingFlags::WRITE);
        }
        if !self.has(PTEFlags::NX) {
            f = f.union(MappingFlags::EXECUTE);
        }
        if self.0 & PLV_MASK == PLV_MASK {
            f = f.union(MappingFlags::USER);
        }
        match (self.0 & MAT_MASK) >> MAT_SHIFT {
            MAT_SUC => f = f.union(MappingFlags::DEVICE),
            MAT_WUC => f = f.union(MappingFlags::UNCACHED),
            _ => {}
        }
        let global = if self.is_huge_bits() {
            PTEFlags::G
        } else {
            PTEFlags::GLOBAL_4K
        };
        if self.has(global) {
            f = f.union(MappingFlags::GLOBAL);
        }
        if self.has(PTEFlags::COW) {
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
        // Tables are bare addresses: present whenever non-zero.
        if self.is_leaf() {
            self.has(PTEFlags::P)
        } else {
            self.0 != 0
        }
    }
    #[inline]
    fn is_table_entry(&self) -> bool {
        // A directory entry is a bare non-zero address.
        self.0 != 0 && !self.is_leaf()
    }
    #[inline]
    fn table_paddr(&self) -> PhysAddr {
        // A directory entry is the bare address.
        PhysAddr::from_usize(self.0 as usize)
    }
    #[inline]
    fn is_huge(&self) -> bool {
        self.is_huge_bits()
    }
}

common_pte_impls!(LA64PTE, PTEFlags);

#[cfg(test)]
mod tests {
    use memory_addr::pa;

    use super::*;
    use crate::MappingFlags as MF;

    // Literal bit positions from the LoongArch manual (TLBELO / page walk).
    const V: u64 = 1;
    const D: u64 = 1 << 1;
    const PLV3: u64 = 0b11 << 2;
    const MAT_CC: u64 = 0b01 << 4;
    const MAT_WUC: u64 = 0b10 << 4;
    const G_OR_H: u64 = 1 << 6;
    const HG: u64 = 1 << 12;
    const NR: u64 = 1 << 61;
    const NX: u64 = 1 << 62;
    // Software bits chosen by this crate.
    const P: u64 = 1 << 7;
    const W: u64 = 1 << 8;

    fn leaf(f: MF) -> u64 {
        LA64PTE::new_page(pa!(0), f, false).as_u64()
    }

    #[test]
    fn flag_bits_match_manual() {
        assert_eq!(leaf(MF::READ), V | P | MAT_CC | NX);
        assert_eq!(leaf(MF::READ | MF::WRITE), V | P | D | W | MAT_CC | NX);
        assert_eq!(leaf(MF::READ | MF::EXECUTE), V | P | MAT_CC);
        assert_eq!(leaf(MF::WRITE), V | P | D | W | MAT_CC | NR | NX);
        assert_eq!(leaf(MF::EXECUTE), V | P | MAT_CC | NR);
        assert_eq!(leaf(MF::READ | MF::USER), V | P | PLV3 | MAT_CC | NX);
        assert_eq!(leaf(MF::READ | MF::DEVICE), V | P | NX);
        assert_eq!(leaf(MF::READ | MF::UNCACHED), V | P | MAT_WUC | NX);
        assert_eq!(leaf(MF::READ | MF::COW), V | P | MAT_CC | NX | (1 << 9));
        assert_eq!(
            leaf(MF::READ | MF::GLOBAL),
            V | P | MAT_CC | NX | G_OR_H | (1 << 10)
        );
    }

    #[test]
    fn huge_leaves_use_h_and_hg() {
        let h = LA64PTE::new_page(pa!(0x4020_0000), MF::READ | MF::GLOBAL, true);
        assert_eq!(h.as_u64(), 0x4020_0000 | V | P | MAT_CC | NX | G_OR_H | HG);
        assert!(h.is_huge());
        assert_eq!(h.paddr(), pa!(0x4020_0000));
        assert_eq!(h.flags(), MF::READ | MF::GLOBAL);
        // A 4K global leaf has bit 6 set but is not huge.
        let g = LA64PTE::new_page(pa!(0x1000), MF::READ | MF::GLOBAL, false);
        assert!(!g.is_huge());
        assert_eq!(g.paddr(), pa!(0x1000));
    }

    #[test]
    fn tables_are_bare_addresses() {
        let t = LA64PTE::new_table(pa!(0x9000_0000_1234_5000));
        assert_eq!(t.as_u64(), 0x1234_5000);
        assert!(t.is_present() && !t.is_huge());
        assert_eq!(t.flags(), MF::empty());
    }

    #[test]
    fn reserved_entries() {
        let r = LA64PTE::new_page(pa!(0), MF::empty(), false);
        assert_eq!(r.as_u64(), 1 << 11);
        assert!(!r.is_unused() && !r.is_present() && !r.is_huge());
        let h = LA64PTE::new_page(pa!(0x20_0000), MF::COW, true);
        assert_eq!(h.as_u64(), 0x20_0000 | G_OR_H | (1 << 11));
        assert!(h.is_huge() && !h.is_present());
        assert_eq!(h.flags(), MF::empty());
    }

    #[test]
    fn debug_shows_paddr_and_flags() {
        let s = format!("{:?}", LA64PTE::new_page(pa!(0x3000), MF::READ, false));
        assert!(s.contains("paddr: 0x3000") && s.contains("READ"), "{s}");
    }
}
