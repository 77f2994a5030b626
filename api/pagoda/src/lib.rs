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
/// successfully. The `#[unsafe(no_mangle)]` this needs comes from this crate's macro, so an
/// application with `#![forbid(unsafe_code)]` still compiles.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __pagoda_main(info: &'static $crate::__private::BootInfo) -> ! {
            $crate::__private::start(info, $main)
        }
    };
}
