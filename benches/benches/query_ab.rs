//! Random `query` time, ours against the anchor, measured A/B: both tables are built first
//! and stay alive, then blocks of queries alternate between them many times and each side
//! keeps its fastest block. On a shared machine a neighbour slows whichever block it hits;
//! the fastest of many interleaved blocks is what the code costs, and both sides see the
//! same machine state (`cargo bench -p pagoda-bench --bench query_ab`).

use std::hint::black_box;
use std::time::Instant;

#[path = "page_table/anchor.rs"]
mod anchor;
#[path = "page_table/common.rs"]
mod common;

use common::{OursSv39, OursX64, Table, check, pa_of, query_addrs};

/// Queries per timed block, and blocks per side.
const BLOCK: usize = 1 << 14;
const BLOCKS: usize = 400;

/// Nanoseconds per query of the fastest block of `t` over `addrs`.
fn block<T: Table>(t: &T, addrs: &[usize]) -> f64 {
    let start = Instant::now();
    let mut sum = 0usize;
    for &va in addrs {
        sum = sum.wrapping_add(t.query(black_box(va)));
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / addrs.len() as f64
}

/// Fastest-block ns per query of ours and of the anchor, interleaved; once with each side's
/// table built first, so that neither always gets the same frames of the arena. With
/// `spread`, the queries go to the pages of `Table::map_spread`, a random gigabyte each
/// (what a cache of the last walk would miss), instead of the mapped gigabyte.
fn ab<A: Table, B: Table>(spread: bool) -> (f64, f64) {
    check::<A>("ours");
    check::<B>("anchor");
    let (a1, b1) = ab_built::<A, B>(true, spread);
    let (a2, b2) = ab_built::<A, B>(false, spread);
    (a1.min(a2), b1.min(b2))
}

fn build<T: Table>(spread: bool) -> T {
    let mut t = T::new();
    if spread {
        t.map_spread();
    } else {
        t.map_gib();
    }
    t
}

fn ab_built<A: Table, B: Table>(a_first: bool, spread: bool) -> (f64, f64) {
    let (a, b): (A, B) = if a_first {
        let a = build(spread);
        (a, build(spread))
    } else {
        let b = build(spread);
        (build(spread), b)
    };
    let addrs = query_addrs(BLOCK, spread);
    for &va in &addrs {
        assert_eq!(a.query(va), pa_of(va), "ours: wrong translation");
        assert_eq!(b.query(va), pa_of(va), "anchor: wrong translation");
    }
    let (mut best_a, mut best_b) = (f64::MAX, f64::MAX);
    for i in 0..BLOCKS {
        // Alternate which side goes first, so neither always follows the other's cache state.
        if i % 2 == 0 {
            best_a = best_a.min(block(&a, &addrs));
            best_b = best_b.min(block(&b, &addrs));
        } else {
            best_b = best_b.min(block(&b, &addrs));
            best_a = best_a.min(block(&a, &addrs));
        }
    }
    (best_a, best_b)
}

fn main() {
    println!(
        "| random query, fastest of {BLOCKS} interleaved blocks | ours | anchor 0.6.2 | anchor / ours |"
    );
    println!("|---|---:|---:|---:|");
    for (mode, (ours, anchor)) in [
        ("x86-64 4-level", ab::<OursX64, anchor::X64>(false)),
        ("Sv39", ab::<OursSv39, anchor::Sv39>(false)),
        (
            "x86-64 4-level, 64 GiB apart",
            ab::<OursX64, anchor::X64>(true),
        ),
        ("Sv39, 64 GiB apart", ab::<OursSv39, anchor::Sv39>(true)),
    ] {
        println!(
            "| {mode} | {ours:.2} ns | {anchor:.2} ns | {:.2}× |",
            anchor / ours
        );
    }
}
