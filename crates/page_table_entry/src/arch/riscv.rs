//! RISC-V Sv39/Sv48/Sv57 page table entries (the PTE format is shared).
//!
//! Layout (RISC-V privileged spec, "Sv39" PTE): `V`=0, `R`=1, `W`=2, `X`=3,
//! `U`=4, `G`=5, `A`=6, `D`=7, `RSW`=8..=9 (software), PPN=10..=53,
//! bits 54..=63 reserved/extensions (left zero).
//!
//! Encoding choices:
//! - `A` is always set and `D` is set for writable leaves, so harts that
//!   fault instead of updating A/D (Svade) never take spurious faults.
//! - Memory type: Svpbmt (bits 61..=62) is optional and must be zero on
//!   harts without it, so it is never set; physical memory attributes (PMAs)
//!   decide cacheability. `DEVICE`/`UNCACHED`/`COW` are recorded in the
//!   two `RSW` bits as a field: 0 normal, 1 `COW`, 2 `DEVICE`, 3 `UNCACHED`.
//! - Reserved-not-present leaves have `V`=0 (hardware ignores every other
//!   bit), [`PTEFlags::RSW_LO`] set as the marker and [`PTEFlags::RSW_HI`]
//!   recording `is_huge`.
//! - A present leaf and a superpage have the same bits, so
//!   [`GenericPTE::is_huge`] is `true` for every present leaf; walkers ask it
//!   only above the last level.
//!
//! - Feature `xuantie-c9xx`: T-Head C906/C910 cores without Svpbmt take the
//!   memory type from their extended attribute bits instead (XuanTie C906
//!   R1S0 User Manual, chapter "Memory Management Unit", PTE attribute
//!   bits `SO`=63, `C`=62, `B`=61, `SH`=60): normal leaves get `C|B|SH`,
//!   `UNCACHED` gets `B|SH`, `DEVICE` gets `SO|SH` (strongly ordered,
//!   neither cacheable nor bufferable). Without the feature those bits stay
//!   zero, as the privileged spec requires on other harts.
//!
//! [`Rv32PTE`] is the Sv32 format: the same low 10 bits, a 22-bit PPN in
//! bits 10..=31 (34-bit physical addresses).
//!
//! See [`Rv64PTE::normalize`] for what `flags()` reports.

use memory_addr::PhysAddr;

use super::bit_range;
use crate::{GenericPTE, MappingFlags};

bitflags::bitflags! {
    /// Hardware bits of an Sv39/Sv48 PTE.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PTEFlags: u64 {
        /// Valid.
        const V = 1 << 0;
        /// Readable.
        const R = 1 << 1;
        /// Writable.
        const W = 1 << 2;
        /// Executable.
        const X = 1 << 3;
        /// Accessible in U-mode.
        const U = 1 << 4;
        /// Global mapping.
        const G = 1 << 5;
        /// Accessed.
        const A = 1 << 6;
        /// Dirty.
        const D = 1 << 7;
        /// Reserved for software, low bit.
        const RSW_LO = 1 << 8;
        /// Reserved for software, high bit.
        const RSW_HI = 1 << 9;
        /// T-Head `SH`: shareable (feature `xuantie-c9xx`).
        #[cfg(feature = "xuantie-c9xx")]
        const SH = 1 << 60;
        /// T-Head `B`: bufferable (feature `xuantie-c9xx`).
        #[cfg(feature = "xuantie-c9xx")]
        const B = 1 << 61;
        /// T-Head `C`: cacheable (feature `xuantie-c9xx`).
        #[cfg(feature = "xuantie-c9xx")]
        const C = 1 << 62;
        /// T-Head `SO`: strongly ordered (feature `xuantie-c9xx`).
        #[cfg(feature = "xuantie-c9xx")]
        const SO = 1 << 63;
        /// T-Head attributes of normal memory (`C|B|SH`).
        #[cfg(feature = "xuantie-c9xx")]
        const XUANTIE_C9XX_NORMAL = (1 << 62) | (1 << 61) | (1 << 60);
        /// T-Head attributes of non-cacheable memory (`B|SH`).
        #[cfg(feature = "xuantie-c9xx")]
        const XUANTIE_C9XX_UNCACHED = (1 << 61) | (1 << 60);
        /// T-Head attributes of device memory (`SO|SH`).
        #[cfg(feature = "xuantie-c9xx")]
        const XUANTIE_C9XX_DEVICE = (1 << 63) | (1 << 60);
    }
}

