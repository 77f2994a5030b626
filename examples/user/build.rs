//! The kernel build script of every example (`../kernel_build.rs`), plus the user program:
//! `examples/user/prebuild.sh` writes it to `<target dir>/user-prog/<arch>.elf`; this hands
//! that path to the code as `PAGODA_USER_ELF` (for `include_bytes!`).

use std::env;
use std::path::PathBuf;

#[path = "../kernel_build.rs"]
mod kernel_build;

fn main() {
    kernel_build::main();
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // The same place as prebuild.sh: ${CARGO_TARGET_DIR:-target}, relative to the
    // workspace root (where the scripts run).
    let root = manifest.join("../..");
    let target_dir =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let elf = target_dir.join("user-prog").join(format!("{arch}.elf"));
    let elf = elf.canonicalize().unwrap_or_else(|e| {
        panic!(
            "no user program at {} ({e}): run `examples/user/prebuild.sh {arch} <target>` \
             first (scripts/build_example.sh and scripts/test_examples.sh do)",
            elf.display()
        )
    });
    println!("cargo:rerun-if-changed={}", elf.display());
    println!("cargo:rustc-env=PAGODA_USER_ELF={}", elf.display());
}
