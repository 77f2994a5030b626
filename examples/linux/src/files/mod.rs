//! The file layer of the Linux personality: a process's descriptor table, working
//! directory and umask ([`Files`]) and the file system calls on them, over the kernel's one
//! namespace ([`namespace`]). Blocking is the caller's: a call that would wait (an empty or
//! full pipe, `poll`/`select` with nothing ready) answers [`FileCall::Block`] with the keys
//! to sleep on (and a deadline), and is executed again after [`drain_wakeups`] reported one
//! of them or the deadline passed.

mod desc;
mod fallocate;
mod fdops;
mod io;
mod meta;
pub mod namespace;
mod paths;
mod poll;
mod proc_needs;
pub mod procfs;
mod sockcall;
mod socket;
mod splice;
mod splice_pipe;
pub mod sysfs;
mod termios;
pub mod tty;
mod user;
mod utime;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::fs::fd::FdTable;
use pagoda::fs::vfs::{Access, Ino, ROOT_INO};
use pagoda::linux::Sysno;
use pagoda::linux::abi::Arch;
use pagoda::mm::{File, LinuxError};
use pagoda_mm::OpenFile;

use self::desc::{Description, Kind, flag};
use crate::mmap_source::{MmapSource, MmapTarget};

/// What a file call did.
pub enum FileCall {
    /// It finished with this result (the syscall return value or errno).
    Done(Result<usize, LinuxError>),
    /// It would block (an empty pipe to read, a full one to write, nothing ready for
    /// `poll`/`select`): leave the pc on the system call and execute it again once
    /// [`drain_wakeups`] returned one of its keys or its deadline passed. Nothing was
    /// transferred.
    Block(Block),
}

/// How a call waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Any of these keys ends the wait.
    pub keys: Vec<WaitKey>,
    /// The monotonic time (ns) the call times out at: execute it again then, passing this
    /// value back to [`Files::syscall`] (it keeps the deadline across executions).
    pub deadline: Option<u64>,
    /// Whether `SA_RESTART` re-executes the call after a handler ran (pipe transfers);
    /// otherwise a handler ends it with `EINTR` (`poll`, `select`: Linux's
    /// `ERESTARTNOHAND`).
    pub restart: bool,
    /// The signal mask to wait with (`ppoll`, `pselect6`): the old one comes back when the
    /// call returns, or after the handler of the signal that ended the wait.
    pub sigmask: Option<u64>,
}

impl Block {
    /// A restartable wait on one pipe key, without a deadline.
    pub fn pipe(key: WaitKey) -> Self {
        Self {
            keys: alloc::vec![key],
            deadline: None,
            restart: true,
            sigmask: None,
        }
    }
}

/// What a blocked call waits for: a change of one pipe (data, room, or its last reader or
/// writer gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaitKey(pub u64);

static WAKEUPS: SpinNoIrq<Vec<WaitKey>> = SpinNoIrq::new(Vec::new());
static NEXT_KEY: SpinNoIrq<u64> = SpinNoIrq::new(1);

/// Records that waiters on `key` may go on.
pub(crate) fn wake(key: WaitKey) {
    let mut w = WAKEUPS.lock();
    if !w.contains(&key) {
        w.push(key);
    }
}

/// A fresh wait key.
fn new_key() -> WaitKey {
    let mut n = NEXT_KEY.lock();
    let key = WaitKey(*n);
    *n += 1;
    key
}

/// The keys that became ready since the last call (each once).
pub fn drain_wakeups() -> Vec<WaitKey> {
    core::mem::take(&mut *WAKEUPS.lock())
}

/// `AT_FDCWD`.
const AT_FDCWD: i32 = -100;

/// A descriptor table: shared by the threads and processes `clone`d with `CLONE_FILES`.
type SharedFds = Arc<SpinNoIrq<FdTable<Arc<Description>>>>;

/// The working directory (an `O_PATH` description: it holds the inode) and the umask:
/// shared by the threads and processes `clone`d with `CLONE_FS` (Linux's `fs_struct`).
#[derive(Clone)]
struct FsState {
    cwd: Arc<Description>,
    umask: u32,
}

