//! page_table_multiarch (skeleton, being written)
#![cfg_attr(not(test), no_std)]
