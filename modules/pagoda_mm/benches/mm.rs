#![allow(missing_docs)] // criterion's macros generate undocumented items
//! Benchmarks of the software paths of pagoda_mm against their hardware floor:
//! lazy anonymous fault vs zeroing a page, COW fault vs copying a page (and reuse when the
//! frame is exclusive), fork setup per mapped page, mmap + munmap of 4 KiB.
//!
//! Frames come from `BenchHandler`, a plain free list over one heap arena (no poisoning,
//! no counting), so the numbers show the mm layer and not a test allocator.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use memory_addr::{PAGE_SIZE_4K, PhysAddr, VirtAddr, VirtAddrRange};
use page_table_multiarch::frame::PhysFrame;
use page_table_multiarch::riscv::{Rv64PTE, Sv39MetaData};
use page_table_multiarch::{MappingFlags, PageSize, PageTable64, PagingHandler};
use pagoda_mm::{AddrSpace, FaultOutcome, MmapFlags, Populate};

const ARENA_FRAMES: usize = 64 * 1024; // 256 MiB
const PHYS_BASE: usize = 0x8000_0000;

struct Arena {
    base: *mut u8,
    free: Vec<usize>,
}

impl Arena {
    fn new() -> Self {
        // SAFETY: the layout has a non-zero size; the arena lives until the thread ends.
        let base = unsafe { alloc(Self::layout()) };
        assert!(!base.is_null(), "arena allocation failed");
        Self {
            base,
            free: (0..ARENA_FRAMES).rev().collect(),
        }
    }

    fn layout() -> Layout {
        Layout::from_size_align(ARENA_FRAMES * PAGE_SIZE_4K, PAGE_SIZE_4K).unwrap()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.base, Self::layout()) };
    }
}

thread_local! {
    static ARENA: RefCell<Arena> = RefCell::new(Arena::new());
}

/// A minimal frame allocator for benchmarks.
struct BenchHandler;

// SAFETY: frames are distinct 4K pieces of one live heap arena, handed out once until freed;
// `phys_to_virt` points into that arena. Single-threaded use (thread-local arena).
unsafe impl PagingHandler for BenchHandler {
    fn alloc_frame() -> Option<PhysAddr> {
        ARENA.with_borrow_mut(|a| {
            a.free
                .pop()
                .map(|n| PhysAddr::from_usize(PHYS_BASE + n * PAGE_SIZE_4K))
        })
    }

    unsafe fn dealloc_frame(paddr: PhysAddr) {
        ARENA.with_borrow_mut(|a| a.free.push((paddr.as_usize() - PHYS_BASE) / PAGE_SIZE_4K));
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        let base = ARENA.with_borrow(|a| a.base as usize);
        VirtAddr::from_usize(base + paddr.as_usize() - PHYS_BASE)
    }
}

type Space = AddrSpace<Sv39MetaData, Rv64PTE, BenchHandler>;

const P: usize = PAGE_SIZE_4K;
const RW: MappingFlags = MappingFlags::READ
    .union(MappingFlags::WRITE)
    .union(MappingFlags::USER);
/// Pages per round of the fault benchmarks (the space is rebuilt between rounds, untimed):
/// 128 KiB, so the frames stay in cache like the frames of the zero/copy baselines.
const ROUND: usize = 32;
/// Mapped pages for the fork benchmark.
const FORK_PAGES: usize = 4096;
const BASE: usize = 0x1000_0000;

fn space() -> Space {
    Space::new(VirtAddrRange::new(
        VirtAddr::from_usize(0x1000),
        VirtAddr::from_usize(0x40_0000_0000),
    ))
    .unwrap()
}

/// Times `op(space, page)` for `iters` pages, rebuilding with `setup` every `ROUND` pages.
fn rounds(
    iters: u64,
    mut setup: impl FnMut() -> (Space, Option<Space>),
    mut op: impl FnMut(&mut Space, usize),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters as usize {
        let (mut s, keep) = setup();
        let n = ROUND.min(iters as usize - done);
        let t = Instant::now();
        for i in 0..n {
            op(&mut s, BASE + i * P);
        }
        total += t.elapsed();
        drop((s, keep));
        done += n;
    }
    total
}

