#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod sigframe;
mod sysno;

#[cfg(test)]
mod tests;

pub use self::sysno::Sysno;
