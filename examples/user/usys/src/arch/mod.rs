//! The one place that picks the instruction set: each module exports the same names
//! (`SYS_WRITE`, `SYS_EXIT`, `syscall`, `exit`, and on bare metal the `_start` entry).

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
pub use riscv64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(not(any(
    target_arch = "riscv64",
    target_arch = "x86_64",
    target_arch = "aarch64"
)))]
compile_error!("pagoda-usys supports riscv64, x86_64 and aarch64 only");
