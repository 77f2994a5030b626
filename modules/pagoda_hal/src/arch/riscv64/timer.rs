//! The clock and the timer: the `time` CSR at the device tree's `/cpus/timebase-frequency`
//! (10 MHz on QEMU `virt`) and one-shot deadlines through the SBI timer extension, which
//! raises the supervisor timer interrupt (STIP) when `time` reaches the deadline.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Timebase of QEMU `virt`, used when the device tree does not give one.
const DEFAULT_TIMEBASE_HZ: u64 = 10_000_000;
const NS_PER_SEC: u64 = 1_000_000_000;
/// SBI timer extension ("TIME") and its `set_timer` function.
const SBI_EXT_TIME: usize = 0x5449_4d45;
const SBI_SET_TIMER: usize = 0;
/// `sie.STIE`.
const SIE_STIE: usize = 1 << 5;
/// `sstatus.SIE`.
const SSTATUS_SIE: usize = 1 << 1;
/// `sip.SSIP`.
const SIP_SSIP: usize = 1 << 1;
/// `scause` code (without the interrupt bit) of the supervisor timer interrupt.
const TIMER_INTERRUPT: usize = 5;
/// `scause` code of the supervisor software interrupt.
const SOFTWARE_INTERRUPT: usize = 1;

static TIMEBASE_HZ: AtomicU64 = AtomicU64::new(DEFAULT_TIMEBASE_HZ);

/// Records the timebase from the device tree (boot code); 0 keeps the default.
pub(super) fn set_timebase(hz: u64) {
    if hz != 0 {
        TIMEBASE_HZ.store(hz, Ordering::Relaxed);
    }
}

/// Frequency of the counter behind [`monotonic_ns`] (the timebase).
pub fn timer_frequency_hz() -> u64 {
    TIMEBASE_HZ.load(Ordering::Relaxed)
}

fn read_time() -> u64 {
    let t: u64;
    // SAFETY: reading the `time` CSR has no side effects (OpenSBI enables it for S-mode).
    unsafe { asm!("csrr {0}, time", out(reg) t, options(nomem, nostack)) };
    t
}

/// Nanoseconds since boot; never decreases.
pub fn monotonic_ns() -> u64 {
    let (t, hz) = (read_time(), timer_frequency_hz());
    // Split so that no product overflows for any timebase below 18 GHz.
    let whole = (t / hz).saturating_mul(NS_PER_SEC);
    whole.saturating_add((t % hz).saturating_mul(NS_PER_SEC) / hz)
}

/// The first timebase tick at or after `ns`.
fn ns_to_ticks(ns: u64) -> u64 {
    let ticks = (u128::from(ns) * u128::from(timer_frequency_hz())).div_ceil(NS_PER_SEC.into());
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The deadline the timer is armed for (`u64::MAX`: none).
static ARMED: AtomicU64 = AtomicU64::new(u64::MAX);

fn sbi_set_timer(ticks: u64) {
    // SAFETY: the SBI call only programs this hart's timer and clears STIP; it clobbers
    // a0 and a1 only.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") ticks as usize => _,
            lateout("a1") _,
            in("a6") SBI_SET_TIMER,
            in("a7") SBI_EXT_TIME,
            options(nostack),
        );
    }
}

/// Arms the one-shot timer: one timer interrupt once `monotonic_ns() >= ns` (at once if
/// that is already so). Replaces any earlier deadline. The interrupt is taken only while
/// user code runs or inside [`wait_for_interrupt`].
pub fn set_timer_deadline(ns: u64) {
    // Armed for this deadline already (its interrupt resets ARMED): an SBI call traps to
    // M-mode, which a scheduler re-arming on every trap would pay each time.
    if ARMED.swap(ns, Ordering::Relaxed) == ns && ns != u64::MAX {
        return;
    }
    sbi_set_timer(ns_to_ticks(ns));
    // SAFETY: enables the timer interrupt source; `sstatus.SIE` stays clear in the kernel.
    unsafe { asm!("csrs sie, {0}", in(reg) SIE_STIE, options(nomem, nostack)) };
}

/// Idles until an interrupt is pending, takes it (the kernel trap handler acknowledges
/// it) and returns with interrupts disabled again. Returns at once if one is pending;
/// never returns if no interrupt source is armed.
pub fn wait_for_interrupt() {
    // SAFETY: `wfi` wakes on a pending enabled interrupt even with `sstatus.SIE` clear, so
    // nothing is lost between the caller's check and the sleep; the interrupt is then taken
    // in the window where SIE is set, handled by the kernel trap entry, and SIE cleared.
    unsafe {
        asm!(
            "wfi",
            "csrs sstatus, {sie}",
            "csrc sstatus, {sie}",
            sie = in(reg) SSTATUS_SIE,
            options(nomem, nostack),
        );
    }
}

/// Acknowledges the interrupt with `scause` code `code`; `true` for the timer, which is
/// disarmed (clears STIP). External interrupts are never enabled in `sie` (no PLIC
/// driver), so only the timer and software interrupts can arrive.
pub(super) fn acknowledge(code: usize) -> bool {
    match code {
        TIMER_INTERRUPT => {
            ARMED.store(u64::MAX, Ordering::Relaxed);
            sbi_set_timer(u64::MAX);
            true
        }
        SOFTWARE_INTERRUPT => {
            // SAFETY: clearing `sip.SSIP` only acknowledges the software interrupt.
            unsafe { asm!("csrc sip, {0}", in(reg) SIP_SSIP, options(nomem, nostack)) };
            false
        }
        _ => false,
    }
}
