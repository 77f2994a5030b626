//! PTE formats. Pure data: every format compiles and is tested on any host.

use core::fmt;

use crate::{GenericPTE, MappingFlags};

/// The [`GenericPTE`] methods every format writes the same way, for a `u64` newtype with an
/// inherent `normalize(MappingFlags) -> MappingFlags`. Expands inside the trait impl.
macro_rules! common_pte_methods {
    () => {
        #[inline]
        fn bits(self) -> usize {
            self.0 as usize
        }
        #[inline]
        fn is_unused(&self) -> bool {
            self.0 == 0
        }
        #[inline]
        fn clear(&mut self) {
            self.0 = 0;
        }
        #[inline]
        fn normalize_flags(flags: MappingFlags) -> MappingFlags {
            Self::normalize(flags)
        }
    };
}

/// The conversions between a format's attribute-bits type `$attr` and [`MappingFlags`]
/// (through the format's `flags()` and `leaf_attr(flags, huge)`), and its `Debug`.
macro_rules! common_pte_impls {
    ($pte:ident, $attr:ty) => {
        impl From<$attr> for MappingFlags {
            /// Decodes the attribute bits of a leaf, as [`GenericPTE::flags`] does.
            fn from(f: $attr) -> Self {
                $pte(f.bits()).flags()
            }
        }

        impl From<MappingFlags> for $attr {
            #[doc = concat!("The attribute bits of a 4K leaf with `f` (see [`", stringify!($pte), "::normalize`]).")]
            fn from(f: MappingFlags) -> Self {
                Self::from_bits_retain($pte::leaf_attr(f, false))
            }
        }

        impl core::fmt::Debug for $pte {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                $crate::arch::debug_pte(self, stringify!($pte), self.0, f)
            }
        }
    };
}

pub mod aarch64;
pub mod arm;
pub mod loongarch64;
pub mod riscv;
pub mod x86_64;

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
