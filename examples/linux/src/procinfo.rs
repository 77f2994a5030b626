//! What the process table tells `/proc` (`files::procfs`) around the calls the file layer
//! serves: the caller (every call); and only for calls that may look at `/proc` the
//! inactive address spaces, lent for the call and taken back after it (so
//! `/proc/<pid>/{maps,smaps,pagemap,mem,...}` of another process can be made), and a
//! snapshot of every process (so `/proc/<pid>` directories follow reaps, and text files
//! opened then describe the processes as they are). A fork child's `/proc/<pid>` is made
//! at the fork.

use alloc::collections::BTreeMap;
use alloc::string::String;

use pagoda::linux::Sysno;
use pagoda_task::{Handler, Pid, ProcState, SigSet, Signal};

use crate::files::procfs::{self, ProcSnapshot};
use crate::process::Kernel;

/// Nanoseconds per clock tick (`USER_HZ` = 100).
const TICK_NS: u64 = 10_000_000;

/// Before a file call `sys(a)` by `tid` of process `me`: tells `/proc` who calls, and,
/// only when the call may look at `/proc` (`Files::proc_needs`), lends
/// it every inactive address space and publishes every process (both O(processes)).
/// [`restore`] must follow the call.
pub fn lend(k: &mut Kernel, tid: Pid, me: Pid, sys: Sysno, a: [usize; 6]) {
    procfs::set_current(me.get(), tid.get());
    let Some(needs) = k.threads.get(&tid).map(|t| t.files.proc_needs(sys, a)) else {
        return;
    };
    if needs.spaces {
        let mm_of = k.procs.iter().map(|(pid, p)| (pid.get(), p.mm)).collect();
        let spaces = k
            .mms
            .iter_mut()
            .filter_map(|(id, slot)| Some((*id, slot.space.take()?)))
            .collect();
        procfs::lend_spaces(mm_of, k.active_mm, spaces);
    }
    if !needs.processes {
        return;
    }
    let procs: BTreeMap<u32, ProcSnapshot> = k
        .tree
        .pids()
        .filter_map(|pid| Some((pid.get(), snapshot(k, pid)?)))
        .collect();
    procfs::publish(procs);
}

/// After the file call: the lent spaces go back to their slots.
pub fn restore(k: &mut Kernel) {
    for (id, space) in procfs::take_spaces() {
        if let Some(slot) = k.mms.get_mut(&id) {
            slot.space = Some(space);
        }
    }
    // Until the next lending only the caller's own (active) space is known.
    procfs::lend_spaces(BTreeMap::new(), None, BTreeMap::new());
}

/// Process `pid` as `/proc/<pid>/status` shows it.
fn snapshot(k: &Kernel, pid: Pid) -> Option<ProcSnapshot> {
    let c = k.tree.creds(pid).ok()?;
    let threads = k.tree.threads(pid).map(<[Pid]>::to_vec).unwrap_or_default();
    let leader = k
        .threads
        .get(&pid)
        .or_else(|| threads.first().and_then(|t| k.threads.get(t)));
    let state = match k.tree.state(pid).ok()? {
        ProcState::Zombie(_) => 'Z',
        ProcState::Stopped(_) => 'T',
        ProcState::Alive
            if threads
                .iter()
                .any(|t| k.threads.get(t).is_some_and(|t| t.wait.is_none())) =>
        {
            'R'
        }
        ProcState::Alive => 'S',
    };
    let proc = k.procs.get(&pid);
    let (mut ignored, mut caught) = (0u64, 0u64);
    if let Some(p) = proc {
        for n in 1..=64 {
            let Ok(sig) = Signal::new(n) else { continue };
            match p.signals.action(sig).handler {
                Handler::Ignore => ignored |= 1 << (n - 1),
                Handler::User(_) => caught |= 1 << (n - 1),
                Handler::Default => {}
            }
        }
    }
    let cpu: u64 = threads
        .iter()
        .filter_map(|t| k.threads.get(t))
        .map(|t| t.cpu_ns)
        .sum::<u64>()
        + proc.map_or(0, |p| p.dead_cpu_ns);
    let comm = leader.map(|t| {
        let end = t.comm.iter().position(|&b| b == 0).unwrap_or(t.comm.len());
        String::from_utf8_lossy(&t.comm[..end]).into_owned()
    });
    Some(ProcSnapshot {
        tgid: pid.get(),
        ppid: k.tree.parent(pid).map_or(0, Pid::get),
        pgid: k.tree.getpgid(pid, pid.get()).map_or(0, Pid::get),
        sid: k.tree.getsid(pid, pid.get()).map_or(0, Pid::get),
        state,
        threads: threads.len() as u32,
        uids: [c.ruid, c.euid, c.suid, c.euid],
        gids: [c.rgid, c.egid, c.sgid, c.egid],
        groups: alloc::vec::Vec::new(),
        signals: [
            leader.map_or(0, |t| t.sig.pending.set().bits()),
            proc.map_or(0, |p| p.signals.shared.set().bits()),
            leader.map_or(SigSet::EMPTY, |t| t.sig.blocked).bits(),
            ignored,
            caught,
        ],
        umask: None,
        fd_size: None,
        times: (cpu / TICK_NS, 0),
        comm,
    })
}
