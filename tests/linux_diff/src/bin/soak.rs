//! `make soak`: a long differential run. Usage: `soak [MIN_OPS]` (default 1_000_000):
//! runs campaigns from successive seeds until at least MIN_OPS ops ran, then prints the
//! figures. A mismatch prints its minimized reproduction and the run goes on with the next
//! seed; the exit status is 1 if there was any.

#[cfg(target_os = "linux")]
fn main() {
    use linux_diff::{Campaign, Stats, summary};

    let min_ops: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let base = Campaign::from_env(200, 400);
    let mut total = Stats::default();
    let mut mismatches = 0u64;
    let mut round = 0u64;
    while total.ops < min_ops {
        let campaign = Campaign {
            seed: base.seed.wrapping_add(round),
            ..base.clone()
        };
        let (stats, report) = campaign.run_with_stats();
        total.add(&stats);
        if let Some(report) = report {
            mismatches += 1;
            eprintln!("{report}");
        }
        round += 1;
        eprintln!("soak: round {round}: {}", summary(&total));
    }
    println!(
        "soak: linux_diff {}, mismatching campaigns {mismatches}",
        summary(&total)
    );
    if mismatches != 0 {
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("soak: linux_diff needs a Linux host; skipped");
}
