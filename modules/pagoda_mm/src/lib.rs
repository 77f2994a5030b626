//! Address spaces: backends, page faults, fork, mmap family, shm, ELF loading (skeleton, being written)
#![cfg_attr(not(test), no_std)]
