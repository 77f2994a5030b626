//! The clock and the timer of `-machine q35`.
//!
//! - Clock: the TSC where its rate is constant (CPUID's invariant-TSC bit, or a hypervisor,
//!   which keeps a virtual TSC at one rate), calibrated once at init against 10 ms of the
//!   HPET main counter (MMIO at `0xfed0_0000`, 100 MHz on QEMU) or, without an HPET, of PIT
//!   channel 2. Reading it is one instruction, where the HPET costs three MMIO reads (each a
//!   device exit under emulation) on every trap that reads the clock. Otherwise the HPET.
//! - Timer: PIT channel 0 in one-shot mode (mode 0, 1.193182 MHz, at most 65535 counts =
//!   54.9 ms) on IRQ0 of the 8259 PIC, remapped to vectors 0x20..0x30 with every other
//!   line masked. A deadline further away than one PIT period is reached by re-arming
//!   from the interrupt, invisibly to the caller.
//!
//! Both are driven by QEMU's virtual clock, so deadlines and the clock agree. Vectors
//! 0x30..=0xff have no source (no LAPIC timer, IOAPIC entries stay masked); if one
//! arrives anyway it is ignored.

use core::arch::asm;
use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{PHYS_VIRT_OFFSET, inb, outb};

const NS_PER_SEC: u64 = 1_000_000_000;

/// First vector of the master / slave PIC after remapping; IRQ0 (the PIT) is the timer.
pub(super) const PIC_MASTER_VECTOR: u64 = 0x20;
const PIC_SLAVE_VECTOR: u64 = 0x28;
/// The timer interrupt: PIT channel 0 on IRQ0.
pub(super) const TIMER_VECTOR: u64 = PIC_MASTER_VECTOR;
const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
const PIC_EOI: u8 = 0x20;
/// OCW3: the next command-port read returns the in-service register.
const PIC_READ_ISR: u8 = 0x0b;

const PIT_HZ: u64 = 1_193_182;
const PIT_CH0: u16 = 0x40;
const PIT_CH2: u16 = 0x42;
const PIT_CMD: u16 = 0x43;
/// Channel 0 (or 2), low then high byte, mode 0 (interrupt on terminal count), binary.
const PIT_CH0_ONESHOT: u8 = 0x30;
const PIT_CH2_ONESHOT: u8 = 0xb0;
/// Port 0x61: bit 0 gates channel 2, bit 1 routes it to the speaker, bit 5 reads OUT2.
const PIT_CH2_CTRL: u16 = 0x61;

/// Physical address of the HPET on q35 (fixed by the chipset, also in ACPI's HPET table).
pub(super) const HPET_PADDR: usize = 0xfed0_0000;
const HPET_CAPS: usize = 0x00;
const HPET_CONFIG: usize = 0x10;
const HPET_COUNTER: usize = 0xf0;
const HPET_ENABLE: u32 = 1;
/// The largest counter period the HPET specification allows (100 ns), in femtoseconds.
const HPET_MAX_PERIOD_FS: u64 = 100_000_000;

/// HPET counter period in femtoseconds when the HPET is the clock; 0 = the TSC is.
static HPET_PERIOD_FS: AtomicU64 = AtomicU64::new(0);
/// TSC frequency when it is the clock (0 before `init`).
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// The TSC at `init`: the clock counts from there.
static TSC_BASE: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick as a 32.32 fixed-point number (no division per read).
static TSC_NS_MULT: AtomicU64 = AtomicU64::new(0);
static INITIALISED: AtomicBool = AtomicBool::new(false);
/// The armed deadline (monotonic ns), `u64::MAX` when disarmed.
static DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

fn hpet_read32(offset: usize) -> u32 {
    let va = (HPET_PADDR + PHYS_VIRT_OFFSET + offset) as *const u32;
    // SAFETY: the HPET page is mapped (boot table: all of 0..4 GiB; kernel space: listed in
    // `mmio_regions`); reading a register has no side effects. Without an HPET the read
    // returns the bus' all-ones or zero, which `init` rejects.
    unsafe { va.read_volatile() }
}

fn hpet_write32(offset: usize, value: u32) {
    let va = (HPET_PADDR + PHYS_VIRT_OFFSET + offset) as *mut u32;
    // SAFETY: as in `hpet_read32`; only the configuration register is written.
    unsafe { va.write_volatile(value) };
}

