//! Builds the C executor with the host `cc` (Linux hosts only). The binary lands in
//! `OUT_DIR` and is never committed; the crate finds it through `LINUX_DIFF_EXECUTOR`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=executor/executor.c");
    println!("cargo:rerun-if-env-changed=CC");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out.join("linux_diff_executor");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O1", "-g", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg("executor/executor.c")
        .arg("-lpthread")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "building executor/executor.c failed");
    println!("cargo:rustc-env=LINUX_DIFF_EXECUTOR={}", exe.display());
}
