//! The Pagoda API that applications use (skeleton, being written)
#![cfg_attr(not(test), no_std)]
