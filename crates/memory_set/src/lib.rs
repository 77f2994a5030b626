#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

extern crate alloc;

mod area;
mod backend;
mod gaps;
mod set;

#[cfg(test)]
mod tests;

pub use self::area::MemoryArea;
pub use self::backend::{MappingBackend, MappingError, MappingResult};
pub use self::set::{MemorySet, OnOverlap};
