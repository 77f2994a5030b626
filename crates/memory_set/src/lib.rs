#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

extern crate alloc;

mod area;
mod backend;
mod gaps;
#[cfg(any(test, feature = "testing"))]
mod reference;
mod set;

#[cfg(test)]
mod tests;

pub use self::area::MemoryArea;
pub use self::backend::{MappingBackend, MappingError, MappingResult};
pub use self::set::{MemorySet, OnOverlap};

#[cfg(feature = "axerrno")]
impl From<MappingError> for axerrno::AxErrorKind {
    /// Feature `axerrno`: `InvalidParam` → `InvalidInput`, `AlreadyExists` →
    /// `AlreadyExists`, `BadState` → `BadState`, `NoMemory` → `NoMemory`. axerrno 0.1.2's
    /// `AxError` is this type, and axerrno 0.2's `AxError` converts from it, so `?` works
    /// with either version.
    fn from(e: MappingError) -> Self {
        match e {
            MappingError::InvalidParam => Self::InvalidInput,
            MappingError::AlreadyExists => Self::AlreadyExists,
            MappingError::BadState => Self::BadState,
            MappingError::NoMemory => Self::NoMemory,
        }
    }
}
