//! What `/proc` needs from the process layer ([`ProcInfo`]) and what it records itself at
//! `execve` ([`ExecLayout`]).
//!
//! The process layer (`src/procinfo.rs`) feeds [`Published`], the one [`ProcInfo`]:
//! [`set_current`] and [`lend_spaces`] before every file call, [`take_spaces`] after it,
//! [`set_processes`] (through [`publish`](super::publish)) before calls that resolve paths,
//! and [`exec`](super::exec) after every successful `execve` (boot does it for pid 1).

use alloc::collections::BTreeMap;
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
    /// The name (`prctl(PR_SET_NAME)`), if the layer keeps one; else the program's.
    pub comm: Option<String>,
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

/// The process layer's latest report: the caller and every process.
struct Table {
    current: (u32, u32),
    procs: BTreeMap<u32, ProcSnapshot>,
    /// Each process's address-space id, and the active one's.
    mm_of: BTreeMap<u32, u64>,
    active: Option<u64>,
    /// The inactive address spaces, lent for the duration of one file call.
    lent: BTreeMap<u64, AddrSpace>,
}

static TABLE: SpinNoIrq<Table> = SpinNoIrq::new(Table {
    current: (1, 1),
    procs: BTreeMap::new(),
    mm_of: BTreeMap::new(),
    active: None,
    lent: BTreeMap::new(),
});

/// Lends `/proc` the inactive address spaces (by id) for one file call, with which
/// process uses which space and which one is active; [`take_spaces`] gives them back.
pub fn lend_spaces(
    mm_of: BTreeMap<u32, u64>,
    active: Option<u64>,
    spaces: BTreeMap<u64, AddrSpace>,
) {
    let mut t = TABLE.lock();
    t.mm_of = mm_of;
    t.active = active;
    t.lent = spaces;
}

/// One process per address space (the lowest id using it), for figures summed over all
/// spaces; before the process layer lent anything, the caller alone.
pub fn space_users() -> Vec<u32> {
    let t = TABLE.lock();
    if t.mm_of.is_empty() {
        return alloc::vec![t.current.0];
    }
    let mut seen = BTreeMap::new();
    for (&tgid, &mm) in &t.mm_of {
        seen.entry(mm).or_insert(tgid);
    }
    seen.into_values().collect()
}

/// The lent spaces, back to the process layer (after the call).
pub fn take_spaces() -> BTreeMap<u64, AddrSpace> {
    core::mem::take(&mut TABLE.lock().lent)
}

/// Records the caller of the file call about to run (every file call: cheap).
pub fn set_current(tgid: u32, tid: u32) {
    TABLE.lock().current = (tgid, tid);
}

/// Replaces the process list (the process layer, before calls that resolve paths).
pub fn set_processes(procs: BTreeMap<u32, ProcSnapshot>) {
    TABLE.lock().procs = procs;
}

/// The [`ProcInfo`] `/proc` answers from: what the process layer last published through
/// [`set_current`] and [`set_processes`]; the caller's own address space is the active one.
/// Before anything was published it describes pid 1 as the only process.
pub struct Published;

impl ProcInfo for Published {
    fn current(&self) -> (u32, u32) {
        TABLE.lock().current
    }

    fn snapshot(&self, tgid: u32) -> Option<ProcSnapshot> {
        let t = TABLE.lock();
        match t.procs.get(&tgid) {
            Some(p) => Some(p.clone()),
            None if t.procs.is_empty() && tgid == 1 => Some(ProcSnapshot::init()),
            None => None,
        }
    }

    /// The active space through `mm::with_current`, another one from the lent spaces
    /// (taken out of the table while `f` runs, so no lock is held).
    fn with_space(&self, tgid: u32, f: &mut dyn FnMut(&mut AddrSpace)) -> bool {
        let (mm, active, current) = {
            let t = TABLE.lock();
            (t.mm_of.get(&tgid).copied(), t.active, t.current.0)
        };
        match mm {
            Some(id) if Some(id) != active => {
                let Some(mut space) = TABLE.lock().lent.remove(&id) else {
                    return false;
                };
                f(&mut space);
                TABLE.lock().lent.insert(id, space);
                true
            }
            // Before the process layer lent anything, only the caller is known.
            None if tgid != current => false,
            _ => mm::with_current(|s| f(s)).is_some(),
        }
    }
}

/// The installed [`ProcInfo`].
pub fn info() -> &'static dyn ProcInfo {
    &Published
}

impl ProcSnapshot {
    /// Pid 1 as boot starts it: running, root, no parent.
    pub fn init() -> Self {
        Self {
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
            comm: None,
        }
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
    /// The layout the loader makes below `stack_top`: 8 zero bytes, the `AT_EXECFN` path
    /// `execfn`, and below it the argument strings, then the environment strings. `exe` is
    /// the program that runs (a script's interpreter); `comm` comes from `execfn`.
    pub fn new(
        exe: &str,
        execfn: &str,
        sp: u64,
        stack_top: u64,
        argv: &[&str],
        envp: &[&str],
    ) -> Self {
        let bytes = |v: &[&str]| v.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
        let strings_top = stack_top.saturating_sub(8 + execfn.len() as u64 + 1);
        let env_start = strings_top.saturating_sub(bytes(envp));
        let arg_start = env_start.saturating_sub(bytes(argv));
        let name = execfn.rsplit('/').next().unwrap_or(execfn);
        let mut end = name.len().min(15);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            path: String::from(exe),
            comm: String::from(&name[..end]),
            args: (arg_start, env_start),
            env: (env_start, strings_top),
            start_stack: sp,
            start_time: pagoda::time::monotonic_ns() / 10_000_000,
        }
    }
}