/// A thread's files: its descriptor table, working directory and umask (each maybe shared
/// with other threads and processes), and what its last file call left for the caller.
/// Each lock is held within one statement, never across user memory or another lock.
pub struct Files {
    fds: SharedFds,
    fs: Arc<SpinNoIrq<FsState>>,
    /// Who the calls act as (the effective ids: Linux's fsuid/fsgid) and the real ids
    /// (`access`), as the process layer set them before the call.
    who: Access,
    real: Access,
    /// A write hit a pipe without readers since the last [`take_sigpipe`](Self::take_sigpipe).
    sigpipe: bool,
    /// The program's path (`/proc/self/exe`).
    exe: Option<String>,
    arch: Arch,
}

type SysResult = Result<usize, LinuxError>;

impl Files {
    /// The files of pid 1: descriptors 0-2 on the console (one description, read-write,
    /// as after opening `/dev/console` and duplicating it), cwd `/`, umask `022`.
    pub fn new_console() -> Self {
        let console = Description::new(Kind::Console, 2, None);
        let mut fds = FdTable::new();
        for _ in 0..3 {
            // Cannot fail: an empty table has room for three descriptors.
            let _ = fds.insert(console.clone(), false);
        }
        let arch = match pagoda::ARCH {
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::Aarch64,
            _ => Arch::Riscv64,
        };
        let fs = FsState {
            cwd: root_path(),
            umask: 0o022,
        };
        Self {
            fds: Arc::new(SpinNoIrq::new(fds)),
            fs: Arc::new(SpinNoIrq::new(fs)),
            who: Access::ROOT,
            real: Access::ROOT,
            sigpipe: false,
            exe: namespace::init_exe(),
            arch,
        }
    }

    /// The files of a `clone` child: the table itself with `CLONE_FILES` (`share_fds`),
    /// else a copy (as `fork`: the same descriptions, so offsets and status flags are
    /// shared); cwd and umask themselves with `CLONE_FS` (`share_fs`), else a copy.
    pub fn clone_sharing(&self, share_fds: bool, share_fs: bool) -> Files {
        let fds = if share_fds {
            self.fds.clone()
        } else {
            let copy = self.fds().clone();
            Arc::new(SpinNoIrq::new(copy))
        };
        let fs = if share_fs {
            self.fs.clone()
        } else {
            let copy = self.fs.lock().clone();
            Arc::new(SpinNoIrq::new(copy))
        };
        Files {
            fds,
            fs,
            who: self.who,
            real: self.real,
            sigpipe: false,
            exe: self.exe.clone(),
            arch: self.arch,
        }
    }

    /// `execve` succeeded: the process gets a table of its own (Linux's
    /// `unshare_files`: a table shared with another process through `CLONE_FILES` is
    /// copied), then the close-on-exec descriptors close. cwd and umask stay shared.
    pub fn on_exec(&mut self) {
        if Arc::strong_count(&self.fds) > 1 {
            let copy = self.fds().clone();
            self.fds = Arc::new(SpinNoIrq::new(copy));
        }
        let closed = self.fds().exec();
        drop(closed);
    }

    /// Sets who the next calls act as: `who` the effective (file-system) ids, `real` the
    /// real ones (`access` without `AT_EACCESS`). Credentials belong to the process layer,
    /// which sets them before every call.
    pub fn set_creds(&mut self, who: Access, real: Access) {
        self.who = who;
        self.real = real;
    }

