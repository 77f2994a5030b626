//! Loading ELF executables (static and PIE) into an [`AddrSpace`](crate::AddrSpace).
//!
//! Three steps, each usable alone:
//! 1. [`plan`] validates an image for a target ([`ElfMachine`]) and a user range and returns
//!    an [`ElfPlan`]: the `PT_LOAD` segments (moved by the load bias for `ET_DYN`), entry,
//!    `AT_PHDR`, `brk` start and the `PT_INTERP` path (reported, not loaded). It checks every
//!    offset and size itself before `xmas-elf` reads anything, so hostile images give an
//!    error, never a panic.
//! 2. [`build_stack`] lays out argc, argv, envp, auxv, the strings and the `AT_RANDOM` bytes
//!    as the System V ABI describes (see [`stack`]).
//! 3. [`load_elf`] maps the segments with their permissions, fills them, maps the stack, and
//!    sets the heap start; on error the address space is left as it was.
//!    [`load_elf_ex`] does it as `execve` does: it also loads the program's interpreter
//!    (the caller looks the `PT_INTERP` path up and passes the image in [`ExecInfo`]),
//!    starts there and gives the full Linux auxv.
//!
//! Errors are `LinuxError`s as `execve` reports them: `ENOEXEC` for a file that is not a
//! loadable executable for this target, `EINVAL` for one that does not fit the address
//! space, `E2BIG` for arguments that do not fit the stack, `ENOMEM` when memory runs out.

mod interp;
mod load;
mod parse;
pub mod stack;

#[cfg(test)]
mod builder;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests_interp;
#[cfg(test)]
mod tests_load;
#[cfg(test)]
mod tests_plan;

pub use interp::{ExecInfo, InterpImage};
pub use load::{ElfLoadRequest, LoadedElf, load_elf, load_elf_ex};
pub use parse::{ElfKind, ElfLayout, ElfMachine, ElfPlan, LoadSegment, PHDR_SIZE, plan};
pub use stack::{StackImage, StackStrings, auxv_for, build_stack, build_stack_with};
