//! Time: the wall clock, and (re-exported from the arch) the monotonic clock and the
//! one-shot timer: `monotonic_ns() -> u64` (nanoseconds since boot, never decreasing),
//! `set_timer_deadline(ns: u64)` (one timer interrupt once `monotonic_ns() >= ns`; it
//! arrives as `UserTrap::Timer` while user code runs, or ends `wait_for_interrupt`),
//! `timer_frequency_hz() -> u64` (the counter behind the clock) and `wait_for_interrupt()`.

pub use crate::arch::{monotonic_ns, set_timer_deadline, timer_frequency_hz, wait_for_interrupt};

/// The real-time clock as first read: (seconds since the epoch, `monotonic_ns` then).
static WALL_AT_READ: spin::Once<(u64, u64)> = spin::Once::new();

/// Seconds since the Unix epoch (UTC) from the platform's real-time clock: the goldfish
/// RTC on riscv64 `virt`, the CMOS RTC on x86_64, the PL031 on aarch64 `virt`. 0 if the
/// clock cannot be read.
///
/// The device is read once and the monotonic clock carries the time on from there, as
/// Linux's timekeeping does: the RTC counts whole seconds anyway, and reading it is device
/// I/O (on x86_64 some thirty port accesses, each an exit to the emulator's device model),
/// which callers that stamp every operation with the time (file and segment times) must
/// not pay.
pub fn wall_clock_secs() -> u64 {
    let &(secs, at) = WALL_AT_READ.call_once(|| (crate::arch::wall_clock_secs(), monotonic_ns()));
    if secs == 0 {
        return 0;
    }
    secs.saturating_add(monotonic_ns().saturating_sub(at) / 1_000_000_000)
}