/// The T-Head memory-type bits of a leaf with normalized flags `f`.
#[cfg(feature = "xuantie-c9xx")]
const fn thead_attr(f: MappingFlags) -> u64 {
    if f.contains(MappingFlags::DEVICE) {
        PTEFlags::XUANTIE_C9XX_DEVICE.bits()
    } else if f.contains(MappingFlags::UNCACHED) {
        PTEFlags::XUANTIE_C9XX_UNCACHED.bits()
    } else {
        PTEFlags::XUANTIE_C9XX_NORMAL.bits()
    }
}

/// Without the feature no memory-type bits are set.
#[cfg(not(feature = "xuantie-c9xx"))]
const fn thead_attr(_: MappingFlags) -> u64 {
    0
}

/// An Sv39/Sv48 page table entry.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Rv64PTE(u64);

const PPN_SHIFT: u32 = 10;
const PPN_MASK: u64 = bit_range(10, 54);
const RSW_SHIFT: u32 = 8;
const RSW_MASK: u64 = 0b11 << RSW_SHIFT;
const SW_COW: u64 = 1;
const SW_DEVICE: u64 = 2;
const SW_UNCACHED: u64 = 3;
const RWX: u64 = PTEFlags::R.bits() | PTEFlags::W.bits() | PTEFlags::X.bits();
const RESERVED_MARK: u64 = PTEFlags::RSW_LO.bits();
const RESERVED_HUGE: u64 = PTEFlags::RSW_HI.bits();

impl Rv64PTE {
    /// Physical address width: a 44-bit PPN of 4K pages.
    pub const PA_MAX_BITS: usize = 56;

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
    /// | `WRITE` without `READ` | `READ` added (W without R is reserved) |
    /// | `DEVICE \| UNCACHED` | `DEVICE` |
    /// | `COW` with `DEVICE`/`UNCACHED` | `DEVICE`/`UNCACHED` dropped (one RSW field) |
    /// | unknown bits | dropped |
    #[inline]
    pub const fn normalize(flags: MappingFlags) -> MappingFlags {
        let f = flags.normalize_common();
        if f.is_empty() {
            return f;
        }
        let f = if f.contains(MappingFlags::WRITE) {
            f.union(MappingFlags::READ)
        } else {
            f
        };
        if f.contains(MappingFlags::COW) {
            f.difference(MappingFlags::DEVICE.union(MappingFlags::UNCACHED))
        } else {
            f
        }
    }

    #[inline]
    const fn pa_bits(paddr: usize) -> u64 {
        ((paddr as u64 >> 12) << PPN_SHIFT) & PPN_MASK
    }

    #[inline]
    const fn leaf_attr(flags: MappingFlags, is_huge: bool) -> u64 {
        let f = Self::normalize(flags);
        if f.is_empty() {
            return RESERVED_MARK | if is_huge { RESERVED_HUGE } else { 0 };
        }
        let mut b = PTEFlags::V.bits() | PTEFlags::A.bits();
        if f.contains(MappingFlags::READ) {
            b |= PTEFlags::R.bits();
        }
        if f.contains(MappingFlags::WRITE) {
            b |= PTEFlags::W.bits() | PTEFlags::D.bits();
        }
        if f.contains(MappingFlags::EXECUTE) {
            b |= PTEFlags::X.bits();
        }
        if f.contains(MappingFlags::USER) {
            b |= PTEFlags::U.bits();
        }
        if f.contains(MappingFlags::GLOBAL) {
            b |= PTEFlags::G.bits();
        }
        let sw = if f.contains(MappingFlags::COW) {
            SW_COW
        } else if f.contains(MappingFlags::DEVICE) {
            SW_DEVICE
        } else if f.contains(MappingFlags::UNCACHED) {
            SW_UNCACHED
        } else {
            0
        };
        b | (sw << RSW_SHIFT) | thead_attr(f)
    }

    /// The low 10 bits of a leaf (shared with Sv32).
    const fn low_attr(flags: MappingFlags, is_huge: bool) -> u64 {
        Self::leaf_attr(flags, is_huge) & 0x3ff
    }

    /// `const` form of [`GenericPTE::new_page`].
    #[inline]
    pub const fn page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self(Self::pa_bits(paddr.as_usize()) | Self::leaf_attr(flags, is_huge))
    }

    /// `const` form of [`GenericPTE::new_table`]: only `V` is set (A, D, U
    /// must be zero in non-leaf PTEs).
    #[inline]
    pub const fn table(paddr: PhysAddr) -> Self {
        Self(Self::pa_bits(paddr.as_usize()) | PTEFlags::V.bits())
    }

    #[inline]
    const fn is_valid(self) -> bool {
        self.0 & PTEFlags::V.bits() != 0
    }
}

