//! The system-call dispatcher, and the calls a static glibc (or musl) program makes at
//! start-up and for simple output and memory management. Every user pointer goes through
//! the address space's uaccess (`uaccess.rs`), never a raw pointer.

use crate::files::FileCall;
use crate::fork::CloneArgs;
use crate::process::Kernel;
use crate::uaccess::{SysResult, errno, put};
use pagoda::linux::Sysno;
use pagoda::linux::abi::{Arch, Sysinfo, encode_utsname};
use pagoda::mm::LinuxError;
use pagoda_task::{ExitStatus, Pid, SigInfo, Signal};

/// The release `uname` reports (programs and tests check for ≥ 6.13).
const RELEASE: &str = "6.13.0-pagoda";

/// `arch_prctl` codes.
const ARCH_SET_FS: usize = 0x1002;
/// `getrandom` flags: `GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE`.
const GRND_ALL: usize = 7;

/// What a system call did with the calling thread.
pub enum Outcome {
    /// Return this from the call.
    Ret(SysResult),
    /// The thread waits (its pc is back on the call); someone else runs.
    Blocked,
    /// The registers are already what the thread resumes with (exec, sigreturn), or the
    /// thread is gone (exit).
    NoReturn,
}

impl From<SysResult> for Outcome {
    fn from(r: SysResult) -> Self {
        Outcome::Ret(r)
    }
}

/// The call `number` means on `arch`.
fn sysno(arch: Arch, number: usize) -> Option<Sysno> {
    match arch {
        Arch::X86_64 => Sysno::from_x86_64(number),
        Arch::Riscv64 | Arch::Aarch64 => Sysno::from_generic(number),
    }
}

/// A signed `pid_t` argument.
fn pid_arg(v: usize) -> i32 {
    v as i32
}

/// Serves the system call thread `tid` stopped at.
pub fn dispatch(k: &mut Kernel, tid: Pid) {
    let Some(t) = k.threads.get(&tid) else {
        return;
    };
    let a = t.ctx.syscall_args();
    let number = t.ctx.syscall_number();
    let arch = k.arch;
    let me = t.tgid;
    let outcome: Outcome = match sysno(arch, number) {
        None => Err(LinuxError::ENOSYS).into(),
        Some(sys) if crate::pressure::refuses(sys) => Err(LinuxError::ENOMEM).into(),
        Some(sys) => call(k, tid, me, sys, a),
    };
    if let Outcome::Ret(r) = outcome
        && let Some(t) = k.threads.get_mut(&tid)
    {
        t.ctx.set_syscall_return(match r {
            Ok(v) => v,
            Err(e) => errno(e),
        });
    }
}

