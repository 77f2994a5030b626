//! The one namespace of the kernel: the RAM file system the initramfs was unpacked into,
//! behind a lock that every file call takes for the duration of one namespace operation
//! (never while it touches user memory or sleeps).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::fs::vfs::{Access, Fs, FsError, Ino, NodeKind, ROOT_INO};
use pagoda::linux::abi::make_dev;
use pagoda::mm::{LinuxError, MemFile};

/// The RAM file system: regular files hold a page-cache file.
pub type RamFs = Fs<Arc<MemFile>>;

/// Who the kernel's own namespace work acts as (building `/dev`, `/proc`, boot, hidden
/// `memfd` names): root. The file calls act as their caller (`Files::set_creds`).
pub const WHO: Access = Access::ROOT;

/// `/dev/null`, `/dev/zero`, `/dev/tty`, `/dev/console` (Linux's numbers).
pub const DEV_NULL: u64 = make_dev(1, 3);
/// `/dev/zero`.
pub const DEV_ZERO: u64 = make_dev(1, 5);
/// `/dev/tty`.
pub const DEV_TTY: u64 = make_dev(5, 0);
/// `/dev/console`.
pub const DEV_CONSOLE: u64 = make_dev(5, 1);

static NAMESPACE: SpinNoIrq<Option<RamFs>> = SpinNoIrq::new(None);
/// The path of the program the kernel started as pid 1 (`/proc/self/exe` of pid 1).
static INIT_EXE: SpinNoIrq<Option<String>> = SpinNoIrq::new(None);

/// Makes `fs` the namespace (boot, once), adding the base tree Linux programs expect.
pub fn install(mut fs: RamFs) {
    base_tree(&mut fs);
    *NAMESPACE.lock() = Some(fs);
}

/// Records the path of pid 1's program.
pub fn set_init_exe(path: &str) {
    *INIT_EXE.lock() = Some(String::from(path));
}

/// The path of pid 1's program, if boot recorded one.
pub fn init_exe() -> Option<String> {
    INIT_EXE.lock().clone()
}

/// Runs `f` on the namespace with its clock set to now. Before boot installed one, an
/// empty namespace is made (so a call can never find "no namespace").
pub fn with<R>(f: impl FnOnce(&mut RamFs) -> R) -> R {
    let secs = pagoda::time::wall_clock_secs();
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let nsec = (pagoda::time::monotonic_ns() % 1_000_000_000) as i64;
    let mut guard = NAMESPACE.lock();
    let fs = guard.get_or_insert_with(|| {
        let mut fs = RamFs::new();
        base_tree(&mut fs);
        fs
    });
    fs.set_time(secs, nsec);
    f(fs)
}

/// The directories, files and device nodes a Linux system has, where the initramfs lacks
/// them: `/tmp` (mode 1777), `/proc`, `/dev` with `null`, `zero`, `tty`, `console`,
/// `/etc/passwd` and `/etc/group` with root only.
fn base_tree(fs: &mut RamFs) {
    let dirs = [
        ("/tmp", 0o1777),
        ("/proc", 0o555),
        ("/dev", 0o755),
        ("/etc", 0o755),
    ];
    for (path, perm) in dirs {
        // An existing entry (of any kind) is the archive's choice; keep it.
        let _ = fs.mkdir(ROOT_INO, path, perm, WHO);
    }
    let devices = [
        ("/dev/null", DEV_NULL),
        ("/dev/zero", DEV_ZERO),
        ("/dev/tty", DEV_TTY),
        ("/dev/console", DEV_CONSOLE),
    ];
    for (path, rdev) in devices {
        let _ = fs.mknod(ROOT_INO, path, NodeKind::CharDev, 0o666, rdev, WHO);
    }
    let files: [(&str, &[u8]); 2] = [
        ("/etc/passwd", b"root:x:0:0:root:/:/bin/sh\n"),
        ("/etc/group", b"root:x:0:\n"),
    ];
    for (path, text) in files {
        let file = Arc::new(MemFile::with_name(path, text.to_vec()));
        let _ = fs.create(ROOT_INO, path, 0o644, WHO, file);
    }
}

/// The program at `path` (relative to directory `cwd`), for `execve` by `who`: a regular
/// file `who` may execute, found through directories `who` may search.
///
/// # Errors
/// Lookup errors (`ENOENT`, `ENOTDIR`, `ELOOP`, ...); `EACCES` for a directory, a
/// non-regular file or a file without execute permission.
pub fn read_executable(cwd: Ino, path: &str, who: Access) -> Result<Arc<MemFile>, LinuxError> {
    with(|fs| {
        let ino = fs.lookup(cwd, path, true, who)?;
        let node = fs.inode(ino).ok_or(LinuxError::ENOENT)?;
        match &node.kind {
            NodeKind::File(file) if node.permits(who, 1) => Ok(file.clone()),
            _ => Err(LinuxError::EACCES),
        }
    })
}

/// The absolute path of directory `dir` (`getcwd`): its names up to the root; `None` if
/// it was removed (Linux then answers `ENOENT`).
pub fn dir_path(fs: &RamFs, dir: Ino) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    let mut at = dir;
    while at != ROOT_INO {
        let entries = fs.read_dir(at).ok()?;
        let parent = entries.get(1)?.1;
        let name = fs
            .read_dir(parent)
            .ok()?
            .into_iter()
            .skip(2)
            .find(|(_, ino, _)| *ino == at)?
            .0;
        names.push(name);
        at = parent;
    }
    let mut path = String::new();
    for name in names.iter().rev() {
        path.push('/');
        path.push_str(name);
    }
    if path.is_empty() {
        path.push('/');
    }
    Some(path)
}

/// `FsError` → errno, for `?` in the calls.
pub fn errno(e: FsError) -> LinuxError {
    e.linux()
}
