//! Boots, prints the RAM map and the kernel address space, checks a few invariants of them.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use pagoda::mem::{self, MappingFlags, MemRegionKind, PageSize};
use pagoda::println;

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("hello");

fn flag_str(f: MappingFlags) -> [u8; 4] {
    let bit = |flag, c| if f.contains(flag) { c } else { b'-' };
    [
        bit(MappingFlags::READ, b'r'),
        bit(MappingFlags::WRITE, b'w'),
        bit(MappingFlags::EXECUTE, b'x'),
        bit(MappingFlags::DEVICE, b'd'),
    ]
}

fn main() {
    println!("RAM map:");
    for r in mem::regions() {
        let end = r.start.as_usize() + r.size;
        println!(
            "  {:#014x}..{end:#014x} {:>9} KiB  {:?}",
            r.start.as_usize(),
            r.size >> 10,
            r.kind
        );
    }
    T.check(
        mem::regions().iter().any(|r| r.kind == MemRegionKind::Ram),
        "no RAM region",
    );
    T.check(mem::total_ram() >= 16 << 20, "less than 16 MiB of RAM");

    let frames = mem::frame_stats();
    println!(
        "frames: total {} free {} allocated {} peak {}",
        frames.total, frames.free, frames.allocated, frames.peak
    );
    T.check(
        frames.total > 0 && frames.allocated > 0,
        "frame allocator unused",
    );

    println!(
        "kernel address space (offset {:#x}):",
        mem::phys_virt_offset()
    );
    let mut runs = 0;
    let mut wx = false;
    let mut text = false;
    let mut huge = false;
    let installed = mem::for_each_kernel_mapping(|run| {
        let f = run.flags;
        let flags = flag_str(f);
        println!(
            "  {:#018x}..{:#018x} -> {:#014x} {} {:?}",
            run.vaddr.as_usize(),
            run.vaddr.as_usize() + run.size,
            run.paddr.as_usize(),
            core::str::from_utf8(&flags).unwrap_or("?"),
            run.page_size,
        );
        runs += 1;
        wx |= f.contains(MappingFlags::WRITE | MappingFlags::EXECUTE);
        text |= f.contains(MappingFlags::READ | MappingFlags::EXECUTE);
        huge |= run.page_size != PageSize::Size4K;
    });
    T.check(installed && runs > 0, "no kernel page table");
    T.check(!wx, "a kernel mapping is writable and executable");
    T.check(text, "no executable kernel text");
    T.check(huge, "the direct map uses no huge pages");

    // The code running now is mapped executable; the heap works on top of the frames.
    let here = mem::VirtAddr::from_usize(main as fn() as usize);
    let q = mem::query_kernel(here);
    T.check(
        q.is_some_and(|(_, f, _)| f.contains(MappingFlags::EXECUTE)),
        "main not executable",
    );
    let v: Vec<u64> = (0..10_000).collect();
    T.check(v.iter().sum::<u64>() == 49_995_000, "heap vector");
    let heap = mem::heap_stats();
    println!(
        "heap: claimed {} KiB, in use {} bytes",
        heap.claimed >> 10,
        heap.in_use
    );
    T.check(heap.in_use >= 80_000, "heap statistics");
    T.pass();
}
