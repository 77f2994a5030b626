//! Macros: address-type definitions, formatting, and address/range literals.

/// Defines new address types wrapping a `usize`.
///
/// For each `$vis type $name;` this generates:
/// - `#[repr(transparent)] $vis struct $name(usize)` deriving `Copy`, `Clone`,
///   `Default`, `PartialEq`, `Eq`, `PartialOrd` and `Ord` (plus any
///   attributes written before `type`, e.g. `#[derive(Hash)]`);
/// - `const fn from_usize(usize) -> Self` and `const fn as_usize(self) -> usize`;
/// - `From<usize> for $name` and `From<$name> for usize`, so the type
///   implements [`MemoryAddr`](crate::MemoryAddr);
/// - `Add<usize>`, `AddAssign<usize>`, `Sub<usize>`, `SubAssign<usize>` and
///   `Sub<$name, Output = usize>`.
///
/// Use [`def_usize_addr_formatter!`](crate::def_usize_addr_formatter) to add
/// `Debug`/`LowerHex`/`UpperHex`.
///
/// # Panics
///
/// The generated operators panic on overflow in every build profile (like
/// [`MemoryAddr::add`](crate::MemoryAddr::add)); use the `checked_*` or
/// `wrapping_*` methods of [`MemoryAddr`](crate::MemoryAddr) when overflow is
/// expected.
///
/// # Example
///
/// ```
/// use memory_addr::{def_usize_addr, def_usize_addr_formatter, MemoryAddr};
///
/// def_usize_addr! {
///     /// A guest physical address.
///     pub type GuestPhysAddr;
/// }
/// def_usize_addr_formatter! {
///     GuestPhysAddr = "GPA:{}";
/// }
///
/// const GPA: GuestPhysAddr = GuestPhysAddr::from_usize(0x1234);
/// assert_eq!(GPA.as_usize(), 0x1234);
/// assert_eq!(GPA.align_down_4k(), GuestPhysAddr::from(0x1000));
/// assert_eq!(GPA + 0x10 - GPA, 0x10);
/// assert_eq!(format!("{:?}", GPA), "GPA:0x1234");
/// ```
#[macro_export]
macro_rules! def_usize_addr {
    (
        $(#[$meta:meta])*
        $vis:vis type $name:ident;

        $($tt:tt)*
    ) => {
        #[repr(transparent)]
        #[derive(Copy, Clone, Default, Ord, PartialOrd, Eq, PartialEq)]
        $(#[$meta])*
        $vis struct $name(usize);

        impl $name {
            #[doc = concat!("Converts a `usize` to a [`", stringify!($name), "`].")]
            #[inline]
            #[must_use]
            pub const fn from_usize(addr: usize) -> Self {
                Self(addr)
            }

            #[doc = concat!("Converts a [`", stringify!($name), "`] to a `usize`.")]
            #[inline]
            #[must_use]
            pub const fn as_usize(self) -> usize {
                self.0
            }
        }

        impl ::core::convert::From<usize> for $name {
            #[inline]
            fn from(addr: usize) -> Self {
                Self(addr)
            }
        }

        impl ::core::convert::From<$name> for usize {
            #[inline]
            fn from(addr: $name) -> usize {
                addr.0
            }
        }

        impl ::core::ops::Add<usize> for $name {
            type Output = Self;
            #[inline]
            #[track_caller]
            fn add(self, rhs: usize) -> Self {
                match self.0.checked_add(rhs) {
                    ::core::option::Option::Some(v) => Self(v),
                    ::core::option::Option::None => {
                        ::core::panic!(concat!("overflow in `", stringify!($name), " + usize`"))
                    }
                }
            }
        }

        impl ::core::ops::AddAssign<usize> for $name {
            #[inline]
            #[track_caller]
            fn add_assign(&mut self, rhs: usize) {
                *self = *self + rhs;
            }
        }

        impl ::core::ops::Sub<usize> for $name {
            type Output = Self;
            #[inline]
            #[track_caller]
            fn sub(self, rhs: usize) -> Self {
                match self.0.checked_sub(rhs) {
                    ::core::option::Option::Some(v) => Self(v),
                    ::core::option::Option::None => {
                        ::core::panic!(concat!("overflow in `", stringify!($name), " - usize`"))
                    }
                }
            }
        }

        impl ::core::ops::SubAssign<usize> for $name {
            #[inline]
            #[track_caller]
            fn sub_assign(&mut self, rhs: usize) {
                *self = *self - rhs;
            }
        }

        impl ::core::ops::Sub<$name> for $name {
            type Output = usize;
            #[inline]
            #[track_caller]
            fn sub(self, rhs: $name) -> usize {
                match self.0.checked_sub(rhs.0) {
                    ::core::option::Option::Some(v) => v,
                    ::core::option::Option::None => ::core::panic!(concat!(
                        "overflow in `",
                        stringify!($name),
                        " - ",
                        stringify!($name),
                        "`"
                    )),
                }
            }
        }

        $crate::def_usize_addr!($($tt)*);
    };
    () => {};
}

/// Implements `Debug`, `LowerHex` and `UpperHex` for address types made by
/// [`def_usize_addr!`](crate::def_usize_addr), or for any hand-written
/// tuple struct whose field `.0` is an integer (as in arceos 0.4).
///
/// For each `$name = $format;` the value is printed as
/// `format_args!($format, format_args!("{:#x}", self.0))` (`{:#X}` for
/// `UpperHex`), so `$format` must contain exactly one `{}`. The field must
/// be visible where the macro is invoked.
///
/// # Example
///
/// ```
/// use memory_addr::{def_usize_addr, def_usize_addr_formatter, PhysAddr, VirtAddr};
///
/// def_usize_addr! {
///     /// An I/O virtual address.
///     pub type IoVirtAddr;
/// }
/// def_usize_addr_formatter! {
///     IoVirtAddr = "IOVA:{}";
/// }
///
/// assert_eq!(format!("{:?}", PhysAddr::from(0x1abc)), "PA:0x1abc");
/// assert_eq!(format!("{:x}", VirtAddr::from(0x1abc)), "VA:0x1abc");
/// assert_eq!(format!("{:X}", IoVirtAddr::from(0x1abc)), "IOVA:0x1ABC");
/// ```
#[macro_export]
macro_rules! def_usize_addr_formatter {
    (
        $name:ident = $format:literal;

        $($tt:tt)*
    ) => {
        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_fmt(::core::format_args!($format, ::core::format_args!("{:#x}", self.0)))
            }
        }

        impl ::core::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_fmt(::core::format_args!($format, ::core::format_args!("{:#x}", self.0)))
            }
        }

        impl ::core::fmt::UpperHex for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_fmt(::core::format_args!($format, ::core::format_args!("{:#X}", self.0)))
            }
        }

        $crate::def_usize_addr_formatter!($($tt)*);
    };
    () => {};
}

