//! The Linux personality: unpacks the initramfs QEMU's `-initrd` passed into the RAM file
//! system (the namespace every process sees, `files/namespace.rs`), loads `/init` (or, without
//! one, the archive's first regular file) as pid 1 with `argv = ["/init", args...]` (the
//! arguments come from the file `/args` of the archive, one per line, if present) and a
//! small environment, and runs it and every process it creates (`sched.rs`: processes,
//! threads, signals, timers) until pid 1 ends. Then the kernel powers off with pid 1's
//! status: it prints `pagoda-linux: exit status N` and exits QEMU with N (128 + signal when
//! a signal killed it); see `scripts/run_linux.sh` for reading it back on each arch.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod boot;
mod exec;
mod exit;
mod files;
mod fork;
mod futex;
mod ids;
mod memory;
mod mmap_source;
mod pressure;
mod process;
mod procinfo;
mod sched;
mod sigcalls;
mod sigdeliver;
mod sigsend;
mod syscall;
mod time;
mod ttyjobs;
mod uaccess;

use alloc::string::String;
use alloc::vec::Vec;

use pagoda::fs::vfs::ROOT_INO;
use pagoda::linux::abi::Arch;
use pagoda::mm;
use pagoda::println;

pagoda::main!(main);

/// Status when the kernel cannot start the program at all (like a shell's 127).
const NO_PROGRAM_STATUS: u8 = 127;
/// The environment of pid 1.
const ENVP: &[&str] = &["HOME=/", "TERM=linux", "PATH=/bin:/sbin:/usr/bin:/usr/sbin"];

fn main() {
    let status = match start() {
        Ok(status) => status,
        Err(e) => {
            println!("pagoda-linux: {e}");
            i32::from(NO_PROGRAM_STATUS)
        }
    };
    power_off(status)
}

/// Prints and exits with `status` as a process would (its low 8 bits).
fn power_off(status: i32) -> ! {
    let code = (status & 0xff) as u8;
    println!("pagoda-linux: exit status {code}");
    pagoda::exit(code)
}

/// Why pid 1 could not start.
enum StartError {
    Boot(boot::BootError),
    Load(String, mm::LinuxError),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Boot(e) => write!(f, "{e}"),
            Self::Load(path, e) => write!(f, "cannot execute {path}: {e}"),
        }
    }
}

/// The ABI of the machine this kernel runs on.
fn arch() -> Arch {
    match pagoda::ARCH {
        "x86_64" => Arch::X86_64,
        "aarch64" => Arch::Aarch64,
        _ => Arch::Riscv64,
    }
}

/// Unpacks the initrd, loads the program and runs every process; pid 1's exit status.
fn start() -> Result<i32, StartError> {
    let image = pagoda::mem::initrd().ok_or(StartError::Boot(boot::BootError::NoInitrd))?;
    let initramfs = boot::unpack(image).map_err(StartError::Boot)?;
    println!(
        "pagoda-linux: initrd {} KiB, {} inodes ({} members skipped)",
        image.len() >> 10,
        initramfs.fs.len(),
        initramfs.skipped
    );
    pressure::set_reserve();
    let (path, _) = initramfs.init_program().map_err(StartError::Boot)?;
    let mut argv: Vec<String> = Vec::with_capacity(8);
    argv.push(path.clone());
    argv.extend(initramfs.args());
    let envp: Vec<String> = ENVP.iter().map(|&e| String::from(e)).collect();
    // Loaded as execve would: a `#!` script runs its interpreter (Linux's kernel_init
    // execs /init the same way).
    let who = files::namespace::WHO;
    let file = files::namespace::read_executable(ROOT_INO, &path, who)
        .map_err(|e| StartError::Load(path.clone(), e))?;
    let limit = ids::STACK_LIMIT;
    let image = exec::load(ROOT_INO, &path, file, argv, &envp, [0; 4], limit)
        .map_err(|e| StartError::Load(path.clone(), e))?;
    files::namespace::set_init_exe(&image.exe);
    files::procfs::exec(1, image.layout);
    files::sysfs::init();
    println!("pagoda-linux: running {path} as pid 1");
    let mut kernel = process::Kernel::new(image.ctx, image.space, arch(), sched::SLICE_TICKS);
    if let Some(init) = kernel.threads.get_mut(&pagoda_task::Pid::INIT) {
        init.comm = exec::comm_of(&path);
    }
    if let Some(p) = kernel.procs.get_mut(&pagoda_task::Pid::INIT) {
        p.sigreturn = image.sigreturn;
    }
    Ok(sched::run(&mut kernel))
}
