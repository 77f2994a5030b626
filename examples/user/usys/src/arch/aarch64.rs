//! AArch64: `svc #0` with x8 = number, x0..x5 = arguments, x0 = result (Linux numbering, the
//! generic table shared with riscv64).

use core::arch::asm;

/// `write(fd, buf, len)`.
pub const SYS_WRITE: usize = 64;
/// `exit(code)`.
pub const SYS_EXIT: usize = 93;

// Process entry. The kernel (or Linux) starts us with sp at argc; hand that pointer to Rust
// in x0, keep sp 16-byte aligned as AAPCS64 requires, and end the frame-record chain.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".section .text._start, \"ax\", %progbits",
    ".globl _start",
    ".type _start, %function",
    "_start:",
    "    mov x0, sp",
    "    and x9, x0, #-16",
    "    mov sp, x9",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl {entry}",
    "    udf #0",
    ".size _start, . - _start",
    entry = sym crate::entry::start_rust,
);

/// Raw system call with six arguments; returns x0 unchanged (`-errno` on failure).
///
/// # Safety
/// The arguments must be valid for system call `nr`: every pointer it reads or writes must
/// be valid for that access for the whole call.
#[inline]
pub unsafe fn syscall(nr: usize, args: [usize; 6]) -> usize {
    let ret;
    // SAFETY: the caller guarantees the arguments are valid for `nr`. `svc` leaves every
    // register except x0 intact and does not use the user stack; memory may change (no
    // `nomem`), which the compiler assumes by default.
    unsafe {
        asm!(
            "svc #0",
            inlateout("x0") args[0] => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            in("x8") nr,
            options(nostack),
        );
    }
    ret
}

/// Ends the process with `code`. A kernel that wrongly returns hits `udf` and traps.
pub fn exit(code: i32) -> ! {
    // SAFETY: `exit` reads no memory and does not return; x0 holds the sign-extended code.
    unsafe {
        asm!(
            "svc #0",
            "udf #0",
            in("x0") code as isize as usize,
            in("x8") SYS_EXIT,
            options(noreturn, nostack),
        );
    }
}
