//! Running user programs: ELF loading, and the user-mode loop that serves their system
//! calls and page faults.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use memory_addr::{MemoryAddr, VirtAddr};
use page_table_entry::MappingFlags;
use pagoda_hal::user_space::{FaultStats, resolve_fault, with_current};
use pagoda_hal::{SYS_EXIT, SYS_EXIT_GROUP, SYS_WRITE, Signal, UserContext, UserTrap};
use pagoda_linux::abi::Arch;
use pagoda_linux::sigframe::{fp_size, frame_len};
use pagoda_mm::elf::{ElfLayout, ElfLoadRequest, ExecInfo, InterpImage, LoadedElf};
use pagoda_mm::{File, LinuxError, LinuxResult, MemFile, Populate};

use super::{AddrSpace, Error, fault_stats, new_space, switch_to, take_current, user_range};

/// Size of the stack area of programs loaded by [`load_elf`] (lazily allocated).
const STACK_SIZE: usize = 1 << 20;
/// The smallest initial stack area of [`load_program`] (Linux's `ARG_MAX`: 32 pages are
/// always allowed for the arguments).
const MIN_ARG_SPACE: usize = 128 << 10;
/// The largest argument space (Linux: 3/4 of `_STK_LIM`).
const MAX_ARG_SPACE: usize = 6 << 20;
/// The smallest room `mmap` leaves above its top for the stack (Linux's `mmap_base`: the
/// stack limit, at least 128 MiB; at most half the space here).
const MIN_STACK_GAP: usize = 128 << 20;
/// Where a position-independent program is loaded.
const PIE_BASE: usize = 0x2_0000_0000;
/// Bytes of program output kept in a [`RunReport`].
const OUTPUT_LIMIT: usize = 64 * 1024;
/// A fault resolved this many times in a row at the same place kills the program: it
/// would loop forever.
const MAX_REPEATED_FAULTS: usize = 16;

/// How a user program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(status)`.
    Exited(i32),
    /// The kernel killed it.
    Killed {
        /// Why.
        signal: Signal,
        /// The faulting address, for memory faults.
        addr: Option<VirtAddr>,
    },
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exited(code) => write!(f, "exited with status {code}"),
            Self::Killed {
                signal,
                addr: Some(a),
            } => {
                write!(f, "killed by {signal} at {:#x}", a.as_usize())
            }
            Self::Killed { signal, addr: None } => write!(f, "killed by {signal}"),
        }
    }
}

/// What happened while a program ran.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// How it ended.
    pub status: ExitStatus,
    /// System calls served.
    pub syscalls: usize,
    /// Its page faults, by outcome.
    pub faults: FaultStats,
    /// The first 64 KiB it wrote to stdout and stderr (also echoed to the console).
    pub output: Vec<u8>,
}

