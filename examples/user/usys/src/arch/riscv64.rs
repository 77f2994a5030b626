//! RISC-V 64: `ecall` with a7 = number, a0..a5 = arguments, a0 = result (Linux numbering).

use core::arch::asm;

/// `write(fd, buf, len)`.
pub const SYS_WRITE: usize = 64;
/// `exit(code)`.
pub const SYS_EXIT: usize = 93;

// Process entry. The kernel (or Linux) starts us with sp at argc; hand that pointer to Rust
// in a0, keep sp 16-byte aligned as the psABI requires, and end the frame-pointer chain.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".section .text._start, \"ax\", @progbits",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "    mv a0, sp",
    "    andi sp, sp, -16",
    "    li s0, 0",
    "    call {entry}",
    "    unimp",
    ".size _start, . - _start",
    entry = sym crate::entry::start_rust,
);

/// Raw system call with six arguments; returns a0 unchanged (`-errno` on failure).
///
/// # Safety
/// The arguments must be valid for system call `nr`: every pointer it reads or writes must
/// be valid for that access for the whole call.
#[inline]
pub unsafe fn syscall(nr: usize, args: [usize; 6]) -> usize {
    let ret;
    // SAFETY: the caller guarantees the arguments are valid for `nr`. `ecall` leaves every
    // register except a0 intact and does not use the user stack; memory may change (no
    // `nomem`), which the compiler assumes by default.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") args[0] => ret,
            in("a1") args[1],
            in("a2") args[2],
            in("a3") args[3],
            in("a4") args[4],
            in("a5") args[5],
            in("a7") nr,
            options(nostack),
        );
    }
    ret
}

/// Ends the process with `code`. A kernel that wrongly returns hits `unimp` and traps.
pub fn exit(code: i32) -> ! {
    // SAFETY: `exit` reads no memory and does not return; a0 holds the sign-extended code.
    unsafe {
        asm!(
            "ecall",
            "unimp",
            in("a0") code as isize as usize,
            in("a7") SYS_EXIT,
            options(noreturn, nostack),
        );
    }
}
