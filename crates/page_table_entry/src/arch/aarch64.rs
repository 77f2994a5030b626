//! AArch64 VMSAv8-64 stage-1 descriptors, 4K granule, 48-bit output addresses.
//!
//! Layout (Arm ARM, "VMSAv8-64 translation table format descriptors"):
//! `valid`=0, `type`=1 (1: table or level-3 page, 0: block), `AttrIndx`=2..=4,
//! `NS`=5, `AP[1]`=6 (EL0 access), `AP[2]`=7 (read-only), `SH`=8..=9,
//! `AF`=10, `nG`=11, output address 12..=47 (blocks: 21..=47 or 30..=47),
//! `Contiguous`=52, `PXN`=53, `UXN`=54, bits 55..=58 reserved for software;
//! table descriptors: `PXNTable`=59, `UXNTable`=60, `APTable`=61..=62,
//! `NSTable`=63.
//!
//! Encoding choices (EL1&0 regime):
//! - Memory types index [`MAIR_VALUE`], which the kernel must load into
//!   `MAIR_EL1`: index 0 normal write-back (Inner Shareable), 1 Device-nGnRE
//!   (`DEVICE`), 2 normal non-cacheable (`UNCACHED`, Inner Shareable).
//! - `AF` is set eagerly so cores without hardware AF management never take
//!   access-flag faults.
//! - User leaves are always `PXN` (the kernel never executes user pages) and
//!   use `UXN` = !`EXECUTE`; kernel leaves are always `UXN` and use
//!   `PXN` = !`EXECUTE`.
//! - `nG` is set unless `GLOBAL`, so non-global mappings are ASID-tagged.
//! - `COW` lives in software bit 55; reserved-not-present leaves have
//!   `valid`=0 and software bit 56 set, keeping `type` for `is_huge`.
//!
//! - Feature `arm-el2`: descriptors for the EL2 stage-1 regime of a
//!   hypervisor without VHE (`HCR_EL2.E2H` = 0), which has one privilege
//!   level and no ASIDs (Arm ARM DDI 0487, D8.3 "Translation table
//!   descriptor formats", stage 1 attribute fields of the EL2 regime):
//!   `AP[1]` (bit 6) is RES1 and always set, `AP[2]` (bit 7) selects
//!   read-only, bit 54 is `XN` (set unless `EXECUTE`), `PXN` (bit 53) and
//!   `nG` (bit 11) are RES0 and left clear. `USER` and `GLOBAL` have no
//!   meaning there and are dropped.
//!
//! See [`A64PTE::normalize`] for what `flags()` reports.

use memory_addr::PhysAddr;

use super::bit_range;
use crate::{GenericPTE, MappingFlags};

bitflags::bitflags! {
    /// Fields of a stage-1 VMSAv8-64 descriptor (names follow arceos).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DescriptorAttr: u64 {
        /// The descriptor is valid.
        const VALID = 1 << 0;
        /// Table descriptor (levels 0..=2) or page descriptor (level 3); clear for blocks.
        const NON_BLOCK = 1 << 1;
        /// Memory attribute index into `MAIR_EL1` (3 bits).
        const ATTR_INDX = 0b111 << 2;
        /// Non-secure.
        const NS = 1 << 5;
        /// `AP[1]`: accessible at EL0.
        const AP_EL0 = 1 << 6;
        /// `AP[2]`: read-only.
        const AP_RO = 1 << 7;
        /// `SH[0]`: with `SHAREABLE`, Inner Shareable.
        const INNER = 1 << 8;
        /// `SH[1]`: shareable.
        const SHAREABLE = 1 << 9;
        /// Access flag.
        const AF = 1 << 10;
        /// Not global: tagged with the current ASID.
        const NG = 1 << 11;
        /// One of 16 contiguous entries.
        const CONTIGUOUS = 1 << 52;
        /// Privileged execute-never.
        const PXN = 1 << 53;
        /// Unprivileged execute-never.
        const UXN = 1 << 54;
        /// Software bit 55: Pagoda's copy-on-write marker.
        const COW = 1 << 55;
        /// Software bit 56: marks a reserved-not-present leaf (with `VALID` clear).
        const RESERVED_LEAF = 1 << 56;
        /// Table: PXN for the subtree.
        const PXN_TABLE = 1 << 59;
        /// Table: XN for the subtree.
        const XN_TABLE = 1 << 60;
        /// Table: no EL0 access in the subtree.
        const AP_NO_EL0_TABLE = 1 << 61;
        /// Table: no writes in the subtree.
        const AP_NO_WRITE_TABLE = 1 << 62;
        /// Table: the subtree is non-secure.
        const NS_TABLE = 1 << 63;
    }
}