// SAFETY: a `repr(transparent)` `u64` whose bits are the entry; the
// encodings follow Sv39/Sv48 (RISC-V privileged spec, 4.4-4.5) and meet the trait's contract: tables and leaves
// are told apart as the walkers expect, empty flags give an invalid entry,
// the address bits are the ones `set_paddr` writes. The unit tests check
// every rule on every flag combination.
unsafe impl GenericPTE for Rv64PTE {
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
        PhysAddr::from_usize((((self.0 & PPN_MASK) >> PPN_SHIFT) << 12) as usize)
    }
    #[inline]
    fn flags(&self) -> MappingFlags {
        if !self.is_valid() || self.0 & RWX == 0 {
            return MappingFlags::empty();
        }
        let b = PTEFlags::from_bits_truncate(self.0);
        let mut f = MappingFlags::empty();
        if b.contains(PTEFlags::R) {
            f = f.union(MappingFlags::READ);
        }
        if b.contains(PTEFlags::W) {
            f = f.union(MappingFlags::WRITE);
        }
        if b.contains(PTEFlags::X) {
            f = f.union(MappingFlags::EXECUTE);
        }
        if b.contains(PTEFlags::U) {
            f = f.union(MappingFlags::USER);
        }
        if b.contains(PTEFlags::G) {
            f = f.union(MappingFlags::GLOBAL);
        }
        f.union(match (self.0 & RSW_MASK) >> RSW_SHIFT {
            SW_COW => MappingFlags::COW,
            SW_DEVICE => MappingFlags::DEVICE,
            SW_UNCACHED => MappingFlags::UNCACHED,
            _ => MappingFlags::empty(),
        })
    }
    #[inline]
    fn set_paddr(&mut self, paddr: PhysAddr) {
        // `attr | pa_bits(pa)` as one rotation of `pa | rotl(attr, 2)`: the
        // PPN sits two bits below the address, and rotated the attribute
        // bits land in the twelve low bits (and two high ones) that a page
        // address leaves free. Where `pa` is an address plus a constant (a
        // range's frames), the attributes then fold into that constant and
        // an entry costs an add and a rotate, not add, shift and or.
        let attr = (self.0 & !PPN_MASK).rotate_left(2);
        let page = paddr.as_usize() as u64 & (PPN_MASK << 2);
        // Disjoint bits: `+` is `|`, and lets the constants merge.
        self.0 = (page + attr).rotate_right(2);
    }
    #[inline]
    fn paddr_step(size: usize) -> Option<usize> {
        // The PPN is one field, two bits below where the address has it.
        Some(size >> 2)
    }
    #[inline]
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        self.0 = (self.0 & PPN_MASK) | Self::leaf_attr(flags, is_huge);
    }
    #[inline]
    fn is_present(&self) -> bool {
        self.is_valid()
    }
    #[inline]
    fn is_table_entry(&self) -> bool {
        // Exactly what `new_table` makes: V and a PPN, nothing else (so
        // R = W = X = 0; U, A, D are reserved in a non-leaf PTE, privileged
        // spec 4.3.1, and harts never write one). Anything else, a table
        // with G or software bits say, is left to the generic walk.
        self.0.wrapping_sub(PTEFlags::V.bits()) & !PPN_MASK == 0
    }
    #[inline]
    fn table_paddr(&self) -> PhysAddr {
        // Without V the entry is the PPN alone: two bits below the address.
        PhysAddr::from_usize((self.0.wrapping_sub(PTEFlags::V.bits()) << 2) as usize)
    }
    #[inline]
    fn is_huge(&self) -> bool {
        if self.is_valid() {
            self.0 & RWX != 0
        } else {
            self.0 & RESERVED_MARK != 0 && self.0 & RESERVED_HUGE != 0
        }
    }
}

common_pte_impls!(Rv64PTE, PTEFlags);

/// An Sv32 page table entry (RV32: 4 bytes, 22-bit PPN in bits 10..=31).
/// Same flag bits and encoding choices as [`Rv64PTE`].
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Rv32PTE(u32);

const PPN32_MASK: u32 = !0x3ff;

impl Rv32PTE {
    /// Physical address width: a 22-bit PPN of 4K pages.
    pub const PA_MAX_BITS: usize = 34;

    /// An all-zero (unused) entry.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Wraps raw bits.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw bits.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// As [`Rv64PTE::normalize`].
    pub const fn normalize(flags: MappingFlags) -> MappingFlags {
        Rv64PTE::normalize(flags)
    }

