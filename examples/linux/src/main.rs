//! The Linux personality: unpacks the initramfs QEMU's `-initrd` passed into the RAM file
//! system, loads `/init` (or, without one, the archive's first regular file) as pid 1 with
//! `argv = ["/init", args...]` (the arguments come from the file `/args` of the archive,
//! one per line, if present) and a small environment, and serves its system calls
//! (`syscall.rs`) until it exits. Then the kernel powers off with the program's status:
//! it prints `pagoda-linux: exit status N` and exits QEMU with N (128 + signal when a
//! fault killed it); see `scripts/run_linux.sh` for reading it back on each arch.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod boot;
mod files;
mod memory;
mod mmap_source;
mod syscall;

use alloc::string::String;
use alloc::vec::Vec;

use pagoda::mm::{self, MappingFlags, Signal, UserContext, UserTrap, VirtAddr};
use pagoda::println;

pagoda::main!(main);

/// Status when the kernel cannot start the program at all (like a shell's 127).
const NO_PROGRAM_STATUS: u8 = 127;
/// A fault resolved this many times in a row at one address kills the program.
const MAX_REPEATED_FAULTS: usize = 16;
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
    Space(mm::Error),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Boot(e) => write!(f, "{e}"),
            Self::Load(path, e) => write!(f, "cannot execute {path}: {e}"),
            Self::Space(e) => write!(f, "address space: {e}"),
        }
    }
}

/// Unpacks the initrd, loads the program and runs it; its exit status.
fn start() -> Result<i32, StartError> {
    let image = pagoda::mem::initrd().ok_or(StartError::Boot(boot::BootError::NoInitrd))?;
    let initramfs = boot::unpack(image).map_err(StartError::Boot)?;
    println!(
        "pagoda-linux: initrd {} KiB, {} inodes ({} members skipped)",
        image.len() >> 10,
        initramfs.fs.len(),
        initramfs.skipped
    );
    let (path, elf) = initramfs.init_program().map_err(StartError::Boot)?;
    let args = initramfs.args();
    let mut argv: Vec<&str> = Vec::with_capacity(args.len() + 1);
    argv.push(&path);
    argv.extend(args.iter().map(String::as_str));

    let mut space = mm::new_space().map_err(|e| StartError::Space(e.into()))?;
    let loaded = mm::load_elf_env(&mut space, &elf, &argv, ENVP)
        .map_err(|e| StartError::Load(path.clone(), e))?;
    drop(elf);
    let layout = files::procfs::ExecLayout::new(
        &path,
        loaded.sp.as_usize() as u64,
        loaded.stack.end.as_usize() as u64,
        &argv,
        ENVP,
    );
    files::procfs::exec(1, layout);
    mm::switch_to(space).map_err(|e| StartError::Space(e.into()))?;
    println!("pagoda-linux: running {path} as pid 1");
    let mut ctx = UserContext::new(loaded.entry.as_usize(), loaded.sp.as_usize());
    let seed = pagoda::time::monotonic_ns() ^ pagoda::time::wall_clock_secs().rotate_left(32);
    Ok(run(&mut ctx, &mut syscall::Process::new(seed)))
}

/// Runs the program until it exits (its status) or a fault or exception kills it
/// (128 + the signal, as a shell reports it).
fn run(ctx: &mut UserContext, process: &mut syscall::Process) -> i32 {
    let mut last_fault = (VirtAddr::from_usize(0), 0);
    let killed = loop {
        // A mapped file may have shrunk: drop its pages past the end before user code runs.
        mm::with_current(|s| s.apply_truncations());
        let trap = ctx.run();
        match trap {
            UserTrap::Syscall => {
                if let Some(status) = process.syscall(ctx) {
                    return status;
                }
            }
            UserTrap::PageFault { addr, access } => {
                last_fault = match last_fault {
                    (a, n) if a == addr => (a, n + 1),
                    _ => (addr, 1),
                };
                match mm::resolve_fault(addr, access | MappingFlags::USER) {
                    Ok(_) if last_fault.1 < MAX_REPEATED_FAULTS => {}
                    Ok(_) => break (Signal::Segv, Some(addr)),
                    Err(why) => break (why.signal(), Some(addr)),
                }
            }
            UserTrap::Timer => {}
            UserTrap::Exception { .. } => break (trap.signal().unwrap_or(Signal::Segv), None),
        }
    };
    match killed {
        (signal, Some(addr)) => println!(
            "pagoda-linux: pid 1 killed by {signal} at {:#x}",
            addr.as_usize()
        ),
        (signal, None) => println!("pagoda-linux: pid 1 killed by {signal}"),
    }
    128 + i32::from(killed.0.number())
}