/// The 64-bit counter from 32-bit reads (QEMU's HPET splits wider accesses): re-read when
/// the high half changed in between.
fn hpet_counter() -> u64 {
    loop {
        let hi = hpet_read32(HPET_COUNTER + 4);
        let lo = hpet_read32(HPET_COUNTER);
        if hpet_read32(HPET_COUNTER + 4) == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Remaps and masks the PIC, stops PIT channel 0, and starts the clock (enables the HPET
/// or calibrates the TSC). Idempotent; the first call takes up to 10 ms without an HPET.
pub(super) fn init() {
    if INITIALISED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the ICW sequence remaps the two PICs to vectors 0x20..0x30 (the BIOS left
    // IRQs on the exception vectors) and the final OCW1 masks every line; port writes touch
    // no memory and interrupts are disabled.
    unsafe {
        outb(PIC1_CMD, 0x11);
        outb(PIC2_CMD, 0x11);
        outb(PIC1_DATA, PIC_MASTER_VECTOR as u8);
        outb(PIC2_DATA, PIC_SLAVE_VECTOR as u8);
        outb(PIC1_DATA, 0x04); // slave on IRQ2
        outb(PIC2_DATA, 0x02);
        outb(PIC1_DATA, 0x01); // 8086 mode
        outb(PIC2_DATA, 0x01);
        outb(PIC1_DATA, 0xff);
        outb(PIC2_DATA, 0xff);
        // Mode 0 without a count: channel 0 waits, its output stays low.
        outb(PIT_CMD, PIT_CH0_ONESHOT);
    }
    let period = u64::from(hpet_read32(HPET_CAPS + 4));
    let hpet = period != 0 && period <= HPET_MAX_PERIOD_FS;
    if hpet {
        hpet_write32(HPET_CONFIG, hpet_read32(HPET_CONFIG) | HPET_ENABLE);
        if !tsc_is_constant() {
            HPET_PERIOD_FS.store(period, Ordering::Release);
            return;
        }
    }
    let hz = if hpet {
        calibrate_tsc_hpet(period)
    } else {
        calibrate_tsc_pit()
    };
    TSC_NS_MULT.store(
        ((NS_PER_SEC as u128) << 32).div_ceil(hz.into()) as u64,
        Ordering::Relaxed,
    );
    TSC_BASE.store(rdtsc(), Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Release);
}

/// Whether the TSC ticks at one rate whatever the CPU does: CPUID's invariant-TSC bit
/// (leaf 0x8000_0007, EDX bit 8), or a hypervisor (leaf 1, ECX bit 31), whose virtual TSC
/// is constant-rate (QEMU's and KVM's are).
fn tsc_is_constant() -> bool {
    use core::arch::x86_64::__cpuid;
    // Leaf 0x8000_0007 is read only when the extended maximum says it exists.
    let hypervisor = __cpuid(1).ecx & (1 << 31) != 0;
    let invariant =
        __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0;
    hypervisor || invariant
}

/// TSC ticks per second, measured over 10 ms of the HPET (`period` fs per count).
fn calibrate_tsc_hpet(period: u64) -> u64 {
    let counts = 10_000_000_000_000 / period; // 10 ms
    let (c0, t0) = (hpet_counter(), rdtsc());
    let (mut c1, mut t1) = (c0, t0);
    while c1.wrapping_sub(c0) < counts {
        (c1, t1) = (hpet_counter(), rdtsc());
    }
    let elapsed_fs = u128::from(c1.wrapping_sub(c0)) * u128::from(period);
    let hz = u128::from(t1.wrapping_sub(t0)) * 1_000_000_000_000_000 / elapsed_fs;
    u64::try_from(hz).unwrap_or(u64::MAX).max(1)
}

/// TSC ticks per second, measured over 10 ms of PIT channel 2 (polled, speaker off).
fn calibrate_tsc_pit() -> u64 {
    const COUNTS: u64 = PIT_HZ / 100;
    // SAFETY: port I/O on the PIT and the system control port (speaker output kept off);
    // no memory is touched.
    let ticks = unsafe {
        let ctrl = inb(PIT_CH2_CTRL);
        outb(PIT_CH2_CTRL, (ctrl & !0x02) | 0x01);
        outb(PIT_CMD, PIT_CH2_ONESHOT);
        outb(PIT_CH2, COUNTS as u8);
        outb(PIT_CH2, (COUNTS >> 8) as u8);
        let start = rdtsc();
        while inb(PIT_CH2_CTRL) & 0x20 == 0 {}
        let ticks = rdtsc().wrapping_sub(start);
        outb(PIT_CH2_CTRL, ctrl);
        ticks
    };
    (ticks * 100).max(1)
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter (CR4.TSD is clear).
    unsafe { _rdtsc() }
}

/// Frequency of the counter behind [`monotonic_ns`]: the HPET's (100 MHz on QEMU) or the
/// calibrated TSC's.
pub fn timer_frequency_hz() -> u64 {
    match HPET_PERIOD_FS.load(Ordering::Acquire) {
        0 => TSC_HZ.load(Ordering::Acquire),
        fs => 1_000_000_000_000_000 / fs,
    }
}

/// Nanoseconds since the clock started (at boot); never decreases.
pub fn monotonic_ns() -> u64 {
    let ns = match HPET_PERIOD_FS.load(Ordering::Acquire) {
        0 => match TSC_HZ.load(Ordering::Acquire) {
            0 => 0, // before `init_traps`
            _ => {
                let ticks = rdtsc().wrapping_sub(TSC_BASE.load(Ordering::Relaxed));
                (u128::from(ticks) * u128::from(TSC_NS_MULT.load(Ordering::Relaxed))) >> 32
            }
        },
        fs => u128::from(hpet_counter()) * u128::from(fs) / 1_000_000,
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Starts PIT channel 0 to interrupt after `ns` (rounded up; clamped to 1..=65535 counts).
fn arm_pit(ns: u64) {
    let counts = (u128::from(ns) * u128::from(PIT_HZ)).div_ceil(NS_PER_SEC.into());
    let counts = counts.clamp(1, 0xffff) as u16;
    // SAFETY: programs PIT channel 0 (mode 0 restarts on the count write) and unmasks IRQ0
    // only; port I/O touches no memory.
    unsafe {
        outb(PIT_CMD, PIT_CH0_ONESHOT);
        outb(PIT_CH0, counts as u8);
        outb(PIT_CH0, (counts >> 8) as u8);
        outb(PIC1_DATA, 0xfe);
    }
}

/// Arms the one-shot timer: one timer interrupt once `monotonic_ns() >= ns` (at once if
/// that is already so). Replaces any earlier deadline. The interrupt is taken only while
/// user code runs or inside [`wait_for_interrupt`]. `u64::MAX` disarms it.
pub fn set_timer_deadline(ns: u64) {
    // Armed for this deadline already (the interrupt resets DEADLINE): reprogramming the
    // PIT is four port writes, which a scheduler re-arming on every trap would pay.
    if DEADLINE.swap(ns, Ordering::Relaxed) == ns && ns != u64::MAX {
        return;
    }
    if ns == u64::MAX {
        // Never: mask IRQ0 instead of re-arming the PIT every 55 ms.
        // SAFETY: masking every master PIC line touches no memory.
        unsafe { outb(PIC1_DATA, 0xff) };
        return;
    }
    arm_pit(ns.saturating_sub(monotonic_ns()));
}

/// Idles until an interrupt arrives, lets the kernel trap handler acknowledge it and
/// returns with interrupts disabled. Never returns if no interrupt source is armed.
pub fn wait_for_interrupt() {
    // SAFETY: `sti` takes effect after the next instruction, so an interrupt pending now
    // wakes the `hlt` instead of being lost; the handler returns after `hlt`, then `cli`.
    unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

/// Whether the in-service register of the PIC at `cmd` has `irq` (0..8) set.
fn in_service(cmd: u16, irq: u64) -> bool {
    // SAFETY: OCW3 selects the ISR for the next read; port I/O touches no memory.
    let isr = unsafe {
        outb(cmd, PIC_READ_ISR);
        inb(cmd)
    };
    isr & (1 << irq) != 0
}

/// Acknowledges interrupt `vector` (32..=255); `true` if it is the timer and its deadline
/// passed (it is then disarmed). An early PIT interrupt (deadline beyond one PIT period)
/// re-arms for the rest and answers `false`. Spurious PIC interrupts (IRQ7/IRQ15 without
/// their in-service bit) get no EOI, as the 8259 requires.
pub(super) fn acknowledge(vector: u64) -> bool {
    let Some(irq) = vector.checked_sub(PIC_MASTER_VECTOR).filter(|&i| i < 16) else {
        return false;
    };
    let (cmd, line) = if irq < 8 {
        (PIC1_CMD, irq)
    } else {
        (PIC2_CMD, irq - 8)
    };
    if line == 7 && !in_service(cmd, 7) {
        if irq == 15 {
            // SAFETY: the master did take the cascade line: end that one only.
            unsafe { outb(PIC1_CMD, PIC_EOI) };
        }
        return false;
    }
    // SAFETY: non-specific EOI to the PIC(s) that delivered the interrupt.
    unsafe {
        if irq >= 8 {
            outb(PIC2_CMD, PIC_EOI);
        }
        outb(PIC1_CMD, PIC_EOI);
    }
    if vector != TIMER_VECTOR {
        return false;
    }
    let deadline = DEADLINE.load(Ordering::Relaxed);
    if deadline == u64::MAX {
        return false; // disarmed meanwhile: a stale interrupt
    }
    let now = monotonic_ns();
    if now < deadline {
        arm_pit(deadline - now);
        return false;
    }
    DEADLINE.store(u64::MAX, Ordering::Relaxed);
    true
}
