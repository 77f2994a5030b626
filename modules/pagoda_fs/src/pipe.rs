//! The buffer of a pipe with pipe(7)'s rules and Linux's accounting: a ring of page-sized
//! slots (16 by default), a write first tops up the last page with its first `len % 4096`
//! bytes when they fit there and then fills fresh pages, so writes of at most `PIPE_BUF`
//! bytes are atomic; end of file when no writer is left, `EPIPE` when no reader is left.
//!
//! Blocking is the kernel's: an operation that cannot go on says so ([`PipeRead::Empty`],
//! [`PipeWrite::Full`]) and the kernel sleeps on the pipe's wait queue and retries, so no lock
//! is held while a task waits.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Writes of at most this many bytes are never interleaved with other writes.
pub const PIPE_BUF: usize = 4096;
/// The default capacity (16 pages).
pub const PIPE_DEFAULT_SIZE: usize = 16 * 4096;
/// The largest capacity `F_SETPIPE_SZ` grants an unprivileged process (`pipe-max-size`).
pub const PIPE_MAX_SIZE: usize = 1 << 20;

const PAGE: usize = 4096;

/// What a read got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeRead {
    /// This many bytes (at least one).
    Data(usize),
    /// Nothing buffered and no writer left: end of file (read returns 0).
    Eof,
    /// Nothing buffered but writers exist: block, or `EAGAIN` with `O_NONBLOCK`.
    Empty,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeWrite {
    /// This many bytes went in (for a blocking writer: keep going with the rest).
    Wrote(usize),
    /// No room (for an atomic write: not enough for all of it): block, or `EAGAIN`.
    Full,
    /// No reader left: `EPIPE`, and `SIGPIPE` for the writer.
    Broken,
}

/// One page of a pipe: `consumed` bytes already read from its start, then `data`.
#[derive(Debug, Clone)]
struct Slot {
    consumed: usize,
    data: VecDeque<u8>,
}

/// A pipe's buffer and its ends.
#[derive(Debug, Clone)]
pub struct Pipe {
    slots: VecDeque<Slot>,
    max_slots: usize,
    readers: usize,
    writers: usize,
}

impl Default for Pipe {
    fn default() -> Self {
        Self::new()
    }
}

/// Why `F_SETPIPE_SZ` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetSizeError {
    /// Above [`PIPE_MAX_SIZE`] without privilege: `EPERM`.
    TooBig,
    /// Beyond what any pipe may have (2 GiB): `EINVAL`.
    Invalid,
    /// Fewer slots than the data occupies: `EBUSY`.
    Busy,
}

impl Pipe {
    /// An empty pipe with one reader and one writer (`pipe2`).
    pub fn new() -> Self {
        Self {
            slots: VecDeque::new(),
            max_slots: PIPE_DEFAULT_SIZE / PAGE,
            readers: 1,
            writers: 1,
        }
    }

    /// Bytes buffered (`FIONREAD`).
    pub fn len(&self) -> usize {
        self.slots.iter().map(|s| s.data.len()).sum()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether every page slot is taken: `poll` reports no room then (a small write
    /// might still fit into the last page, as on Linux).
    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.max_slots
    }

    /// The capacity in bytes (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> usize {
        self.max_slots * PAGE
    }

    /// `F_SETPIPE_SZ(size)`: a power-of-two number of pages, at least one; returns the new
    /// capacity. `privileged`: the caller may exceed [`PIPE_MAX_SIZE`].
    ///
    /// # Errors
    /// [`SetSizeError`]; nothing changes.
    pub fn set_capacity(&mut self, size: usize, privileged: bool) -> Result<usize, SetSizeError> {
        if size > 1 << 31 {
            return Err(SetSizeError::Invalid);
        }
        let slots = size.div_ceil(PAGE).max(1).next_power_of_two();
        if slots * PAGE > PIPE_MAX_SIZE && !privileged {
            return Err(SetSizeError::TooBig);
        }
        if slots < self.slots.len() {
            return Err(SetSizeError::Busy);
        }
        self.max_slots = slots;
        Ok(slots * PAGE)
    }

    /// Open read ends.
    pub fn readers(&self) -> usize {
        self.readers
    }

    /// Open write ends.
    pub fn writers(&self) -> usize {
        self.writers
    }

    /// Another read end (`dup`, `fork`, opening a fifo for reading).
    pub fn add_reader(&mut self) {
        self.readers += 1;
    }

    /// Another write end.
    pub fn add_writer(&mut self) {
        self.writers += 1;
    }

    /// A read end's last reference was closed; wake writers (they may now get `EPIPE`).
    pub fn drop_reader(&mut self) {
        self.readers = self.readers.saturating_sub(1);
    }

    /// A write end's last reference was closed; wake readers (they may now get end of file).
    pub fn drop_writer(&mut self) {
        self.writers = self.writers.saturating_sub(1);
    }

    /// Reads up to `out.len()` bytes. A zero-length read returns `Data(0)` at once.
    pub fn read(&mut self, out: &mut [u8]) -> PipeRead {
        if out.is_empty() {
            return PipeRead::Data(0);
        }
        if self.slots.is_empty() {
            return if self.writers == 0 {
                PipeRead::Eof
            } else {
                PipeRead::Empty
            };
        }
        let mut n = 0;
        while n < out.len() {
            let Some(slot) = self.slots.front_mut() else {
                break;
            };
            let take = (out.len() - n).min(slot.data.len());
            for (dst, src) in out[n..n + take].iter_mut().zip(slot.data.drain(..take)) {
                *dst = src;
            }
            slot.consumed += take;
            n += take;
            if slot.data.is_empty() {
                self.slots.pop_front();
            }
        }
        PipeRead::Data(n)
    }

    /// Writes from `data` as Linux does; `Wrote(n)` with `n < data.len()` only for writes
    /// longer than [`PIPE_BUF`] (a blocking writer then waits and writes the rest).
    pub fn write(&mut self, data: &[u8]) -> PipeWrite {
        if self.readers == 0 {
            return PipeWrite::Broken;
        }
        if data.is_empty() {
            return PipeWrite::Wrote(0);
        }
        let mut written = 0;
        let head = data.len() % PAGE;
        if head != 0
            && let Some(last) = self.slots.back_mut()
            && last.consumed + last.data.len() + head <= PAGE
        {
            last.data.extend(&data[..head]);
            written = head;
        }
        while written < data.len() {
            if self.slots.len() >= self.max_slots {
                return if written > 0 {
                    PipeWrite::Wrote(written)
                } else {
                    PipeWrite::Full
                };
            }
            let take = (data.len() - written).min(PAGE);
            let page: Vec<u8> = data[written..written + take].to_vec();
            self.slots.push_back(Slot {
                consumed: 0,
                data: page.into(),
            });
            written += take;
        }
        PipeWrite::Wrote(written)
    }
}
