//! RISC-V Sv39 and Sv48 (and Sv32, see [`crate::PageTable32`]).
//!
//! The metadata types are generic over the virtual address type, as in
//! arceos 0.6: a hypervisor can instantiate them with its guest-physical
//! address type and its own flush (`hfence.gvma`) through [`SvVirtAddr`].
//! The default, [`VirtAddr`], flushes with `sfence.vma`.

use core::marker::PhantomData;

use memory_addr::{MemoryAddr, VirtAddr};
pub use page_table_entry::riscv::{Rv32PTE, Rv64PTE};

use crate::{PageTable32, PageTable32Cursor, PageTable64, PageTable64Cursor, PagingMetaData};

/// An address type that RISC-V page tables translate, with its TLB flush.
pub trait SvVirtAddr: MemoryAddr + Send + Sync + 'static {
    /// Invalidates the translation of `vaddr`, or all of them when `None`.
    /// Must not execute privileged instructions on a host build.
    fn flush_tlb(vaddr: Option<Self>);
}

impl SvVirtAddr for VirtAddr {
    /// `sfence.vma vaddr` (or a global `sfence.vma`) on the current hart,
    /// only when built for `target_os = "none"` on RISC-V.
    #[inline]
    fn flush_tlb(vaddr: Option<Self>) {
        #[cfg(all(
            target_os = "none",
            any(target_arch = "riscv64", target_arch = "riscv32")
        ))]
        // SAFETY: `sfence.vma` only orders page-table accesses and invalidates
        // address-translation caches; it touches no memory or registers we own.
        unsafe {
            match vaddr {
                Some(va) => {
                    core::arch::asm!("sfence.vma {0}, zero", in(reg) va.as_usize(), options(nostack))
                }
                None => core::arch::asm!("sfence.vma", options(nostack)),
            }
        }
        #[cfg(not(all(
            target_os = "none",
            any(target_arch = "riscv64", target_arch = "riscv32")
        )))]
        let _ = vaddr;
    }
}

/// Sv39: 3 levels, 39-bit virtual addresses, 56-bit physical addresses.
pub struct Sv39MetaData<VA: SvVirtAddr = VirtAddr>(PhantomData<fn() -> VA>);

/// Sv48: 4 levels, 48-bit virtual addresses, 56-bit physical addresses.
pub struct Sv48MetaData<VA: SvVirtAddr = VirtAddr>(PhantomData<fn() -> VA>);

/// Sv32: 2 levels of 1024 four-byte entries, 32-bit virtual addresses and
/// 34-bit physical addresses (RISC-V privileged spec, "Sv32"). Used with
/// [`PageTable32`].
pub struct Sv32MetaData<VA: SvVirtAddr = VirtAddr>(PhantomData<fn() -> VA>);

macro_rules! sv_meta {
    ($name:ident, $levels:expr, $pa:expr, $va:expr $(, $valid:item)?) => {
        impl<VA: SvVirtAddr> PagingMetaData for $name<VA> {
            const LEVELS: usize = $levels;
            const PA_MAX_BITS: usize = $pa;
            const VA_MAX_BITS: usize = $va;
            type VirtAddr = VA;
            $($valid)?

            #[inline]
            fn flush_tlb(vaddr: Option<VA>) {
                VA::flush_tlb(vaddr);
            }
        }

        impl<VA: SvVirtAddr> core::fmt::Debug for $name<VA> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
        impl<VA: SvVirtAddr> Clone for $name<VA> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<VA: SvVirtAddr> Copy for $name<VA> {}
    };
}

sv_meta!(Sv39MetaData, 3, 56, 39);
sv_meta!(Sv48MetaData, 4, 56, 48);
// 34-bit physical addresses where `usize` can hold them.
sv_meta!(
    Sv32MetaData,
    2,
    if usize::BITS >= 64 { 34 } else { 32 },
    32,
    /// Sv32 addresses are not sign-extended: every 32-bit address is valid.
    fn vaddr_is_valid(vaddr: usize) -> bool {
        vaddr <= u32::MAX as usize
    }
);

/// Sv32 layout: `VPN[1]` = VA bits 31..22 (4 MiB megapages, which
/// `PageTable32` does not create), `VPN[0]` = bits 21..12; both tables are one
/// 4K frame of 1024 entries.
impl<VA: SvVirtAddr> PagingMetaData32 for Sv32MetaData<VA> {
    const L1_SHIFT: usize = 22;
    const L1_ENTRIES: usize = 1024;
    const L2_ENTRIES: usize = 1024;
    const ROOT_FRAMES: usize = 1;
}

use crate::PagingMetaData32;

/// Sv39 page table.
pub type Sv39PageTable<H> = PageTable64<Sv39MetaData, Rv64PTE, H>;
/// Cursor over an [`Sv39PageTable`] (arceos 0.6 name).
pub type Sv39PageTableCursor<'a, H> = PageTable64Cursor<'a, Sv39MetaData, Rv64PTE, H>;
/// Sv48 page table.
pub type Sv48PageTable<H> = PageTable64<Sv48MetaData, Rv64PTE, H>;
/// Cursor over an [`Sv48PageTable`] (arceos 0.6 name).
pub type Sv48PageTableCursor<'a, H> = PageTable64Cursor<'a, Sv48MetaData, Rv64PTE, H>;
/// Sv32 page table.
pub type Sv32PageTable<H> = PageTable32<Sv32MetaData, Rv32PTE, H>;
/// Cursor over an [`Sv32PageTable`].
pub type Sv32PageTableCursor<'a, H> = PageTable32Cursor<'a, Sv32MetaData, Rv32PTE, H>;
