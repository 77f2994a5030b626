//! What `/proc` needs from the process layer ([`ProcInfo`]), what it records itself at
//! `execve` ([`ExecLayout`]), and the implementation for today's single process.
//!
//! The process layer implements [`ProcInfo`] for its process table and installs it once
//! with [`install`]; it calls [`exec`](super::exec) after every successful `execve` (and for
//! pid 1 at boot) and [`exit`](super::exit) when a process is reaped. Until something is
//! installed, [`SingleProcess`] answers: pid 1, parent 0, root, the current address space.

use alloc::string::String;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::mm::{self, AddrSpace};

/// A process as `/proc/<pid>/{status,stat}` show it: plain numbers the process layer
/// copies out of its tables (no lock is held while `/proc` formats them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcSnapshot {
    /// Thread-group id (the `/proc/<pid>` name).
    pub tgid: u32,
    /// Parent's tgid (0 for pid 1).
    pub ppid: u32,
    /// Process group and session.
    pub pgid: u32,
    /// Session id.
    pub sid: u32,
    /// `R`, `S`, `D`, `T`, `t` or `Z`.
    pub state: char,
    /// Live threads.
    pub threads: u32,
    /// Real, effective, saved, file-system uid.
    pub uids: [u32; 4],
    /// Real, effective, saved, file-system gid.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Signal sets: thread pending, shared pending, blocked, ignored, caught.
    pub signals: [u64; 5],
    /// `umask` and the descriptor table's size, if the layer knows them for this
    /// process (`/proc` fills them from the caller's own files for itself).
    pub umask: Option<u32>,
    /// `FDSize`.
    pub fd_size: Option<u32>,
    /// User and system time, in clock ticks (100 Hz).
    pub times: (u64, u64),
}

/// The process layer's side of `/proc`.
pub trait ProcInfo: Sync {
    /// The calling process's tgid (`/proc/self`) and thread id (`/proc/thread-self`).
    fn current(&self) -> (u32, u32);
    /// What `status` and `stat` show about `tgid`; `None` once it is gone.
    fn snapshot(&self, tgid: u32) -> Option<ProcSnapshot>;
    /// Runs `f` on the address space of `tgid` (the current one through
    /// `mm::with_current`, another process's through the table's handle); `false` if
    /// the process is gone or has none (a zombie).
    fn with_space(&self, tgid: u32, f: &mut dyn FnMut(&mut AddrSpace)) -> bool;
}

static INSTALLED: SpinNoIrq<Option<&'static dyn ProcInfo>> = SpinNoIrq::new(None);

/// Makes `info` the source of every `/proc/<pid>` answer (the process layer, at boot).
#[allow(dead_code)] // Called by the process table, merged next.
pub fn install(info: &'static dyn ProcInfo) {
    *INSTALLED.lock() = Some(info);
}

/// The installed [`ProcInfo`] (the single process until one is installed).
pub fn info() -> &'static dyn ProcInfo {
    match *INSTALLED.lock() {
        Some(i) => i,
        None => &SingleProcess,
    }
}

/// Today's one process: pid 1, run as root, without a parent; the current address space.
pub struct SingleProcess;

impl ProcInfo for SingleProcess {
    fn current(&self) -> (u32, u32) {
        (1, 1)
    }

    fn snapshot(&self, tgid: u32) -> Option<ProcSnapshot> {
        (tgid == 1).then(|| ProcSnapshot {
            tgid: 1,
            ppid: 0,
            pgid: 1,
            sid: 1,
            state: 'R',
            threads: 1,
            uids: [0; 4],
            gids: [0; 4],
            groups: Vec::new(),
            signals: [0; 5],
            umask: None,
            fd_size: None,
            times: (0, 0),
        })
    }

    fn with_space(&self, tgid: u32, f: &mut dyn FnMut(&mut AddrSpace)) -> bool {
        tgid == 1 && mm::with_current(|s| f(s)).is_some()
    }
}

/// What `/proc` records about a program when it starts (`execve`): its name and where the
/// loader put its arguments and environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecLayout {
    /// The path it was started from (`exe`).
    pub path: String,
    /// `comm`: the last path component, at most 15 bytes (`prctl(PR_SET_NAME)` changes it).
    pub comm: String,
    /// `[start, end)` of the argument strings in the process's memory.
    pub args: (u64, u64),
    /// `[start, end)` of the environment strings.
    pub env: (u64, u64),
    /// The initial stack pointer (at `argc`).
    pub start_stack: u64,
    /// Clock ticks (100 Hz) since boot when it started.
    pub start_time: u64,
}

impl ExecLayout {
    /// The layout of `argv`/`envp` strings ending exactly at `stack_top` (as the loader
    /// places them: the argument strings, then the environment strings).
    pub fn new(path: &str, sp: u64, stack_top: u64, argv: &[&str], envp: &[&str]) -> Self {
        let bytes = |v: &[&str]| v.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
        let env_start = stack_top.saturating_sub(bytes(envp));
        let arg_start = env_start.saturating_sub(bytes(argv));
        let name = path.rsplit('/').next().unwrap_or(path);
        let mut end = name.len().min(15);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            path: String::from(path),
            comm: String::from(&name[..end]),
            args: (arg_start, env_start),
            env: (env_start, stack_top),
            start_stack: sp,
            start_time: pagoda::time::monotonic_ns() / 10_000_000,
        }
    }
}
