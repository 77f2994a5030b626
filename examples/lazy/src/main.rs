//! A lazy anonymous area touched page by page through the MMU: every first touch is a page
//! fault that the address space resolves with a zeroed frame, the contents read back, and
//! `munmap` returns every frame.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use pagoda::mm::{self, PAGE_SIZE_4K};
use pagoda::{print, println};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("lazy");
const PAGES: usize = 64;
const SEED: u64 = 0x1a2b;

fn main() {
    let start = mm::page_frames();
    T.ok(mm::switch_to_new(), "switch to a new address space");
    let len = PAGES * PAGE_SIZE_4K;
    let va = T.ok(mm::mmap_anon(len, mm::RW), "mmap");
    let mapped = mm::page_frames();
    T.eq(mapped - start, 1, "only the root table before any touch");
    println!("mmap: {PAGES} pages at {:#x}, no frames yet", va.as_usize());

    // Fresh pages read as zero; every page faults exactly once.
    let faults = mm::fault_stats();
    T.eq(mm::probe_read(va + 8), Ok(0), "a fresh page reads zero");
    T.ok(mm::write_pattern(va, PAGES, SEED), "touch every page");
    T.ok(mm::check_pattern(va, PAGES, SEED), "read every page back");
    let seen = mm::fault_stats().since(&faults);
    let used = mm::page_frames() - mapped;
    println!(
        "touched {PAGES} pages: {} page faults, +{used} frames (pages + tables)",
        seen.total()
    );
    T.eq(seen.filled, PAGES, "one fault per page");
    // The page read before it was written got a read-only entry (soft-dirty tracks the
    // first write, as Linux maps the zero page on a read): its write takes one more fault,
    // which keeps the frame.
    T.eq(seen.cow_reused, 1, "one write fault on the page read first");
    T.eq(seen.total(), PAGES + 1, "no other faults");
    T.check(used > PAGES, "a frame per touched page, and page tables");
    mm::with_current(|s| print!("{s}"));

    // Every page frame and the emptied leaf tables go back; the table right below the root
    // stays with the space until it is dropped.
    T.ok(mm::current(|s| s.munmap(va, len)), "munmap");
    let left = mm::page_frames() - mapped;
    println!(
        "munmap: {} frames returned, {left} upper-level table kept",
        used - left
    );
    T.eq(left, 1, "munmap returns every page frame");
    let gone = mm::probe_read(va).map_err(|e| e.signal);
    T.eq(gone, Err(mm::Signal::Segv), "the unmapped area faults");

    drop(mm::take_current());
    T.eq(
        mm::page_frames(),
        start,
        "frames back to the starting value",
    );
    println!("address space dropped: frames back to the starting value ({start})");
    T.pass();
}