/// Memory types, as indices into [`MAIR_VALUE`].
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemAttr {
    /// Normal memory, inner/outer write-back non-transient, read/write-allocate.
    Normal = 0,
    /// Device-nGnRE memory (MMIO).
    Device = 1,
    /// Normal memory, inner/outer non-cacheable.
    NormalNonCacheable = 2,
}

/// The `MAIR_EL1` value the descriptors of this module assume:
/// `Attr0 = 0xff` (normal WB RW-allocate), `Attr1 = 0x04` (Device-nGnRE),
/// `Attr2 = 0x44` (normal non-cacheable).
pub const MAIR_VALUE: u64 = 0x44_04_ff;

/// Whether the descriptors use the EL2 (one privilege level) encoding.
const EL2: bool = cfg!(feature = "arm-el2");

impl DescriptorAttr {
    /// The `AttrIndx` and shareability of memory type `idx`, nothing else
    /// (normal memory is Inner Shareable, device memory non-shareable).
    pub const fn from_mem_attr(idx: MemAttr) -> Self {
        let mut bits = (idx as u64) << ATTR_SHIFT;
        if !matches!(idx, MemAttr::Device) {
            bits |= Self::INNER.bits() | Self::SHAREABLE.bits();
        }
        Self::from_bits_retain(bits)
    }

    /// The memory type selected by `AttrIndx`, if it is one of [`MemAttr`].
    pub const fn mem_attr(&self) -> Option<MemAttr> {
        MemAttr::from_index((self.bits() & Self::ATTR_INDX.bits()) >> ATTR_SHIFT)
    }
}

impl MemAttr {
    /// Same as [`MAIR_VALUE`] (arceos spelling).
    pub const MAIR_VALUE: u64 = MAIR_VALUE;

    /// The memory type of an `AttrIndx` value, if it is one of ours.
    pub const fn from_index(idx: u64) -> Option<Self> {
        match idx {
            0 => Some(Self::Normal),
            1 => Some(Self::Device),
            2 => Some(Self::NormalNonCacheable),
            _ => None,
        }
    }
}

/// A stage-1 VMSAv8-64 descriptor (table, block or page).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct A64PTE(u64);

const PA_MASK: u64 = bit_range(12, 48);
/// The attribute bits of every table descriptor (`valid | type`).
const TABLE_BITS: u64 = DescriptorAttr::VALID.bits() | DescriptorAttr::NON_BLOCK.bits();
const BLOCK_PA_MASK: u64 = bit_range(21, 48);
const ATTR_SHIFT: u32 = 2;

impl A64PTE {
    /// Output address width (48 bits with the 4K granule, no FEAT_LPA2).
    pub const PA_MAX_BITS: usize = 48;

    /// An all-zero (invalid, unused) descriptor.
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
    /// | any access without `READ` | `READ` added (valid implies readable) |
    /// | `DEVICE \| UNCACHED` | `DEVICE` |
    /// | unknown bits | dropped |
    /// | `USER`, `GLOBAL` with feature `arm-el2` | dropped |
    #[inline]
    pub const fn normalize(flags: MappingFlags) -> MappingFlags {
        let f = flags.normalize_common();
        if f.is_empty() {
            f
        } else if EL2 {
            f.union(MappingFlags::READ)
                .difference(MappingFlags::USER.union(MappingFlags::GLOBAL))
        } else {
            f.union(MappingFlags::READ)
        }
    }

    #[inline]
    const fn pa_mask(is_huge: bool) -> u64 {
        if is_huge { BLOCK_PA_MASK } else { PA_MASK }
    }

