//! Hardware abstraction layer for riscv64 and x86_64 under QEMU (skeleton, being written)
#![cfg_attr(not(test), no_std)]