impl RunReport {
    /// The output as text (invalid UTF-8 ends it).
    pub fn output_str(&self) -> &str {
        match core::str::from_utf8(&self.output) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.output[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

/// Maps `code` at `va` (page-aligned) as a read+execute user area and copies it in.
///
/// # Errors
/// `EINVAL` (unaligned, empty, outside the space), `EEXIST` (overlap), `ENOMEM`.
pub fn map_code(space: &mut AddrSpace, va: VirtAddr, code: &[u8]) -> LinuxResult {
    let size = code.len().align_up_4k();
    let rx = MappingFlags::READ | MappingFlags::EXECUTE | MappingFlags::USER;
    space.map_alloc(va, size, rx, Populate::Lazy)?;
    space.force_write_bytes(va, code).inspect_err(|_| {
        let _ = space.munmap(va, size);
    })
}

/// 16 bytes for `AT_RANDOM`: the clock and a counter, mixed (not cryptographic).
fn random_bytes() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut x = pagoda_hal::time::wall_clock_secs() ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^ (z >> 31)
    };
    let mut out = [0; 16];
    out[..8].copy_from_slice(&next().to_le_bytes());
    out[8..].copy_from_slice(&next().to_le_bytes());
    out
}

/// Loads the ELF `image` into `space` with arguments `argv`: segments, a 1 MiB stack at
/// the top of the user range (lazy), the heap start. Nothing stays mapped on error.
///
/// # Errors
/// As `pagoda_mm::elf::load_elf`: `ENOEXEC` (not an executable for this arch), `EINVAL`,
/// `E2BIG`, `EEXIST`, `ENOMEM`.
pub fn load_elf(space: &mut AddrSpace, image: &[u8], argv: &[&str]) -> LinuxResult<LoadedElf> {
    load_elf_env(space, image, argv, &[])
}

/// [`load_elf`] with an environment `envp` (`"NAME=value"` strings) on the new stack.
///
/// # Errors
/// As [`load_elf`].
pub fn load_elf_env(
    space: &mut AddrSpace,
    image: &[u8],
    argv: &[&str],
    envp: &[&str],
) -> LinuxResult<LoadedElf> {
    pagoda_mm::elf::load_elf(space, image, None, &request(argv, envp))
}

/// What `execve` was given, for [`load_program`].
#[derive(Debug, Clone, Copy)]
pub struct ExecArgs<'a> {
    /// The path the program was run by (`AT_EXECFN`).
    pub execfn: &'a str,
    /// Arguments, `argv[0]` first.
    pub argv: &'a [&'a str],
    /// Environment strings (`"NAME=value"`).
    pub envp: &'a [&'a str],
    /// Real and effective user id, real and effective group id (`AT_UID`, `AT_EUID`,
    /// `AT_GID`, `AT_EGID`; `AT_SECURE` is set when they differ).
    pub ids: [u32; 4],
    /// The soft `RLIMIT_STACK` (bytes; `u64::MAX` for none): how far the stack may grow.
    pub stack_limit: u64,
}

/// The stack geometry of a program loaded with a stack limit of `limit` bytes in a space
/// of `span` bytes: `(initial stack area, largest stack, room mmap leaves above its top)`.
/// The initial area holds the arguments (a quarter of the limit, as Linux's `execve`
/// allows, clamped to `[MIN_ARG_SPACE, MAX_ARG_SPACE]`); the stack grows down from it up to
/// the limit; `mmap` places areas below the stack's largest extent plus the guard gap.
fn stack_geometry(limit: u64, span: usize) -> (usize, usize, usize) {
    let page = |x: usize| x & !(memory_addr::PAGE_SIZE_4K - 1);
    let half = page(span / 2);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX).min(half);
    let initial = page((limit / 4).clamp(MIN_ARG_SPACE, MAX_ARG_SPACE));
    let largest = page(limit).max(initial);
    let gap = largest.clamp(MIN_STACK_GAP, half.max(MIN_STACK_GAP)) + pagoda_mm::STACK_GUARD_GAP;
    (initial, largest, gap)
}

