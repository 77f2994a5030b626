#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

mod arch;
mod print;
mod startup;

use core::fmt;

pub use print::{Stdout, print_fmt};
pub use startup::{AuxEntry, CStrs, Startup, auxv};

/// Linux system-call numbers of the running architecture.
pub mod nr {
    pub use crate::arch::{SYS_EXIT, SYS_WRITE};
}

/// A file descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fd(pub i32);

impl Fd {
    /// Standard output (the console under Pagoda).
    pub const STDOUT: Fd = Fd(1);
    /// Standard error.
    pub const STDERR: Fd = Fd(2);
}

/// Why a system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The kernel returned `-errno` (a value in `-4095..=-1`); this holds `errno`.
    Errno(u16),
    /// `write` reported 0 bytes written for a non-empty buffer.
    WriteZero,
}

impl Error {
    /// Bad file descriptor.
    pub const EBADF: Error = Error::Errno(9);
    /// Bad address.
    pub const EFAULT: Error = Error::Errno(14);
    /// Invalid argument.
    pub const EINVAL: Error = Error::Errno(22);
    /// System call not implemented.
    pub const ENOSYS: Error = Error::Errno(38);
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::WriteZero => f.write_str("write returned 0 bytes"),
            Error::Errno(n) => {
                let name = match Error::Errno(n) {
                    Error::EBADF => "EBADF",
                    Error::EFAULT => "EFAULT",
                    Error::EINVAL => "EINVAL",
                    Error::ENOSYS => "ENOSYS",
                    _ => return write!(f, "errno {n}"),
                };
                write!(f, "errno {n} ({name})")
            }
        }
    }
}

/// Turns a raw syscall result into `Ok(value)` or the error it encodes.
fn decode(ret: usize) -> Result<usize, Error> {
    match ret as isize {
        e @ -4095..=-1 => Err(Error::Errno(e.unsigned_abs() as u16)),
        _ => Ok(ret),
    }
}

/// Raw system call `nr` with six arguments; the result is decoded into `Ok`/`Err`.
///
/// # Safety
/// The arguments must be valid for system call `nr`: every pointer it reads or writes must
/// be valid for that access for the whole call, and the call must not break an invariant
/// Rust relies on (e.g. unmapping memory that is still referenced).
///
/// # Errors
/// The error number the kernel returned.
pub unsafe fn syscall(nr: usize, args: [usize; 6]) -> Result<usize, Error> {
    // SAFETY: forwarded from the caller.
    decode(unsafe { arch::syscall(nr, args) })
}

/// `write(fd, buf)`: writes some prefix of `buf`, returns how many bytes.
///
/// # Errors
/// The error number the kernel returned (e.g. [`Error::EBADF`]).
pub fn write(fd: Fd, buf: &[u8]) -> Result<usize, Error> {
    let args = [
        fd.0 as isize as usize,
        buf.as_ptr() as usize,
        buf.len(),
        0,
        0,
        0,
    ];
    // SAFETY: `write` only reads `buf.len()` bytes at `buf.as_ptr()`, a live shared slice.
    unsafe { syscall(nr::SYS_WRITE, args) }
}

/// Writes all of `buf`, retrying after short writes.
///
/// # Errors
/// The first failing `write`'s error, [`Error::WriteZero`] if the kernel makes no progress,
/// or [`Error::EINVAL`] if it claims more bytes than were asked; some prefix of `buf` may
/// have been written.
pub fn write_all(fd: Fd, mut buf: &[u8]) -> Result<(), Error> {
    while !buf.is_empty() {
        match write(fd, buf)? {
            0 => return Err(Error::WriteZero),
            n => buf = buf.get(n..).ok_or(Error::EINVAL)?,
        }
    }
    Ok(())
}

/// Ends the process with exit status `code` (the parent sees `code & 0xff`).
pub fn exit(code: i32) -> ! {
    arch::exit(code)
}

/// Names the program's entry function: `fn(&Startup) -> i32`, whose result is the exit
/// status. Use it exactly once, at the crate root of a `#![no_main]` program.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        /// Called by `pagoda-usys`' `_start` once the initial stack is parsed.
        #[unsafe(no_mangle)]
        fn __usys_main(start: &$crate::Startup) -> i32 {
            let main: fn(&$crate::Startup) -> i32 = $main;
            main(start)
        }
    };
}