    #[inline]
    const fn leaf_attr(flags: MappingFlags, is_huge: bool) -> u64 {
        let kind = if is_huge {
            0
        } else {
            DescriptorAttr::NON_BLOCK.bits()
        };
        let f = Self::normalize(flags);
        if f.is_empty() {
            return DescriptorAttr::RESERVED_LEAF.bits() | kind;
        }
        let mem = if f.contains(MappingFlags::DEVICE) {
            MemAttr::Device
        } else if f.contains(MappingFlags::UNCACHED) {
            MemAttr::NormalNonCacheable
        } else {
            MemAttr::Normal
        };
        let mut b = DescriptorAttr::VALID.bits()
            | DescriptorAttr::AF.bits()
            | kind
            | DescriptorAttr::from_mem_attr(mem).bits();
        if !f.contains(MappingFlags::WRITE) {
            b |= DescriptorAttr::AP_RO.bits();
        }
        let exec = f.contains(MappingFlags::EXECUTE);
        if EL2 {
            b |= DescriptorAttr::AP_EL0.bits(); // AP[1] is RES1
            if !exec {
                b |= DescriptorAttr::UXN.bits(); // XN
            }
        } else if f.contains(MappingFlags::USER) {
            b |= DescriptorAttr::AP_EL0.bits() | DescriptorAttr::PXN.bits();
            if !exec {
                b |= DescriptorAttr::UXN.bits();
            }
        } else {
            b |= DescriptorAttr::UXN.bits();
            if !exec {
                b |= DescriptorAttr::PXN.bits();
            }
        }
        if !EL2 && !f.contains(MappingFlags::GLOBAL) {
            b |= DescriptorAttr::NG.bits();
        }
        if f.contains(MappingFlags::COW) {
            b |= DescriptorAttr::COW.bits();
        }
        b
    }

    /// `const` form of [`GenericPTE::new_page`].
    #[inline]
    pub const fn page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self((paddr.as_usize() as u64 & Self::pa_mask(is_huge)) | Self::leaf_attr(flags, is_huge))
    }

    /// `const` form of [`GenericPTE::new_table`]: `valid | type`, no
    /// hierarchical restrictions.
    #[inline]
    pub const fn table(paddr: PhysAddr) -> Self {
        Self((paddr.as_usize() as u64 & PA_MASK) | TABLE_BITS)
    }

    #[inline]
    const fn has(self, f: DescriptorAttr) -> bool {
        self.0 & f.bits() != 0
    }

    #[inline]
    const fn is_block(self) -> bool {
        self.0 != 0 && !self.has(DescriptorAttr::NON_BLOCK)
    }

    /// The memory type of a valid leaf, if `AttrIndx` is one of [`MemAttr`].
    pub const fn mem_attr(self) -> Option<MemAttr> {
        DescriptorAttr::from_bits_retain(self.0).mem_attr()
    }
}