/// Makes a [`PhysAddr`](crate::PhysAddr) from a `usize` (usable in `const`).
///
/// ```
/// use memory_addr::{pa, PhysAddr};
/// const BASE: PhysAddr = pa!(0x8000_0000);
/// assert_eq!(BASE.as_usize(), 0x8000_0000);
/// ```
#[macro_export]
macro_rules! pa {
    ($addr:expr) => {
        $crate::PhysAddr::from_usize($addr)
    };
}

/// Makes a [`VirtAddr`](crate::VirtAddr) from a `usize` (usable in `const`).
///
/// ```
/// use memory_addr::{va, VirtAddr};
/// const BASE: VirtAddr = va!(0xffff_8000_0000_0000);
/// assert_eq!(BASE.as_usize(), 0xffff_8000_0000_0000);
/// ```
#[macro_export]
macro_rules! va {
    ($addr:expr) => {
        $crate::VirtAddr::from_usize($addr)
    };
}

/// Converts a range expression `a..b` into an [`AddrRange`](crate::AddrRange)
/// whose address type is inferred.
///
/// # Panics
///
/// Panics if `a > b`. Use [`AddrRange::try_new`](crate::AddrRange::try_new)
/// for a non-panicking version.
///
/// ```
/// use memory_addr::{addr_range, AddrRange};
/// let r: AddrRange<usize> = addr_range!(0x1000usize..0x2000);
/// assert_eq!(r.size(), 0x1000);
/// ```
///
/// ```should_panic
/// # use memory_addr::{addr_range, AddrRange};
/// let _: AddrRange<usize> = addr_range!(0x2000usize..0x1000);
/// ```
#[macro_export]
macro_rules! addr_range {
    ($range:expr) => {
        $crate::AddrRange::try_from($range).expect("invalid address range in `addr_range!`")
    };
}

/// Converts a range expression into a [`VirtAddrRange`](crate::VirtAddrRange).
///
/// # Panics
///
/// Panics if the start is above the end.
///
/// ```
/// use memory_addr::{va, va_range};
/// let r = va_range!(0x1000..0x3000);
/// assert_eq!((r.start, r.end), (va!(0x1000), va!(0x3000)));
/// ```
///
/// ```should_panic
/// let _ = memory_addr::va_range!(0x2000..0x1000);
/// ```
#[macro_export]
macro_rules! va_range {
    ($range:expr) => {
        $crate::VirtAddrRange::try_from($range).expect("invalid address range in `va_range!`")
    };
}

/// Converts a range expression into a [`PhysAddrRange`](crate::PhysAddrRange).
///
/// # Panics
///
/// Panics if the start is above the end.
///
/// ```
/// use memory_addr::{pa, pa_range};
/// let r = pa_range!(0x1000..0x3000);
/// assert_eq!((r.start, r.end), (pa!(0x1000), pa!(0x3000)));
/// ```
///
/// ```should_panic
/// let _ = memory_addr::pa_range!(0x2000..0x1000);
/// ```
#[macro_export]
macro_rules! pa_range {
    ($range:expr) => {
        $crate::PhysAddrRange::try_from($range).expect("invalid address range in `pa_range!`")
    };
}
