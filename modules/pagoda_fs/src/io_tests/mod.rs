mod fd;
mod pipe;

use std::path::PathBuf;
use std::process::Command;

/// Builds the C program `src` (once per test binary and name) with the host compiler and
/// returns its path; `None` without a compiler.
pub(crate) fn c_program(name: &str, src: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("pagoda-fs-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let exe = dir.join(name);
    if exe.exists() {
        return Some(exe);
    }
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).ok()?;
    let status = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(&c)
        .status()
        .ok()?;
    assert!(status.success(), "{name}.c must compile");
    Some(exe)
}

/// Runs `exe` with `args`; it writes one result line per operation to the file named by
/// its first argument. Returns those lines.
pub(crate) fn run_ops(exe: &PathBuf, ops: &[String]) -> Vec<String> {
    let out = exe.with_extension(format!("out{}", rand_suffix()));
    let status = Command::new(exe).arg(&out).args(ops).status().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    text.lines().map(str::to_string).collect()
}

fn rand_suffix() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
