//! x86_64: `syscall` with rax = number, rdi rsi rdx r10 r8 r9 = arguments, rax = result;
//! rcx and r11 are clobbered (Linux numbering).

use core::arch::asm;

/// `write(fd, buf, len)`.
pub const SYS_WRITE: usize = 1;
/// `exit(code)`.
pub const SYS_EXIT: usize = 60;

// Process entry. The kernel (or Linux) starts us with rsp at argc; pass it in rdi, align rsp
// to 16 so the `call` leaves the ABI's rsp % 16 == 8 at function entry, and end the
// frame-pointer chain with rbp = 0.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".section .text._start, \"ax\", @progbits",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "    xor ebp, ebp",
    "    mov rdi, rsp",
    "    and rsp, -16",
    "    call {entry}",
    "    ud2",
    ".size _start, . - _start",
    entry = sym crate::entry::start_rust,
);

/// Raw system call with six arguments; returns rax unchanged (`-errno` on failure).
///
/// # Safety
/// The arguments must be valid for system call `nr`: every pointer it reads or writes must
/// be valid for that access for the whole call.
#[inline]
pub unsafe fn syscall(nr: usize, args: [usize; 6]) -> usize {
    let ret;
    // SAFETY: the caller guarantees the arguments are valid for `nr`. `syscall` clobbers
    // only rax, rcx and r11 (declared) and does not touch the user stack; memory may change
    // (no `nomem`), which the compiler assumes by default.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Ends the process with `code`. A kernel that wrongly returns hits `ud2` and traps.
pub fn exit(code: i32) -> ! {
    // SAFETY: `exit` reads no memory and does not return; rdi holds the sign-extended code.
    unsafe {
        asm!(
            "syscall",
            "ud2",
            in("rax") SYS_EXIT,
            in("rdi") code as isize as usize,
            options(noreturn, nostack),
        );
    }
}