    const fn pa_bits(paddr: usize) -> u32 {
        ((paddr as u64 >> 12) << PPN_SHIFT) as u32 & PPN32_MASK
    }

    /// `const` form of [`GenericPTE::new_page`].
    pub const fn page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self(Self::pa_bits(paddr.as_usize()) | Rv64PTE::low_attr(flags, is_huge) as u32)
    }

    /// `const` form of [`GenericPTE::new_table`] (only `V`).
    pub const fn table(paddr: PhysAddr) -> Self {
        Self(Self::pa_bits(paddr.as_usize()) | PTEFlags::V.bits() as u32)
    }

    /// The low 10 bits as an Sv39 entry, which decodes them the same way.
    const fn low(self) -> Rv64PTE {
        Rv64PTE((self.0 & 0x3ff) as u64)
    }
}

// SAFETY: the Sv32 encoding (RISC-V privileged spec, 4.3) meets the trait's contract as the
// Sv39 one above does: tables and leaves are told apart as the walkers expect, empty flags
// give an invalid entry, `paddr` reads back what `set_paddr` wrote; the unit tests check it.
unsafe impl GenericPTE for Rv32PTE {
    fn bits(self) -> usize {
        self.0 as usize
    }
    fn is_unused(&self) -> bool {
        self.0 == 0
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
    fn normalize_flags(flags: MappingFlags) -> MappingFlags {
        Self::normalize(flags)
    }
    fn new_page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self::page(paddr, flags, is_huge)
    }
    fn new_table(paddr: PhysAddr) -> Self {
        Self::table(paddr)
    }
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from_usize((((self.0 >> PPN_SHIFT) as u64) << 12) as usize)
    }
    fn flags(&self) -> MappingFlags {
        self.low().flags()
    }
    fn set_paddr(&mut self, paddr: PhysAddr) {
        self.0 = (self.0 & !PPN32_MASK) | Self::pa_bits(paddr.as_usize());
    }
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        self.0 = (self.0 & PPN32_MASK) | Rv64PTE::low_attr(flags, is_huge) as u32;
    }
    fn is_present(&self) -> bool {
        self.low().is_valid()
    }
    fn is_huge(&self) -> bool {
        self.low().is_huge()
    }
}

impl core::fmt::Debug for Rv32PTE {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        super::debug_pte(self, "Rv32PTE", self.0 as u64, f)
    }
}

#[cfg(test)]
mod tests {
    use memory_addr::pa;

    use super::*;
    use crate::MappingFlags as MF;

    // Literal bit values from the privileged spec's Sv39 PTE figure.
    const V: u64 = 1;
    const R: u64 = 1 << 1;
    const W: u64 = 1 << 2;
    const X: u64 = 1 << 3;
    const U: u64 = 1 << 4;
    const G: u64 = 1 << 5;
    const A: u64 = 1 << 6;
    const D: u64 = 1 << 7;

    /// A leaf's bits without the T-Head memory type (bits 59..=63).
    fn leaf(f: MF) -> u64 {
        Rv64PTE::new_page(pa!(0), f, false).as_u64() & ((1 << 59) - 1)
    }

    #[test]
    fn flag_bits_match_spec() {
        assert_eq!(PTEFlags::V.bits(), 0x1);
        assert_eq!(PTEFlags::D.bits(), 0x80);
        assert_eq!(PTEFlags::RSW_HI.bits(), 0x200);
        assert_eq!(leaf(MF::READ), V | R | A);
        assert_eq!(leaf(MF::READ | MF::WRITE), V | R | W | A | D);
        assert_eq!(leaf(MF::EXECUTE), V | X | A);
        assert_eq!(leaf(MF::READ | MF::USER), V | R | U | A);
        assert_eq!(leaf(MF::READ | MF::GLOBAL), V | R | G | A);
        assert_eq!(leaf(MF::READ | MF::COW), V | R | A | (1 << 8));
        assert_eq!(leaf(MF::READ | MF::DEVICE), V | R | A | (2 << 8));
        assert_eq!(leaf(MF::READ | MF::UNCACHED), V | R | A | (3 << 8));
    }

