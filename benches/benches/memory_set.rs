//! `MemorySet` with n = 1k, 10k, 100k areas: Pagoda's `memory_set` against crates.io
//! `memory_set` 0.4.1 (the anchor).
//!
//! Both sets use a backend that only counts bytes in a `u64` "page table", so the numbers are
//! the cost of the set itself. Layout: area i is `[BASE + 4i pages, +3 pages)` (3 pages so the
//! middle page can be split off, 1-page gaps). Every operation picks a random area and leaves
//! the set exactly as it found it (restoring with an untimed "map with replace" where needed),
//! so every iteration sees the same n. Operations are timed in blocks of up to 64 (distinct
//! areas), in CPU time of the benchmark thread ([`CpuTime`]).
//!
//! The adversarial free-area rows (Pagoda, the anchor and the host Linux kernel) are in
//! [`gap`]; they run first and print their own table.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use pagoda_bench::report::{self, SET_OPS, SET_SIZES};
use pagoda_bench::{CpuTime, Rng, thread_cpu_time};

#[path = "memory_set/gap.rs"]
mod gap;

const P: usize = 0x1000;
const BASE: usize = 0x1000_0000;
const RW: u32 = 0b11;
const RO: u32 = 0b01;

/// Start of area `i`.
fn area(i: usize) -> usize {
    BASE + i * 4 * P
}

/// A backend with no per-page state that counts the bytes it is asked to change.
#[derive(Clone)]
struct Count;

impl memory_set::MappingBackend for Count {
    type Addr = memory_addr::VirtAddr;
    type Flags = u32;
    type PageTable = u64;
    fn map(
        &mut self,
        _start: Self::Addr,
        size: usize,
        _flags: u32,
        pt: &mut u64,
    ) -> memory_set::MappingResult {
        *pt += size as u64;
        Ok(())
    }
    fn unmap(
        &mut self,
        _start: Self::Addr,
        size: usize,
        pt: &mut u64,
    ) -> memory_set::MappingResult {
        *pt += size as u64;
        Ok(())
    }
    fn protect(
        &mut self,
        _start: Self::Addr,
        size: usize,
        _new_flags: u32,
        pt: &mut u64,
    ) -> memory_set::MappingResult {
        *pt += size as u64;
        Ok(())
    }
    fn split(&mut self, _start: Self::Addr, _at: Self::Addr) -> Self {
        Count
    }
    fn shrink_front(&mut self, _old_start: Self::Addr, _new_start: Self::Addr) {}
    fn shrink_back(&mut self, _start: Self::Addr, _new_end: Self::Addr) {}
}

impl anchor_memory_set::MappingBackend for Count {
    type Addr = anchor_memory_addr::VirtAddr;
    type Flags = u32;
    type PageTable = u64;
    fn map(&self, _start: Self::Addr, size: usize, _flags: u32, pt: &mut u64) -> bool {
        *pt += size as u64;
        true
    }
    fn unmap(&self, _start: Self::Addr, size: usize, pt: &mut u64) -> bool {
        *pt += size as u64;
        true
    }
    fn protect(&self, _start: Self::Addr, size: usize, _new_flags: u32, pt: &mut u64) -> bool {
        *pt += size as u64;
        true
    }
}

/// The operations benchmarked, on either implementation.
trait Set {
    fn with_areas(n: usize) -> Self;
    fn map(&mut self, start: usize, size: usize, replace: bool);
    fn unmap(&mut self, start: usize, size: usize);
    fn protect(&mut self, start: usize, size: usize, flags: u32);
    fn find(&self, addr: usize) -> bool;
    fn len(&self) -> usize;
}

struct Ours(memory_set::MemorySet<Count>, u64);

