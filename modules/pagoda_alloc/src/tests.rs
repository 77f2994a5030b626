//! Model-based tests of the frame allocator, and the global allocator + heap on a host arena.

use std::alloc::{GlobalAlloc, Layout};

use memory_addr::{PAGE_SIZE_4K, PhysAddr, PhysAddrRange, pa};
use page_table_multiarch::PagingHandler;
use proptest::prelude::*;

use crate::*;

const BASE: usize = 0x8000_0000;
const WINDOW: usize = 300; // frames

#[derive(Debug, Clone)]
enum Op {
    Alloc,
    Contig { count: usize, align_shift: u32 },
    Free(usize),
    Bogus(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Alloc),
        3 => (1usize..12, 0u32..6).prop_map(|(count, align_shift)| Op::Contig { count, align_shift }),
        3 => any::<usize>().prop_map(Op::Free),
        1 => (0usize..(WINDOW + 4) * PAGE_SIZE_4K).prop_map(Op::Bogus),
    ]
}

fn range() -> impl Strategy<Value = PhysAddrRange> {
    (0usize..WINDOW * PAGE_SIZE_4K, 0usize..150 * PAGE_SIZE_4K)
        .prop_map(|(s, len)| PhysAddrRange::from_start_size(pa!(BASE + s), len))
}

struct Model {
    usable: Vec<bool>,
    used: Vec<bool>,
    peak: usize,
}

impl Model {
    fn new(ram: &[PhysAddrRange], reserved: &[PhysAddrRange]) -> Self {
        let frame_in = |f: usize, r: &PhysAddrRange, inward: bool| {
            let (s, e) = (BASE + f * PAGE_SIZE_4K, BASE + (f + 1) * PAGE_SIZE_4K);
            if inward {
                r.start.as_usize() <= s && e <= r.end.as_usize()
            } else {
                s < r.end.as_usize() && r.start.as_usize() < e
            }
        };
        let usable = (0..WINDOW + 160)
            .map(|f| {
                ram.iter().any(|r| frame_in(f, r, true))
                    && !reserved.iter().any(|r| frame_in(f, r, false))
            })
            .collect::<Vec<_>>();
        let used = vec![false; usable.len()];
        Self {
            usable,
            used,
            peak: 0,
        }
    }

    fn free_at(&self, f: usize) -> bool {
        self.usable.get(f).copied().unwrap_or(false) && !self.used[f]
    }

    fn lowest_fit(&self, count: usize, step: usize) -> Option<usize> {
        // BASE is aligned to every tested alignment, so frame offsets align like addresses.
        (0..self.usable.len())
            .step_by(step)
            .find(|&f| (f..f + count).all(|g| self.free_at(g)))
    }

    fn stats(&self) -> FrameStats {
        let total = self.usable.iter().filter(|b| **b).count();
        let allocated = self.used.iter().filter(|b| **b).count();
        FrameStats {
            total,
            free: total - allocated,
            allocated,
            peak: self.peak,
        }
    }

    fn mark(&mut self, f: usize, count: usize, value: bool) {
        self.used[f..f + count].iter_mut().for_each(|b| *b = value);
        self.peak = self.peak.max(self.stats().allocated);
    }
}

fn frame_of(p: PhysAddr) -> usize {
    (p.as_usize() - BASE) / PAGE_SIZE_4K
}

