mod clone;
mod model;
mod rlimit;
mod sched;
mod signals;
mod tree;

/// Proptest cases: `PROPTEST_CASES` when set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
