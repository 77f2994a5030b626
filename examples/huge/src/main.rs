//! Huge pages: physically contiguous memory mapped with 2 MiB leaves (and 1 GiB leaves
//! where the CPU has them), checked through the MMU against what the kernel wrote; then a
//! partial unmap splits a huge page: the rest still maps the right data, the hole faults.
//! Then transparent huge pages: one fault fills a 2 MiB leaf of anonymous memory advised
//! `MADV_HUGEPAGE`; after fork a write copies one page and splits only the writer's leaf.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use pagoda::mm::{
    self, Advice, PAGE_SIZE_2M, PAGE_SIZE_4K, PageSize, Signal, StaticFrames, VirtAddr,
};
use pagoda::println;

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("huge");
/// A 2 MiB-aligned address that is not 1 GiB-aligned: 2 MiB leaves only.
const VA_2M: usize = 0x4020_0000;
/// A 1 GiB-aligned address.
const VA_1G: usize = 0x8000_0000;

/// One huge mapping to check: `block` at `va` with `leaf`-sized pages, then a hole of
/// `hole.1` bytes at offset `hole.0`, after which the leaves around it are `split`.
struct Case {
    va: VirtAddr,
    block: StaticFrames,
    leaf: PageSize,
    hole: (usize, usize),
    split: PageSize,
}

impl Case {
    /// `leaves` pages of size `leaf` at `va`; the hole is one `split`-sized page in the
    /// middle of the first.
    fn new(va: usize, leaf: PageSize, leaves: usize, split: PageSize) -> Self {
        let size = leaf as usize * leaves;
        let what = "contiguous RAM (riscv64 runs this with -m 3G)";
        let block = T.ok(StaticFrames::alloc(size, leaf as usize), what);
        let hole = (leaf as usize / 2, split as usize);
        let va = VirtAddr::from_usize(va);
        Self {
            va,
            block,
            leaf,
            hole,
            split,
        }
    }

    /// Offsets worth looking at: both ends, around the hole, the next leaf if any.
    fn samples(&self) -> impl Iterator<Item = usize> {
        let (at, len) = self.hole;
        let (leaf, size) = (self.leaf as usize, self.block.size());
        [0, at - 8, at + len, leaf - 8, leaf, size - 8]
            .into_iter()
            .filter(move |&o| o < size)
    }

    /// Every sample reads what the kernel wrote at that physical offset.
    fn check_data(&self, seed: u64) {
        for off in self.samples() {
            let want = mm::pattern(seed, off);
            T.eq(
                mm::probe_read(self.va + off),
                Ok(want),
                "data through the MMU",
            );
        }
    }

    fn run(&self, seed: u64) {
        let size = self.block.size();
        T.ok(
            mm::current(|s| mm::map_static(s, self.va, self.block, mm::RW)),
            "map",
        );
        let leaf = mm::with_current(|s| mm::page_size_at(s, self.va)).flatten();
        T.eq(leaf, Some(self.leaf), "mapped with huge leaves");
        for off in self.samples() {
            T.ok(
                self.block.write_u64(off, mm::pattern(seed, off)),
                "kernel write",
            );
        }
        self.check_data(seed);
        // And the other way: a write through the mapping lands in the block.
        T.ok(mm::probe_write(self.va + 8, seed), "write through the MMU");
        T.eq(self.block.read_u64(8), Ok(seed), "the block sees it");
        println!(
            "{:?}: {} MiB at {:#x}, data matches both ways",
            self.leaf,
            size >> 20,
            self.va.as_usize()
        );

        let (at, len) = self.hole;
        T.ok(
            mm::current(|s| s.munmap(self.va + at, len)),
            "partial munmap",
        );
        let sizes = mm::with_current(|s| {
            let at = |off: usize| mm::page_size_at(s, self.va + off);
            [at(0), at(self.hole.0), at(size - 8)]
        });
        // The last leaf is untouched if there is more than one.
        let last = if size > self.leaf as usize {
            self.leaf
        } else {
            self.split
        };
        let want = [Some(self.split), None, Some(last)];
        T.eq(sizes, Some(want), "the huge page around the hole is split");
        self.check_data(seed);
        let hole = mm::probe_read(self.va + at).map_err(|e| e.signal);
        T.eq(hole, Err(Signal::Segv), "the hole faults");
        println!(
            "  unmapped {} KiB at +{:#x}: split into {:?} pages, data intact, hole faults",
            len >> 10,
            at,
            self.split
        );
    }
}

