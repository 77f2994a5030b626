//! Anchor tables for the modes whose entry types the anchor only builds on their own targets:
//! Sv48 (the Sv39 entry type, four levels), AArch64 and LoongArch64 (small entry types written
//! from the Arm ARM, VMSAv8-64 stage-1 descriptors, and the LoongArch reference manual, §5.4).

use anchor_memory_addr::{PhysAddr, VirtAddr};
use anchor_page_table_multiarch::{GenericPTE, MappingFlags, PageTable64, PagingMetaData};

use super::{Frames, GIB, SvPte, Table, VA_BASE, pa_of};

/// Sv48 paging without the `sfence.vma` flush.
pub struct Sv48Meta;

impl PagingMetaData for Sv48Meta {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;
    fn flush_tlb(_vaddr: Option<VirtAddr>) {}
}

/// AArch64 4K-granule 4-level paging without the `tlbi` flush.
pub struct A64Meta;

impl PagingMetaData for A64Meta {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 48;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;
    fn flush_tlb(_vaddr: Option<VirtAddr>) {}
}

/// LoongArch64 4-level paging without the `invtlb` flush.
pub struct LA64Meta;

impl PagingMetaData for LA64Meta {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 48;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;
    fn flush_tlb(_vaddr: Option<VirtAddr>) {}
}

const OA_MASK: u64 = ((1 << 48) - 1) & !0xfff;

/// A VMSAv8-64 stage-1 descriptor: valid 0, table/page 1, AttrIndx 2..5, AP[1] (EL0) 6,
/// AP[2] (read-only) 7, SH 8..10, AF 10, output address 12..48, PXN 53, UXN 54.
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub struct A64Pte(u64);

const A_VALID: u64 = 1 << 0;
const A_NON_BLOCK: u64 = 1 << 1;
const A_EL0: u64 = 1 << 6;
const A_RDONLY: u64 = 1 << 7;
const A_INNER_SHAREABLE: u64 = 0b11 << 8;
const A_AF: u64 = 1 << 10;
const A_PXN: u64 = 1 << 53;
const A_UXN: u64 = 1 << 54;

impl A64Pte {
    fn attr(flags: MappingFlags, is_huge: bool) -> u64 {
        if flags.is_empty() {
            return 0;
        }
        let mut bits = A_VALID | A_AF | A_INNER_SHAREABLE | A_PXN | A_UXN;
        if !is_huge {
            bits |= A_NON_BLOCK;
        }
        if !flags.contains(MappingFlags::WRITE) {
            bits |= A_RDONLY;
        }
        if flags.contains(MappingFlags::USER) {
            bits |= A_EL0;
        }
        if flags.contains(MappingFlags::EXECUTE) {
            bits &= !if flags.contains(MappingFlags::USER) {
                A_UXN
            } else {
                A_PXN
            };
        }
        bits
    }
}

impl GenericPTE for A64Pte {
    fn new_page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self(Self::attr(flags, is_huge) | (paddr.as_usize() as u64 & OA_MASK))
    }
    fn new_table(paddr: PhysAddr) -> Self {
        Self(A_VALID | A_NON_BLOCK | (paddr.as_usize() as u64 & OA_MASK))
    }
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from_usize((self.0 & OA_MASK) as usize)
    }
    fn flags(&self) -> MappingFlags {
        if self.0 & A_VALID == 0 {
            return MappingFlags::empty();
        }
        let mut f = MappingFlags::READ;
        if self.0 & A_RDONLY == 0 {
            f |= MappingFlags::WRITE;
        }
        if self.0 & A_EL0 != 0 {
            f |= MappingFlags::USER;
            if self.0 & A_UXN == 0 {
                f |= MappingFlags::EXECUTE;
            }
        } else if self.0 & A_PXN == 0 {
            f |= MappingFlags::EXECUTE;
        }
        f
    }
    fn set_paddr(&mut self, paddr: PhysAddr) {
        self.0 = (self.0 & !OA_MASK) | (paddr.as_usize() as u64 & OA_MASK);
    }
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        self.0 = (self.0 & OA_MASK) | Self::attr(flags, is_huge);
    }
    fn bits(self) -> usize {
        self.0 as usize
    }
    fn is_unused(&self) -> bool {
        self.0 == 0
    }
    fn is_present(&self) -> bool {
        self.0 & A_VALID != 0
    }
    fn is_huge(&self) -> bool {
        self.0 & (A_VALID | A_NON_BLOCK) == A_VALID
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
}