fn call(k: &mut Kernel, tid: Pid, me: Pid, sys: Sysno, a: [usize; 6]) -> Outcome {
    if let Some(outcome) = k.console_call(tid, me, sys, a) {
        return outcome;
    }
    if let Some(outcome) = layered(k, tid, me, sys, a) {
        return outcome;
    }
    let arch = k.arch;
    let r: SysResult = match sys {
        Sysno::Exit => {
            k.exit_thread(tid, a[0] as i32);
            return Outcome::NoReturn;
        }
        Sysno::ExitGroup => {
            k.exit_group(tid, ExitStatus::from_exit_code(a[0] as i32));
            return Outcome::NoReturn;
        }
        Sysno::Clone => {
            // x86_64: flags, stack, parent_tid, child_tid, tls; the generic table (riscv64)
            // swaps the last two.
            let (child_tid, tls) = match arch {
                Arch::X86_64 => (a[3], a[4]),
                _ => (a[4], a[3]),
            };
            let c = CloneArgs {
                flags: a[0],
                stack: a[1],
                parent_tid: a[2],
                child_tid,
                tls,
            };
            return k.sys_clone(tid, c);
        }
        Sysno::Clone3 => {
            return match clone3_args(a[0], a[1]) {
                Ok(c) => k.sys_clone(tid, c),
                Err(e) => Outcome::Ret(Err(e)),
            };
        }
        Sysno::Fork | Sysno::Vfork => {
            let mut flags = 17; // SIGCHLD
            if sys == Sysno::Vfork {
                flags |= pagoda_task::clone::flags::VM | pagoda_task::clone::flags::VFORK;
            }
            let c = CloneArgs {
                flags,
                stack: 0,
                parent_tid: 0,
                child_tid: 0,
                tls: 0,
            };
            return k.sys_clone(tid, c);
        }
        Sysno::Execve => return k.sys_execve(tid, a),
        Sysno::Wait4 => return k.sys_wait4(tid, a),
        Sysno::Waitid => return k.sys_waitid(tid, a),
        Sysno::Getpid => Ok(me.get() as usize),
        Sysno::Gettid => Ok(tid.get() as usize),
        Sysno::Getppid => k.tree.parent(me).map(|p| p.get() as usize),
        Sysno::Getpgid | Sysno::Getsid | Sysno::Getpgrp => {
            let pid = if sys == Sysno::Getpgrp {
                0
            } else {
                pid_arg(a[0])
            };
            match u32::try_from(pid) {
                Err(_) => Err(LinuxError::ESRCH),
                Ok(pid) if sys == Sysno::Getsid => k.tree.getsid(tid, pid),
                Ok(pid) => k.tree.getpgid(tid, pid),
            }
            .map(|p| p.get() as usize)
        }
        Sysno::Setpgid => k
            .tree
            .setpgid(tid, pid_arg(a[0]), pid_arg(a[1]))
            .map(|()| 0),
        Sysno::Setsid => k.tree.setsid(tid).map(|p| p.get() as usize),
        Sysno::SetTidAddress => {
            if let Some(t) = k.threads.get_mut(&tid) {
                t.clear_child_tid = a[0];
            }
            Ok(tid.get() as usize)
        }
        Sysno::Kill => k.sys_kill(tid, a[0], a[1]),
        Sysno::Tgkill => k.sys_tgkill(tid, Some(a[0]), a[1], a[2]),
        Sysno::Tkill => k.sys_tgkill(tid, None, a[0], a[1]),
        Sysno::RtSigaction => k.sys_sigaction(tid, a),
        Sysno::RtSigprocmask => k.sys_sigprocmask(tid, a),
        Sysno::RtSigpending => k.sys_sigpending(tid, a),
        Sysno::RtSigsuspend => return k.sys_sigsuspend(tid, a),
        Sysno::RtSigtimedwait => return k.sys_sigtimedwait(tid, a),
        Sysno::Pause => {
            k.block(tid, crate::process::Wait::Suspend);
            return Outcome::Blocked;
        }
        Sysno::RtSigreturn => {
            k.sigreturn(tid);
            return Outcome::NoReturn;
        }
        Sysno::Sigaltstack => k.sys_sigaltstack(tid, a),
        Sysno::Futex => return k.sys_futex(tid, a),
        Sysno::ClockGettime => k.sys_clock_gettime(tid, a[0], a[1]),
        Sysno::ClockGetres => k.sys_clock_getres(tid, a[0], a[1]),
        Sysno::Gettimeofday => k.sys_gettimeofday(a[0], a[1]),
        Sysno::Time => k.sys_time(a[0]),
        Sysno::Times => k.sys_times(tid, a[0]),
        Sysno::Getrusage => k.sys_getrusage(tid, a[0], a[1]),
        Sysno::RtSigqueueinfo => k.sys_sigqueueinfo(tid, a[0], None, a[1], a[2]),
        Sysno::RtTgsigqueueinfo => k.sys_sigqueueinfo(tid, a[0], Some(a[1]), a[2], a[3]),
        Sysno::Nanosleep => return k.sys_nanosleep(tid, a[0]),
        Sysno::ClockNanosleep => return k.sys_clock_nanosleep(tid, a),
        Sysno::SchedYield => k.sys_sched_yield(),
        Sysno::Alarm => k.sys_alarm(tid, a[0]),
        Sysno::Setitimer => k.sys_setitimer(tid, a),
        Sysno::Getitimer => k.sys_getitimer(tid, a[0], a[1]),
        Sysno::ArchPrctl if a[0] == ARCH_SET_FS => {
            match k
                .threads
                .get_mut(&tid)
                .map(|t| t.ctx.set_thread_pointer(a[1]))
            {
                Some(true) => Ok(0),
                _ => Err(LinuxError::EPERM),
            }
        }
        Sysno::ArchPrctl => Err(LinuxError::EINVAL),
        Sysno::Getuid | Sysno::Geteuid | Sysno::Getgid | Sysno::Getegid => {
            k.tree.creds(me).map(|c| match sys {
                Sysno::Getuid => c.ruid,
                Sysno::Geteuid => c.euid,
                Sysno::Getgid => c.rgid,
                _ => c.egid,
            } as usize)
        }
        Sysno::Setuid
        | Sysno::Setgid
        | Sysno::Setreuid
        | Sysno::Setregid
        | Sysno::Setresuid
        | Sysno::Setresgid => crate::ids::set_ids(k, me, sys, a),
        Sysno::Getresuid | Sysno::Getresgid => k.tree.creds(me).and_then(|c| {
            let ids = match sys {
                Sysno::Getresuid => [c.ruid, c.euid, c.suid],
                _ => [c.rgid, c.egid, c.sgid],
            };
            // Three separate pointers; each must be writable.
            for (at, id) in a[..3].iter().zip(ids) {
                crate::uaccess::put_u32(*at, id)?;
            }
            Ok(0)
        }),
        Sysno::Getgroups => Ok(0),
        Sysno::Prctl => k.sys_prctl(tid, me, a),
        Sysno::Prlimit64 => k.sys_prlimit(me, a[0], a[1], a[2], a[3]),
        Sysno::Getrlimit => k.sys_prlimit(me, 0, a[0], 0, a[1]),
        Sysno::Setrlimit => k.sys_prlimit(me, 0, a[0], a[1], 0),
        Sysno::Getrandom => getrandom(&mut k.rng, a[0], a[1], a[2]),
        Sysno::Uname => uname(arch, a[0]),
        Sysno::Sysinfo => sysinfo(k.threads.len(), a[0]),
        _ => Err(LinuxError::ENOSYS),
    };
    Outcome::Ret(r)
}