/// Loads a program as `execve` does: `image` (its bytes; `file`, when given, the same bytes
/// as a page-cache file to map whole pages from), then — when it names a `PT_INTERP` —
/// the interpreter `open_interp(path)` returns, placed top-down below the stack as Linux's
/// `mmap` would place it and mapped from its file (so `/proc/self/maps` shows its path).
/// The program starts at the interpreter's entry with the full Linux auxv: `AT_BASE`,
/// `AT_ENTRY` (the program's entry), `AT_EXECFN`, the ids of `args`, `AT_HWCAP`
/// (x86_64: CPUID leaf 1 EDX, as Linux; riscv64: the IMAFDC letter bits of rv64gc),
/// `AT_HWCAP2` 0, `AT_CLKTCK` 100, `AT_MINSIGSTKSZ` (Pagoda's signal frame with its FP
/// state and alignment), `AT_PLATFORM` "x86_64" on x86_64, no `AT_SYSINFO_EHDR` (no vDSO).
/// Nothing stays mapped on error.
///
/// # Errors
/// As [`load_elf`]; `open_interp`'s error (`ENOENT` for a missing interpreter, `EACCES`);
/// `ENOENT` for a path that is not UTF-8 (the namespace has no such names); `ELIBBAD` for
/// an interpreter that is not an ELF image for this arch, `EINVAL` for one that is neither
/// `ET_EXEC` nor `ET_DYN` (as `pagoda_mm::elf::load_elf_ex`).
pub fn load_program(
    space: &mut AddrSpace,
    image: &[u8],
    file: Option<&Arc<dyn File>>,
    args: &ExecArgs<'_>,
    open_interp: impl FnOnce(&str) -> LinuxResult<Arc<MemFile>>,
) -> LinuxResult<LoadedElf> {
    let mut req = request(args.argv, args.envp);
    let range = space.va_range();
    let (initial, largest, gap) = stack_geometry(args.stack_limit, range.size());
    req.stack_size = initial;
    space.set_stack_limit(largest);
    space.set_mmap_top(req.stack_top.checked_sub(gap).unwrap_or(range.start));
    let layout = ElfLayout {
        machine: req.machine,
        user_start: range.start,
        user_end: range.end,
        pie_base: req.pie_base,
    };
    let plan = pagoda_mm::elf::plan(image, &layout)?;
    let interp = match &plan.interp {
        Some(path) => {
            let path = core::str::from_utf8(path).map_err(|_| LinuxError::ENOENT)?;
            Some(open_interp(path)?)
        }
        None => None,
    };
    let interp_bytes = interp.as_ref().map(|f| f.contents());
    let interp_file: Option<Arc<dyn File>> = interp.map(|f| f as Arc<dyn File>);
    let info = ExecInfo {
        interp: interp_bytes.as_deref().map(|image| InterpImage {
            image,
            file: interp_file.as_ref(),
        }),
        ids: args.ids,
        hwcap: hwcap(),
        hwcap2: 0,
        minsigstksz: Some(frame_len(ARCH) + fp_size(ARCH) + 64),
        platform: cfg!(target_arch = "x86_64").then_some(b"x86_64".as_slice()),
        execfn: Some(args.execfn.as_bytes()),
    };
    let loaded = pagoda_mm::elf::load_elf_ex(space, image, file, &req, &info)?;
    // The main thread's stack grows down (Linux's VM_GROWSDOWN stack).
    space.set_growsdown(loaded.stack.start)?;
    Ok(loaded)
}

/// The Linux ABI of this build's arch.
#[cfg(target_arch = "x86_64")]
const ARCH: Arch = Arch::X86_64;
/// The Linux ABI of this build's arch.
#[cfg(target_arch = "aarch64")]
const ARCH: Arch = Arch::Aarch64;
/// The Linux ABI of this build's arch.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Arch = Arch::Riscv64;

/// `AT_HWCAP` as Linux reports it on x86_64: CPUID leaf 1's EDX feature bits.
#[cfg(target_arch = "x86_64")]
fn hwcap() -> usize {
    core::arch::x86_64::__cpuid(1).edx as usize
}

/// `AT_HWCAP` on aarch64: `HWCAP_FP | HWCAP_ASIMD`, the baseline every ARMv8-A CPU has
/// (Linux adds the optional features it detects).
#[cfg(target_arch = "aarch64")]
fn hwcap() -> usize {
    0b11
}

/// `AT_HWCAP` as Linux reports it on riscv64: one bit per single-letter extension
/// (`1 << (letter - 'a')`); QEMU's rv64gc has I, M, A, F, D and C.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn hwcap() -> usize {
    b"imafdc".iter().fold(0, |acc, l| acc | 1 << (l - b'a'))
}