/// A LoongArch64 entry: V 0, D 1, PLV 2..4, MAT 4..6, huge 6 (directory levels), P 7, W 8,
/// address 12..48, NR 61, NX 62. (Table entries get `V` here so the anchor's walker sees them
/// as present; the hardware ignores it in directory entries.)
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub struct La64Pte(u64);

const L_V: u64 = 1 << 0;
const L_D: u64 = 1 << 1;
const L_PLV3: u64 = 0b11 << 2;
const L_MAT_CC: u64 = 1 << 4;
const L_HUGE: u64 = 1 << 6;
const L_P: u64 = 1 << 7;
const L_W: u64 = 1 << 8;
const L_NR: u64 = 1 << 61;
const L_NX: u64 = 1 << 62;

impl La64Pte {
    fn attr(flags: MappingFlags, is_huge: bool) -> u64 {
        if flags.is_empty() {
            return 0;
        }
        let mut bits = L_V | L_P | L_MAT_CC;
        if is_huge {
            bits |= L_HUGE;
        }
        if flags.contains(MappingFlags::WRITE) {
            bits |= L_W | L_D;
        }
        if !flags.contains(MappingFlags::READ) {
            bits |= L_NR;
        }
        if !flags.contains(MappingFlags::EXECUTE) {
            bits |= L_NX;
        }
        if flags.contains(MappingFlags::USER) {
            bits |= L_PLV3;
        }
        bits
    }
}

impl GenericPTE for La64Pte {
    fn new_page(paddr: PhysAddr, flags: MappingFlags, is_huge: bool) -> Self {
        Self(Self::attr(flags, is_huge) | (paddr.as_usize() as u64 & OA_MASK))
    }
    fn new_table(paddr: PhysAddr) -> Self {
        Self(L_V | (paddr.as_usize() as u64 & OA_MASK))
    }
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from_usize((self.0 & OA_MASK) as usize)
    }
    fn flags(&self) -> MappingFlags {
        if self.0 & L_V == 0 {
            return MappingFlags::empty();
        }
        let mut f = MappingFlags::empty();
        if self.0 & L_NR == 0 {
            f |= MappingFlags::READ;
        }
        if self.0 & L_W != 0 {
            f |= MappingFlags::WRITE;
        }
        if self.0 & L_NX == 0 {
            f |= MappingFlags::EXECUTE;
        }
        if self.0 & L_PLV3 == L_PLV3 {
            f |= MappingFlags::USER;
        }
        f
    }
    fn set_paddr(&mut self, paddr: PhysAddr) {
        self.0 = (self.0 & !OA_MASK) | (paddr.as_usize() as u64 & OA_MASK);
    }
    fn set_flags(&mut self, flags: MappingFlags, is_huge: bool) {
        self.0 = (self.0 & OA_MASK) | Self::attr(flags, is_huge);
    }
    fn bits(self) -> usize {
        self.0 as usize
    }
    fn is_unused(&self) -> bool {
        self.0 == 0
    }
    fn is_present(&self) -> bool {
        self.0 & L_V != 0
    }
    fn is_huge(&self) -> bool {
        self.0 & L_HUGE != 0
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
}

/// The anchor for Sv48.
pub type Sv48 = PageTable64<Sv48Meta, SvPte, Frames>;
/// The anchor for AArch64.
pub type A64 = PageTable64<A64Meta, A64Pte, Frames>;
/// The anchor for LoongArch64.
pub type LA64 = PageTable64<LA64Meta, La64Pte, Frames>;

impl_anchor!(Sv48);
impl_anchor!(A64);
impl_anchor!(LA64);
