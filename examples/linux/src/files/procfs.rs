//! `/proc`: the tree lives in the namespace as placeholders ([`tree`]), and opening one
//! generates its contents. Text files are made at open, so one open reads one consistent
//! snapshot; `pagemap` and `mem` are read (and `mem` written) at the reader's offset.
//! What a process is comes from the process layer ([`info`]: [`publish`], [`set_current`]);
//! what its program looked like at start is recorded by [`exec`].
//!
//! Hooks the rest of the file layer calls: [`open`] (from `openat`, after [`redirect`]),
//! [`redirect`] (every path call: `/proc/self` → `/proc/<caller>`, `/proc/self/exe` → the
//! program), [`readlink`], and [`ProcFile`]'s `read_at` / `write_at` / `size` (`io.rs`).

mod info;
mod live;
mod text;
mod tree;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::fs::vfs::Ino;
use pagoda::mm::LinuxError;

pub use self::info::{ExecLayout, ProcSnapshot, lend_spaces, set_current, take_spaces};
use self::tree::{Node, PidFile};
use super::Files;
use super::desc::flag;
use super::namespace::{self, WHO};

/// What an open `/proc` file reads from.
pub enum ProcFile {
    /// Text made at open.
    Text(Vec<u8>),
    /// `pagemap` of a process (whether frame numbers are shown).
    Pagemap(u32, bool),
    /// `mem` of a process.
    Mem(u32),
    /// `clear_refs` of a process.
    ClearRefs(u32),
    /// A `/sys` attribute (generated the same way; sysfs's own rules).
    Sys(super::sysfs::SysFile),
}

impl ProcFile {
    /// Reads at byte `pos` into `out`.
    ///
    /// # Errors
    /// `EINVAL` for a `pagemap` offset or length not a multiple of 8; `EIO` for `mem` at
    /// an address nothing readable is mapped at; `ESRCH` once the process has no memory.
    pub fn read_at(&self, pos: u64, out: &mut [u8]) -> Result<usize, LinuxError> {
        match self {
            Self::Text(t) => {
                let start = usize::try_from(pos).unwrap_or(usize::MAX).min(t.len());
                let n = out.len().min(t.len() - start);
                out[..n].copy_from_slice(&t[start..start + n]);
                Ok(n)
            }
            Self::Pagemap(pid, pfn) => live::pagemap(*pid, pos, out, *pfn),
            Self::Mem(pid) => live::mem(*pid, pos, out, None),
            // No read method (Linux: EINVAL).
            Self::ClearRefs(_) => Err(LinuxError::EINVAL),
            Self::Sys(f) => f.read_at(pos, out),
        }
    }

    /// Writes `data` at byte `pos` (only `mem` is writable).
    ///
    /// # Errors
    /// `EIO` as for reads; `EINVAL` for the other files (Linux's answer for a `/proc`
    /// file without a write method).
    pub fn write_at(&self, pos: u64, data: &[u8]) -> Result<usize, LinuxError> {
        match self {
            Self::Mem(pid) => live::mem(*pid, pos, &mut [], Some(data)),
            Self::ClearRefs(pid) => live::clear_refs(*pid, data),
            Self::Sys(f) => f.write_at(data),
            _ => Err(LinuxError::EINVAL),
        }
    }

    /// The size `lseek(SEEK_END)` uses: the text's length, 0 for the live files.
    pub fn size(&self) -> i64 {
        match self {
            Self::Text(t) => t.len() as i64,
            Self::Sys(f) => f.size(),
            _ => 0,
        }
    }
}

/// Each process's program layout (recorded at `execve`, inherited at fork): the processes
/// that have a `/proc/<pid>`.
static EXECS: SpinNoIrq<BTreeMap<u32, ExecLayout>> = SpinNoIrq::new(BTreeMap::new());

/// Process `pid` started a program (boot for pid 1, every successful `execve`): records
/// its layout and makes (or updates) `/proc/<pid>`.
pub fn exec(pid: u32, layout: ExecLayout) {
    let path = layout.path.clone();
    EXECS.lock().insert(pid, layout);
    tree::add_process(pid, &path);
}

/// The process layer's list of every process (zombies too): `/proc/<pid>` appears for new
/// ones (a forked child takes its parent's layout: the same memory image) and goes for
/// reaped ones.
pub fn publish(procs: BTreeMap<u32, ProcSnapshot>) {
    let known: Vec<u32> = EXECS.lock().keys().copied().collect();
    for pid in known.iter().filter(|p| !procs.contains_key(p)) {
        EXECS.lock().remove(pid);
        tree::remove_process(*pid);
    }
    for (pid, snap) in procs.iter().filter(|(p, _)| !known.contains(p)) {
        let parent = EXECS.lock().get(&snap.ppid).cloned();
        if let Some(layout) = parent {
            exec(*pid, layout);
        }
    }
    info::set_processes(procs);
}

/// Whether inode `ino` belongs to `/proc`: a placeholder, `/proc` itself or a directory
/// below it.
pub fn contains(ino: Ino) -> bool {
    if tree::node(ino).is_some() {
        return true;
    }
    namespace::with(|fs| {
        let root = pagoda::fs::vfs::ROOT_INO;
        let Ok(proc) = fs.lookup(root, "proc", false, WHO) else {
            return false;
        };
        // Up through `..` (a directory's parent is one lookup), as deep as paths go.
        let mut at = ino;
        for _ in 0..4096 {
            if at == proc {
                return true;
            }
            match fs.lookup(at, "..", false, WHO) {
                Ok(up) if at != root => at = up,
                _ => return false,
            }
        }
        false
    })
}

