//! Instructions per PTE of the page-table range operations and per random query, counted by
//! `valgrind --tool=callgrind`, ours beside the anchor (crates.io `page_table_multiarch` 0.6.2)
//! for every paging mode. Instruction counts do not depend on the machine's load, so these
//! figures are stable where times are not (`make bench-ir`).
//!
//! Run without arguments (as `cargo bench --bench page_table_ir` does), the binary runs itself
//! once per (mode, implementation, operation) under callgrind with `--collect-atstart=no
//! --toggle-collect=pagoda_ir_measured`: only the instructions inside [`pagoda_ir_measured`]
//! count, i.e. one operation over 1 GiB of 4K leaves (table set-up, process start and the
//! checks stay outside). `map` starts from a fresh table, so it includes allocating and
//! zeroing the 515 table frames, as in the criterion benchmark. Queries: `QUERIES` random
//! addresses, minus the same loop over a trivial function (the loop's own instructions).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use pagoda_bench::FRAME;
use pagoda_bench::report::PTES_PER_GIB;

#[path = "page_table/anchor.rs"]
mod anchor;
#[path = "page_table/common.rs"]
mod common;

use common::{OursA64, OursLA64, OursSv39, OursSv48, OursX64, Table, check, query_addrs};

/// Random queries per measurement.
const QUERIES: usize = 1 << 14;

/// The operations measured, with the unit they are divided by and our goal per unit.
/// `query_spread` (a random gigabyte each query: what a cache of the last walk would miss)
/// has no goal (`NAN`).
const OPS: [(&str, &str, f64); 5] = [
    ("map", "map_region", 8.0),
    ("protect", "protect_region", 5.0),
    ("unmap", "unmap_region", 4.0),
    ("query", "query (random)", 25.0),
    ("query_spread", "query (random, 64 GiB apart)", f64::NAN),
];
/// Paging modes: argument name, display name.
const MODES: [(&str, &str); 5] = [
    ("x86_64", "x86-64 4-level"),
    ("sv39", "Sv39"),
    ("sv48", "Sv48"),
    ("aarch64", "AArch64"),
    ("loongarch64", "LoongArch64"),
];

/// The measured region: callgrind counts exactly the instructions executed between entering
/// and leaving this function (`--toggle-collect`). Never inlined, unmangled so that the
/// name is known.
#[inline(never)]
#[unsafe(no_mangle)]
pub fn pagoda_ir_measured(f: &mut dyn FnMut()) {
    f();
}

/// Child side: sets up `T` for `op` and runs it once inside [`pagoda_ir_measured`].
fn run_child<T: Table>(op: &str) {
    let mut t = T::new();
    let spread = op.starts_with("query_spread");
    match op {
        "map" => {}
        _ if spread => t.map_spread(),
        _ => t.map_gib(),
    }
    match op {
        "map" => pagoda_ir_measured(&mut || t.map_gib()),
        "protect" => pagoda_ir_measured(&mut || t.protect_gib(false)),
        "unmap" => pagoda_ir_measured(&mut || t.unmap_gib()),
        "query" | "query_base" | "query_spread" | "query_spread_base" => {
            let addrs = query_addrs(QUERIES, spread);
            let mut sum = 0usize;
            // Two loops, not one that tests which it is per query: the test
            // and the block layout it forces would count against the query.
            if !op.ends_with("_base") {
                pagoda_ir_measured(&mut || sum = query_loop::<T, false>(&t, &addrs));
            } else {
                pagoda_ir_measured(&mut || sum = query_loop::<T, true>(&t, &addrs));
            }
            black_box(sum);
        }
        "store" => {
            // The bound: one store of a computed PTE per entry, into a table-sized buffer.
            let mut ptes = vec![0u64; PTES_PER_GIB];
            pagoda_ir_measured(&mut || {
                let base = black_box(0x8000_0000u64);
                for (i, e) in ptes.iter_mut().enumerate() {
                    *e = (base + (i * FRAME) as u64) | 0x3;
                }
                black_box(&mut ptes);
            });
        }
        _ => panic!("unknown operation {op}"),
    }
    black_box(&t);
}

/// The sum of `t.query(va)` over `addrs`; with `BASE` the same loop without
/// the queries (the address load, `black_box` and the sum stay).
#[inline(always)]
fn query_loop<T: Table, const BASE: bool>(t: &T, addrs: &[usize]) -> usize {
    let mut sum = 0usize;
    for &va in addrs {
        sum = sum.wrapping_add(if BASE {
            black_box(va)
        } else {
            t.query(black_box(va))
        });
    }
    sum
}