// SAFETY: a `repr(transparent)` `u64` whose bits are the entry; the
// encodings follow VMSAv8-64 stage 1 descriptors (Arm ARM D8) and meet the trait's contract: tables and leaves
// are told apart as the walkers expect, empty flags give an invalid entry,
// the address bits are the ones `set_paddr` writes. The unit tests check
// every rule on every flag combination.
unsafe impl GenericPTE for A64PTE {
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
        PhysAddr::from_usize((self.0 & Self::pa_mask(self.is_block())) as usize)
    }
    #[inline]
    fn paddr_4k(&self) -> PhysAddr {
        PhysAddr::from_usize((self.0 & PA_MASK) as usize)
    }
    #[inline]
    fn flags(&self) -> MappingFlags {
        // A valid descriptor without AF is a table (leaves always get AF).
        if !self.has(DescriptorAttr::VALID) || !self.has(DescriptorAttr::AF) {
            return MappingFlags::empty();
        }
        let mut f = MappingFlags::READ;
        if !self.has(DescriptorAttr::AP_RO) {
            f = f.union(MappingFlags::WRITE);
        }
        let user = !EL2 && self.has(DescriptorAttr::AP_EL0);
        let xn = if EL2 || user {
            DescriptorAttr::UXN
        } else {
            DescriptorAttr::PXN
        };
        if !self.has(xn) {
            f = f.union(MappingFlags::EXECUTE);
        }
        if user {
            f = f.union(MappingFlags::USER);
        }
        if !EL2 && !self.has(DescriptorAttr::NG) {
            f = f.union(MappingFlags::GLOBAL);
        }
        match self.mem_attr() {
            Some(MemAttr::Device) => f = f.union(MappingFlags::DEVICE),
            Some(MemAttr::NormalNonCacheable) => f = f.union(MappingFlags::UNCACHED),
            _ => {}
        }
        if self.has(DescriptorAttr::COW) {
            f = f.union(MappingFlags::COW);
        }
        f
    }
    #[inline]
    fn set_paddr(&mut self, paddr: PhysAddr) {
        let mask = Self::pa_mask(self.is_block());
        self.0 = (self.0 & !mask) | (paddr.as_usize() as u64 & mask);
    }
    #[inline]
    fn paddr_step(size: usize) -> Option<usize> {
        // The output address is one field, at its own bit positions.
        Some(size)
    }
    #[inline]
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        let pa = self.0 & Self::pa_mask(is_huge);
        self.0 = pa | Self::leaf_attr(flags, is_huge);
    }
    #[inline]
    fn is_present(&self) -> bool {
        self.has(DescriptorAttr::VALID)
    }
    #[inline]
    fn is_table_entry(&self) -> bool {
        // Exactly what `new_table` makes: bits [1:0] = 0b11 (a table
        // descriptor above the last level) and an address, nothing else (a
        // table with hierarchical attributes or bit 10 set is left to the
        // generic walk). Subtracting 0b11 then leaves only the address.
        self.0.wrapping_sub(TABLE_BITS) & !PA_MASK == 0
    }
    #[inline]
    fn table_paddr(&self) -> PhysAddr {
        PhysAddr::from_usize(self.0.wrapping_sub(TABLE_BITS) as usize)
    }
    #[inline]
    fn is_huge(&self) -> bool {
        self.is_block()
    }
}

common_pte_impls!(A64PTE, DescriptorAttr);

#[cfg(test)]
mod tests {
    use memory_addr::pa;

    use super::*;
    use crate::MappingFlags as MF;

    // Literal bit positions from the Arm ARM stage-1 descriptor figures.
    const VALID: u64 = 1;
    const PAGE: u64 = 1 << 1;
    const AP1_EL0: u64 = 1 << 6;
    const AP2_RO: u64 = 1 << 7;
    const SH_ISH: u64 = 0b11 << 8;
    const AF: u64 = 1 << 10;
    const NG: u64 = 1 << 11;
    const PXN: u64 = 1 << 53;
    const UXN: u64 = 1 << 54;

    fn leaf(f: MF) -> u64 {
        A64PTE::new_page(pa!(0), f, false).as_u64()
    }

    #[test]
    fn mair_layout() {
        assert_eq!(MAIR_VALUE & 0xff, 0xff); // Attr0: normal WB
        assert_eq!((MAIR_VALUE >> 8) & 0xff, 0x04); // Attr1: Device-nGnRE
        assert_eq!((MAIR_VALUE >> 16) & 0xff, 0x44); // Attr2: normal NC
        assert_eq!(MemAttr::MAIR_VALUE, MAIR_VALUE);
    }

    #[cfg(not(feature = "arm-el2"))]
    #[test]
    fn flag_bits_match_arm_arm() {
        let base = VALID | PAGE | SH_ISH | AF | NG;
        assert_eq!(leaf(MF::READ), base | AP2_RO | PXN | UXN);
        assert_eq!(leaf(MF::READ | MF::WRITE), base | PXN | UXN);
        assert_eq!(leaf(MF::READ | MF::EXECUTE), base | AP2_RO | UXN);
        assert_eq!(
            leaf(MF::READ | MF::USER),
            base | AP1_EL0 | AP2_RO | PXN | UXN
        );
        assert_eq!(
            leaf(MF::READ | MF::WRITE | MF::EXECUTE | MF::USER),
            base | AP1_EL0 | PXN
        );
        assert_eq!(leaf(MF::READ | MF::GLOBAL), base & !NG | AP2_RO | PXN | UXN);
        assert_eq!(
            leaf(MF::READ | MF::COW),
            base | AP2_RO | PXN | UXN | (1 << 55)
        );
        // Device: AttrIndx 1, SH left 00 (ignored for device memory).
        assert_eq!(
            leaf(MF::READ | MF::WRITE | MF::DEVICE),
            VALID | PAGE | (1 << 2) | AF | NG | PXN | UXN
        );
        assert_eq!(
            leaf(MF::READ | MF::UNCACHED),
            base | (2 << 2) | AP2_RO | PXN | UXN
        );
    }

