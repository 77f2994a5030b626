//! PTE formats. Pure data: every format compiles and is tested on any host.

pub mod aarch64;
pub mod loongarch64;
pub mod riscv;
pub mod x86_64;

use core::fmt;

use crate::{GenericPTE, MappingFlags};

/// Shared `Debug` body: raw bits, kind, physical address and flags.
pub(crate) fn debug_pte<P: GenericPTE>(
    pte: &P,
    name: &str,
    raw: u64,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let flags: MappingFlags = pte.flags();
    let kind = if pte.is_unused() {
        "unused"
    } else if pte.is_present() {
        "present"
    } else {
        "reserved"
    };
    f.debug_struct(name)
        .field("raw", &format_args!("{raw:#018x}"))
        .field("kind", &format_args!("{kind}"))
        .field("paddr", &format_args!("{:#x}", pte.paddr().as_usize()))
        .field("huge", &pte.is_huge())
        .field("flags", &flags)
        .finish()
}

/// Bit mask of bits `lo..hi` (half-open).
pub(crate) const fn bit_range(lo: u32, hi: u32) -> u64 {
    (u64::MAX >> (64 - (hi - lo))) << lo
}
