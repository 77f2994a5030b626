//! ARMv7-A short-descriptor translation tables (VMSAv7, no LPAE): 4096
//! first-level entries of 1 MiB, 256 second-level entries of 4 KiB.
//!
//! Layout (ARMv7-A/R Architecture Reference Manual, DDI 0406C, B3.5.1
//! "Short-descriptor translation table format descriptors"), bits `[1:0]`
//! giving the type:
//! - first level `01`, page table: `NS`=3, `Domain`=5..=8, base 10..=31;
//! - first level `10`, section: `B`=2, `C`=3, `XN`=4, `Domain`=5..=8,
//!   `AP[1:0]`=10..=11, `TEX`=12..=14, `AP[2]`=15, `S`=16, `nG`=17, bit 18
//!   = 0 (not a supersection), `NS`=19, base 20..=31;
//! - second level `1x`, small page: `XN`=0, `B`=2, `C`=3, `AP[1:0]`=4..=5,
//!   `TEX`=6..=8, `AP[2]`=9, `S`=10, `nG`=11, base 12..=31;
//! - `00` is a translation fault: hardware ignores bits 2..=31.
//!
//! Encoding choices (the kernel configures the matching registers):
//! - TEX remap (`SCTLR.TRE` = 1, B3.8.3 "Short-descriptor format memory
//!   region attributes, with TEX remap"): `{TEX[0], C, B}` index
//!   [`PRRR_VALUE`]/[`NMRR_VALUE`]: 0 normal write-back write-allocate, 1
//!   device, 2 normal non-cacheable. `TEX[2:1]` are then free for the OS.
//! - Access permissions with `SCTLR.AFE` = 0 (B3.7.1 "Access permissions"):
//!   `AP[2:0]` = `001` kernel read/write, `101` kernel read-only, `011`
//!   read/write at both levels, `111` read-only at both levels. There is no
//!   PXN (an optional extension): user-executable pages are also
//!   kernel-executable.
//! - Domain 0 everywhere; load [`DACR_VALUE`] (domain 0 = client).
//! - Small pages always set `TEX[1]` (bit 7), which sections leave clear
//!   (`Domain[2]`), so an entry says by itself whether it is a section or a
//!   small page; `COW` is `TEX[2]` (bit 8 in pages, bit 14 in sections).
//! - Reserved-not-present leaves are fault entries with bit 2 set (bit 3:
//!   section), keeping the address.
//!
//! See [`A32PTE::normalize`] for what `flags()` reports.

use memory_addr::PhysAddr;

use crate::{GenericPTE, MappingFlags};

bitflags::bitflags! {
    /// Attribute bits of a small-page (second-level) descriptor.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DescriptorAttr: u32 {
        /// Execute-never.
        const XN = 1 << 0;
        /// Small page (with `XN` in bit 0, the type is `1x`).
        const SMALL_PAGE = 1 << 1;
        /// `B`: memory-type index bit 0 (with TEX remap).
        const B = 1 << 2;
        /// `C`: memory-type index bit 1.
        const C = 1 << 3;
        /// `AP[0]`: access allowed (with `SCTLR.AFE` = 0).
        const AP0 = 1 << 4;
        /// `AP[1]`: unprivileged access.
        const AP1 = 1 << 5;
        /// `TEX[0]`: memory-type index bit 2.
        const TEX0 = 1 << 6;
        /// `TEX[1]`: software, marks a small page.
        const TEX1 = 1 << 7;
        /// `TEX[2]`: software, Pagoda's copy-on-write marker.
        const TEX2 = 1 << 8;
        /// `AP[2]`: read-only.
        const AP2 = 1 << 9;
        /// Shareable.
        const S = 1 << 10;
        /// Not global (ASID-tagged).
        const NG = 1 << 11;
    }
}

/// `PRRR` (Primary Region Remap Register) for the memory-type indices used
/// here: `TR0` = normal, `TR1` = device, `TR2` = normal (bits `2n+1:2n`);
/// `DS0` = `DS1` = 1 (bits 16, 17: device is shareable); `NS1` = 1 (bit 19:
/// normal memory with `S` = 1 is shareable); `NOS0` = `NOS2` = 1 (bits 24,
/// 26: inner shareable).
pub const PRRR_VALUE: u32 =
    0b10 | (0b01 << 2) | (0b10 << 4) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 24) | (1 << 26);
/// `NMRR` (Normal Memory Remap Register): region 0 inner and outer
/// write-back write-allocate (`IR0` = `OR0` = `01`, bits 1:0 and 17:16),
/// region 2 non-cacheable (`00`).
pub const NMRR_VALUE: u32 = 0b01 | (0b01 << 16);
/// `DACR`: domain 0 is a client (permissions checked), all others no access.
pub const DACR_VALUE: u32 = 0b01;

