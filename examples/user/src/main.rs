//! Loads the embedded user program (`examples/user/prog`, built by `prebuild.sh`) into a
//! fresh address space and runs it in U-mode / ring 3. Its stack and `.bss` start out
//! unmapped and fault in page by page; it must exit with status 42.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use pagoda::mm::{self, AddrSpace, ExitStatus, UserContext};
use pagoda::{print, println};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("user");
/// The user program (a static ELF for this arch).
static PROGRAM: &[u8] = include_bytes!(env!("PAGODA_USER_ELF"));
/// The program's stack buffer (16 pages) and `.bss` (64 pages) must fault in.
const MIN_LAZY_PAGES: usize = 16 + 64;

/// Pages with a frame, over all areas.
fn resident(space: &AddrSpace) -> usize {
    space.areas().map(|a| a.backend().resident_pages()).sum()
}

fn main() {
    let frames = mm::page_frames();
    let mut space = T.ok(mm::new_space(), "new address space");
    let elf = T.ok(
        mm::load_elf(&mut space, PROGRAM, &["user-prog"]),
        "load the ELF",
    );
    println!(
        "loaded {} KiB ELF: entry {:#x}, sp {:#x}, {} resident pages",
        PROGRAM.len() >> 10,
        elf.entry.as_usize(),
        elf.sp.as_usize(),
        resident(&space)
    );
    print!("{space}");
    let before = resident(&space);

    T.check(
        T.ok(mm::switch_to(space), "install").is_none(),
        "no previous space",
    );
    println!("--- user program output ---");
    let report = mm::run(&mut UserContext::new(
        elf.entry.as_usize(),
        elf.sp.as_usize(),
    ));
    println!("--- end of output ---");
    let space = T.some(mm::take_current(), "take the space back");
    println!(
        "program {} after {} system calls; {} page faults resolved lazily, {} resident pages",
        report.status,
        report.syscalls,
        report.faults.filled,
        resident(&space)
    );
    T.eq(report.status, ExitStatus::Exited(42), "exit status");
    T.check(
        report.output_str().contains("all checks passed"),
        "the program's checks",
    );
    T.check(
        report.faults.filled >= MIN_LAZY_PAGES,
        "stack and .bss fault in lazily",
    );
    T.check(
        resident(&space) >= before + MIN_LAZY_PAGES,
        "the faulted pages stay resident",
    );
    drop(space);
    println!(
        "address space freed: {} frames in use, as before",
        mm::page_frames()
    );
    T.eq(mm::page_frames(), frames, "every frame returned");
    T.pass();
}
