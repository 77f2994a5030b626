#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpio;
pub mod fd;
pub mod pipe;
pub mod procfs;
pub mod vfs;

#[cfg(test)]
mod io_tests;
#[cfg(test)]
mod proc_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vfs_tests;
