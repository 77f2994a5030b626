//! QEMU `virt` devices: NS16550 console, sifive_test exit, the MMIO list.

use core::arch::asm;

use super::PHYS_VIRT_OFFSET;

const UART_PADDR: usize = 0x1000_0000;
const SIFIVE_TEST_PADDR: usize = 0x10_0000;
const GOLDFISH_RTC_PADDR: usize = 0x10_1000;
/// Line status register: a received byte is waiting.
const LSR_DR: u8 = 1 << 0;
/// Line status register: transmit holding register empty.
const LSR_THRE: u8 = 1 << 5;

static MMIO: [(usize, usize); 6] = [
    (SIFIVE_TEST_PADDR, 0x1000),
    (GOLDFISH_RTC_PADDR, 0x1000), // goldfish RTC
    (0x200_0000, 0x1_0000),       // CLINT
    (0xc00_0000, 0x60_0000),      // PLIC
    (UART_PADDR, 0x1000),         // NS16550
    (0x1000_1000, 0x8000),        // virtio-mmio slots
];

/// Physical MMIO ranges the kernel address space maps (direct-mapped, device memory).
pub fn mmio_regions() -> &'static [(usize, usize)] {
    &MMIO
}

/// Writes one byte to the NS16550 UART (OpenSBI has initialized it).
pub fn console_write_byte(b: u8) {
    let base = (UART_PADDR + PHYS_VIRT_OFFSET) as *mut u8;
    // SAFETY: the UART registers are mapped at `base` by the early boot table and by every
    // kernel page table (`mmio_regions`); byte-wide volatile accesses to THR (0) and LSR (5).
    unsafe {
        while base.add(5).read_volatile() & LSR_THRE == 0 {
            core::hint::spin_loop();
        }
        base.write_volatile(b);
    }
}

/// The next byte the NS16550 received, if one is waiting (polled, no interrupts).
pub fn console_read_byte() -> Option<u8> {
    let base = (UART_PADDR + PHYS_VIRT_OFFSET) as *const u8;
    // SAFETY: the UART registers are mapped at `base` (`mmio_regions`); byte-wide volatile
    // loads of LSR (5), then RBR (0), which only takes the waiting byte.
    unsafe { (base.add(5).read_volatile() & LSR_DR != 0).then(|| base.read_volatile()) }
}

/// Seconds since the Unix epoch from the goldfish RTC (nanoseconds in two 32-bit
/// registers; reading the low half latches the high half).
pub fn wall_clock_secs() -> u64 {
    let base = (GOLDFISH_RTC_PADDR + PHYS_VIRT_OFFSET) as *const u32;
    // SAFETY: the RTC registers are mapped like the UART (`mmio_regions`); two aligned
    // 32-bit volatile loads of TIME_LOW (0x0) then TIME_HIGH (0x4).
    let (lo, hi) = unsafe { (base.read_volatile(), base.add(1).read_volatile()) };
    ((u64::from(hi) << 32) | u64::from(lo)) / 1_000_000_000
}

/// Ends QEMU through the sifive_test device: success exits 0, failure exits `code`
/// (0 is replaced by 1, since QEMU would read it as success).
pub fn exit(success: bool, code: u8) -> ! {
    let value = if success {
        0x5555
    } else {
        (u32::from(code.max(1)) << 16) | 0x3333
    };
    let reg = (SIFIVE_TEST_PADDR + PHYS_VIRT_OFFSET) as *mut u32;
    // SAFETY: the sifive_test register is mapped at `reg` like the UART; a 32-bit store.
    unsafe { reg.write_volatile(value) };
    loop {
        // SAFETY: waiting for an interrupt has no other effect; QEMU exits before.
        unsafe { asm!("wfi") };
    }
}
