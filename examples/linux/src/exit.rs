//! Ending threads and processes: the tree decides zombies, re-parenting and the parent's
//! signal; the kernel drops the thread state, wakes `clear_child_tid` futex waiters and a
//! `vfork` parent, frees the address space with its last user, and powers off with pid 1.

use pagoda::mm::VirtAddr;
use pagoda::time::TimerKind;
use pagoda_task::futex::{BITSET_ANY, FutexKey};
use pagoda_task::{ExitReport, ExitStatus, Pid, SigInfo};

use crate::process::{Kernel, MmId};

impl Kernel {
    /// Drops thread `tid`'s kernel state; clears and wakes its `clear_child_tid` word.
    fn reap_thread(&mut self, tid: Pid) {
        self.rq.remove(tid);
        self.futexes.cancel(tid);
        self.timers.cancel(TimerKind::Wake(tid));
        let Some(t) = self.threads.remove(&tid) else {
            return;
        };
        let Some(p) = self.procs.get_mut(&t.tgid) else {
            return;
        };
        p.dead_cpu_ns = p.dead_cpu_ns.saturating_add(t.cpu_ns);
        let mm = p.mm;
        if t.clear_child_tid != 0 {
            self.clear_tid_word(mm, t.clear_child_tid);
        }
    }

    /// Zeroes the `clear_child_tid` word at `addr` in space `mm` and wakes one futex
    /// waiter on it (pthread_join). A bad address is ignored, as Linux does.
    pub fn clear_tid_word(&mut self, mm: MmId, addr: usize) {
        let cleared = self.with_mm(mm, |s| {
            s.write_bytes(VirtAddr::from_usize(addr), &0u32.to_le_bytes())
        });
        if cleared.is_ok() {
            let key = FutexKey::Private {
                space: mm,
                addr: addr as u64,
            };
            for w in self.futexes.wake(key, 1, BITSET_ANY).unwrap_or_default() {
                self.complete(w, 0);
            }
        }
    }

    /// `exit(code)` of thread `tid`: the process ends with its last thread.
    pub fn exit_thread(&mut self, tid: Pid, code: i32) {
        let Some(pid) = self.threads.get(&tid).map(|t| t.tgid) else {
            return;
        };
        let parent = self.tree.parent(pid).ok();
        match self.tree.exit_thread(tid, ExitStatus::from_exit_code(code)) {
            Ok(None) => self.reap_thread(tid),
            Ok(Some(report)) => {
                self.reap_thread(tid);
                self.finish_process(pid, parent, report, ExitStatus::from_exit_code(code));
            }
            Err(_) => self.reap_thread(tid),
        }
    }

    /// `exit_group`, a fatal signal: the whole process of thread `tid` ends with `status`.
    pub fn exit_group(&mut self, tid: Pid, status: ExitStatus) {
        let Some(pid) = self.threads.get(&tid).map(|t| t.tgid) else {
            return;
        };
        let parent = self.tree.parent(pid).ok();
        match self.tree.exit_group(tid, status) {
            Ok(report) => {
                for &other in &report.other_threads {
                    self.reap_thread(other);
                }
                self.reap_thread(tid);
                self.finish_process(pid, parent, report, status);
            }
            Err(_) => self.reap_thread(tid),
        }
    }

    /// Ends process `pid` with `status` (a fatal signal from anywhere).
    pub fn kill_process(&mut self, pid: Pid, status: ExitStatus) {
        if let Some(&tid) = self.threads_of(pid).first() {
            self.exit_group(tid, status);
        }
    }

    fn finish_process(
        &mut self,
        pid: Pid,
        parent: Option<Pid>,
        report: ExitReport,
        status: ExitStatus,
    ) {
        for tid in self.threads_of(pid) {
            self.reap_thread(tid);
        }
        self.timers.cancel(TimerKind::Alarm(pid));
        let Some(p) = self.procs.remove(&pid) else {
            return;
        };
        if let Some(waiter) = p.vfork_parent {
            self.complete(waiter, pid.get() as usize);
        }
        self.release_mm(p.mm, pid);
        self.console_leader_exit(pid);
        if !report.reaped {
            let cpu = p.dead_cpu_ns.saturating_add(p.children_cpu_ns);
            self.zombie_cpu.insert(pid, cpu);
        }
        for orphan in &report.reparented {
            // Init reaped it at once (it ignores SIGCHLD).
            if self.tree.state(*orphan).is_err() {
                self.zombie_cpu.remove(orphan);
            }
        }
        if pid == Pid::INIT {
            self.halt = Some(match status {
                ExitStatus::Exited(code) => i32::from(code),
                ExitStatus::Signaled { sig, .. } => {
                    pagoda::println!("pagoda-linux: pid 1 killed by {sig:?}");
                    128 + i32::from(sig.num())
                }
            });
            return;
        }
        if let Some((to, info)) = report.notify {
            self.send_process(to, info);
        }
        if let Some(parent) = parent {
            self.wake_child_waiters(parent);
        }
        for &orphan in &report.reparented {
            // The new parent may be waiting for any child: it has one more.
            if let Ok(adopter) = self.tree.parent(orphan) {
                self.wake_child_waiters(adopter);
            }
            // PR_SET_PDEATHSIG: the orphan asked for a signal when its parent ends.
            if let Some(sig) = self.procs.get(&orphan).and_then(|p| p.pdeathsig) {
                self.send_process(orphan, SigInfo::kernel(sig));
            }
        }
    }
}