/// `default` cases, unless the `PROPTEST_CASES` environment variable says otherwise.
pub(crate) fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config(200))]
    #[test]
    fn allocator_matches_model(
        ram in prop::collection::vec(range(), 1..4),
        reserved in prop::collection::vec(range(), 0..3),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let words = FrameAllocator::storage_words(&ram, &reserved).unwrap();
        let mut storage = vec![0u64; words];
        if words > 0 {
            let mut short = vec![0u64; words - 1];
            prop_assert_eq!(
                FrameAllocator::new(&mut short, &ram, &reserved).err(),
                Some(FrameError::StorageTooSmall)
            );
        }
        let mut a = FrameAllocator::new(&mut storage, &ram, &reserved).unwrap();
        let mut m = Model::new(&ram, &reserved);
        let mut held: Vec<(PhysAddr, usize)> = Vec::new();
        prop_assert_eq!(a.stats(), m.stats());
        for op in ops {
            match op {
                Op::Alloc => match a.alloc() {
                    Ok(p) => {
                        let f = frame_of(p);
                        prop_assert!(m.free_at(f), "alloc returned a non-free frame {:?}", p);
                        m.mark(f, 1, true);
                        held.push((p, 1));
                    }
                    Err(e) => {
                        prop_assert_eq!(e, FrameError::NoMemory);
                        prop_assert_eq!(m.lowest_fit(1, 1), None);
                    }
                },
                Op::Contig { count, align_shift } => {
                    let step = 1usize << align_shift;
                    let res = a.alloc_contiguous(count, step * PAGE_SIZE_4K);
                    if count == 1 && step == 1 {
                        // Same path as `alloc`: any free frame, not necessarily the lowest.
                        if let Ok(p) = res {
                            prop_assert!(m.free_at(frame_of(p)));
                            m.mark(frame_of(p), 1, true);
                            held.push((p, 1));
                        } else {
                            prop_assert_eq!(m.lowest_fit(1, 1), None);
                        }
                        continue;
                    }
                    prop_assert_eq!(res.map(frame_of).ok(), m.lowest_fit(count, step));
                    match res {
                        Ok(p) => {
                            m.mark(frame_of(p), count, true);
                            held.push((p, count));
                        }
                        Err(e) => prop_assert_eq!(e, FrameError::NoMemory),
                    }
                }
                Op::Free(i) => {
                    if held.is_empty() {
                        continue;
                    }
                    let (p, count) = held.swap_remove(i % held.len());
                    prop_assert_eq!(a.dealloc_contiguous(p, count), Ok(()));
                    m.mark(frame_of(p), count, false);
                    // A second free of the same run changes nothing.
                    prop_assert_eq!(a.dealloc_contiguous(p, count), Err(FrameError::DoubleFree));
                }
                Op::Bogus(off) => {
                    let p = pa!(BASE + off);
                    let f = off / PAGE_SIZE_4K;
                    let expected = if off % PAGE_SIZE_4K != 0 {
                        Err(FrameError::NotAligned)
                    } else if !m.usable.get(f).copied().unwrap_or(false) {
                        Err(FrameError::NotManaged)
                    } else if !m.used[f] {
                        Err(FrameError::DoubleFree)
                    } else {
                        continue; // a real allocation: freeing it would be legitimate
                    };
                    prop_assert_eq!(a.dealloc(p), expected);
                }
            }
            prop_assert_eq!(a.stats(), m.stats());
        }
        for (p, count) in held.drain(..) {
            prop_assert_eq!(a.dealloc_contiguous(p, count), Ok(()));
        }
        prop_assert_eq!(a.stats().allocated, 0);
    }
}