impl Set for Ours {
    fn with_areas(n: usize) -> Self {
        let mut s = Self(memory_set::MemorySet::new(), 0);
        (0..n).for_each(|i| s.map(area(i), 3 * P, false));
        s
    }
    fn map(&mut self, start: usize, size: usize, replace: bool) {
        use memory_set::OnOverlap;
        let a =
            memory_set::MemoryArea::new(memory_addr::VirtAddr::from_usize(start), size, RW, Count);
        let on = if replace {
            OnOverlap::Replace
        } else {
            OnOverlap::Fail
        };
        self.0.map(a, &mut self.1, on).expect("map");
    }
    fn unmap(&mut self, start: usize, size: usize) {
        let start = memory_addr::VirtAddr::from_usize(start);
        self.0.unmap(start, size, &mut self.1).expect("unmap");
    }
    fn protect(&mut self, start: usize, size: usize, flags: u32) {
        let start = memory_addr::VirtAddr::from_usize(start);
        self.0
            .protect(start, size, |_| Some(flags), &mut self.1)
            .expect("protect");
    }
    fn find(&self, addr: usize) -> bool {
        self.0
            .find(memory_addr::VirtAddr::from_usize(addr))
            .is_some()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct Anchor(anchor_memory_set::MemorySet<Count>, u64);

impl Set for Anchor {
    fn with_areas(n: usize) -> Self {
        let mut s = Self(anchor_memory_set::MemorySet::new(), 0);
        (0..n).for_each(|i| s.map(area(i), 3 * P, false));
        s
    }
    fn map(&mut self, start: usize, size: usize, replace: bool) {
        let start = anchor_memory_addr::VirtAddr::from_usize(start);
        let a = anchor_memory_set::MemoryArea::new(start, size, RW, Count);
        self.0.map(a, &mut self.1, replace).expect("map");
    }
    fn unmap(&mut self, start: usize, size: usize) {
        let start = anchor_memory_addr::VirtAddr::from_usize(start);
        self.0.unmap(start, size, &mut self.1).expect("unmap");
    }
    fn protect(&mut self, start: usize, size: usize, flags: u32) {
        let start = anchor_memory_addr::VirtAddr::from_usize(start);
        self.0
            .protect(start, size, |_| Some(flags), &mut self.1)
            .expect("protect");
    }
    fn find(&self, addr: usize) -> bool {
        self.0
            .find(anchor_memory_addr::VirtAddr::from_usize(addr))
            .is_some()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// CPU time of `f` alone.
fn timed(f: impl FnOnce()) -> Duration {
    let t0 = thread_cpu_time();
    f();
    thread_cpu_time() - t0
}

/// Areas touched per timed block: enough to make the clock's cost negligible.
const BLOCK: usize = 64;

/// Runs `iters` iterations of operation `op` (a `SET_OPS` group name) on `set` of `n` areas and
/// returns the CPU time of the timed parts.
fn run<S: Set>(op: &str, set: &mut S, n: usize, iters: u64, rng: &mut Rng) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    if op == "ms_find" {
        let span = 4 * P * n;
        return timed(|| {
            for _ in 0..left {
                black_box(set.find(BASE + rng.below(span)));
            }
        });
    }
    if op == "ms_map_end" {
        // Blocks of up to n/10 fresh areas past the end, each block removed untimed by one
        // unmap (the set drifts between n and 1.1 n areas).
        while left > 0 {
            let k = left.min(n / 10);
            total += timed(|| (0..k).for_each(|j| set.map(area(n + j), P, false)));
            set.unmap(area(n), area(n + k) - area(n));
            left -= k;
        }
        return total;
    }
    while left > 0 {
        // k distinct areas, spread over the set from a random start.
        let k = left.min(BLOCK);
        let (first, stride) = (rng.below(n), n / k);
        let starts = || (0..k).map(move |j| area((first + j * stride) % n));
        let restore = |set: &mut S| starts().for_each(|s| set.map(s, 3 * P, true));
        match op {
            "ms_unmap_split" => {
                total += timed(|| starts().for_each(|s| set.unmap(s + P, P)));
                restore(set);
            }
            "ms_remap" => {
                starts().for_each(|s| set.unmap(s + P, P));
                total += timed(|| restore(set));
            }
            "ms_protect_split" => {
                total += timed(|| starts().for_each(|s| set.protect(s + P, P, RO)));
                restore(set);
            }
            "ms_protect_back" => {
                starts().for_each(|s| set.protect(s + P, P, RO));
                total += timed(|| starts().for_each(|s| set.protect(s + P, P, RW)));
                restore(set);
            }
            "ms_map_replace" => total += timed(|| restore(set)),
            _ => unreachable!("unknown op {op}"),
        }
        left -= k;
    }
    total
}

/// Checks that the operations change the shape of the set as the benchmarks assume (a middle
/// unmap or protect really splits, the re-map restores one area).
fn check_shapes<S: Set>(set: &mut S, n: usize) {
    let s = area(n / 2);
    set.unmap(s + P, P);
    assert_eq!(set.len(), n + 1, "unmap of the middle page splits");
    assert!(!set.find(s + P) && set.find(s) && set.find(s + 2 * P));
    set.map(s, 3 * P, true);
    assert_eq!(set.len(), n, "map with replace restores one area");
    set.protect(s + P, P, RO);
    assert_eq!(
        set.len(),
        n + 2,
        "protect of the middle page splits in three"
    );
    set.map(s, 3 * P, true);
    assert_eq!(set.len(), n);
    assert!(!set.find(s + 3 * P), "gap");
}

fn main() {
    gap::ir_mode();
    // Before criterion starts: the Linux rows fork.
    let gap_table = gap::table(&SET_SIZES);

    let mut c = Criterion::default()
        .with_measurement(CpuTime)
        .sample_size(10)
        .nresamples(10_000)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700))
        .configure_from_args();

    let mut ours: Vec<Ours> = SET_SIZES.iter().map(|&n| Ours::with_areas(n)).collect();
    let mut anchor: Vec<Anchor> = SET_SIZES.iter().map(|&n| Anchor::with_areas(n)).collect();
    for (k, &n) in SET_SIZES.iter().enumerate() {
        check_shapes(&mut ours[k], n);
        check_shapes(&mut anchor[k], n);
    }

    for (g_idx, (op, _, _)) in SET_OPS.into_iter().enumerate() {
        let mut g = c.benchmark_group(op);
        g.sampling_mode(SamplingMode::Flat);
        if matches!(op, "ms_find" | "ms_map_end") {
            // Cheap operations compared with "no slower than": more samples against noise.
            g.sample_size(30)
                .measurement_time(Duration::from_millis(1500));
        }
        for (k, &n) in SET_SIZES.iter().enumerate() {
            // Both implementations see the same sequence of areas and addresses.
            let seed = 0xa5ea_0000 ^ ((g_idx as u64) << 40) ^ n as u64;
            let set = &mut ours[k];
            g.bench_function(BenchmarkId::new("ours", n), |b| {
                let mut rng = Rng::new(seed);
                b.iter_custom(|iters| run(op, set, n, iters, &mut rng))
            });
            assert_eq!(set.len(), n, "ours: {op} did not restore the set");
            let set = &mut anchor[k];
            g.bench_function(BenchmarkId::new("anchor", n), |b| {
                let mut rng = Rng::new(seed);
                b.iter_custom(|iters| run(op, set, n, iters, &mut rng))
            });
            assert_eq!(set.len(), n, "anchor: {op} did not restore the set");
        }
        g.finish();
    }

    c.final_summary();
    report::print_section(report::Section::MemorySet);
    println!("{gap_table}");
}