/// Memory types (indices into [`PRRR_VALUE`]/[`NMRR_VALUE`]).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemAttr {
    /// Normal write-back write-allocate memory.
    Normal = 0,
    /// Device memory.
    Device = 1,
    /// Normal non-cacheable memory.
    NormalNonCacheable = 2,
}

/// A short descriptor of either level (table, section, small page).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct A32PTE(u32);

const TYPE_MASK: u32 = 0b11;
const TYPE_TABLE: u32 = 0b01;
const SECTION: u32 = 0b10;
const RESERVED: u32 = 1 << 2;
const RESERVED_HUGE: u32 = 1 << 3;
const PAGE_MARK: u32 = DescriptorAttr::TEX1.bits();
const TABLE_BASE: u32 = !0x3ff;
const PAGE_BASE: u32 = !0xfff;
const SECTION_BASE: u32 = !0xf_ffff;
/// Section attribute bits sit 6 positions above the small-page ones
/// (`AP[1:0]`, `TEX`, `AP[2]`, `S`, `nG`: 4..=11 → 10..=17).
const SECTION_SHIFT: u32 = 6;
const SHIFTED: u32 = 0xff0;
const SECTION_XN: u32 = 1 << 4;

impl A32PTE {
    /// Physical address width (no supersections or LPAE).
    pub const PA_MAX_BITS: usize = 32;

    /// An all-zero (fault, unused) descriptor.
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

    /// What [`GenericPTE::flags`] reports after `new_page(_, flags, _)`:
    ///
    /// | request | result |
    /// |---|---|
    /// | none of `READ`/`WRITE`/`EXECUTE` (incl. empty) | empty (reserved leaf) |
    /// | any access without `READ` | `READ` added |
    /// | `DEVICE \| UNCACHED` | `DEVICE` |
    /// | unknown bits | dropped |
    pub const fn normalize(flags: MappingFlags) -> MappingFlags {
        let f = flags.normalize_common();
        if f.is_empty() {
            f
        } else {
            f.union(MappingFlags::READ)
        }
    }

    /// The attribute bits of a small page with `flags` (`SMALL_PAGE` and the
    /// marker included; no `XN`).
    const fn page_attr(f: MappingFlags) -> u32 {
        let mem = if f.contains(MappingFlags::DEVICE) {
            MemAttr::Device
        } else if f.contains(MappingFlags::UNCACHED) {
            MemAttr::NormalNonCacheable
        } else {
            MemAttr::Normal
        };
        let idx = mem as u32;
        let mut b = DescriptorAttr::SMALL_PAGE.bits() | PAGE_MARK | DescriptorAttr::AP0.bits();
        b |= (idx & 1) << 2 | ((idx >> 1) & 1) << 3 | ((idx >> 2) & 1) << 6;
        if !matches!(mem, MemAttr::Device) {
            b |= DescriptorAttr::S.bits();
        }
        if f.contains(MappingFlags::USER) {
            b |= DescriptorAttr::AP1.bits();
        }
        if !f.contains(MappingFlags::WRITE) {
            b |= DescriptorAttr::AP2.bits();
        }
        if !f.contains(MappingFlags::GLOBAL) {
            b |= DescriptorAttr::NG.bits();
        }
        if f.contains(MappingFlags::COW) {
            b |= DescriptorAttr::TEX2.bits();
        }
        b
    }

    const fn leaf_attr(flags: MappingFlags, is_huge: bool) -> u32 {
        let f = Self::normalize(flags);
        if f.is_empty() {
            return RESERVED | if is_huge { RESERVED_HUGE } else { 0 };
        }
        let p = Self::page_attr(f);
        let xn = !f.contains(MappingFlags::EXECUTE);
        if is_huge {
            // B, C stay; the rest moves up; the marker (TEX[1]) is dropped.
            let mut s = SECTION | (p & 0b1100) | ((p & SHIFTED & !PAGE_MARK) << SECTION_SHIFT);
            if xn {
                s |= SECTION_XN;
            }
            s
        } else {
            p | if xn { DescriptorAttr::XN.bits() } else { 0 }
        }
    }

    const fn base_mask(self) -> u32 {
        match self.0 & TYPE_MASK {
            0 if self.0 & RESERVED_HUGE != 0 => SECTION_BASE,
            0 => PAGE_BASE,
            TYPE_TABLE => TABLE_BASE,
            _ if self.0 & PAGE_MARK != 0 => PAGE_BASE,
            _ => SECTION_BASE,
        }
    }

