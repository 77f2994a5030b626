//! `make soak`: a long differential run. Usage: `soak [MIN_OPS]` (default 1_000_000):
//! runs campaigns from successive seeds until at least MIN_OPS ops ran, then prints the
//! figures. Exits 1 on the first mismatch, after printing its minimized reproduction.

#[cfg(target_os = "linux")]
fn main() {
    use linux_diff::{Campaign, Stats, summary};

    let min_ops: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let base = Campaign::from_env(200, 400);
    let mut total = Stats::default();
    let mut round = 0u64;
    while total.ops < min_ops {
        let campaign = Campaign {
            seed: base.seed.wrapping_add(round),
            ..base.clone()
        };
        match campaign.run() {
            Ok(stats) => total.add(&stats),
            Err(report) => {
                eprintln!("{report}");
                eprintln!("soak: stopped after {}", summary(&total));
                std::process::exit(1);
            }
        }
        round += 1;
        eprintln!("soak: round {round}: {}", summary(&total));
    }
    println!("soak: linux_diff {}", summary(&total));
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("soak: linux_diff needs a Linux host; skipped");
}