#[test]
fn rounding_frame_zero_and_bad_requests() {
    // RAM rounds inwards, reservations outwards, and frame 0 is never handed out.
    let ram = [
        PhysAddrRange::new(pa!(0), pa!(0x5000)),
        PhysAddrRange::new(pa!(0x10_0800), pa!(0x10_4fff)),
    ];
    let reserved = [PhysAddrRange::new(pa!(0x2fff), pa!(0x3001))];
    let mut storage = vec![0u64; FrameAllocator::storage_words(&ram, &reserved).unwrap()];
    let mut a = FrameAllocator::new(&mut storage, &ram, &reserved).unwrap();
    // Usable: frames 1, 4 and 0x101..0x104.
    assert_eq!(a.stats().total, 5);
    let mut usable = Vec::new();
    a.for_each_usable(|r| usable.push((r.start.as_usize(), r.end.as_usize())));
    assert_eq!(
        usable,
        vec![(0x1000, 0x2000), (0x4000, 0x5000), (0x10_1000, 0x10_4000)]
    );
    assert_eq!(a.alloc_contiguous(0, 4096), Err(FrameError::InvalidRequest));
    assert_eq!(
        a.alloc_contiguous(1, 3 * 4096),
        Err(FrameError::InvalidRequest)
    );
    assert_eq!(a.alloc_contiguous(4, 4096), Err(FrameError::NoMemory));
    let run = a.alloc_contiguous(3, 4096).unwrap();
    assert_eq!(run, pa!(0x10_1000));
    assert_eq!(a.is_allocated(pa!(0x10_2000)), Ok(true));
    assert_eq!(
        a.dealloc_contiguous(run, 0),
        Err(FrameError::InvalidRequest)
    );
    // A run reaching past the usable range is foreign as a whole.
    assert_eq!(a.dealloc_contiguous(run, 4), Err(FrameError::NotManaged));
    assert_eq!(a.dealloc(pa!(0)), Err(FrameError::NotManaged));
    assert_eq!(a.dealloc(pa!(0x3000)), Err(FrameError::NotManaged));
    assert_eq!(
        a.dealloc(pa!(usize::MAX & !0xfff)),
        Err(FrameError::NotManaged)
    );
    assert_eq!(
        a.dealloc_contiguous(pa!(0x10_1000), usize::MAX),
        Err(FrameError::NotManaged)
    );
    assert_eq!(a.stats().peak, 3);
    a.dealloc_contiguous(run, 3).unwrap();
    assert_eq!(
        a.stats(),
        FrameStats {
            total: 5,
            free: 5,
            allocated: 0,
            peak: 3
        }
    );
    // Every frame can be taken one at a time, then none.
    let all: Vec<_> = (0..5).map(|_| a.alloc().unwrap()).collect();
    assert_eq!(a.alloc(), Err(FrameError::NoMemory));
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
}

#[test]
fn empty_allocator() {
    let mut a = FrameAllocator::new(&mut [], &[], &[]).unwrap();
    assert_eq!(a.alloc(), Err(FrameError::NoMemory));
    assert_eq!(a.alloc_contiguous(2, 4096), Err(FrameError::NoMemory));
    assert_eq!(a.dealloc(pa!(0x1000)), Err(FrameError::NotManaged));
    assert_eq!(a.stats(), FrameStats::default());
}

