//! Paging modes. Each file exports its metadata type and table alias; only
//! their `flush_tlb` contains instructions, compiled only for
//! `target_os = "none"` on the matching architecture.

pub mod aarch64;
pub mod arm;
pub mod loongarch64;
pub mod riscv;
pub mod x86_64;
