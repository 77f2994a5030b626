//! Formatted output through `write`, one system call per line (or per full buffer), so a
//! kernel console log shows whole lines.

use crate::{Error, Fd, write_all};
use core::fmt;

/// Bytes gathered before a `write` call.
const BUF_LEN: usize = 256;

/// A small stack buffer in front of `write_all`. Flush it explicitly; dropping loses data.
pub(crate) struct Buffered {
    fd: Fd,
    buf: [u8; BUF_LEN],
    len: usize,
    /// The first write error; `fmt::Error` cannot carry it.
    error: Option<Error>,
}

impl Buffered {
    pub(crate) const fn new(fd: Fd) -> Self {
        Self {
            fd,
            buf: [0; BUF_LEN],
            len: 0,
            error: None,
        }
    }

    /// Writes out what is buffered; returns the first error seen so far.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        if self.error.is_none() && self.len > 0 {
            self.error = write_all(self.fd, &self.buf[..self.len]).err();
        }
        self.len = 0;
        self.error.map_or(Ok(()), Err)
    }
}

impl fmt::Write for Buffered {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            if self.len == BUF_LEN {
                self.flush().map_err(|_| fmt::Error)?;
            }
            let n = s.len().min(BUF_LEN - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            s = &s[n..];
            if self.buf[..self.len].ends_with(b"\n") {
                self.flush().map_err(|_| fmt::Error)?;
            }
        }
        Ok(())
    }
}

/// Formats `args` to `fd`.
pub(crate) fn print_to(fd: Fd, args: fmt::Arguments<'_>) -> Result<(), Error> {
    let mut out = Buffered::new(fd);
    let formatted = fmt::write(&mut out, args);
    out.flush()?;
    // A formatting error with no write error comes from a `Display` impl.
    formatted.map_err(|_| Error::EINVAL)
}

/// Formats `args` to standard output; what [`print!`](crate::print) and
/// [`println!`](crate::println) call.
///
/// # Errors
/// The first failing `write`'s error ([`Error::EINVAL`] if a `Display` impl failed).
pub fn print_fmt(args: fmt::Arguments<'_>) -> Result<(), Error> {
    print_to(Fd::STDOUT, args)
}

/// Standard output as a [`fmt::Write`] sink without buffering (one `write` per piece).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdout;

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(Fd::STDOUT, s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Prints to standard output.
///
/// # Panics
/// If the write fails (the panic handler then tries to report it and exits with 101).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        if let Err(e) = $crate::print_fmt(format_args!($($arg)*)) {
            panic!("printing to stdout failed: {e}");
        }
    };
}

/// Prints to standard output, with a newline.
///
/// # Panics
/// If the write fails (the panic handler then tries to report it and exits with 101).
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print!("{}\n", format_args!($($arg)*)) };
}
