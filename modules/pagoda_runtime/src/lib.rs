#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod imp;
#[cfg(target_os = "none")]
pub use imp::*;
