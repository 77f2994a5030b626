//! Boot sequence and runtime glue (skeleton, being written)
#![cfg_attr(not(test), no_std)]