/// Glue between the `_start` assembly, the program's `main!` function and the panic path.
#[cfg(target_os = "none")]
mod entry {
    use crate::{Fd, Startup, exit, print::Buffered};
    use core::fmt::Write;

    unsafe extern "Rust" {
        /// Defined by the program through [`crate::main!`], with exactly this signature.
        fn __usys_main(start: &Startup) -> i32;
    }

    /// Called by `_start` with the initial stack pointer.
    ///
    /// # Safety
    /// Only `_start` calls it, with the stack pointer the kernel entered with.
    pub(crate) unsafe extern "C" fn start_rust(sp: *const usize) -> ! {
        // SAFETY: per the process-entry ABI the kernel left the System V initial stack at sp;
        // `_start` never returns, so that memory stays untouched for the whole program.
        let start = unsafe { Startup::from_stack(sp) };
        // SAFETY: `main!` defines `__usys_main` with this signature; a program without it
        // fails to link rather than calling something else.
        exit(unsafe { __usys_main(&start) })
    }

    /// Prints the message (to stderr, or stdout if stderr is not open) and exits with 101.
    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        for fd in [Fd::STDERR, Fd::STDOUT] {
            let mut out = Buffered::new(fd);
            if writeln!(out, "user program {info}").is_ok() && out.flush().is_ok() {
                break;
            }
        }
        exit(101)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_splits_the_error_range() {
        assert_eq!(decode(0), Ok(0));
        assert_eq!(decode(4096), Ok(4096));
        assert_eq!(decode(-1isize as usize), Err(Error::Errno(1)));
        assert_eq!(decode(-9isize as usize), Err(Error::EBADF));
        assert_eq!(decode(-4095isize as usize), Err(Error::Errno(4095)));
        // Just below the error range: a valid (huge) result such as an address.
        assert_eq!(decode(-4096isize as usize), Ok(-4096isize as usize));
    }

    #[test]
    fn error_display() {
        assert_eq!(Error::EBADF.to_string(), "errno 9 (EBADF)");
        assert_eq!(Error::Errno(4000).to_string(), "errno 4000");
        assert_eq!(Error::WriteZero.to_string(), "write returned 0 bytes");
    }

    // The real stubs, run on a Linux host: the ABI and numbers are the same.
    #[cfg(target_os = "linux")]
    mod linux {
        use super::super::*;
        use std::io::Read;
        use std::os::fd::AsRawFd;

        #[test]
        fn write_reaches_a_pipe() {
            let (mut rx, tx) = std::io::pipe().unwrap();
            assert_eq!(write(Fd(tx.as_raw_fd()), b"abc"), Ok(3));
            write_all(Fd(tx.as_raw_fd()), b"defg").unwrap();
            assert_eq!(write(Fd(tx.as_raw_fd()), b""), Ok(0));
            drop(tx);
            let mut got = std::string::String::new();
            rx.read_to_string(&mut got).unwrap();
            assert_eq!(got, "abcdefg");
        }

        #[test]
        fn bad_fd_and_bad_pointer_are_errors() {
            assert_eq!(write(Fd(-1), b"x"), Err(Error::EBADF));
            let (_rx, tx) = std::io::pipe().unwrap();
            // SAFETY: the kernel validates the (unmapped) pointer and returns EFAULT without
            // touching our memory.
            let r = unsafe { syscall(nr::SYS_WRITE, [tx.as_raw_fd() as usize, 8, 1, 0, 0, 0]) };
            assert_eq!(r, Err(Error::EFAULT));
        }

        #[test]
        fn print_through_stdout_writer() {
            let (mut rx, tx) = std::io::pipe().unwrap();
            let long = "y".repeat(1000);
            print::print_to(Fd(tx.as_raw_fd()), format_args!("n={} {long}\n", 42)).unwrap();
            drop(tx);
            let mut got = std::string::String::new();
            rx.read_to_string(&mut got).unwrap();
            assert_eq!(got, std::format!("n=42 {long}\n"));
            assert_eq!(
                print::print_to(Fd(-1), format_args!("x")),
                Err(Error::EBADF)
            );
        }
    }
}
