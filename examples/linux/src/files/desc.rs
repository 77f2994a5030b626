//! Open file descriptions: what a descriptor refers to (shared by `dup` and `fork`), with
//! its offset and status flags, and the last close (`Drop`) that releases the inode's open
//! reference or a pipe end.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use kspin::SpinNoIrq;
use pagoda::fs::pipe::{Pipe, PipeRead, PipeWrite};
use pagoda::fs::vfs::Ino;
use pagoda::mm::{LinuxError, MemFile};
use pagoda_mm::AccessMode;

use super::{WaitKey, namespace, wake};

/// `open` flags (x86_64 and the generic table agree on these).
pub mod flag {
    /// `O_ACCMODE`.
    pub const ACCMODE: u32 = 3;
    /// `O_CREAT`.
    pub const CREAT: u32 = 0o100;
    /// `O_EXCL`.
    pub const EXCL: u32 = 0o200;
    /// `O_TRUNC`.
    pub const TRUNC: u32 = 0o1000;
    /// `O_APPEND`.
    pub const APPEND: u32 = 0o2000;
    /// `O_NONBLOCK`.
    pub const NONBLOCK: u32 = 0o4000;
    /// `O_DSYNC`.
    pub const DSYNC: u32 = 0o10000;
    /// `O_ASYNC`.
    pub const ASYNC: u32 = 0o20000;
    /// `O_DIRECT`.
    pub const DIRECT: u32 = 0o40000;
    /// `O_LARGEFILE` (always set on 64-bit, as Linux reports it).
    pub const LARGEFILE: u32 = 0o100000;
    /// `O_DIRECTORY`.
    pub const DIRECTORY: u32 = 0o200000;
    /// `O_NOFOLLOW`.
    pub const NOFOLLOW: u32 = 0o400000;
    /// `O_NOATIME`.
    pub const NOATIME: u32 = 0o1000000;
    /// `O_CLOEXEC`.
    pub const CLOEXEC: u32 = 0o2000000;
    /// `O_SYNC` (with `O_DSYNC`).
    pub const SYNC: u32 = 0o4000000 | DSYNC;
    /// `O_PATH`.
    pub const PATH: u32 = 0o10000000;
    /// `O_TMPFILE` (with `O_DIRECTORY`).
    pub const TMPFILE: u32 = 0o20000000;
    /// The flags `F_SETFL` may change.
    pub const SETFL: u32 = APPEND | NONBLOCK | ASYNC | DIRECT | NOATIME;
}

/// A pipe's buffer and the key its waiters sleep on.
pub struct PipeObj {
    /// Wake-up key: readers and writers of this pipe wait on it.
    pub key: WaitKey,
    /// The buffer and its end counts.
    pub pipe: SpinNoIrq<Pipe>,
}

/// What a description refers to.
pub enum Kind {
    /// The console (fds 0-2 at boot, `/dev/console`, `/dev/tty`): the serial port through
    /// the line discipline of `tty.rs`.
    Console,
    /// `/dev/null`.
    Null,
    /// `/dev/zero`.
    Zero,
    /// A regular file of the namespace (or a memfd).
    File {
        /// Its inode (holds an open reference).
        ino: Ino,
        /// Its page-cache file.
        file: Arc<MemFile>,
    },
    /// A directory opened for reading (`getdents64`); the offset counts entries.
    Dir(Ino),
    /// An inode opened with `O_PATH`, or another node kind (symlink, fifo, device without a
    /// driver): only metadata calls work.
    Path(Ino),
    /// A generated `/proc` file.
    Proc(super::procfs::ProcFile),
    /// The read end of a pipe.
    PipeRead(Arc<PipeObj>),
    /// The write end of a pipe.
    PipeWrite(Arc<PipeObj>),
    /// One end of a connected `AF_UNIX` socket pair.
    Socket(super::socket::SocketEnd),
}

/// An open file description.
pub struct Description {
    /// What it refers to.
    pub kind: Kind,
    /// The inode of a device node it was opened through (for `fstat`), with an open
    /// reference; `None` for the boot console and pipes.
    pub node: Option<Ino>,
    /// `O_ACCMODE` and the status flags (`F_GETFL`).
    flags: SpinNoIrq<u32>,
    /// The file offset.
    offset: AtomicU64,
}

