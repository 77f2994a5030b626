//! Console output: [`print!`](crate::print) and [`println!`](crate::println); console input
//! ([`read_byte`]).

use core::fmt;

/// Writes raw bytes (a user program's output) to the console.
pub use pagoda_hal::console::write_bytes;

/// The next byte of console input, if one has arrived (the serial port is polled).
pub use pagoda_hal::console::read_byte;

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    pagoda_hal::console::print(args);
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::_print(format_args!($($arg)*))
    };
}

/// Prints to the console, with a newline; one line is never interleaved with other output.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