    /// The descriptor table, locked for one statement.
    pub(super) fn fds(&self) -> kspin::SpinNoIrqGuard<'_, FdTable<Arc<Description>>> {
        self.fds.lock()
    }

    /// The umask.
    pub(super) fn umask(&self) -> u32 {
        self.fs.lock().umask
    }

    /// Sets the program path `/proc/self/exe` names (after `execve`).
    pub fn set_exe(&mut self, path: &str) {
        self.exe = Some(String::from(path));
    }

    /// The working directory's inode (for `execve` of a relative path).
    pub fn cwd_ino(&self) -> Ino {
        self.fs.lock().cwd.ino().unwrap_or(ROOT_INO)
    }

    /// Whether `fd` is open on the console (its job-control `ioctl`s are the kernel's).
    pub fn is_console(&self, fd: usize) -> bool {
        self.get(fd)
            .is_ok_and(|d| matches!(d.kind, Kind::Console) && !d.is_path())
    }

    /// Whether a write met a pipe without readers since the last call: the process layer
    /// then raises `SIGPIPE` (the call itself returned `EPIPE`).
    pub fn take_sigpipe(&mut self) -> bool {
        core::mem::take(&mut self.sigpipe)
    }

    fn get(&self, fd: usize) -> Result<Arc<Description>, LinuxError> {
        self.fds().get(fd as i32).cloned()
    }

    /// The directory a `*at` call starts from: the cwd for `AT_FDCWD` (or an absolute
    /// path), else `dirfd`, which must be open (`EBADF`) and a directory (`ENOTDIR`).
    fn start(&self, dirfd: usize, path: &str) -> Result<Ino, LinuxError> {
        if path.starts_with('/') {
            return Ok(ROOT_INO);
        }
        if dirfd as i32 == AT_FDCWD {
            return Ok(self.cwd_ino());
        }
        let d = self.get(dirfd)?;
        match d.kind {
            Kind::Dir(ino) => Ok(ino),
            Kind::Path(ino) if namespace::with(|fs| fs.inode(ino).is_some_and(|n| n.is_dir())) => {
                Ok(ino)
            }
            _ => Err(LinuxError::ENOTDIR),
        }
    }

    /// Serves `sys` if it is a file call; `None` otherwise. `deadline`: the
    /// [`Block::deadline`] an earlier execution of this same call returned (the caller
    /// keeps it while the call waits), else `None`.
    pub fn syscall(
        &mut self,
        sys: Sysno,
        a: [usize; 6],
        deadline: Option<u64>,
    ) -> Option<FileCall> {
        use Sysno as S;
        if let Some(call) = self.poll_call(sys, a, deadline) {
            return Some(call);
        }
        const AT_REMOVEDIR: usize = 0x200;
        let r = match sys {
            S::Read => return Some(self.read(a[0], a[1], a[2], deadline)),
            S::Write => return Some(self.write(a[0], a[1], a[2])),
            S::Readv => return Some(self.readv(a[0], a[1], a[2], deadline)),
            S::Writev => return Some(self.writev(a[0], a[1], a[2])),
            S::Pread64 => self.pread(a[0], a[1], a[2], a[3] as i64),
            S::Pwrite64 => self.pwrite(a[0], a[1], a[2], a[3] as i64),
            S::Lseek => self.lseek(a[0], a[1] as i64, a[2]),
            S::Open => self.openat(AT_FDCWD as usize, a[0], a[1] as u32, a[2] as u32),
            S::Creat => self.openat(
                AT_FDCWD as usize,
                a[0],
                flag::CREAT | flag::TRUNC | 1,
                a[1] as u32,
            ),
            S::Openat => self.openat(a[0], a[1], a[2] as u32, a[3] as u32),
            S::Close => self.close(a[0]),
            S::Fstat => self.fstat(a[0], a[1]),
            S::Stat => self.fstatat(AT_FDCWD as usize, a[0], a[1], 0),
            S::Lstat => self.fstatat(AT_FDCWD as usize, a[0], a[1], meta::AT_SYMLINK_NOFOLLOW),
            S::Newfstatat => self.fstatat(a[0], a[1], a[2], a[3]),
            S::Statx => self.statx(a[0], a[1], a[2], a[4]),
            S::Statfs => self.statfs(a[0], a[1]),
            S::Fstatfs => self.fstatfs(a[0], a[1]),
            S::Getdents64 => self.getdents64(a[0], a[1], a[2]),
            S::Mkdir => self.mkdirat(AT_FDCWD as usize, a[0], a[1] as u32),
            S::Mkdirat => self.mkdirat(a[0], a[1], a[2] as u32),
            S::Unlink => self.unlinkat(AT_FDCWD as usize, a[0], 0),
            S::Rmdir => self.unlinkat(AT_FDCWD as usize, a[0], AT_REMOVEDIR),
            S::Unlinkat => self.unlinkat(a[0], a[1], a[2]),
            S::Rename => self.renameat2(AT_FDCWD as usize, a[0], AT_FDCWD as usize, a[1], 0),
            S::Renameat => self.renameat2(a[0], a[1], a[2], a[3], 0),
            S::Renameat2 => self.renameat2(a[0], a[1], a[2], a[3], a[4]),
            S::Link => self.linkat(AT_FDCWD as usize, a[0], AT_FDCWD as usize, a[1], 0),
            S::Linkat => self.linkat(a[0], a[1], a[2], a[3], a[4]),
            S::Symlink => self.symlinkat(a[0], AT_FDCWD as usize, a[1]),
            S::Symlinkat => self.symlinkat(a[0], a[1], a[2]),
            S::Readlink => self.readlinkat(AT_FDCWD as usize, a[0], a[1], a[2]),
            S::Readlinkat => self.readlinkat(a[0], a[1], a[2], a[3]),
            S::Getcwd => self.getcwd(a[0], a[1]),
            S::Chdir => self.chdir(a[0]),
            S::Fchdir => self.fchdir(a[0]),
            S::Chmod => self.fchmodat(AT_FDCWD as usize, a[0], a[1] as u32, 0),
            S::Fchmod => self.fchmod(a[0], a[1] as u32),
            S::Utimensat => self.utimensat(a[0], a[1], a[2], a[3]),
            S::Fchmodat => self.fchmodat(a[0], a[1], a[2] as u32, 0),
            S::Chown => self.fchownat(AT_FDCWD as usize, a[0], a[1], a[2], 0),
            S::Lchown => self.fchownat(
                AT_FDCWD as usize,
                a[0],
                a[1],
                a[2],
                meta::AT_SYMLINK_NOFOLLOW,
            ),
            S::Fchown => self.fchown(a[0], a[1], a[2]),
            S::Fchownat => self.fchownat(a[0], a[1], a[2], a[3], a[4]),
            S::Access => self.faccessat(AT_FDCWD as usize, a[0], a[1], 0),
            S::Faccessat => self.faccessat(a[0], a[1], a[2], 0),
            S::Faccessat2 => self.faccessat(a[0], a[1], a[2], a[3]),
            S::Umask => {
                let new = a[0] as u32 & 0o777;
                Ok(core::mem::replace(&mut self.fs.lock().umask, new) as usize)
            }
            S::Truncate => self.truncate(a[0], a[1] as i64),
            S::Ftruncate => self.ftruncate(a[0], a[1] as i64),
            S::Fsync | S::Fdatasync => self.fsync(a[0]),
            S::Fallocate => self.fallocate(a[0], a[1], a[2] as i64, a[3] as i64),
            S::Fcntl => self.fcntl(a[0], a[1], a[2]),
            S::Dup => self.fds().dup(a[0] as i32).map(|fd| fd as usize),
            S::CloseRange => self
                .fds()
                .close_range(a[0] as u32, a[1] as u32, a[2] as u32)
                .map(|closed| {
                    drop(closed);
                    0
                }),
            S::Dup2 => self.dup3(a[0], a[1], None),
            S::Dup3 => self.dup3(a[0], a[1], Some(a[2])),
            S::Pipe => self.pipe2(a[0], 0),
            S::Pipe2 => self.pipe2(a[0], a[1]),
            S::MemfdCreate => self.memfd_create(a[0], a[1]),
            S::Ioctl => self.ioctl(a[0], a[1], a[2]),
            S::Socketpair => self.socketpair(a[0], a[1], a[2], a[3]),
            S::Sendto => return Some(self.sendto(a)),
            S::Recvfrom => return Some(self.recvfrom(a)),
            S::Sendmsg => return Some(self.sendmsg(a[0], a[1], a[2])),
            S::Recvmsg => return Some(self.recvmsg(a[0], a[1], a[2])),
            S::Shutdown => self.shutdown(a[0], a[1]),
            S::Getsockname | S::Getpeername => self.sockname(a[0], a[1], a[2]),
            S::Getsockopt => self.getsockopt(a),
            S::Vmsplice => return Some(self.vmsplice(a[0], a[1], a[2], a[3])),
            S::Splice => return Some(self.splice(a)),
            S::Tee => return Some(self.tee(a[0], a[1], a[2], a[3])),
            _ => return None,
        };
        Some(FileCall::Done(r))
    }
}

/// An `O_PATH` description of `/` (a cwd).
fn root_path() -> Arc<Description> {
    // The root always exists, so the open reference cannot fail.
    let _ = namespace::with(|fs| fs.open_ref(ROOT_INO));
    Description::new(Kind::Path(ROOT_INO), flag::PATH, None)
}

impl MmapSource for Files {
    fn mmap_target(&self, fd: usize) -> Result<MmapTarget, LinuxError> {
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        match &d.kind {
            Kind::Zero => Ok(MmapTarget::Zero),
            Kind::File { file, .. } => {
                let file: Arc<dyn File> = file.clone();
                Ok(MmapTarget::File(Arc::new(OpenFile::new(
                    file,
                    d.access_mode(),
                ))))
            }
            _ => Err(LinuxError::ENODEV),
        }
    }
}