/// The request every program gets: PIE base, stack at the top of the user range, fresh
/// random bytes, no fixed interpreter base.
fn request<'a>(argv: &'a [&'a str], envp: &'a [&'a str]) -> ElfLoadRequest<'a, &'a str, &'a str> {
    ElfLoadRequest {
        machine: pagoda_hal::ELF_MACHINE,
        pie_base: VirtAddr::from_usize(PIE_BASE),
        stack_top: user_range().end,
        stack_size: STACK_SIZE,
        argv,
        envp,
        random: random_bytes(),
        interp_base: VirtAddr::from_usize(0),
    }
}

/// Loads `image` into a fresh address space, runs it until it exits or is killed, and
/// switches back to the address space that was current before (the program's is freed).
///
/// # Errors
/// Creating the space, loading the image ([`load_elf`]) or installing the space failed;
/// the program did not run.
pub fn exec(image: &[u8], argv: &[&str]) -> Result<RunReport, Error> {
    let mut space = new_space()?;
    let elf = load_elf(&mut space, image, argv)?;
    let previous = switch_to(space)?;
    let report = run(&mut UserContext::new(
        elf.entry.as_usize(),
        elf.sp.as_usize(),
    ));
    let program = match previous {
        Some(p) => switch_to(p)
            .map_err(|e| log::error!("exec: {e}"))
            .ok()
            .flatten(),
        None => take_current(),
    };
    drop(program);
    Ok(report)
}

/// Runs `ctx` in user mode on the current address space until the program exits or is
/// killed. Serves `write` (fd 1 and 2: copied from user memory through the address space,
/// never through a raw pointer) and `exit`/`exit_group`; other system calls return
/// `-ENOSYS`. Page faults go to the address space; one it refuses kills the program
/// (`SIGSEGV`, `SIGBUS`, or `SIGKILL` when out of memory), as does any other exception.
/// The kernel carries on either way.
pub fn run(ctx: &mut UserContext) -> RunReport {
    let before = fault_stats();
    let mut output = Vec::new();
    let mut syscalls = 0;
    let mut last_fault = (VirtAddr::from_usize(0), 0);
    let status = loop {
        // A file this space maps may have shrunk since the last trap: drop the pages past
        // its end before user code can touch them (the contract of `apply_truncations`).
        with_current(|space| space.apply_truncations());
        let trap = ctx.run();
        match trap {
            UserTrap::Syscall => {
                syscalls += 1;
                if let Some(status) = syscall(ctx, &mut output) {
                    break status;
                }
            }
            UserTrap::PageFault { addr, access } => {
                last_fault = match last_fault {
                    (a, n) if a == addr => (a, n + 1),
                    _ => (addr, 1),
                };
                let signal = match resolve_fault(addr, access | MappingFlags::USER) {
                    Ok(_) if last_fault.1 < MAX_REPEATED_FAULTS => continue,
                    Ok(_) => Signal::Segv,
                    Err(why) => why.signal(),
                };
                break ExitStatus::Killed {
                    signal,
                    addr: Some(addr),
                };
            }
            // Only when the caller armed the timer: the program simply carries on.
            UserTrap::Timer => {}
            UserTrap::Exception { .. } => {
                let signal = trap.signal().unwrap_or(Signal::Segv);
                break ExitStatus::Killed { signal, addr: None };
            }
        }
    };
    RunReport {
        status,
        syscalls,
        faults: fault_stats().since(&before),
        output,
    }
}

/// Serves one system call; `Some` when the program is done.
fn syscall(ctx: &mut UserContext, output: &mut Vec<u8>) -> Option<ExitStatus> {
    let [a0, a1, a2, ..] = ctx.syscall_args();
    let ret = match ctx.syscall_number() {
        SYS_WRITE => sys_write(a0, VirtAddr::from_usize(a1), a2, output),
        SYS_EXIT | SYS_EXIT_GROUP => return Some(ExitStatus::Exited(a0 as i32)),
        _ => Err(LinuxError::ENOSYS),
    };
    let value = match ret {
        Ok(n) => n,
        Err(e) => (-(e.code() as isize)) as usize,
    };
    ctx.set_syscall_return(value);
    None
}

/// `write(fd, buf, len)` to the console. Returns the bytes written; a fault after some
/// bytes ends the write early, as on Linux.
fn sys_write(
    fd: usize,
    buf: VirtAddr,
    len: usize,
    output: &mut Vec<u8>,
) -> Result<usize, LinuxError> {
    if fd != 1 && fd != 2 {
        return Err(LinuxError::EBADF);
    }
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        let at = buf.as_usize().checked_add(done).ok_or(LinuxError::EFAULT);
        let copied = at.and_then(|at| {
            super::with_current(|s| s.read_bytes(VirtAddr::from_usize(at), &mut chunk[..n]))
                .unwrap_or(Err(LinuxError::EFAULT))
        });
        if let Err(e) = copied {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        pagoda_hal::console::write_bytes(&chunk[..n]);
        let keep = n.min(OUTPUT_LIMIT.saturating_sub(output.len()));
        output.extend_from_slice(&chunk[..keep]);
        done += n;
    }
    Ok(done)
}
