//! page_table_entry (skeleton, being written)
#![cfg_attr(not(test), no_std)]
