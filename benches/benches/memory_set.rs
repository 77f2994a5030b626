//! `MemorySet` with n = 1k, 10k, 100k areas: Pagoda's `memory_set` against crates.io
//! `memory_set` 0.4.1 (the anchor).
//!
//! Both sets use a backend that only counts bytes in a `u64` "page table", so the numbers are
//! the cost of the set itself. Layout: area i is `[BASE + 4i pages, +3 pages)` (3 pages so the
//! middle page can be split off, 1-page gaps). Every operation picks a random area and leaves
//! the set exactly as it found it (restoring with an untimed "map with replace" where needed),
//! so every iteration sees the same n. Single operations are timed with `Instant` pairs; the
//! pair's own cost is reported as `ms_timer/instant_pair`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use pagoda_bench::Rng;
use pagoda_bench::report::{self, SET_OPS, SET_SIZES};

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

/// Times `f` alone.
fn timed(f: impl FnOnce()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

/// Runs `iters` iterations of operation `op` (a `SET_OPS` group name) on `set` of `n` areas and
/// returns the time of the timed parts.
fn run<S: Set>(op: &str, set: &mut S, n: usize, iters: u64, rng: &mut Rng) -> Duration {
    let mut total = Duration::ZERO;
    match op {
        "ms_find" => {
            let span = 4 * P * n;
            let t0 = Instant::now();
            for _ in 0..iters {
                black_box(set.find(BASE + rng.below(span)));
            }
            return t0.elapsed();
        }
        "ms_map_end" => {
            // Timed in batches of n/10 fresh areas past the end, each batch removed untimed
            // by one unmap (the set drifts between n and 1.1 n areas).
            let batch = (n / 10) as u64;
            let mut left = iters;
            while left > 0 {
                let k = left.min(batch) as usize;
                total += timed(|| {
                    (0..k).for_each(|j| set.map(area(n + j), P, false));
                });
                set.unmap(area(n), area(n + k) - area(n));
                left -= k as u64;
            }
            return total;
        }
        _ => {}
    }
    for _ in 0..iters {
        let s = area(rng.below(n));
        let mid = s + P;
        match op {
            "ms_unmap_split" => {
                total += timed(|| set.unmap(mid, P));
                set.map(s, 3 * P, true);
            }
            "ms_remap" => {
                set.unmap(mid, P);
                total += timed(|| set.map(s, 3 * P, true));
            }
            "ms_protect_split" => {
                total += timed(|| set.protect(mid, P, RO));
                set.map(s, 3 * P, true);
            }
            "ms_protect_back" => {
                set.protect(mid, P, RO);
                total += timed(|| set.protect(mid, P, RW));
                set.map(s, 3 * P, true);
            }
            "ms_map_replace" => total += timed(|| set.map(s, 3 * P, true)),
            _ => unreachable!("unknown op {op}"),
        }
    }
    total
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .nresamples(10_000)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700))
        .configure_from_args();

    let mut ours: Vec<Ours> = SET_SIZES.iter().map(|&n| Ours::with_areas(n)).collect();
    let mut anchor: Vec<Anchor> = SET_SIZES.iter().map(|&n| Anchor::with_areas(n)).collect();
    let mut rng = Rng::new(0xa5ea);

    for (op, _, _) in SET_OPS {
        let mut g = c.benchmark_group(op);
        g.sampling_mode(SamplingMode::Flat);
        for (k, &n) in SET_SIZES.iter().enumerate() {
            let set = &mut ours[k];
            g.bench_function(BenchmarkId::new("ours", n), |b| {
                b.iter_custom(|iters| run(op, set, n, iters, &mut rng))
            });
            assert_eq!(set.len(), n, "ours: {op} did not restore the set");
            let set = &mut anchor[k];
            g.bench_function(BenchmarkId::new("anchor", n), |b| {
                b.iter_custom(|iters| run(op, set, n, iters, &mut rng))
            });
            assert_eq!(set.len(), n, "anchor: {op} did not restore the set");
        }
        g.finish();
    }

    let mut g = c.benchmark_group("ms_timer");
    g.bench_function("instant_pair", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| timed(|| ())).sum())
    });
    g.finish();

    c.final_summary();
    report::print_section(report::Section::MemorySet);
}