/// A forked child `child` of `parent` gets its `/proc/<pid>` at once, with its parent's
/// layout (the same memory image).
pub fn fork(parent: u32, child: u32) {
    let layout = EXECS.lock().get(&parent).cloned();
    if let Some(layout) = layout {
        exec(child, layout);
    }
}

/// `path` as the caller means it: `/proc/self` and `/proc/thread-self` name the caller's
/// directories, and `/proc/<pid>/exe` opens the program.
pub fn redirect(files: &Files, path: &str) -> String {
    let (pid, tid) = info::info().current();
    let path = if let Some(rest) = strip(path, "/proc/self") {
        format!("/proc/{pid}{rest}")
    } else if let Some(rest) = strip(path, "/proc/thread-self") {
        format!("/proc/{pid}/task/{tid}{rest}")
    } else {
        String::from(path)
    };
    if path == format!("/proc/{pid}/exe")
        && let Some(exe) = &files.exe
    {
        return exe.clone();
    }
    path
}

/// `path` without `prefix` if it starts with it as whole components.
fn strip<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// `readlink` of the caller-dependent links (`/proc/self`, `/proc/thread-self`, the
/// caller's `exe`), or `None` for any other path.
pub fn readlink(files: &Files, path: &str) -> Option<Result<String, LinuxError>> {
    let (pid, tid) = info::info().current();
    match path {
        "/proc/self" => Some(Ok(format!("{pid}"))),
        "/proc/thread-self" => Some(Ok(format!("{pid}/task/{tid}"))),
        "/proc/self/exe" => Some(files.exe.clone().ok_or(LinuxError::ENOENT)),
        p if p == format!("/proc/{pid}/exe") => Some(files.exe.clone().ok_or(LinuxError::ENOENT)),
        _ => None,
    }
}

/// `openat` of `path` (already [`redirect`]ed) from directory `start`: the generated
/// file if the path names a `/proc` placeholder, `None` otherwise (`O_PATH` opens are the
/// namespace's).
///
/// Opening for writing is allowed where the mode allows it (always for root, as on
/// Linux); writing then fails with `EINVAL` except on `mem`.
///
/// # Errors
/// `EACCES` if the placeholder's mode refuses the access; `ESRCH` if the process is
/// gone; what reading its memory fails with.
pub fn open(
    files: &Files,
    start: Ino,
    path: &str,
    flags: u32,
) -> Option<Result<ProcFile, LinuxError>> {
    if flags & flag::PATH != 0 {
        return None;
    }
    let follow = flags & flag::NOFOLLOW == 0;
    let acc = flags & flag::ACCMODE;
    // Read 4, write 2: the placeholder's mode decides, as for any file (root passes).
    let want = match acc {
        0 => 4,
        1 => 2,
        _ => 6,
    } | if flags & flag::TRUNC != 0 { 2 } else { 0 };
    let (ino, permitted) = namespace::with(|fs| {
        let ino = fs.lookup(start, path, follow, files.who).ok()?;
        Some((ino, fs.inode(ino)?.permits(files.who, want)))
    })?;
    let node = tree::node(ino)?;
    if !permitted {
        return Some(Err(LinuxError::EACCES));
    }
    Some(generate(files, node))
}

/// The contents of `node` for the caller with files `files`.
fn generate(files: &Files, node: Node) -> Result<ProcFile, LinuxError> {
    let text = |s: String| Ok(ProcFile::Text(s.into_bytes()));
    let (pid, f) = match node {
        Node::Meminfo => return text(text::meminfo()),
        Node::Cpuinfo => return text(text::cpuinfo()),
        Node::Sysctl(v) => return text(String::from(v)),
        Node::Pid(pid, f) => (pid, f),
    };
    let layout = EXECS.lock().get(&pid).cloned().unwrap_or_default();
    let mut snap = info::info().snapshot(pid).ok_or(LinuxError::ESRCH)?;
    if pid == info::info().current().0 {
        snap.umask.get_or_insert(files.umask());
        let highest = files.fds().fds().max().map_or(0, |fd| fd as u32 + 1);
        snap.fd_size
            .get_or_insert(highest.next_power_of_two().max(64));
    }
    match f {
        PidFile::Maps => text(text::maps(pid, &layout)?),
        PidFile::Smaps => text(text::smaps(pid, &layout)?),
        PidFile::SmapsRollup => text(text::smaps_rollup(pid, &layout)?),
        PidFile::Status => text(text::status(&snap, &layout)?),
        PidFile::Stat => text(text::stat(&snap, &layout)?),
        PidFile::Statm => text(text::statm(&snap, &layout)?),
        PidFile::Comm => text(format!("{}\n", snap.comm.as_ref().unwrap_or(&layout.comm))),
        PidFile::Cmdline => Ok(ProcFile::Text(text::user_bytes(pid, layout.args)?)),
        PidFile::Environ => Ok(ProcFile::Text(text::user_bytes(pid, layout.env)?)),
        // Frame numbers only for a privileged reader (Linux since 4.2): uid 0 today.
        PidFile::Pagemap => Ok(ProcFile::Pagemap(pid, snap.uids[1] == 0)),
        PidFile::Mem => Ok(ProcFile::Mem(pid)),
        PidFile::ClearRefs => Ok(ProcFile::ClearRefs(pid)),
    }
}