/// The only test touching the global allocator (it can be initialized once per process).
#[test]
fn global_allocator_paging_handler_and_heap() {
    const ARENA: usize = 8 << 20;
    assert_eq!(alloc_frame(), Err(FrameError::Uninitialized));
    assert_eq!(frame_stats(), FrameStats::default());
    assert!(!is_initialized());

    let layout = Layout::from_size_align(ARENA, PAGE_SIZE_4K).unwrap();
    // SAFETY: non-zero size; the arena is leaked on purpose (the allocator owns it for good).
    let arena = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!arena.is_null());
    let ram = [PhysAddrRange::from_start_size(pa!(BASE), ARENA)];
    let kernel = [PhysAddrRange::from_start_size(pa!(BASE), 1 << 20)];
    let offset = (arena as usize).wrapping_sub(BASE);
    // SAFETY: the arena is ours, unused and mapped at `pa + offset` for the process lifetime.
    unsafe { init(&ram, &kernel, offset).unwrap() };
    // SAFETY: a second call is rejected before touching anything.
    let again = unsafe { init(&ram, &kernel, offset) };
    assert_eq!(again, Err(FrameError::AlreadyInitialized));
    // 7 MiB of frames, one of which holds the bitmap.
    let total = (7 << 20) / PAGE_SIZE_4K - 1;
    assert_eq!(frame_stats().total, total);

    let f = KernelFrames::alloc_frame().unwrap();
    assert!(f.as_usize() >= BASE + (1 << 20) && f.as_usize() < BASE + ARENA);
    let v = KernelFrames::phys_to_virt(f);
    assert_eq!(virt_to_phys(v), f);
    // SAFETY: `v` maps the frame we own inside the arena.
    unsafe { v.as_mut_ptr().write_bytes(0xab, PAGE_SIZE_4K) };
    // SAFETY: the frame is ours and no longer used.
    unsafe { KernelFrames::dealloc_frame(f) };
    // SAFETY: nothing uses these frames (the bitmap rejects both frees, touching nothing).
    unsafe {
        assert_eq!(dealloc_frame(f), Err(FrameError::DoubleFree));
        assert_eq!(dealloc_frame(pa!(BASE)), Err(FrameError::NotManaged));
    }
    assert_eq!(frame_stats().allocated, 0);

    let run = alloc_frames(16, 64 * 1024).unwrap();
    assert_eq!(run.as_usize() % (64 * 1024), 0);
    // SAFETY: the run is ours and unused.
    unsafe { dealloc_frames(run, 16) }.unwrap();

    // A separable run (a huge page's frames): freed one frame at a time, in any order; never
    // from the heap reserve.
    let run = KernelFrames::alloc_frames_separable(512, 2 << 20).unwrap();
    assert_eq!(run.as_usize() % (2 << 20), 0);
    for i in (0..512).rev() {
        // SAFETY: each frame of the run is ours and unused.
        unsafe { KernelFrames::dealloc_frame(pa!(run.as_usize() + i * PAGE_SIZE_4K)) };
    }
    assert_eq!(frame_stats().allocated, 0);
    set_heap_reserve(frame_stats().free - 512);
    assert_eq!(alloc_user_frames(512, 2 << 20), Err(FrameError::NoMemory));
    set_heap_reserve(0);

    let heap = KernelHeap::new();
    let mut blocks = Vec::new();
    for (i, (size, align)) in [
        (24, 8),
        (100, 16),
        (4096, 4096),
        (300_000, 64),
        (1 << 20, 1 << 16),
    ]
    .into_iter()
    .cycle()
    .take(20)
    .enumerate()
    {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { heap.alloc(l) };
        assert!(!p.is_null(), "heap allocation {i} of {size} failed");
        assert_eq!(p as usize % align, 0);
        let pa = virt_to_phys(memory_addr::VirtAddr::from_mut_ptr_of(p));
        assert!(pa.as_usize() >= BASE + (1 << 20) && pa.as_usize() + size <= BASE + ARENA);
        // SAFETY: the block is ours, `size` bytes.
        unsafe { p.write_bytes(i as u8, size) };
        blocks.push((p, l, i as u8));
    }
    let stats = heap.stats();
    assert!(stats.claimed >= stats.in_use && stats.in_use > 4 << 20);
    assert_eq!(frame_stats().allocated * PAGE_SIZE_4K, stats.claimed);
    for (p, l, tag) in blocks {
        // SAFETY: reading our own block, then freeing it with its layout.
        unsafe {
            assert!(
                std::slice::from_raw_parts(p, l.size())
                    .iter()
                    .all(|b| *b == tag)
            );
            heap.dealloc(p, l);
        }
    }
    assert_eq!(heap.stats().in_use, 0);
    assert!(heap.stats().peak > 4 << 20);
    // Exhaustion returns null instead of panicking.
    // SAFETY: non-zero size.
    let huge = unsafe { heap.alloc(Layout::from_size_align(64 << 20, 8).unwrap()) };
    assert!(huge.is_null());
    // Growing a block far past any memory fails and leaves it as it was.
    let l = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: non-zero size; then our own block, grown with a size whose rounding to the
    // alignment stays below isize::MAX (GlobalAlloc's contract), then freed.
    unsafe {
        let p = heap.alloc(l);
        assert!(!p.is_null());
        p.write_bytes(0x5a, 64);
        for new_size in [isize::MAX as usize - 7, 1 << 62, 64 << 20] {
            assert!(heap.realloc(p, l, new_size).is_null(), "grew to {new_size}");
        }
        assert!(std::slice::from_raw_parts(p, 64).iter().all(|b| *b == 0x5a));
        heap.dealloc(p, l);
    }
    assert_eq!(heap.stats().in_use, 0);
}