fn populated(pages: usize) -> Space {
    let mut s = space();
    s.map_alloc(VirtAddr::from_usize(BASE), pages * P, RW, Populate::Eager)
        .unwrap();
    s
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("mm");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);

    // Baselines with the same cache footprint as the fault benchmarks (ROUND frames in
    // turn), and with one hot frame.
    let mut dst: Vec<_> = (0..ROUND)
        .map(|_| PhysFrame::<BenchHandler>::alloc().unwrap())
        .collect();
    let src: Vec<_> = (0..ROUND)
        .map(|_| PhysFrame::<BenchHandler>::alloc_zeroed().unwrap())
        .collect();
    let mut i = 0;
    g.bench_function("zero_4k", |b| {
        b.iter(|| {
            i = (i + 1) % ROUND;
            black_box(&mut dst[i]).fill(0)
        })
    });
    g.bench_function("copy_4k", |b| {
        b.iter(|| {
            i = (i + 1) % ROUND;
            black_box(&mut dst[i]).copy_from(black_box(&src[i]))
        })
    });
    drop((dst, src));

    let write = MappingFlags::WRITE;
    g.bench_function("anon_fault", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || {
                    let mut s = space();
                    s.map_alloc(VirtAddr::from_usize(BASE), ROUND * P, RW, Populate::Lazy)
                        .unwrap();
                    (s, None)
                },
                |s, va| {
                    // The outcome shows the bench measures the path it is named after.
                    let outcome = s.handle_page_fault(VirtAddr::from_usize(va), write);
                    assert_eq!(outcome, Ok(FaultOutcome::Filled));
                },
            )
        })
    });
    g.bench_function("cow_fault_copy", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || {
                    let mut parent = populated(ROUND);
                    let child = parent.fork().unwrap();
                    (child, Some(parent))
                },
                |s, va| {
                    // The outcome shows the bench measures the path it is named after.
                    let outcome = s.handle_page_fault(VirtAddr::from_usize(va), write);
                    assert_eq!(outcome, Ok(FaultOutcome::CopiedOnWrite));
                },
            )
        })
    });
    g.bench_function("cow_fault_reuse", |b| {
        b.iter_custom(|iters| {
            rounds(
                iters,
                || {
                    let mut parent = populated(ROUND);
                    drop(parent.fork().unwrap());
                    (parent, None)
                },
                |s, va| {
                    // The outcome shows the bench measures the path it is named after.
                    let outcome = s.handle_page_fault(VirtAddr::from_usize(va), write);
                    assert_eq!(outcome, Ok(FaultOutcome::Reused));
                },
            )
        })
    });
    g.bench_function("fork_4096_pages", |b| {
        let mut parent = populated(FORK_PAGES);
        b.iter_with_large_drop(|| parent.fork().unwrap())
    });
    // The page-table floor of fork: copying the entries, and write-protecting the parent.
    g.bench_function("pt_clone_range_4096", |b| {
        let parent = populated(FORK_PAGES);
        let mut pt = PageTable64::<Sv39MetaData, Rv64PTE, BenchHandler>::try_new().unwrap();
        for i in 0..FORK_PAGES {
            let va = VirtAddr::from_usize(BASE + i * P);
            let pa = parent.page_table().query(va).unwrap().0;
            pt.map(va, pa, PageSize::Size4K, RW).unwrap().ignore();
        }
        b.iter_with_large_drop(|| {
            let mut dst = PageTable64::<Sv39MetaData, Rv64PTE, BenchHandler>::try_new().unwrap();
            let base = VirtAddr::from_usize(BASE);
            pt.clone_range_into(&mut dst, base, FORK_PAGES * P, |_, _, _, f| (f, f))
                .unwrap()
                .ignore();
            dst
        })
    });
    g.bench_function("mmap_munmap_4k", |b| {
        let mut s = space();
        let flags = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS;
        let prot = MappingFlags::READ | MappingFlags::WRITE;
        b.iter(|| {
            let a = s
                .mmap(VirtAddr::from_usize(0), P, prot, flags, None, 0)
                .unwrap();
            s.munmap(black_box(a), P).unwrap();
        })
    });
    g.finish();
}

criterion_group!(mm, benches);
criterion_main!(mm);