    #[test]
    fn ppn_at_bit_10() {
        let low = |p: Rv64PTE| p.as_u64() & ((1 << 59) - 1);
        let p = Rv64PTE::new_page(pa!(0x8020_3000), MF::READ, false);
        assert_eq!(low(p), (0x80203 << 10) | V | R | A);
        // Highest PA bit of the 44-bit PPN lands on bit 53.
        let top = Rv64PTE::new_page(pa!(1 << 55), MF::READ, false);
        assert_eq!(low(top), (1 << 53) | V | R | A);
        assert_eq!(top.paddr(), pa!(1 << 55));
        // Bits beyond the PA width never leak into reserved bits 54..=63.
        let wide = Rv64PTE::new_page(pa!(usize::MAX), MF::READ, false);
        assert_eq!((wide.as_u64() >> 54) & 0x1f, 0);
    }

    #[test]
    fn write_only_widens_and_does_not_panic() {
        assert_eq!(leaf(MF::WRITE), V | R | W | A | D);
        let p = Rv64PTE::new_page(pa!(0x1000), MF::WRITE | MF::USER, false);
        assert_eq!(p.flags(), MF::READ | MF::WRITE | MF::USER);
    }

    #[test]
    fn table_entry_only_valid() {
        let t = Rv64PTE::new_table(pa!(0x8000_1000));
        assert_eq!(t.as_u64(), (0x80001 << 10) | V);
        assert!(t.is_present() && !t.is_huge());
        assert_eq!(t.flags(), MF::empty());
    }

    #[test]
    fn reserved_entries() {
        let r = Rv64PTE::new_page(pa!(0), MF::empty(), false);
        assert_eq!(r.as_u64(), 1 << 8);
        assert!(!r.is_unused() && !r.is_present() && !r.is_huge());
        let h = Rv64PTE::new_page(pa!(0x4000_0000), MF::USER, true);
        assert_eq!(h.as_u64(), (0x40000 << 10) | (1 << 8) | (1 << 9));
        assert!(h.is_huge() && !h.is_present());
        assert_eq!(h.paddr(), pa!(0x4000_0000));
        assert_eq!(h.flags(), MF::empty());
    }

    #[test]
    fn present_leaves_report_huge() {
        assert!(Rv64PTE::new_page(pa!(0x1000), MF::READ, false).is_huge());
        assert!(Rv64PTE::new_page(pa!(0x20_0000), MF::READ, true).is_huge());
    }

    // Sv32 PTE figure: PPN[1] = bits 31..20, PPN[0] = bits 19..10.
    #[test]
    fn sv32_layout() {
        let p = Rv32PTE::new_page(pa!(0x3_8020_3000), MF::READ | MF::WRITE, false);
        assert_eq!(p.as_u32(), (0x38_0203 << 10) | (V | R | W | A | D) as u32);
        assert_eq!(p.paddr(), pa!(0x3_8020_3000));
        assert_eq!(p.flags(), MF::READ | MF::WRITE);
        let t = Rv32PTE::new_table(pa!(0x8000_1000));
        assert_eq!(t.as_u32(), (0x80001 << 10) | V as u32);
        let r = Rv32PTE::new_page(pa!(0x40_0000), MF::empty(), true);
        assert!(r.is_huge() && !r.is_present() && !r.is_unused());
        assert_eq!(r.paddr(), pa!(0x40_0000));
        // A 35-bit address loses its top bit instead of corrupting flags.
        assert_eq!(
            Rv32PTE::new_page(pa!(1 << 34), MF::READ, false).as_u32(),
            (V | R | A) as u32
        );
    }

    // XuanTie C906 manual, MMU chapter: SO = 63, C = 62, B = 61, SH = 60.
    #[cfg(feature = "xuantie-c9xx")]
    #[test]
    fn xuantie_memory_types() {
        let top = |f: MF| Rv64PTE::new_page(pa!(0), f, false).as_u64() >> 59;
        assert_eq!(top(MF::READ), 0b01110);
        assert_eq!(top(MF::READ | MF::UNCACHED), 0b00110);
        assert_eq!(top(MF::READ | MF::DEVICE), 0b10010);
        assert_eq!(
            Rv64PTE::new_page(pa!(0), MF::empty(), false).as_u64() >> 59,
            0
        );
        let mut p = Rv64PTE::new_page(pa!(0x1000), MF::READ | MF::DEVICE, false);
        p.set_paddr(pa!(0x2000));
        assert_eq!(p.as_u64() >> 59, 0b10010);
        assert_eq!(p.flags(), MF::READ | MF::DEVICE);
    }

    #[test]
    fn debug_shows_paddr_and_flags() {
        let s = format!("{:?}", Rv64PTE::new_page(pa!(0x8020_0000), MF::READ, false));
        assert!(s.contains("paddr: 0x80200000"), "{s}");
        assert!(s.contains("READ"), "{s}");
        assert!(s.contains("present"), "{s}");
    }
}