impl Description {
    /// A description of `kind` with open flags `flags`; `node` holds an open reference.
    pub fn new(kind: Kind, flags: u32, node: Option<Ino>) -> Arc<Self> {
        let keep = flag::ACCMODE | flag::SETFL | flag::DSYNC | flag::SYNC | flag::PATH;
        Arc::new(Self {
            kind,
            node,
            flags: SpinNoIrq::new((flags & keep) | flag::LARGEFILE),
            offset: AtomicU64::new(0),
        })
    }

    /// The flags `F_GETFL` reports.
    pub fn flags(&self) -> u32 {
        *self.flags.lock()
    }

    /// `F_SETFL`: only [`flag::SETFL`] bits change.
    pub fn set_flags(&self, bits: u32) {
        let mut f = self.flags.lock();
        *f = (*f & !flag::SETFL) | (bits & flag::SETFL);
    }

    /// Opened with `O_PATH`.
    pub fn is_path(&self) -> bool {
        self.flags() & flag::PATH != 0
    }

    /// Reads are allowed (`O_RDONLY`, `O_RDWR`; never with `O_PATH`).
    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & flag::PATH == 0 && matches!(f & flag::ACCMODE, 0 | 2)
    }

    /// Writes are allowed.
    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & flag::PATH == 0 && matches!(f & flag::ACCMODE, 1 | 2)
    }

    /// The access mode `mmap` checks.
    pub fn access_mode(&self) -> AccessMode {
        match (self.readable(), self.writable()) {
            (true, true) => AccessMode::ReadWrite,
            (false, true) => AccessMode::WriteOnly,
            _ => AccessMode::ReadOnly,
        }
    }

    /// `O_NONBLOCK`.
    pub fn nonblocking(&self) -> bool {
        self.flags() & flag::NONBLOCK != 0
    }

    /// The current offset.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Sets the offset.
    pub fn set_offset(&self, at: u64) {
        self.offset.store(at, Ordering::Relaxed);
    }

    /// The inode behind the description, if any (files, directories, `O_PATH`, device
    /// nodes).
    pub fn ino(&self) -> Option<Ino> {
        match &self.kind {
            Kind::File { ino, .. } | Kind::Dir(ino) | Kind::Path(ino) => Some(*ino),
            _ => self.node,
        }
    }

    /// Whether the offset means anything (`lseek`): not for pipes and the console.
    pub fn seekable(&self) -> bool {
        !matches!(
            self.kind,
            Kind::PipeRead(_) | Kind::PipeWrite(_) | Kind::Console | Kind::Socket(_)
        )
    }
}

/// What a read or write on a pipe did.
pub enum PipeIo {
    /// Bytes moved (0: end of file).
    Done(usize),
    /// Would block on this key.
    Block(WaitKey),
}

impl PipeObj {
    /// Reads into `out` (non-empty); wakes writers when room appeared.
    pub fn read(&self, out: &mut [u8], nonblocking: bool) -> Result<PipeIo, LinuxError> {
        let r = self.pipe.lock().read(out);
        match r {
            PipeRead::Data(n) => {
                wake(self.key);
                Ok(PipeIo::Done(n))
            }
            PipeRead::Eof => Ok(PipeIo::Done(0)),
            PipeRead::Empty if nonblocking => Err(LinuxError::EAGAIN),
            PipeRead::Empty => Ok(PipeIo::Block(self.key)),
        }
    }

    /// Writes `data`; `Err(EPIPE)` without readers (the caller raises `SIGPIPE`).
    pub fn write(&self, data: &[u8], nonblocking: bool) -> Result<PipeIo, LinuxError> {
        let r = self.pipe.lock().write(data);
        match r {
            PipeWrite::Wrote(n) => {
                wake(self.key);
                Ok(PipeIo::Done(n))
            }
            PipeWrite::Broken => Err(LinuxError::EPIPE),
            PipeWrite::Full if nonblocking => Err(LinuxError::EAGAIN),
            PipeWrite::Full => Ok(PipeIo::Block(self.key)),
        }
    }
}

impl Drop for Description {
    /// The last close: release the inode (freeing an unlinked file's contents) or the
    /// pipe end, waking the other side.
    fn drop(&mut self) {
        match &self.kind {
            Kind::PipeRead(p) => {
                p.pipe.lock().drop_reader();
                wake(p.key);
            }
            Kind::PipeWrite(p) => {
                p.pipe.lock().drop_writer();
                wake(p.key);
            }
            _ => {}
        }
        if let Some(ino) = self.ino() {
            // The freed inode (if any) is dropped here, with its `Arc<MemFile>`.
            let _freed = namespace::with(|fs| fs.close_ref(ino));
        }
    }
}