/// The calls of the process's memory layer (`memory/`) and file layer (`files/`), which
/// hold their own per-process state; `None` for every other call. A file call that would
/// block (a pipe) waits on its key; a write that found no reader raises `SIGPIPE`.
fn layered(k: &mut Kernel, tid: Pid, me: Pid, sys: Sysno, a: [usize; 6]) -> Option<Outcome> {
    let c = k.tree.creds(me).ok()?;
    let (creds, real) = ((c.euid, c.egid), (c.ruid, c.rgid));
    let p = k.procs.get_mut(&me)?;
    let t = k.threads.get_mut(&tid)?;
    p.memory.set_creds(creds.0, creds.1);
    let access = |(uid, gid): (u32, u32)| pagoda::fs::vfs::Access { uid, gid };
    t.files.set_creds(access(creds), access(real));
    if let Some(r) = crate::memory::policy_call(sys, a, &mut t.mempolicy, creds.0) {
        return Some(Outcome::Ret(r));
    }
    if let Some(r) = p.memory.syscall(sys, a, &t.files, &p.limits) {
        return Some(Outcome::Ret(r));
    }
    // Set only while this same call re-executes (a poll or select keeps its deadline).
    let deadline = k.threads.get(&tid).and_then(|t| t.sleep_deadline);
    // `/proc` sees the processes and borrows the inactive address spaces for the call.
    crate::procinfo::lend(k, tid, me, sys, a);
    let call = k
        .threads
        .get_mut(&tid)
        .and_then(|t| t.files.syscall(sys, a, deadline));
    crate::procinfo::restore(k);
    let call = call?;
    let sigpipe = k.threads.get_mut(&tid)?.files.take_sigpipe();
    if sigpipe {
        // As Linux's send_sig(SIGPIPE, current, 0): SI_USER from the writer itself.
        let uid = k.tree.creds(me).map_or(0, |c| c.ruid);
        k.send_thread(tid, SigInfo::user(Signal::SIGPIPE, me.get(), uid));
    }
    Some(match call {
        FileCall::Done(r) => {
            k.file_call_done(tid);
            Outcome::Ret(r)
        }
        FileCall::Block(b) => {
            k.block_on_files(tid, b);
            Outcome::Blocked
        }
    })
}

/// `clone3(uargs, size)`'s arguments as `clone` takes them: the size is checked before the
/// struct is read (`E2BIG`, `EINVAL`, then `EFAULT`), then `pagoda_task::clone`'s rules.
fn clone3_args(uargs: usize, size: usize) -> Result<CloneArgs, LinuxError> {
    use pagoda_task::clone::{CLONE_ARGS_MAX, CLONE_ARGS_SIZE_VER0, decode_clone3};
    if size > CLONE_ARGS_MAX {
        return Err(LinuxError::E2BIG);
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(LinuxError::EINVAL);
    }
    let mut raw = alloc::vec![0u8; size];
    crate::uaccess::get(Some(uargs), &mut raw)?;
    let c = decode_clone3(&raw)?;
    Ok(CloneArgs {
        flags: c.flags,
        stack: c.sp,
        parent_tid: c.parent_tid,
        child_tid: c.child_tid,
        tls: c.tls,
    })
}

/// `getrandom(buf, len, flags)`: a splitmix64 stream seeded from the clock at boot —
/// plausible bytes for hash seeds and stack protectors, **not cryptographic**.
fn getrandom(rng: &mut u64, buf: usize, len: usize, flags: usize) -> SysResult {
    if flags & !GRND_ALL != 0 {
        return Err(LinuxError::EINVAL);
    }
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        for word in chunk[..n].chunks_mut(8) {
            *rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes()[..word.len()]);
        }
        if let Err(e) = put(done.checked_add(buf), &chunk[..n]) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += n;
    }
    Ok(done)
}

/// `sysinfo`: uptime, the frame allocator's figures (as `/proc/meminfo`), no load, no swap;
/// `procs` counts threads as Linux does.
fn sysinfo(threads: usize, buf: usize) -> SysResult {
    const PAGE: u64 = 4096;
    let frames = pagoda::mm::frame_stats();
    let info = Sysinfo {
        uptime: (pagoda::time::monotonic_ns() / 1_000_000_000) as i64,
        loads: [0; 3],
        totalram: frames.total as u64 * PAGE,
        freeram: frames.free as u64 * PAGE,
        sharedram: 0,
        procs: u16::try_from(threads).unwrap_or(u16::MAX),
    };
    put(Some(buf), &info.encode()).map(|()| 0)
}

/// `uname(buf)`: a `struct utsname`.
fn uname(arch: Arch, buf: usize) -> SysResult {
    let uts = encode_utsname([
        "Linux",
        "pagoda",
        RELEASE,
        "#1 Pagoda",
        arch.machine(),
        "(none)",
    ]);
    put(Some(buf), &uts).map(|()| 0)
}