/// Dispatches `f::<T>` for the table of `who` (`ours`/`anchor`) in `mode`.
macro_rules! with_table {
    ($who:expr, $mode:expr, $f:ident ( $($arg:expr),* )) => {
        match ($who, $mode) {
            ("ours", "x86_64") => $f::<OursX64>($($arg),*),
            ("ours", "sv39") => $f::<OursSv39>($($arg),*),
            ("ours", "sv48") => $f::<OursSv48>($($arg),*),
            ("ours", "aarch64") => $f::<OursA64>($($arg),*),
            ("ours", "loongarch64") => $f::<OursLA64>($($arg),*),
            ("anchor", "x86_64") => $f::<anchor::X64>($($arg),*),
            ("anchor", "sv39") => $f::<anchor::Sv39>($($arg),*),
            ("anchor", "sv48") => $f::<anchor::Sv48>($($arg),*),
            ("anchor", "aarch64") => $f::<anchor::A64>($($arg),*),
            ("anchor", "loongarch64") => $f::<anchor::LA64>($($arg),*),
            (w, m) => panic!("unknown table {w} {m}"),
        }
    };
}

/// Runs the child `who mode op` under callgrind; returns the instructions it counted.
fn callgrind(who: &str, mode: &str, op: &str) -> u64 {
    let exe = std::env::current_exe().expect("current_exe");
    let out = std::env::temp_dir().join(format!(
        "pagoda-ir-{}-{who}-{mode}-{op}.out",
        std::process::id()
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=pagoda_ir_measured")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--quiet")
        .arg(&exe)
        .args(["--child", who, mode, op])
        .status()
        .expect("cannot run valgrind (is it installed?)");
    assert!(status.success(), "callgrind run {who} {mode} {op} failed");
    let ir = read_total(&out);
    let _ = std::fs::remove_file(&out);
    ir
}

/// The `summary:`/`totals:` line of a callgrind output file (first event: Ir).
fn read_total(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).expect("callgrind output");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("no totals in callgrind output")
}

/// Instructions per unit (PTE or query) of `who` in `mode` for `op`.
fn per_unit(who: &str, mode: &str, op: &str) -> f64 {
    if op.starts_with("query") {
        let q = callgrind(who, mode, op);
        let base = callgrind(who, mode, &format!("{op}_base"));
        q.saturating_sub(base) as f64 / QUERIES as f64
    } else {
        callgrind(who, mode, op) as f64 / PTES_PER_GIB as f64
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let [who, mode, op] = [1, 2, 3].map(|k| args.get(i + k).expect("--child who mode op"));
        with_table!(who.as_str(), mode.as_str(), run_child(op));
        return;
    }
    // Optional filters: `MODE` names (e.g. `sv39`) and/or `ours` to skip the anchor.
    let only_ours = args.iter().any(|a| a == "ours");
    let modes: Vec<_> = MODES
        .iter()
        .filter(|(m, _)| {
            !args.iter().any(|a| MODES.iter().any(|(n, _)| n == a)) || args.contains(&m.to_string())
        })
        .collect();
    for &&(mode, _) in &modes {
        with_table!("ours", mode, check(&format!("ours {mode}")));
        if !only_ours {
            with_table!("anchor", mode, check(&format!("anchor {mode}")));
        }
    }
    println!(
        "Instructions (callgrind Ir) per 4K PTE over 1 GiB, per query for `query`; fresh table for map."
    );
    println!();
    println!("| operation | mode | ours | anchor 0.6.2 | anchor / ours | goal | met |");
    println!("|---|---|---:|---:|---:|---:|:-:|");
    for (op, label, goal) in OPS {
        for &&(mode, name) in &modes {
            let ours = per_unit("ours", mode, op);
            let (anchor, ratio) = if only_ours {
                ("—".to_string(), "—".to_string())
            } else {
                let a = per_unit("anchor", mode, op);
                (format!("{a:.1}"), format!("{:.1}×", a / ours))
            };
            let (goal, met) = match goal {
                g if g.is_nan() => ("—".to_string(), ""),
                g => (format!("≤ {g}"), if ours <= g { "yes" } else { "no" }),
            };
            println!("| {label} | {name} | {ours:.2} | {anchor} | {ratio} | {goal} | {met} |");
        }
    }
    let store = callgrind("ours", "x86_64", "store") as f64 / PTES_PER_GIB as f64;
    println!("| bound: raw store loop | — | {store:.2} | — | — | — | |");
}
