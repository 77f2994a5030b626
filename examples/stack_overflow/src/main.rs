//! Overflows the kernel stack on purpose: unbounded recursion runs into the unmapped guard
//! page below the boot stack. The kernel must not corrupt memory or hang: the trap code
//! reports `FATAL: kernel stack overflow` (riscv64: the trap entry sees `sp` in the guard
//! page and switches to an emergency stack; x86_64: the page fault cannot push its frame,
//! so a double fault runs on its own IST stack) and exits with the fatal-trap code. The
//! harness expects exactly that (`expect` in this directory); this program never passes
//! by itself.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use pagoda::println;

pagoda::main!(main);

/// Recurses with a 512-byte frame until the stack runs out; `black_box` keeps the frame
/// and the recursion from being optimised away.
fn recurse(depth: usize) -> usize {
    let frame = black_box([depth as u8; 512]);
    if black_box(depth) == usize::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(usize::from(frame[depth % 512]))
}

fn main() {
    let guard = pagoda::mem::stack_guard_page();
    println!(
        "stack_overflow: guard page {:#x}..{:#x}; recursing without bound",
        guard.start.as_usize(),
        guard.end.as_usize()
    );
    let n = recurse(0);
    pagoda::fail("stack_overflow", format_args!("recursion returned {n}"));
}
