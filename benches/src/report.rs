//! Reads criterion's `*/new/estimates.json` and prints the ours / anchor / ratio / target table.
//!
//! Benchmark ids used by the benches (criterion directory layout `<group>/<function>[/<n>]`)
//! are listed here once, so the benches and the table cannot drift apart.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Leaves in 1 GiB of 4K pages: the per-PTE divisor of the region benchmarks.
pub const PTES_PER_GIB: usize = 1 << 18;
/// Set sizes of the `MemorySet` benchmarks.
pub const SET_SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// What a row must achieve.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Ours at most this many nanoseconds (after normalization).
    AtMostNs(f64),
    /// Ours no slower than the anchor (5% noise allowance).
    NotSlower,
    /// A reference row (no target).
    Reference,
}

/// One table row: criterion ids of our and the anchor's benchmark, and a divisor.
struct Row {
    name: String,
    ours: String,
    anchor: Option<String>,
    div: f64,
    unit: &'static str,
    target: Target,
}

/// Which bench file's rows to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `benches/page_table.rs`.
    PageTable,
    /// `benches/memory_set.rs`.
    MemorySet,
}

/// The paging modes benchmarked (criterion group suffixes and display names).
pub const ARCHES: [(&str, &str); 2] = [("x86_64", "x86-64 4-level"), ("sv39", "Sv39")];

fn page_table_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let ops = [
        ("map", "map_region 1 GiB 4K", Target::AtMostNs(2.0)),
        ("protect", "protect_region 1 GiB 4K", Target::AtMostNs(2.0)),
        ("unmap", "unmap_region 1 GiB 4K", Target::AtMostNs(2.0)),
    ];
    for (op, label, target) in ops {
        for (arch, arch_name) in ARCHES {
            rows.push(Row {
                name: format!("{label}, {arch_name}"),
                ours: format!("pt_{op}_{arch}/ours"),
                anchor: Some(format!("pt_{op}_{arch}/anchor")),
                div: PTES_PER_GIB as f64,
                unit: "ns/PTE",
                target,
            });
        }
    }
    for (arch, arch_name) in ARCHES {
        rows.push(Row {
            name: format!("query (random 4K page of 1 GiB), {arch_name}"),
            ours: format!("pt_query_{arch}/ours"),
            anchor: Some(format!("pt_query_{arch}/anchor")),
            div: 1.0,
            unit: "ns",
            target: Target::AtMostNs(15.0),
        });
    }
    for (id, label) in [
        ("raw_store", "bound: raw store of 262144 u64 PTEs"),
        (
            "leaf_walk",
            "bound: naive mapper, one descent per leaf table (x86-64)",
        ),
    ] {
        rows.push(Row {
            name: label.to_string(),
            ours: format!("pt_bound/{id}"),
            anchor: None,
            div: PTES_PER_GIB as f64,
            unit: "ns/PTE",
            target: Target::Reference,
        });
    }
    rows
}

/// `MemorySet` operations: (criterion group, label, target).
pub const SET_OPS: [(&str, &str, bool); 7] = [
    ("ms_unmap_split", "unmap 1 page splitting an area", true),
    (
        "ms_remap",
        "re-map: map with replace restoring it (k=2)",
        true,
    ),
    ("ms_protect_split", "protect 1 page splitting an area", true),
    ("ms_protect_back", "protect the split-off page back", true),
    ("ms_map_replace", "map with replace over k=1 area", true),
    ("ms_find", "find at a random address", false),
    ("ms_map_end", "map 1 page after the last area", false),
];

fn memory_set_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (group, label, bounded) in SET_OPS {
        for n in SET_SIZES {
            rows.push(Row {
                name: format!("{label}, n = {n}"),
                ours: format!("{group}/ours/{n}"),
                anchor: Some(format!("{group}/anchor/{n}")),
                div: 1.0,
                unit: "ns",
                target: if bounded {
                    Target::AtMostNs(2000.0)
                } else {
                    Target::NotSlower
                },
            });
        }
    }
    rows
}

/// Criterion's output directory, found the way criterion finds it.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("criterion")
}

/// The median estimate (ns per iteration) of benchmark `id`, if it has run.
fn median_ns(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new/estimates.json");
    let json = std::fs::read_to_string(path).ok()?;
    // `{"mean":{…,"point_estimate":X,…},"median":{…,"point_estimate":Y,…},…}`
    let rest = &json[json.find("\"median\"")?..];
    let rest = &rest[rest.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

/// The numbers of JSON array `key` in `json`.
fn json_array(json: &str, key: &str) -> Option<Vec<f64>> {
    let rest = &json[json.find(&format!("\"{key}\":["))? + key.len() + 4..];
    let body = &rest[..rest.find(']')?];
    body.split(',').map(|v| v.trim().parse().ok()).collect()
}

/// The fastest sample (ns per iteration) of benchmark `id`: the least disturbed by other
/// load on a shared machine.
fn best_ns(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new/sample.json");
    let json = std::fs::read_to_string(path).ok()?;
    let iters = json_array(&json, "iters")?;
    let times = json_array(&json, "times")?;
    iters
        .iter()
        .zip(&times)
        .map(|(i, t)| t / i)
        .min_by(f64::total_cmp)
}

fn fmt_ns(ns: f64, unit: &str) -> String {
    match unit {
        "ns" if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        "ns" if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        "ns" => format!("{ns:.1} ns"),
        _ => format!("{ns:.2} {unit}"),
    }
}

/// The markdown table of `sections` (rows whose benchmark has not run are skipped).
///
/// Values are medians; "ours" also shows the fastest sample. "met" is `yes` when the median
/// meets the target, `best only` when only the fastest sample does (noise), `**no**` otherwise.
pub fn table(sections: &[Section]) -> String {
    let mut out = String::new();
    out.push_str(
        "| benchmark | ours: median (best) | anchor: median | anchor / ours | target | met |\n",
    );
    out.push_str("|---|---:|---:|---:|---|:-:|\n");
    for &section in sections {
        let rows = match section {
            Section::PageTable => page_table_rows(),
            Section::MemorySet => memory_set_rows(),
        };
        for row in rows {
            let Some(ours) = median_ns(&row.ours).map(|v| v / row.div) else {
                continue;
            };
            let best = best_ns(&row.ours).map_or(ours, |v| v / row.div);
            let anchor = row
                .anchor
                .as_deref()
                .and_then(median_ns)
                .map(|v| v / row.div);
            let meets = |v: f64| match row.target {
                Target::AtMostNs(t) => Some(v <= t),
                // 5% allowance: the two sides run the same kind of lookup.
                Target::NotSlower => anchor.map(|a| v <= a * 1.05),
                Target::Reference => None,
            };
            let target = match row.target {
                Target::AtMostNs(t) => format!("≤ {}", fmt_ns(t, row.unit)),
                Target::NotSlower => "≤ anchor".to_string(),
                Target::Reference => "—".to_string(),
            };
            let met = match (meets(ours), meets(best)) {
                (Some(true), _) => "yes",
                (Some(false), Some(true)) => "best only",
                (Some(false), _) => "**no**",
                (None, _) => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {} | {} | {} | {} |",
                row.name,
                fmt_ns(ours, row.unit),
                fmt_ns(best, row.unit).trim_end_matches(" ns/PTE"),
                anchor.map_or("—".into(), |a| fmt_ns(a, row.unit)),
                anchor.map_or("—".into(), |a| format!("{:.1}×", a / ours)),
                target,
                met,
            );
        }
    }
    out
}

/// Prints the table of one bench file (called at the end of each bench's `main`).
pub fn print_section(section: Section) {
    println!("\n{}", table(&[section]));
}