    #[test]
    fn from_mem_attr_sets_index_and_shareability() {
        use DescriptorAttr as D;
        assert_eq!(D::from_mem_attr(MemAttr::Normal).bits(), SH_ISH);
        assert_eq!(D::from_mem_attr(MemAttr::Device).bits(), 1 << 2);
        assert_eq!(
            D::from_mem_attr(MemAttr::NormalNonCacheable).bits(),
            (2 << 2) | SH_ISH
        );
        for m in [
            MemAttr::Normal,
            MemAttr::Device,
            MemAttr::NormalNonCacheable,
        ] {
            assert_eq!(D::from_mem_attr(m).mem_attr(), Some(m));
        }
        assert_eq!(D::from_bits_retain(7 << 2).mem_attr(), None);
    }

    // EL2 stage 1 without VHE: AP[1] RES1, XN in bit 54, PXN and nG RES0.
    #[cfg(feature = "arm-el2")]
    #[test]
    fn el2_flag_bits() {
        let base = VALID | PAGE | SH_ISH | AF | AP1_EL0;
        assert_eq!(leaf(MF::READ), base | AP2_RO | UXN);
        assert_eq!(leaf(MF::READ | MF::WRITE | MF::EXECUTE), base);
        assert_eq!(leaf(MF::READ | MF::USER | MF::GLOBAL), base | AP2_RO | UXN);
        let p = A64PTE::new_page(pa!(0x1000), MF::READ | MF::WRITE | MF::USER, false);
        assert_eq!(p.flags(), MF::READ | MF::WRITE);
        assert_eq!(p.as_u64() & (PXN | NG), 0);
    }

    #[test]
    fn block_and_page_types() {
        let b = A64PTE::new_page(pa!(0x4000_0000), MF::READ | MF::WRITE, true);
        assert_eq!(b.as_u64() & 0b11, 0b01);
        assert_eq!(b.as_u64() & PA_MASK, 0x4000_0000);
        assert!(b.is_huge());
        let p = A64PTE::new_page(pa!(0x4000_1000), MF::READ, false);
        assert_eq!(p.as_u64() & 0b11, 0b11);
        assert!(!p.is_huge());
        let t = A64PTE::new_table(pa!(0x8_0000));
        assert_eq!(t.as_u64(), 0x8_0000 | 0b11);
        assert!(t.is_present() && !t.is_huge());
        assert_eq!(t.flags(), MF::empty());
    }

    #[test]
    fn output_address_bits_12_to_47() {
        let p = A64PTE::new_page(pa!(usize::MAX), MF::READ, false);
        assert_eq!(p.as_u64() & PA_MASK, 0x0000_ffff_ffff_f000);
        assert_eq!(p.paddr(), pa!(0xffff_ffff_f000));
        assert_eq!((p.as_u64() >> 48) & 0xf, 0); // bits 48..=51 stay RES0
    }

    #[test]
    fn write_only_and_reserved() {
        assert_eq!(
            A64PTE::new_page(pa!(0), MF::WRITE, false).flags(),
            MF::READ | MF::WRITE
        );
        let r = A64PTE::new_page(pa!(0), MF::empty(), false);
        assert_eq!(r.as_u64(), (1 << 56) | PAGE);
        assert!(!r.is_unused() && !r.is_present() && !r.is_huge());
        let h = A64PTE::new_page(pa!(0x20_0000), MF::empty(), true);
        assert_eq!(h.as_u64(), 0x20_0000 | (1 << 56));
        assert!(h.is_huge() && !h.is_present());
    }

    #[test]
    fn debug_shows_paddr_and_flags() {
        let s = format!("{:?}", A64PTE::new_page(pa!(0x7000), MF::READ, false));
        assert!(s.contains("paddr: 0x7000") && s.contains("READ"), "{s}");
    }
}
