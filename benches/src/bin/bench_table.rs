//! Prints the results table of the last `cargo bench -p pagoda-bench` run as markdown;
//! with `--write`, also writes it to `benches/RESULTS.md`.

use pagoda_bench::report::{Section, criterion_dir, table};

fn main() {
    let body = table(&[Section::PageTable, Section::MemorySet]);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let doc = format!(
        "# Benchmark results\n\n\
         Produced by `cargo bench -p pagoda-bench` then\n\
         `cargo run -p pagoda-bench --release --bin bench_table -- --write` (host: {cpu}).\n\n\
         - Anchors: crates.io `page_table_multiarch`/`page_table_entry` 0.6.2 and `memory_set` 0.4.1,\n  \
         run side by side with the same frame arena, flags, sizes and address sequences.\n\
         - Times are CPU time of the benchmark thread (time preempted on a shared machine is not\n  \
         counted); medians of criterion's samples, ours also with its fastest sample.\n\
         - Page-table region rows: one 1 GiB operation with 4K leaves divided by 262144 PTEs; table\n  \
         frames are allocated and zeroed inside the timed part (fresh table per `map_region`).\n\
         - `MemorySet` rows: n areas of 3 pages with 1-page gaps; each operation hits random areas\n  \
         and the set is restored after it, so n stays fixed; no-op backend (the set's own cost).\n\n\
         {body}"
    );
    println!("{doc}");
    if std::env::args().any(|a| a == "--write") {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md");
        if let Err(e) = std::fs::write(path, &doc) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
        eprintln!("wrote {path} (from {})", criterion_dir().display());
    }
}
