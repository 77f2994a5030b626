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
use pagoda_bench::{CpuTime, FRAME, Rng};

#[path = "page_table/anchor.rs"]
mod anchor;

const GIB: usize = 1 << 30;
/// Start of the mapped gigabyte: 1 GiB-aligned, in the lower half of Sv39 and x86-64.
const VA_BASE: usize = 0x10_0000_0000;
/// Physical address of the first leaf (leaves are never accessed).
const PA_BASE: usize = 0x8000_0000;
/// Random addresses cycled through by the query benchmark.
const QUERIES: usize = 1 << 14;

/// The frame handler of every page table here: the shared arena, identity-mapped.
pub struct Frames;

// SAFETY: the arena hands out distinct 4K-aligned 4K host allocations that stay valid for the
// whole process; with `phys_to_virt` as the identity, every frame is writable through it.
unsafe impl page_table_multiarch::PagingHandler for Frames {
    fn alloc_frame() -> Option<memory_addr::PhysAddr> {
        pagoda_bench::alloc_frame().map(memory_addr::PhysAddr::from_usize)
    }
    unsafe fn dealloc_frame(paddr: memory_addr::PhysAddr) {
        pagoda_bench::dealloc_frame(paddr.as_usize());
    }
    fn phys_to_virt(paddr: memory_addr::PhysAddr) -> memory_addr::VirtAddr {
        memory_addr::VirtAddr::from_usize(paddr.as_usize())
    }
}

/// One page-table implementation, reduced to what the benchmarks do.
trait Table: Sized {
    fn new() -> Self;
    /// Maps `[VA_BASE, VA_BASE + 1 GiB)` with 4K leaves, read+write.
    fn map_gib(&mut self);
    /// Unmaps the gigabyte.
    fn unmap_gib(&mut self);
    /// Makes the gigabyte read-only (`false`) or read+write (`true`).
    fn protect_gib(&mut self, write: bool);
    /// The physical address `va` translates to.
    fn query(&self, va: usize) -> usize;
    /// Whether `va` is mapped, and if so whether writable (for the sanity check).
    fn probe(&self, va: usize) -> Option<bool>;
}

/// Checks that the operations do what the benchmarks assume, on a throwaway table.
fn check<T: Table>(who: &str) {
    let mut t = T::new();
    let (first, last) = (VA_BASE, VA_BASE + GIB - FRAME);
    t.map_gib();
    assert_eq!(t.query(last + 8), pa_of(last) + 8, "{who}: map");
    assert_eq!(t.probe(first), Some(true), "{who}: map flags");
    t.protect_gib(false);
    assert_eq!(
        (t.probe(first), t.probe(last)),
        (Some(false), Some(false)),
        "{who}: protect"
    );
    t.unmap_gib();
    assert_eq!(
        (t.probe(first), t.probe(last)),
        (None, None),
        "{who}: unmap"
    );
}

/// Frame of the page at `va` (huge leaves can never be chosen: `PA_BASE` and `VA_BASE` agree
/// on 2M alignment, but both sides are asked for 4K leaves explicitly anyway).
fn pa_of(va: usize) -> usize {
    PA_BASE + (va - VA_BASE)
}

type OursX64 = page_table_multiarch::x86_64::X64PageTable<Frames>;
type OursSv39 = page_table_multiarch::riscv::Sv39PageTable<Frames>;

macro_rules! impl_ours {
    ($ty:ty) => {
        impl Table for $ty {
            fn new() -> Self {
                Self::try_new().expect("root frame")
            }
            fn map_gib(&mut self) {
                use memory_addr::{PhysAddr, VirtAddr};
                use page_table_multiarch::{MappingFlags, PageSize};
                self.map_region(
                    VirtAddr::from_usize(VA_BASE),
                    |va: VirtAddr| PhysAddr::from_usize(pa_of(va.as_usize())),
                    GIB,
                    MappingFlags::READ | MappingFlags::WRITE,
                    PageSize::Size4K,
                )
                .expect("map_region")
                .ignore();
            }
            fn unmap_gib(&mut self) {
                let (_, batch) = self
                    .unmap_region(memory_addr::VirtAddr::from_usize(VA_BASE), GIB)
                    .expect("unmap_region");
                batch.ignore();
            }
            fn protect_gib(&mut self, write: bool) {
                use page_table_multiarch::MappingFlags;
                let flags = if write {
                    MappingFlags::READ | MappingFlags::WRITE
                } else {
                    MappingFlags::READ
                };
                self.protect_region(memory_addr::VirtAddr::from_usize(VA_BASE), GIB, flags)
                    .expect("protect_region")
                    .ignore();
            }
            fn query(&self, va: usize) -> usize {
                let (pa, _, _) =
                    <$ty>::query(self, memory_addr::VirtAddr::from_usize(va)).expect("query");
                pa.as_usize()
            }
            fn probe(&self, va: usize) -> Option<bool> {
                let (_, flags, _) =
                    <$ty>::query(self, memory_addr::VirtAddr::from_usize(va)).ok()?;
                Some(flags.contains(page_table_multiarch::MappingFlags::WRITE))
            }
        }
    };
}
impl_ours!(OursX64);
impl_ours!(OursSv39);

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

    let mut g = c.benchmark_group(format!("pt_query_{arch}"));
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    let mut rng = Rng::new(0x5eed);
    let addrs: Vec<usize> = (0..QUERIES)
        .map(|_| VA_BASE + rng.below(GIB / 8) * 8)
        .collect();
    let sum: usize = addrs.iter().map(|&va| t.query(va) - pa_of(va)).sum();
    assert_eq!(sum, 0, "{who} {arch}: query returned wrong addresses");
    let mut i = 0;
    g.bench_function(who, |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            t.query(black_box(addrs[i]))
        })
    });
    g.finish();
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

fn main() {
    let mut c = Criterion::default()
        .with_measurement(CpuTime)
        .configure_from_args();
    bench_bounds(&mut c);
    bench_table::<OursX64>(&mut c, "x86_64", "ours");
    bench_table::<anchor::X64>(&mut c, "x86_64", "anchor");
    bench_table::<OursSv39>(&mut c, "sv39", "ours");
    bench_table::<anchor::Sv39>(&mut c, "sv39", "anchor");
    c.final_summary();
    report::print_section(report::Section::PageTable);
}
