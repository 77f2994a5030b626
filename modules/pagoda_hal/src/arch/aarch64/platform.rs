//! QEMU `virt` devices: PL011 console, PL031 RTC, semihosting exit, the MMIO list.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::PHYS_VIRT_OFFSET;

const UART_PADDR: usize = 0x0900_0000;
const RTC_PADDR: usize = 0x0901_0000;
/// PL011 flag register offset and its "transmit FIFO full" bit.
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
/// Flag register bit: the receive FIFO is empty.
const FR_RXFE: u32 = 1 << 4;

static MMIO: [(usize, usize); 5] = [
    (0x0800_0000, 0x2_0000), // GICv2 distributor + CPU interface
    (UART_PADDR, 0x1000),    // PL011
    (RTC_PADDR, 0x1000),     // PL031
    (0x0902_0000, 0x1000),   // fw_cfg
    (0x0a00_0000, 0x4000),   // 32 virtio-mmio slots
];

/// Physical MMIO ranges the kernel address space maps (direct-mapped, device memory).
pub fn mmio_regions() -> &'static [(usize, usize)] {
    &MMIO
}

/// Writes one byte to the PL011 UART (QEMU needs no initialization).
pub fn console_write_byte(b: u8) {
    let base = UART_PADDR + PHYS_VIRT_OFFSET;
    let fr = (base + UART_FR) as *const u32;
    let dr = base as *mut u32;
    // SAFETY: the UART registers are mapped as device memory at `base` by the boot table
    // and by every kernel page table (`mmio_regions`); 32-bit volatile accesses to FR, DR.
    unsafe {
        while fr.read_volatile() & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        dr.write_volatile(u32::from(b));
    }
}

/// The next byte the PL011 received, if one is waiting (polled, no interrupts).
pub fn console_read_byte() -> Option<u8> {
    let base = UART_PADDR + PHYS_VIRT_OFFSET;
    let fr = (base + UART_FR) as *const u32;
    let dr = base as *const u32;
    // SAFETY: the UART registers are mapped as device memory at `base` (`mmio_regions`);
    // 32-bit volatile loads of FR, then DR, which only takes the waiting byte.
    unsafe { (fr.read_volatile() & FR_RXFE == 0).then(|| dr.read_volatile() as u8) }
}

/// Seconds since the Unix epoch from the PL031 RTC (its data register counts seconds).
pub fn wall_clock_secs() -> u64 {
    let dr = (RTC_PADDR + PHYS_VIRT_OFFSET) as *const u32;
    // SAFETY: the RTC is mapped like the UART (`mmio_regions`); one aligned 32-bit load.
    u64::from(unsafe { dr.read_volatile() })
}

/// Semihosting operation `SYS_EXIT` and its "application exit" reason.
const SYS_EXIT: usize = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Set by the first [`exit`]: a second call (the first one trapped) just halts.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Ends QEMU through semihosting `SYS_EXIT` (QEMU must run with `-semihosting`): success
/// exits 0, failure exits `code` (0 is replaced by 1, which QEMU would read as success).
///
/// Without `-semihosting` the `hlt` is an undefined instruction: the fatal-trap report
/// prints and calls `exit` again, which then halts this CPU for good (the harness's timeout
/// sees a failure).
pub fn exit(success: bool, code: u8) -> ! {
    if !EXITING.swap(true, Ordering::AcqRel) {
        let status = if success { 0 } else { u64::from(code.max(1)) };
        let block = [ADP_STOPPED_APPLICATION_EXIT, status];
        // SAFETY: the semihosting call reads the two-word parameter block at x1 (a live
        // local) and ends QEMU; it writes no guest memory.
        unsafe {
            asm!("hlt #0xf000", in("x0") SYS_EXIT, in("x1") block.as_ptr(), options(nostack));
        }
    }
    loop {
        // SAFETY: masking interrupts and waiting has no other effect.
        unsafe { asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}