    /// `const` form of [`GenericPTE::new_page`] (a section when `is_huge`).
    pub const fn page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        let base = if is_huge { SECTION_BASE } else { PAGE_BASE };
        Self((paddr.as_usize() as u32 & base) | Self::leaf_attr(flags, is_huge))
    }

    /// `const` form of [`GenericPTE::new_table`]: a first-level page-table
    /// descriptor, domain 0 (the table must be 1 KiB aligned).
    pub const fn table(paddr: PhysAddr) -> Self {
        Self((paddr.as_usize() as u32 & TABLE_BASE) | TYPE_TABLE)
    }

    /// Whether this is a present section (1 MiB first-level leaf).
    pub const fn is_section(self) -> bool {
        self.0 & TYPE_MASK >= SECTION && self.0 & PAGE_MARK == 0
    }

    /// The memory type of a present leaf.
    pub const fn mem_attr(self) -> Option<MemAttr> {
        let p = self.small_bits();
        if p & DescriptorAttr::SMALL_PAGE.bits() == 0 {
            return None;
        }
        let idx = (p >> 2) & 1 | ((p >> 3) & 1) << 1 | ((p >> 6) & 1) << 2;
        match idx {
            0 => Some(MemAttr::Normal),
            1 => Some(MemAttr::Device),
            2 => Some(MemAttr::NormalNonCacheable),
            _ => None,
        }
    }

    /// The attributes of a present leaf in small-page positions (`XN` in
    /// bit 0), or 0 for anything else.
    const fn small_bits(self) -> u32 {
        let t = self.0 & TYPE_MASK;
        if t == 0 || t == TYPE_TABLE {
            0
        } else if self.0 & PAGE_MARK != 0 {
            self.0 & 0xfff
        } else {
            let xn = if self.0 & SECTION_XN != 0 { 1 } else { 0 };
            0b10 | (self.0 & 0b1100) | ((self.0 >> SECTION_SHIFT) & SHIFTED) | xn
        }
    }
}

// SAFETY: the ARMv7-A short-descriptor encoding (ARM ARM B3.5) meets the trait's contract:
// sections, small pages and table descriptors are told apart by their type bits as the
// 32-bit walker expects, empty flags give a fault entry, `paddr` reads back what `set_paddr`
// wrote; the unit tests check each bit position against the manual.
unsafe impl GenericPTE for A32PTE {
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
        PhysAddr::from_usize((self.0 & self.base_mask()) as usize)
    }
    fn flags(&self) -> MappingFlags {
        let p = DescriptorAttr::from_bits_truncate(self.small_bits());
        if !p.contains(DescriptorAttr::SMALL_PAGE) {
            return MappingFlags::empty();
        }
        let mut f = MappingFlags::READ;
        if !p.contains(DescriptorAttr::AP2) {
            f = f.union(MappingFlags::WRITE);
        }
        if !p.contains(DescriptorAttr::XN) {
            f = f.union(MappingFlags::EXECUTE);
        }
        if p.contains(DescriptorAttr::AP1) {
            f = f.union(MappingFlags::USER);
        }
        if !p.contains(DescriptorAttr::NG) {
            f = f.union(MappingFlags::GLOBAL);
        }
        if p.contains(DescriptorAttr::TEX2) {
            f = f.union(MappingFlags::COW);
        }
        match self.mem_attr() {
            Some(MemAttr::Device) => f.union(MappingFlags::DEVICE),
            Some(MemAttr::NormalNonCacheable) => f.union(MappingFlags::UNCACHED),
            _ => f,
        }
    }
    fn set_paddr(&mut self, paddr: PhysAddr) {
        let mask = self.base_mask();
        self.0 = (self.0 & !mask) | (paddr.as_usize() as u32 & mask);
    }
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        let base = if is_huge { SECTION_BASE } else { PAGE_BASE };
        self.0 = (self.0 & self.base_mask() & base) | Self::leaf_attr(flags, is_huge);
    }
    fn is_present(&self) -> bool {
        self.0 & TYPE_MASK != 0
    }
    fn is_huge(&self) -> bool {
        match self.0 & TYPE_MASK {
            0 => self.0 & RESERVED != 0 && self.0 & RESERVED_HUGE != 0,
            TYPE_TABLE => false,
            _ => self.0 & PAGE_MARK == 0,
        }
    }
}

impl core::fmt::Debug for A32PTE {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        super::debug_pte(self, "A32PTE", self.0 as u64, f)
    }
}

#[cfg(test)]
#[path = "arm_tests.rs"]
mod tests;
