//! The kernel console: a `fmt::Write` sink on the arch's serial port.

use core::fmt::{self, Write};

use kspin::SpinNoIrq;

use crate::arch::console_write_byte;

/// Keeps lines from different callers from interleaving.
static LOCK: SpinNoIrq<()> = SpinNoIrq::new(());

/// A `fmt::Write` on the serial console, without locking.
#[derive(Debug, Default, Clone, Copy)]
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes raw bytes to the console.
pub fn write_bytes(bytes: &[u8]) {
    bytes.iter().copied().for_each(console_write_byte);
}

/// The next byte of console input, if one has arrived (the serial port is polled).
pub fn read_byte() -> Option<u8> {
    crate::arch::console_read_byte()
}

/// Prints formatted text atomically with respect to other `print` callers.
pub fn print(args: fmt::Arguments<'_>) {
    let _guard = LOCK.lock();
    // `Console::write_str` never fails.
    let _ = Console.write_fmt(args);
}

/// Prints without taking the console lock: for panic and fatal-trap reports, which must get
/// out even if the interrupted code held the lock.
pub fn print_unlocked(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}
