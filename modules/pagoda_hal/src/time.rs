//! Wall-clock time.

/// Seconds since the Unix epoch (UTC) from the platform's real-time clock: the goldfish
/// RTC on riscv64 `virt`, the CMOS RTC on x86_64, the PL031 on aarch64 `virt`. 0 if the
/// clock cannot be read.
pub fn wall_clock_secs() -> u64 {
    crate::arch::wall_clock_secs()
}
