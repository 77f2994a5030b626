//! The CI-budget differential run (`cargo test -p linux_diff`): a fixed seed, sequences
//! outside the known-bug classes (`DIFF_INCLUDE_KNOWN=1` includes them), `PROPTEST_CASES`
//! and `DIFF_MAX_OPS` override the budget.
#![cfg(target_os = "linux")]

use linux_diff::{Campaign, summary};

#[test]
fn pagoda_matches_linux() {
    let campaign = Campaign::from_env(1200, 60);
    match campaign.run() {
        Ok(stats) => {
            println!("linux_diff: {}", summary(&stats));
            assert!(stats.ops > 0, "no op ran");
        }
        Err(report) => panic!("{report}"),
    }
}
