//! Console output: [`print!`](crate::print) and [`println!`](crate::println).

use core::fmt;

/// Writes raw bytes (a user program's output) to the console.
pub use pagoda_hal::console::write_bytes;

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
