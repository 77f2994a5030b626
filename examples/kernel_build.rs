//! The build script of every kernel example (`build = "../kernel_build.rs"`): links with the
//! HAL's linker script for the target architecture. Does nothing for non-kernel targets.
//! (`examples/user/build.rs` includes this file as a module and calls [`main`].)

use std::env;
use std::path::PathBuf;

/// Links kernel binaries with the HAL's linker script.
pub fn main() {
    println!("cargo:rerun-if-changed=../kernel_build.rs");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let script = manifest
        .join("../../modules/pagoda_hal/linker")
        .join(format!("{arch}.ld"));
    let script = script
        .canonicalize()
        .unwrap_or_else(|e| panic!("no linker script for {arch} at {}: {e}", script.display()));
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
}
