//! Console output: [`print!`](crate::print) and [`println!`](crate::println).

use core::fmt;

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
