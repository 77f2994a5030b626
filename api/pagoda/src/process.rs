//! Ending the program.

/// Exits: `0` is success, anything else failure with that exit code.
pub fn exit(code: u8) -> ! {
    pagoda_hal::exit(code == 0, code)
}

/// Prints `PASS <name>` and exits successfully (what the example harness looks for).
pub fn pass(name: &str) -> ! {
    crate::println!("PASS {name}");
    pagoda_hal::exit(true, 0)
}

/// Prints `FAIL <name>: <why>` and exits with failure code 1.
pub fn fail(name: &str, why: core::fmt::Arguments<'_>) -> ! {
    crate::println!("FAIL {name}: {why}");
    pagoda_hal::exit(false, 1)
}
