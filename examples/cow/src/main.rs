//! fork: the child gets the parent's pages copy-on-write. Each side writes through the MMU
//! (switching spaces), sees only its own writes, and every write to a shared page costs one
//! copy, except the last sharer's, which reuses the frame (no new frame).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use pagoda::mm::{self, FaultStats, PAGE_SIZE_4K};
use pagoda::println;

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("cow");
const PAGES: usize = 8;
const HALF: usize = PAGES / 2;
/// Pattern seeds: what the parent wrote before the fork, and each side's writes after it.
const ORIGINAL: u64 = 1;
const PARENT: u64 = 2;
const CHILD: u64 = 3;

/// Runs `f` and returns the faults it caused and the frames it allocated.
fn measure(f: impl FnOnce()) -> (FaultStats, isize) {
    let (faults, frames) = (mm::fault_stats(), mm::page_frames());
    f();
    let delta = mm::page_frames() as isize - frames as isize;
    (mm::fault_stats().since(&faults), delta)
}

fn main() {
    T.ok(mm::switch_to_new(), "switch to a new address space");
    let len = PAGES * PAGE_SIZE_4K;
    let va = T.ok(mm::mmap_anon(len, mm::RW), "mmap");
    let upper = va + HALF * PAGE_SIZE_4K;
    for half in [va, upper] {
        T.ok(mm::write_pattern(half, HALF, ORIGINAL), "parent fills");
    }

    let child = T.ok(mm::current(|s| s.fork()), "fork");
    println!("fork: {PAGES} pages shared copy-on-write");

    // The parent writes the lower half: one copy per page.
    let (f, frames) = measure(|| T.ok(mm::write_pattern(va, HALF, PARENT), "parent writes"));
    println!(
        "parent writes {HALF} pages: {} COW copies, {frames:+} frames",
        f.cow_copied
    );
    T.eq(
        (f.cow_copied, f.total()),
        (HALF, HALF),
        "parent: one copy per page",
    );

    // The child still sees the original everywhere.
    let parent = T.ok(mm::exchange(child), "switch");
    for half in [va, upper] {
        T.ok(
            mm::check_pattern(half, HALF, ORIGINAL),
            "child sees the original",
        );
    }
    println!("child reads all {PAGES} pages: the original data (isolation)");

    // Child, lower half: the parent has its own copies, so the child is the last sharer.
    let (f, frames) = measure(|| T.ok(mm::write_pattern(va, HALF, CHILD), "child writes"));
    println!(
        "child writes the same {HALF} pages: {} reused without a copy, {frames:+} frames",
        f.cow_reused
    );
    T.eq(
        (f.cow_reused, f.total(), frames),
        (HALF, HALF, 0),
        "child: reuse, no frame",
    );
    // Child, upper half: still shared with the parent, so copied.
    let (f, _) = measure(|| T.ok(mm::write_pattern(upper, HALF, CHILD), "child writes more"));
    println!("child writes the other {HALF}: {} COW copies", f.cow_copied);
    T.eq(f.cow_copied, HALF, "child: one copy per shared page");

    // Back in the parent: its writes, and the original where it did not write.
    let child = T.ok(mm::exchange(parent), "switch");
    T.ok(
        mm::check_pattern(va, HALF, PARENT),
        "parent sees its writes",
    );
    T.ok(
        mm::check_pattern(upper, HALF, ORIGINAL),
        "parent keeps the original",
    );
    let (f, frames) =
        measure(|| T.ok(mm::write_pattern(upper, HALF, PARENT), "parent writes more"));
    T.eq(
        (f.cow_reused, frames),
        (HALF, 0),
        "parent is the last sharer now",
    );
    println!("parent: own data kept; its last {HALF} writes reuse the frames too");
    drop(child);
    T.pass();
}
