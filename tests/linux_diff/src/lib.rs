#![doc = include_str!("../README.md")]
#![cfg(target_os = "linux")]

pub mod known;
pub mod linux;
pub mod ops;
pub mod pagoda;
pub mod reply;
pub mod run;

use std::fmt::Write as _;

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

pub use run::{Mismatch, Stats, run_case};

/// Where the window starts (identical on both sides): far below Linux's mmap base, so
/// that the kernel never places an unrequested mapping near it.
pub const WIN_BASE: u64 = 0x1000_0000_0000;
/// Heap addresses compared (relative to the heap start).
pub const HEAP_SPAN: u64 = 1 << 30;

/// A campaign: `cases` random sequences of up to `max_ops` ops from a fixed seed.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Sequences to generate.
    pub cases: u32,
    /// Maximum ops per sequence.
    pub max_ops: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Which known-bug classes run.
    pub selection: known::Selection,
}

impl Campaign {
    /// From the environment: `PROPTEST_CASES` (else `cases`), `DIFF_MAX_OPS` (else
    /// `max_ops`), `DIFF_SEED`, `DIFF_INCLUDE_KNOWN`.
    pub fn from_env(cases: u32, max_ops: usize) -> Self {
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        Self {
            cases: env("PROPTEST_CASES").map_or(cases, |c| c as u32),
            max_ops: env("DIFF_MAX_OPS").map_or(max_ops, |m| m as usize),
            seed: env("DIFF_SEED").unwrap_or(0x5eed_d1ff),
            selection: known::Selection::from_env(),
        }
    }

    /// Runs the campaign; on a mismatch returns the minimized reproduction as text.
    pub fn run(&self) -> Result<Stats, String> {
        match self.run_with_stats() {
            (stats, None) => Ok(stats),
            (_, Some(report)) => Err(report),
        }
    }

    /// Runs the campaign: its figures, and the minimized reproduction of a mismatch.
    pub fn run_with_stats(&self) -> (Stats, Option<String>) {
        let config = Config {
            cases: self.cases,
            failure_persistence: None,
            max_shrink_iters: 2000,
            ..Config::default()
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let stats = std::cell::RefCell::new(Stats::default());
        let r = runner.run(&ops::case(self.max_ops), |case| {
            let mut s = stats.borrow_mut();
            run_case(&case, &self.selection, &mut s, None)
                .map_err(|m| TestCaseError::fail(format!("{m:?}")))
        });
        let stats = stats.into_inner();
        let report = match r {
            Ok(()) => None,
            Err(TestError::Fail(why, case)) => Some(self.report(why.message(), &case, &stats)),
            Err(TestError::Abort(why)) => Some(format!("proptest aborted: {why}")),
        };
        (stats, report)
    }

    fn report(&self, why: &str, case: &ops::Case, stats: &Stats) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "linux_diff: Pagoda and Linux disagree (seed {:#x}).",
            self.seed
        );
        let _ = writeln!(
            out,
            "Minimized reproduction: files of {:?} bytes, ops:",
            case.file_sizes
        );
        let mut trace = String::new();
        let mut s = Stats::default();
        let r = run_case(case, &self.selection, &mut s, Some(&mut trace));
        out += &trace;
        match r {
            Err(m) => {
                let at = m.at.map_or("end".to_string(), |i| format!("op {i}"));
                let _ = writeln!(
                    out,
                    "First difference at {at}, {}:\n  Linux:  {}\n  Pagoda: {}",
                    m.what, m.linux, m.pagoda
                );
            }
            Ok(()) => {
                let _ = writeln!(out, "(the rerun passed; the original failure: {why})");
            }
        }
        let _ = writeln!(out, "{}", summary(stats));
        out
    }
}

/// The figures as one line.
pub fn summary(s: &Stats) -> String {
    let skipped: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "sequences {}, ops {}, Pagoda panics {}, sequences with leaked frames {}, skipped ops by class: [{}]",
        s.sequences,
        s.ops,
        s.panics,
        s.leaks,
        skipped.join(", ")
    )
}
