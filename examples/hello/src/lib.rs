//! hello (skeleton)
#![cfg_attr(not(test), no_std)]
