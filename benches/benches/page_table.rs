//! Page-table range operations and random queries: Pagoda's `page_table_multiarch` against
//! crates.io `page_table_multiarch` 0.6.2 (the anchor), plus two lower bounds (a raw PTE-store
//! loop and a naive mapper that descends once per leaf table).
//!
//! Every implementation gets its table frames from the same arena (`pagoda_bench`), maps the
//! same 1 GiB (262144 4K leaves) with the same flags, and never executes a TLB flush: ours is a
//! no-op on the host, the anchor runs with metadata types whose flush is a no-op. Times are
//! CPU time of the benchmark thread ([`CpuTime`]).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode};
use pagoda_bench::report::{self, PTES_PER_GIB};
use pagoda_bench::{CpuTime, FRAME};

#[path = "page_table/anchor.rs"]
mod anchor;
#[path = "page_table/common.rs"]
mod common;

use common::{GIB, OursSv39, OursX64, PA_BASE, Table, VA_BASE, check, pa_of, query_addrs};

/// Random addresses cycled through by the query benchmark.
const QUERIES: usize = 1 << 14;

/// Random queries of `t` (see [`query_addrs`]) as `who` in `group`.
fn bench_query<T: Table>(c: &mut Criterion<CpuTime>, group: &str, who: &str, t: &T, spread: bool) {
    let mut g = c.benchmark_group(group);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    let addrs = query_addrs(QUERIES, spread);
    let sum: usize = addrs.iter().map(|&va| t.query(va) - pa_of(va)).sum();
    assert_eq!(sum, 0, "{who} {group}: query returned wrong addresses");
    let mut i = 0;
    g.bench_function(who, |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            t.query(black_box(addrs[i]))
        })
    });
    g.finish();
}

