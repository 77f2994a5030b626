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
         `cargo bench -p pagoda-bench` then `cargo run -p pagoda-bench --release --bin bench_table -- --write`\n\
         (medians; host: {cpu}). Anchors: crates.io `page_table_multiarch`/`page_table_entry` 0.6.2 and\n\
         `memory_set` 0.4.1, with the same frame arena, flags and sizes. Region rows are the time of one\n\
         1 GiB operation divided by 262144 PTEs, table-frame allocation and zeroing included.\n\n{body}"
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
