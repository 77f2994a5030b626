//! The system calls a static glibc (or musl) program makes at start-up and for simple
//! output and memory management. Every user pointer goes through the address space's
//! uaccess (`read_bytes` / `write_bytes`), never a raw pointer.

use crate::files::{FileCall, Files};
use crate::memory::Memory;
use pagoda::linux::Sysno;
use pagoda::linux::abi::{Arch, encode_utsname};
use pagoda::mm::{self, LinuxError, UserContext, VirtAddr};

/// The release `uname` reports (programs and tests check for ≥ 6.13).
const RELEASE: &str = "6.13.0-pagoda";
/// The pid and tid of the one process.
const PID: usize = 1;

/// `arch_prctl` codes.
const ARCH_SET_FS: usize = 0x1002;
/// `getrandom` flags: `GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE`.
const GRND_ALL: usize = 7;

type SysResult = Result<usize, LinuxError>;

/// The per-process state the calls need.
pub struct Process {
    arch: Arch,
    rng: u64,
    files: Files,
    memory: Memory,
}

impl Process {
    /// A process on this arch; `seed` starts `getrandom`'s generator.
    pub fn new(seed: u64) -> Self {
        let arch = match pagoda::ARCH {
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::Aarch64,
            _ => Arch::Riscv64,
        };
        Self {
            arch,
            rng: seed,
            files: Files::new_console(),
            memory: Memory::new(),
        }
    }

    fn sysno(&self, number: usize) -> Option<Sysno> {
        match self.arch {
            Arch::X86_64 => Sysno::from_x86_64(number),
            Arch::Riscv64 | Arch::Aarch64 => Sysno::from_generic(number),
        }
    }

    /// Serves the system call `ctx` stopped at; `Some(status)` when the program exits.
    pub fn syscall(&mut self, ctx: &mut UserContext) -> Option<i32> {
        let a = ctx.syscall_args();
        let Some(sys) = self.sysno(ctx.syscall_number()) else {
            ctx.set_syscall_return(errno(LinuxError::ENOSYS));
            return None;
        };
        if let Some(ret) = self.memory.syscall(sys, a, &self.files) {
            ctx.set_syscall_return(ret.unwrap_or_else(errno));
            return None;
        }
        if let Some(r) = self.files.syscall(sys, a) {
            return match r {
                FileCall::Done(ret) => {
                    ctx.set_syscall_return(ret.unwrap_or_else(errno));
                    None
                }
                // Only another process could wake this one, and there is none: the wait
                // would last forever, so the kernel ends the program as SIGKILL would.
                FileCall::Block(key) => {
                    pagoda::println!("pagoda-linux: pid 1 would wait forever ({key:?}); killed");
                    Some(128 + 9)
                }
            };
        }
        let ret = match sys {
            Sysno::Exit | Sysno::ExitGroup => return Some(a[0] as i32),
            Sysno::ArchPrctl if a[0] == ARCH_SET_FS => match ctx.set_thread_pointer(a[1]) {
                true => Ok(0),
                false => Err(LinuxError::EPERM),
            },
            Sysno::ArchPrctl => Err(LinuxError::EINVAL),
            // No thread ever exits on its own yet, so the clear-tid word is never used.
            Sysno::SetTidAddress | Sysno::Getpid | Sysno::Gettid => Ok(PID),
            Sysno::Getppid => Ok(0),
            Sysno::Getuid | Sysno::Geteuid | Sysno::Getgid | Sysno::Getegid => Ok(0),
            Sysno::Getrandom => self.getrandom(a[0], a[1], a[2]),
            Sysno::Uname => uname(self.arch, a[0]),
            _ => Err(LinuxError::ENOSYS),
        };
        ctx.set_syscall_return(match ret {
            Ok(v) => v,
            Err(e) => errno(e),
        });
        None
    }

    /// `getrandom(buf, len, flags)`: a splitmix64 stream seeded from the clock at boot —
    /// plausible bytes for hash seeds and stack protectors, **not cryptographic**.
    fn getrandom(&mut self, buf: usize, len: usize, flags: usize) -> SysResult {
        if flags & !GRND_ALL != 0 {
            return Err(LinuxError::EINVAL);
        }
        let mut chunk = [0u8; 256];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk.len());
            for word in chunk[..n].chunks_mut(8) {
                self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.rng;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes()[..word.len()]);
            }
            if let Err(e) = put(buf.checked_add(done), &chunk[..n]) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            done += n;
        }
        Ok(done)
    }
}

/// A negative errno as the register value.
fn errno(e: LinuxError) -> usize {
    (-(e.code() as isize)) as usize
}

/// Runs `f` on the current address space (`EFAULT` if there is none).
fn space<R>(f: impl FnOnce(&mut mm::AddrSpace) -> Result<R, LinuxError>) -> Result<R, LinuxError> {
    mm::with_current(f).unwrap_or(Err(LinuxError::EFAULT))
}

/// Copies `data` to user address `at`.
fn put(at: Option<usize>, data: &[u8]) -> Result<(), LinuxError> {
    let at = at.ok_or(LinuxError::EFAULT)?;
    space(|s| s.write_bytes(VirtAddr::from_usize(at), data))
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