/// Benchmarks `T` as `who` for paging mode `arch`.
fn bench_table<T: Table>(c: &mut Criterion<CpuTime>, arch: &str, who: &str) {
    check::<T>(&format!("{who} {arch}"));
    let mut g = c.benchmark_group(format!("pt_map_{arch}"));
    g.sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(2000));
    // A fresh table per iteration: the 515 table frames are allocated (and zeroed) inside the
    // timed part; building the root and dropping the table are not timed.
    g.bench_function(who, |b| {
        b.iter_batched(
            T::new,
            |mut t| {
                t.map_gib();
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group(format!("pt_protect_{arch}"));
    g.sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(2000));
    let mut t = T::new();
    t.map_gib();
    let mut write = false;
    g.bench_function(who, |b| {
        b.iter(|| {
            t.protect_gib(write);
            write = !write;
        })
    });
    g.finish();

    bench_query(c, &format!("pt_query_{arch}"), who, &t, false);
    drop(t);
    // A random gigabyte each query: what a cache of the last walk would miss.
    let mut t = T::new();
    t.map_spread();
    bench_query(c, &format!("pt_query_spread_{arch}"), who, &t, true);
    drop(t);

    let mut g = c.benchmark_group(format!("pt_unmap_{arch}"));
    g.sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(2000));
    g.bench_function(who, |b| {
        b.iter_batched(
            || {
                let mut t = T::new();
                t.map_gib();
                t
            },
            |mut t| {
                t.unmap_gib();
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// A naive x86-64 4-level mapper: descends from the root once per leaf table, then stores 512
/// leaves in a loop. What a range mapper costs with no per-page walk and no checks.
struct Naive {
    root: usize,
}

impl Naive {
    fn new() -> Self {
        Self {
            root: Self::alloc_table(),
        }
    }

    fn alloc_table() -> usize {
        let frame = pagoda_bench::alloc_frame().expect("frame");
        // SAFETY: the arena gives exclusive use of a writable 4K frame at this address.
        unsafe { std::ptr::write_bytes(frame as *mut u8, 0, FRAME) };
        frame
    }

    /// Entry `idx` of the table at `table`, created as a table if empty.
    ///
    /// # Safety
    /// `table` is a live table of this mapper and `idx < 512`.
    unsafe fn next(table: usize, idx: usize) -> usize {
        // SAFETY: per the contract, the entry lies inside a live table frame.
        let e = unsafe { &mut *(table as *mut u64).add(idx) };
        if *e == 0 {
            *e = Self::alloc_table() as u64 | 0x3;
        }
        (*e & 0x000f_ffff_ffff_f000) as usize
    }

    fn map_gib(&mut self) {
        let mut va = VA_BASE;
        while va < VA_BASE + GIB {
            // SAFETY: every table reached is live; each index is masked to 9 bits.
            let leaf = unsafe {
                let l3 = Self::next(self.root, (va >> 39) & 511);
                let l2 = Self::next(l3, (va >> 30) & 511);
                Self::next(l2, (va >> 21) & 511) as *mut u64
            };
            let mut pa = pa_of(va);
            for i in 0..512 {
                // SAFETY: `leaf` is a live 512-entry table.
                unsafe { leaf.add(i).write((pa | 0x3) as u64) };
                pa += FRAME;
            }
            va += 512 * FRAME;
        }
    }

    fn free(table: usize, level: usize) {
        if level > 0 {
            for i in 0..512 {
                // SAFETY: `table` is a live table frame of this mapper.
                let e = unsafe { (table as *const u64).add(i).read() };
                if e != 0 {
                    Self::free((e & 0x000f_ffff_ffff_f000) as usize, level - 1);
                }
            }
        }
        pagoda_bench::dealloc_frame(table);
    }
}

impl Drop for Naive {
    fn drop(&mut self) {
        Self::free(self.root, 3);
    }
}

fn bench_bounds(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("pt_bound");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    let mut ptes = vec![0u64; PTES_PER_GIB];
    g.bench_function("raw_store", |b| {
        b.iter(|| {
            let base = black_box(PA_BASE) as u64;
            for (i, e) in ptes.iter_mut().enumerate() {
                *e = (base + (i * FRAME) as u64) | 0x3;
            }
            black_box(&mut ptes);
        })
    });
    g.bench_function("leaf_walk", |b| {
        b.iter_batched(
            Naive::new,
            |mut t| {
                t.map_gib();
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The arceos 0.6.2 cursor layer (`PageTable64::cursor()`) against Pagoda's direct API on
/// the same operations: 1 GiB `map_region`, and 512 single-page map + unmap pairs (one leaf
/// table). The cursor should cost nothing extra: it only collects the flushes in one batch.
fn bench_cursor(c: &mut Criterion<CpuTime>) {
    use memory_addr::{PhysAddr, VirtAddr};
    use page_table_multiarch::{MappingFlags, PageSize};
    const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
    let va = VirtAddr::from_usize;
    let pa = |v: VirtAddr| PhysAddr::from_usize(pa_of(v.as_usize()));

    let mut g = c.benchmark_group("pt_cursor_map_gib_x86_64");
    g.sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(2000));
    g.bench_function("direct", |b| {
        b.iter_batched(
            <OursX64 as Table>::new,
            |mut t| {
                t.map_region(va(VA_BASE), pa, GIB, RW, PageSize::Size4K)
                    .expect("map_region")
                    .flush();
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("cursor", |b| {
        b.iter_batched(
            <OursX64 as Table>::new,
            |mut t| {
                t.cursor()
                    .map_region(va(VA_BASE), pa, GIB, RW, false)
                    .expect("map_region");
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("pt_cursor_map_unmap_4k_x512_x86_64");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    let mut t = <OursX64 as Table>::new();
    // Keep the leaf table alive between iterations (one page stays mapped).
    t.map(
        va(VA_BASE + 0x20_0000 - FRAME),
        PhysAddr::from_usize(PA_BASE),
        PageSize::Size4K,
        RW,
    )
    .expect("map")
    .flush();
    g.bench_function("direct", |b| {
        b.iter(|| {
            for i in 0..511 {
                let v = va(VA_BASE + i * FRAME);
                t.map(v, pa(v), PageSize::Size4K, RW).expect("map").flush();
            }
            for i in 0..511 {
                t.unmap(va(VA_BASE + i * FRAME)).expect("unmap").3.flush();
            }
        })
    });
    g.bench_function("cursor", |b| {
        b.iter(|| {
            let mut cur = t.cursor();
            for i in 0..511 {
                let v = va(VA_BASE + i * FRAME);
                cur.map(v, pa(v), PageSize::Size4K, RW).expect("map");
            }
            for i in 0..511 {
                cur.unmap(va(VA_BASE + i * FRAME)).expect("unmap");
            }
        })
    });
    let mut a = <anchor::X64 as Table>::new();
    g.bench_function("anchor_cursor", |b| {
        use anchor_memory_addr::{PhysAddr as APa, VirtAddr as AVa};
        use anchor_page_table_multiarch::{MappingFlags as AF, PageSize as APs};
        b.iter(|| {
            let mut cur = a.cursor();
            for i in 0..511 {
                let v = VA_BASE + i * FRAME;
                cur.map(
                    AVa::from(v),
                    APa::from(pa_of(v)),
                    APs::Size4K,
                    AF::READ | AF::WRITE,
                )
                .expect("map");
            }
            for i in 0..511 {
                cur.unmap(AVa::from(VA_BASE + i * FRAME)).expect("unmap");
            }
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .with_measurement(CpuTime)
        .configure_from_args();
    bench_bounds(&mut c);
    bench_cursor(&mut c);
    bench_table::<OursX64>(&mut c, "x86_64", "ours");
    bench_table::<anchor::X64>(&mut c, "x86_64", "anchor");
    bench_table::<OursSv39>(&mut c, "sv39", "ours");
    bench_table::<anchor::Sv39>(&mut c, "sv39", "anchor");
    c.final_summary();
    report::print_section(report::Section::PageTable);
}