/// Transparent huge pages through the real MMU: faults counted by the kernel, leaves
/// read from the page table, data checked through the mapping on both sides of a fork.
fn transparent() {
    const PAGES: usize = PAGE_SIZE_2M / PAGE_SIZE_4K;
    let area = T.ok(mm::mmap_anon(2 * PAGE_SIZE_2M, mm::RW), "mmap");
    let va = VirtAddr::from_usize(area.as_usize().next_multiple_of(PAGE_SIZE_2M));
    T.ok(
        mm::current(|s| s.madvise(va, PAGE_SIZE_2M, Advice::HugePage)),
        "madvise(MADV_HUGEPAGE)",
    );
    let before = mm::fault_stats();
    T.ok(mm::write_pattern(va, PAGES, 4), "write 2 MiB");
    let faults = mm::fault_stats().since(&before);
    T.eq(
        (faults.filled, faults.total()),
        (1, 1),
        "one fault fills the block",
    );
    let leaf = |va| mm::with_current(|s| mm::page_size_at(s, va)).flatten();
    T.eq(leaf(va), Some(PageSize::Size2M), "a 2 MiB leaf");
    T.ok(
        mm::check_pattern(va, PAGES, 4),
        "data through the huge leaf",
    );
    println!(
        "THP: one fault filled 2 MiB at {:#x}, mapped by one leaf",
        va.as_usize()
    );

    let child = T.ok(mm::current(|s| s.fork()), "fork");
    let parent = T.ok(mm::exchange(child), "switch to the child");
    let before = mm::fault_stats();
    T.ok(mm::probe_write(va + 8, 5), "child writes");
    let faults = mm::fault_stats().since(&before);
    T.eq(faults.cow_copied, 1, "the child copies one page");
    T.eq(
        leaf(va),
        Some(PageSize::Size4K),
        "the child's leaf is split",
    );
    T.eq(mm::probe_read(va + 8), Ok(5), "the child sees its write");
    let child = T.ok(mm::exchange(parent), "switch to the parent");
    T.eq(
        leaf(va),
        Some(PageSize::Size2M),
        "the parent keeps its leaf",
    );
    T.ok(mm::check_pattern(va, PAGES, 4), "the parent keeps its data");
    drop(child);
    // The parent is the only owner again: its write reuses the whole block.
    let before = mm::fault_stats();
    T.ok(mm::probe_write(va + 16, 6), "parent writes");
    T.eq(
        mm::fault_stats().since(&before).cow_reused,
        1,
        "reused whole",
    );
    T.eq(leaf(va), Some(PageSize::Size2M), "still one leaf");
    println!("THP: after fork the child's write copied 1 page; the parent kept its leaf");
    T.ok(mm::current(|s| s.munmap(area, 2 * PAGE_SIZE_2M)), "munmap");
}

fn main() {
    T.ok(mm::switch_to_new(), "switch to a new address space");
    Case::new(VA_2M, PageSize::Size2M, 2, PageSize::Size4K).run(2);
    transparent();
    if mm::max_page_size() != PageSize::Size1G {
        println!("1 GiB pages: not supported by this CPU, skipped");
        T.pass();
    }
    Case::new(VA_1G, PageSize::Size1G, 1, PageSize::Size2M).run(3);
    T.pass();
}
