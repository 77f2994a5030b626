#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod check;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod mem;
#[cfg(target_os = "none")]
pub mod mm;
#[cfg(target_os = "none")]
mod process;
#[cfg(target_os = "none")]
pub mod time;
#[cfg(target_os = "none")]
pub mod trap;

#[cfg(target_os = "none")]
pub use check::Test;
/// The RAM file system layer: namespace, descriptor tables, pipes, the cpio reader.
#[cfg(target_os = "none")]
pub use pagoda_fs as fs;
#[cfg(target_os = "none")]
pub use pagoda_hal::ARCH;
/// Linux ABI facts: system call numbers per arch, structure layouts, signal frames.
#[cfg(target_os = "none")]
pub use pagoda_linux as linux;
#[cfg(target_os = "none")]
pub use process::{exit, fail, pass};

/// Items the macros expand to; not part of the API.
#[cfg(target_os = "none")]
#[doc(hidden)]
pub mod __private {
    pub use pagoda_hal::BootInfo;
    pub use pagoda_runtime::start;
}

/// Declares the application's entry function, a `fn()`.
///
/// It expands to the one link-time symbol the HAL calls after boot (`__pagoda_main`), which
/// runs the runtime's boot sequence and then the function. Returning from it exits
/// successfully.
///
/// # The one `unsafe` attribute in an application
///
/// A `#![no_std]`, `#![no_main]` kernel has no language-level way (on stable Rust) for a
/// library to call into the binary that links it: the binary must export a symbol. So this
/// macro puts `#[unsafe(no_mangle)]` into the application, and because the attribute comes
/// from this crate's macro, `#![forbid(unsafe_code)]` in the application does not see it.
/// That is an exception to "applications contain no unsafe code", stated here on purpose.
/// Why it is sound:
///
/// - the macro alone defines the symbol, with exactly the signature the HAL declares
///   (`fn(&'static BootInfo) -> !`, Rust ABI), and `$main` must be a `fn()` (a type error
///   otherwise);
/// - a second `pagoda::main!` in the same crate is a compile error (two items with one
///   name), in two linked crates a link error (duplicate symbol), and no definition at all
///   is a link error too, never undefined behaviour;
/// - any other definition of `__pagoda_main` needs `#[unsafe(no_mangle)]` or
///   `#[unsafe(export_name)]` written by hand, i.e. `unsafe` code the author vouches for.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __pagoda_main(info: &'static $crate::__private::BootInfo) -> ! {
            const MAIN: fn() = $main;
            $crate::__private::start(info, MAIN)
        }
    };
}
