//! The scheduler loop (run to completion, one kernel stack): pick a thread, make its
//! process's address space active, act on its signals, run it until its next trap and
//! handle that trap to completion. Timer ticks end time slices (`RunQueue::tick`); when no
//! thread can run the CPU idles until the next deadline.

use pagoda::mm::{self, MappingFlags, UserTrap, VirtAddr};
use pagoda::time::{self, Next};
use pagoda_task::siginfo::code;
use pagoda_task::{ExitStatus, Pid, SigFields, SigInfo, Signal};

use crate::process::Kernel;
use crate::sigdeliver;

/// Timer tick period.
pub const TICK_NS: u64 = 10_000_000;
/// Ticks in a time slice.
pub const SLICE_TICKS: u32 = 2;
/// How often the scheduler polls the console while threads run.
const POLL_NS: u64 = 1_000_000;
/// A fault resolved this many times in a row at one address kills the program.
const MAX_REPEATED_FAULTS: usize = 16;

/// The `pagoda_task` signal for a HAL one.
fn task_signal(s: mm::Signal) -> Signal {
    Signal::new(usize::from(s.number())).unwrap_or(Signal::SIGSEGV)
}

/// Runs every process until pid 1 ends; its status (128 + signal if killed).
pub fn run(k: &mut Kernel) -> i32 {
    // The clock as of the last trap (or idle wake-up): one clock read per trap, which on
    // x86_64 is three HPET reads, MMIO that TCG emulates slowly. A thread is charged from
    // the previous trap to its own, so the kernel work in between (its system time, or
    // at a switch the previous thread's last trap) counts too.
    let mut now = time::monotonic_ns();
    let mut tick = now.saturating_add(TICK_NS);
    let mut next_poll = now;
    let mut said_stuck = false;
    loop {
        if let Some(status) = k.halt {
            time::set_timer_deadline(u64::MAX);
            return status;
        }
        k.expire_timers(now);
        // The serial port is polled, and a port read is an exit to the emulator's device
        // model (slow under TCG, a VM exit under KVM): at most once per POLL_NS, which
        // bounds how late a typed ^C is. Reads of the console poll it themselves.
        if now >= next_poll {
            k.console_input();
            next_poll = now.saturating_add(POLL_NS);
        }
        k.wake_file_waiters(&crate::files::drain_wakeups());
        let tid = match k.rq.current() {
            Some(t) => t,
            None => match k.rq.block() {
                Next::Switch(t) => t,
                _ => {
                    idle(k, &mut said_stuck);
                    now = time::monotonic_ns();
                    next_poll = now;
                    continue;
                }
            },
        };
        said_stuck = false;
        if k.threads.get(&tid).is_none_or(|t| t.wait.is_some()) {
            k.rq.remove(tid);
            continue;
        }
        let Some(mm_id) = k.mm_of(tid) else {
            k.rq.remove(tid);
            continue;
        };
        if k.activate(mm_id).is_err() {
            if let Some(pid) = k.threads.get(&tid).map(|t| t.tgid) {
                let sig = Signal::SIGKILL;
                k.kill_process(pid, ExitStatus::Signaled { sig, core: false });
            }
            continue;
        }
        if k.deliver(tid) != sigdeliver::Next::Run {
            continue;
        }
        // A mapped file may have shrunk: drop its pages past the end before user code runs.
        mm::with_current(|s| s.apply_truncations());
        let deadline = k.timers.next_deadline().map_or(tick, |d| d.min(tick));
        time::set_timer_deadline(deadline);
        let Some(t) = k.threads.get_mut(&tid) else {
            continue;
        };
        let trap = t.ctx.run();
        let after = time::monotonic_ns();
        t.cpu_ns = t.cpu_ns.saturating_add(after.saturating_sub(now));
        now = after;
        match trap {
            UserTrap::Syscall => {
                // A system call is progress: faults at one address are a loop only when
                // nothing else happens between them (a fork loop COW-faults the same
                // stack slot after every fork, legitimately).
                t.last_fault = (0, 0);
                crate::syscall::dispatch(k, tid)
            }
            UserTrap::Timer => {
                if now >= tick {
                    // Absolute ticks: a late one does not shift the next.
                    tick = tick.saturating_add(TICK_NS).max(now);
                    k.rq.tick();
                }
            }
            UserTrap::PageFault { addr, access } => page_fault(k, tid, addr, access),
            UserTrap::Exception { .. } => {
                let sig = task_signal(trap.signal().unwrap_or(mm::Signal::Segv));
                let pc = k.threads.get(&tid).map_or(0, |t| t.ctx.pc());
                let code = match sig {
                    Signal::SIGILL => 1, // ILL_ILLOPC
                    Signal::SIGFPE => 1, // FPE_INTDIV
                    Signal::SIGBUS => code::BUS_ADRALN,
                    Signal::SIGTRAP => 1, // TRAP_BRKPT
                    _ => code::SI_KERNEL,
                };
                let info = SigInfo {
                    signo: sig,
                    errno: 0,
                    code,
                    fields: SigFields::Fault { addr: pc },
                };
                k.force_fault(tid, info);
            }
        }
    }
}

/// A user page fault: resolved by the address space, or a signal.
fn page_fault(k: &mut Kernel, tid: Pid, addr: VirtAddr, access: MappingFlags) {
    let a = addr.as_usize();
    let Some(t) = k.threads.get_mut(&tid) else {
        return;
    };
    t.last_fault = match t.last_fault {
        (x, n) if x == a => (x, n + 1),
        _ => (a, 1),
    };
    let repeated = t.last_fault.1 >= MAX_REPEATED_FAULTS;
    let sig = match mm::resolve_fault(addr, access | MappingFlags::USER) {
        Ok(_) if !repeated => return,
        Ok(_) => Signal::SIGSEGV,
        Err(why) => task_signal(why.signal()),
    };
    if sig == Signal::SIGKILL {
        // Out of memory: the process dies.
        if let Some(pid) = k.threads.get(&tid).map(|t| t.tgid) {
            k.kill_process(pid, ExitStatus::Signaled { sig, core: false });
        }
        return;
    }
    let code = if sig == Signal::SIGBUS {
        code::BUS_ADRERR
    } else if mm::with_current(|s| s.find_area(addr).is_some()).unwrap_or(false) {
        code::SEGV_ACCERR
    } else {
        code::SEGV_MAPERR
    };
    if let Some(t) = k.threads.get_mut(&tid) {
        t.last_fault = (0, 0);
    }
    k.force_fault(tid, SigInfo::fault(sig, code, a));
}

/// Nothing can run: wait for the next deadline with interrupts enabled, at most a tick:
/// the serial console raises no interrupt, its input (and `^C`) is polled.
fn idle(k: &mut Kernel, said_stuck: &mut bool) {
    let next = k.timers.next_deadline();
    if next.is_none() && !crate::files::tty::wanted() && !*said_stuck {
        pagoda::println!("pagoda-linux: every thread waits for something that cannot happen");
        *said_stuck = true;
    }
    let poll = time::monotonic_ns().saturating_add(TICK_NS);
    let deadline = next.map_or(poll, |d| d.min(poll));
    time::set_timer_deadline(deadline);
    while time::monotonic_ns() < deadline {
        time::wait_for_interrupt();
    }
}
