//! The `/proc` tree in the namespace: directories, empty placeholder files and links, so
//! that path resolution, `stat`, `getdents64` and `readlink` work as for any directory.
//! Each placeholder's inode is registered with what it generates; `open` asks
//! [`node`] for the inode a path resolves to.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::fs::vfs::{Ino, ROOT_INO};
use pagoda::mm::MemFile;

use super::super::namespace::{self, WHO};

/// A generated file of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidFile {
    /// `maps`.
    Maps,
    /// `smaps`.
    Smaps,
    /// `smaps_rollup`.
    SmapsRollup,
    /// `pagemap` (binary, read at an offset).
    Pagemap,
    /// `status`.
    Status,
    /// `stat`.
    Stat,
    /// `statm`.
    Statm,
    /// `cmdline`.
    Cmdline,
    /// `comm`.
    Comm,
    /// `environ`.
    Environ,
    /// `mem` (read and written at an offset).
    Mem,
    /// `clear_refs` (write-only: soft-dirty and referenced bits).
    ClearRefs,
}

/// What a registered inode generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// `/proc/meminfo`.
    Meminfo,
    /// `/proc/cpuinfo`.
    Cpuinfo,
    /// A read-only number under `/proc/sys`.
    Sysctl(&'static str),
    /// A file of process `pid`.
    Pid(u32, PidFile),
}

/// The per-process files with their modes (Linux's).
const PID_FILES: &[(&str, PidFile, u32)] = &[
    ("clear_refs", PidFile::ClearRefs, 0o200),
    ("cmdline", PidFile::Cmdline, 0o444),
    ("comm", PidFile::Comm, 0o644),
    ("environ", PidFile::Environ, 0o400),
    ("maps", PidFile::Maps, 0o444),
    ("mem", PidFile::Mem, 0o600),
    ("pagemap", PidFile::Pagemap, 0o400),
    ("smaps", PidFile::Smaps, 0o444),
    ("smaps_rollup", PidFile::SmapsRollup, 0o444),
    ("stat", PidFile::Stat, 0o444),
    ("statm", PidFile::Statm, 0o444),
    ("status", PidFile::Status, 0o444),
];

/// `/proc/sys` values: Linux's defaults (read-only here).
const SYSCTLS: &[(&str, &str)] = &[
    ("sys/vm/overcommit_memory", "0\n"),
    ("sys/vm/max_map_count", "65530\n"),
    ("sys/kernel/pid_max", "32768\n"),
];

struct Registry {
    nodes: BTreeMap<Ino, Node>,
    /// Whether the global entries exist.
    base: bool,
}

static REGISTRY: SpinNoIrq<Registry> = SpinNoIrq::new(Registry {
    nodes: BTreeMap::new(),
    base: false,
});

/// What the inode `ino` generates, if it is a `/proc` placeholder.
pub fn node(ino: Ino) -> Option<Node> {
    REGISTRY.lock().nodes.get(&ino).copied()
}

/// An empty placeholder file at `path` with mode `perm`, registered as `node`.
fn file(path: &str, perm: u32, node: Node) {
    let ino = namespace::with(|fs| {
        fs.create(
            ROOT_INO,
            path,
            perm,
            WHO,
            Arc::new(MemFile::new(Vec::new())),
        )
        .ok()
    });
    if let Some(ino) = ino {
        REGISTRY.lock().nodes.insert(ino, node);
    }
}

/// Adds the global entries (once): `meminfo`, `cpuinfo`, `sys/...`, and the `self` and
/// `thread-self` links (their targets are rewritten per caller, see
/// [`redirect`](super::redirect)).
fn ensure_base(pid: u32) {
    if core::mem::replace(&mut REGISTRY.lock().base, true) {
        return;
    }
    namespace::with(|fs| {
        let _ = fs.mkdir(ROOT_INO, "/proc", 0o555, WHO);
        for dir in ["/proc/sys", "/proc/sys/vm", "/proc/sys/kernel"] {
            let _ = fs.mkdir(ROOT_INO, dir, 0o555, WHO);
        }
        let _ = fs.symlink(&format!("{pid}"), ROOT_INO, "/proc/self", WHO);
        let _ = fs.symlink(
            &format!("{pid}/task/{pid}"),
            ROOT_INO,
            "/proc/thread-self",
            WHO,
        );
    });
    file("/proc/meminfo", 0o444, Node::Meminfo);
    file("/proc/cpuinfo", 0o444, Node::Cpuinfo);
    for (path, value) in SYSCTLS {
        file(&format!("/proc/{path}"), 0o444, Node::Sysctl(value));
    }
}

/// Creates `/proc/<pid>` (and `task/<pid>`) for a process running `exe`; an existing one
/// (after `execve`) gets its `exe` link updated.
pub fn add_process(pid: u32, exe: &str) {
    ensure_base(pid);
    let dir = format!("/proc/{pid}");
    for d in [
        dir.clone(),
        format!("{dir}/task"),
        format!("{dir}/task/{pid}"),
    ] {
        let made = namespace::with(|fs| fs.mkdir(ROOT_INO, &d, 0o555, WHO).is_ok());
        if made {
            for (name, f, perm) in PID_FILES {
                file(&format!("{d}/{name}"), *perm, Node::Pid(pid, *f));
            }
        }
        if !d.ends_with("/task") {
            let link = format!("{d}/exe");
            namespace::with(|fs| {
                let _ = fs.unlink(ROOT_INO, &link, WHO);
                let _ = fs.symlink(exe, ROOT_INO, &link, WHO);
            });
        }
    }
}

/// Removes `/proc/<pid>` (the process was reaped).
pub fn remove_process(pid: u32) {
    let dir = format!("/proc/{pid}");
    let dirs = [format!("{dir}/task/{pid}"), format!("{dir}/task"), dir];
    let mut gone: Vec<Ino> = Vec::new();
    for d in &dirs {
        let names: Vec<String> = namespace::with(|fs| {
            let Ok(ino) = fs.lookup(ROOT_INO, d, false, WHO) else {
                return Vec::new();
            };
            fs.read_dir(ino)
                .map(|v| v.into_iter().map(|(n, _, _)| n).collect())
                .unwrap_or_default()
        });
        for n in names.iter().filter(|n| *n != "." && *n != "..") {
            let path = format!("{d}/{n}");
            namespace::with(|fs| {
                if let Ok(ino) = fs.lookup(ROOT_INO, &path, false, WHO) {
                    gone.push(ino);
                }
                let _ = fs.unlink(ROOT_INO, &path, WHO);
            });
        }
        namespace::with(|fs| {
            let _ = fs.rmdir(ROOT_INO, d, WHO);
        });
    }
    let mut reg = REGISTRY.lock();
    for ino in gone {
        reg.nodes.remove(&ino);
    }
}
