//! Which file calls look at `/proc`: only those need the process layer to publish its
//! processes and lend the inactive address spaces (O(processes) work) before the call.

use pagoda::linux::Sysno;

use super::desc::Kind;
use super::namespace::{self, WHO};
use super::procfs::{self, ProcFile};
use super::{AT_FDCWD, Files, user};

/// What a file call needs from the process layer for `/proc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcNeeds {
    /// The inactive address spaces (another process's `maps`, `smaps`, `pagemap`, `mem`,
    /// `cmdline`, ...).
    pub spaces: bool,
    /// Every process's snapshot and `/proc/<pid>` directory (lookups and listings under
    /// `/proc`, `status`, `stat`).
    pub processes: bool,
}

impl ProcNeeds {
    const BOTH: Self = Self {
        spaces: true,
        processes: true,
    };
}

impl Files {
    /// What call `sys` with arguments `a` needs for `/proc` (conservative: a path that
    /// merely mentions `proc`, or starts in or resolves to `/proc`, needs everything).
    pub fn proc_needs(&self, sys: Sysno, a: [usize; 6]) -> ProcNeeds {
        use Sysno as S;
        let cwd = AT_FDCWD as usize;
        // The (directory, path) pairs each path call resolves.
        let paths: &[(usize, usize)] = match sys {
            S::Open
            | S::Creat
            | S::Readlink
            | S::Stat
            | S::Lstat
            | S::Access
            | S::Chdir
            | S::Mkdir
            | S::Unlink
            | S::Rmdir
            | S::Chmod
            | S::Chown
            | S::Lchown
            | S::Truncate
            | S::Statfs => &[(cwd, a[0])],
            S::Rename | S::Link => &[(cwd, a[0]), (cwd, a[1])],
            S::Symlink => &[(cwd, a[1])],
            S::Openat
            | S::Readlinkat
            | S::Newfstatat
            | S::Statx
            | S::Faccessat
            | S::Faccessat2
            | S::Mkdirat
            | S::Unlinkat
            | S::Fchmodat
            | S::Fchownat => &[(a[0], a[1])],
            S::Renameat | S::Renameat2 | S::Linkat => &[(a[0], a[1]), (a[2], a[3])],
            S::Symlinkat => &[(a[1], a[2])],
            _ => &[],
        };
        if !paths.is_empty() {
            let hit = paths
                .iter()
                .any(|&(dirfd, path)| self.path_reaches_proc(dirfd, path));
            return if hit {
                ProcNeeds::BOTH
            } else {
                ProcNeeds::default()
            };
        }
        let Ok(d) = self.get(a[0]) else {
            return ProcNeeds::default();
        };
        match &d.kind {
            // Read at the reader's offset from the process's memory.
            Kind::Proc(ProcFile::Pagemap(..) | ProcFile::Mem(_)) => ProcNeeds {
                spaces: true,
                processes: false,
            },
            // Listing `/proc` shows the processes as they are.
            Kind::Dir(ino) if sys == S::Getdents64 && procfs::contains(*ino) => ProcNeeds {
                spaces: false,
                processes: true,
            },
            _ => ProcNeeds::default(),
        }
    }

    /// Whether resolving the path at user address `path` from `dirfd` may meet `/proc`.
    /// A path that cannot be read or started from fails the call before `/proc` matters.
    fn path_reaches_proc(&self, dirfd: usize, path: usize) -> bool {
        let Ok(path) = user::path(path) else {
            return false;
        };
        if path.contains("proc") {
            return true;
        }
        let Ok(start) = self.start(dirfd, &path) else {
            return false;
        };
        // Symlinks into `/proc` (e.g. `/etc/mtab`): where the path really ends.
        let end = namespace::with(|fs| fs.lookup(start, &path, true, WHO).ok());
        procfs::contains(start) || end.is_some_and(procfs::contains)
    }
}
