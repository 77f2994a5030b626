//! Physical frame allocator and kernel heap (skeleton, being written)
#![cfg_attr(not(test), no_std)]
