//! The clock and the timer: `CNTVCT_EL0` at `CNTFRQ_EL0` (62.5 MHz on QEMU `virt`) and
//! one-shot deadlines on the EL1 virtual timer (`CNTV_CVAL_EL0`), whose interrupt (PPI 27)
//! goes through the GICv2 of `virt` (distributor at `0x0800_0000`, CPU interface at
//! `0x0801_0000`). Only PPI 27 is enabled in the distributor; any other interrupt that
//! arrives anyway is acknowledged (EOI) and ignored.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::PHYS_VIRT_OFFSET;

const NS_PER_SEC: u64 = 1_000_000_000;
const GICD_PADDR: usize = 0x0800_0000;
const GICC_PADDR: usize = 0x0801_0000;
const GICD_CTLR: usize = 0x000;
const GICD_ISENABLER0: usize = 0x100;
const GICD_IPRIORITYR: usize = 0x400;
const GICC_CTLR: usize = 0x000;
const GICC_PMR: usize = 0x004;
const GICC_IAR: usize = 0x00c;
const GICC_EOIR: usize = 0x010;
/// The EL1 virtual timer's interrupt.
const VTIMER_INTID: u32 = 27;
/// INTIDs from 1020 up are special (1023: spurious, nothing to acknowledge).
const FIRST_SPECIAL_INTID: u32 = 1020;
/// `CNTV_CTL_EL0`: ENABLE, and IMASK (output masked).
const CNTV_ENABLE: u64 = 1;
const CNTV_IMASK: u64 = 1 << 1;

static INITIALISED: AtomicBool = AtomicBool::new(false);

fn gic_write(base: usize, offset: usize, value: u32) {
    let reg = (base + PHYS_VIRT_OFFSET + offset) as *mut u32;
    // SAFETY: the GIC registers are mapped as device memory (boot table: the first GiB;
    // kernel space: `mmio_regions`); 32-bit volatile stores to architected registers.
    unsafe { reg.write_volatile(value) };
}

fn gic_read(base: usize, offset: usize) -> u32 {
    let reg = (base + PHYS_VIRT_OFFSET + offset) as *const u32;
    // SAFETY: as in `gic_write`. Reading IAR acknowledges the interrupt, which is what
    // `acknowledge` wants.
    unsafe { reg.read_volatile() }
}

/// Enables the distributor and the CPU interface with only the virtual timer's PPI, and
/// leaves the timer disabled. Idempotent.
pub(super) fn init() {
    if INITIALISED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: disabling the virtual timer only stops its interrupt.
    unsafe { asm!("msr cntv_ctl_el0, {0}", "isb", in(reg) CNTV_IMASK, options(nostack)) };
    let prio_reg = GICD_IPRIORITYR + (VTIMER_INTID as usize & !3);
    let shift = (VTIMER_INTID % 4) * 8;
    let prio = gic_read(GICD_PADDR, prio_reg) & !(0xff << shift);
    gic_write(GICD_PADDR, prio_reg, prio | (0x80 << shift));
    gic_write(GICD_PADDR, GICD_ISENABLER0, 1 << VTIMER_INTID);
    gic_write(GICD_PADDR, GICD_CTLR, 1);
    gic_write(GICC_PADDR, GICC_PMR, 0xff);
    gic_write(GICC_PADDR, GICC_CTLR, 1);
}

/// Frequency of the counter behind [`monotonic_ns`] (`CNTFRQ_EL0`).
pub fn timer_frequency_hz() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {0}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz.max(1)
}

fn counter() -> u64 {
    let t: u64;
    // SAFETY: reading the virtual counter has no side effects; `isb` keeps it from being
    // read early.
    unsafe { asm!("isb", "mrs {0}, cntvct_el0", out(reg) t, options(nomem, nostack)) };
    t
}

/// Nanoseconds since the counter started (at reset); never decreases.
pub fn monotonic_ns() -> u64 {
    let (t, hz) = (counter(), timer_frequency_hz());
    let whole = (t / hz).saturating_mul(NS_PER_SEC);
    whole.saturating_add((t % hz).saturating_mul(NS_PER_SEC) / hz)
}

/// Arms the one-shot timer: one timer interrupt once `monotonic_ns() >= ns` (at once if
/// that is already so). Replaces any earlier deadline. The interrupt is taken only while
/// user code runs or inside [`wait_for_interrupt`].
pub fn set_timer_deadline(ns: u64) {
    let ticks = (u128::from(ns) * u128::from(timer_frequency_hz())).div_ceil(NS_PER_SEC.into());
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    // SAFETY: programs and enables the virtual timer (its interrupt is PPI 27).
    unsafe {
        asm!(
            "msr cntv_cval_el0, {0}",
            "msr cntv_ctl_el0, {1}",
            "isb",
            in(reg) ticks,
            in(reg) CNTV_ENABLE,
            options(nostack),
        );
    }
}

/// Idles until an interrupt is pending, takes it (the kernel trap handler acknowledges
/// it) and returns with interrupts masked again. Never returns if no interrupt source is
/// armed.
pub fn wait_for_interrupt() {
    // SAFETY: `wfi` wakes on a pending interrupt even while PSTATE.I masks it, so nothing
    // is lost; unmasking IRQs then takes it (the EL1 vector acknowledges), then they are
    // masked again.
    unsafe {
        asm!(
            "wfi",
            "msr daifclr, #2",
            "isb",
            "msr daifset, #2",
            options(nomem, nostack)
        )
    };
}

/// Acknowledges the pending IRQ at the GIC; `true` if it was the timer, which is then
/// disarmed (masked until the next [`set_timer_deadline`]).
pub(super) fn acknowledge() -> bool {
    let iar = gic_read(GICC_PADDR, GICC_IAR);
    let intid = iar & 0x3ff;
    if intid >= FIRST_SPECIAL_INTID {
        return false;
    }
    let timer = intid == VTIMER_INTID;
    if timer {
        // SAFETY: masking the timer output drops its (level) interrupt.
        unsafe { asm!("msr cntv_ctl_el0, {0}", "isb", in(reg) CNTV_IMASK, options(nostack)) };
    }
    gic_write(GICC_PADDR, GICC_EOIR, iar);
    timer
}
