//! Time: the wall clock, and (re-exported from the arch) the monotonic clock and the
//! one-shot timer: `monotonic_ns() -> u64` (nanoseconds since boot, never decreasing),
//! `set_timer_deadline(ns: u64)` (one timer interrupt once `monotonic_ns() >= ns`; it
//! arrives as `UserTrap::Timer` while user code runs, or ends `wait_for_interrupt`),
//! `timer_frequency_hz() -> u64` (the counter behind the clock) and `wait_for_interrupt()`.

pub use crate::arch::{monotonic_ns, set_timer_deadline, timer_frequency_hz, wait_for_interrupt};

/// Seconds since the Unix epoch (UTC) from the platform's real-time clock: the goldfish
/// RTC on riscv64 `virt`, the CMOS RTC on x86_64, the PL031 on aarch64 `virt`. 0 if the
/// clock cannot be read.
pub fn wall_clock_secs() -> u64 {
    crate::arch::wall_clock_secs()
}
