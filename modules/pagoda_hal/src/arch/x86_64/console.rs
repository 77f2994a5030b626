//! COM1: a 16550-compatible UART at I/O port 0x3f8 (QEMU `-serial stdio`).

use super::{inb, outb};

/// Base I/O port of COM1.
const COM1: u16 = 0x3f8;
/// Register offsets from the base port.
const DATA: u16 = 0; // THR on write; divisor low byte while DLAB = 1
const IER: u16 = 1; // interrupt enable; divisor high byte while DLAB = 1
const FCR: u16 = 2; // FIFO control
const LCR: u16 = 3; // line control (bit 7 = DLAB)
const MCR: u16 = 4; // modem control
const LSR: u16 = 5; // line status
/// LSR bit: a received byte waits in the receive buffer.
const LSR_DATA_READY: u8 = 1 << 0;
/// LSR bit: the transmit holding register is empty.
const LSR_THR_EMPTY: u8 = 1 << 5;
/// Polls before writing anyway, so a missing UART cannot hang the kernel.
const MAX_POLLS: u32 = 100_000;

/// Programs COM1 for 115200 baud, 8N1, FIFOs on, interrupts off.
pub(super) fn init() {
    // SAFETY: these are the standard 16550 registers of COM1; programming them has no
    // effect on memory.
    unsafe {
        outb(COM1 + IER, 0x00); // no UART interrupts: the kernel polls
        outb(COM1 + LCR, 0x80); // DLAB on to set the divisor
        outb(COM1 + DATA, 0x01); // divisor 1 = 115200 baud
        outb(COM1 + IER, 0x00);
        outb(COM1 + LCR, 0x03); // DLAB off, 8 data bits, no parity, 1 stop bit
        outb(COM1 + FCR, 0xc7); // enable and clear FIFOs, 14-byte threshold
        outb(COM1 + MCR, 0x03); // DTR + RTS, no loopback
    }
}

/// Writes one byte to COM1, waiting (bounded) for the transmitter.
pub fn console_write_byte(b: u8) {
    let mut polls = 0;
    // SAFETY: reading the line status register of COM1 has no side effects.
    while unsafe { inb(COM1 + LSR) } & LSR_THR_EMPTY == 0 && polls < MAX_POLLS {
        polls += 1;
        core::hint::spin_loop();
    }
    // SAFETY: writing the transmit register of COM1 only sends the byte.
    unsafe { outb(COM1 + DATA, b) };
}

/// The next byte COM1 received, if one is waiting (polled: the UART raises no interrupts).
pub fn console_read_byte() -> Option<u8> {
    // SAFETY: reading the line status register of COM1 has no side effects.
    if unsafe { inb(COM1 + LSR) } & LSR_DATA_READY == 0 {
        return None;
    }
    // SAFETY: reading the receive buffer register of COM1 only takes the waiting byte.
    Some(unsafe { inb(COM1 + DATA) })
}
