mod abi;
mod sigframe;
mod sysno;

use std::process::Command;

/// Where a probe finds its headers: the host C library's, or only the given UAPI include
/// directories (no C library: the program declares `printf` itself).
pub(crate) enum Headers<'a> {
    /// The host's usual headers.
    Libc,
    /// `-nostdinc` with these directories (the first must hold `asm/`).
    Uapi(&'a [&'a str]),
}

/// Compiles and runs a C program that includes `includes` and prints each `size_t`
/// expression on a line. `None` when the compiler or the headers are missing (the test then
/// checks nothing and says so).
pub(crate) fn c_values(headers: Headers, includes: &[&str], exprs: &[&str]) -> Option<Vec<usize>> {
    let mut cc = Command::new("cc");
    let mut src: String = includes
        .iter()
        .map(|h| format!("#include <{h}>\n"))
        .collect();
    src.push_str("#include <stddef.h>\n");
    match headers {
        Headers::Libc => src.push_str("#include <stdio.h>\n"),
        Headers::Uapi(dirs) => {
            if !std::path::Path::new(dirs[0]).join("asm").exists() {
                eprintln!("{}/asm missing: not checked", dirs[0]);
                return None;
            }
            let gcc = Command::new("cc")
                .arg("-print-file-name=include")
                .output()
                .ok()?
                .stdout;
            let gcc = String::from_utf8(gcc).ok()?;
            cc.args(["-nostdinc", "-isystem", dirs[0], "-isystem", gcc.trim()]);
            for dir in &dirs[1..] {
                cc.args(["-isystem", dir]);
            }
            src.push_str("int printf(const char *, ...);\n");
        }
    }
    src.push_str("int main(void) {\n");
    for e in exprs {
        src.push_str(&format!("    printf(\"%zu\\n\", (size_t)({e}));\n"));
    }
    src.push_str("    return 0;\n}\n");
    let dir = std::env::temp_dir().join(format!(
        "pagoda-linux-probe-{}-{}",
        std::process::id(),
        exprs.join("").len()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("p.c"), src).ok()?;
    let built = cc
        .arg("-o")
        .arg(dir.join("p"))
        .arg(dir.join("p.c"))
        .status()
        .ok()?;
    assert!(built.success(), "the probe must compile: {includes:?}");
    let out = Command::new(dir.join("p")).output().ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    Some(
        String::from_utf8(out.stdout)
            .ok()?
            .lines()
            .map(|l| l.parse().unwrap())
            .collect(),
    )
}
