//! Links the user program with its per-architecture linker script (static image at
//! 0x40_0000, one page-aligned segment each for text, rodata and data+bss).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let script = dir.join(format!("linker-{arch}.ld"));
    assert!(
        script.is_file(),
        "no user linker script for {arch} at {}",
        script.display()
    );
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    // Segment file offsets congruent to addresses modulo 4 KiB, not lld's larger default.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
}
