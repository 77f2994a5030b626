//! System V shared memory: `shmget`, `shmat`, `shmdt`, `shmctl`.
//!
//! - [`ShmRegistry`] is the segment table of one IPC namespace (keys, ids, `shmid_ds`
//!   data). Its lock is private and held only for table updates; it is never held while an
//!   address space is changed or a frame is freed.
//! - A segment's frames are allocated at `shmget`, need not be contiguous, and are shared by
//!   reference counting: the registry holds one reference until `IPC_RMID`, every mapping
//!   of the segment holds the others. The last one to go frees them.
//! - An attachment is an area of an [`AddrSpace`](crate::AddrSpace) whose shared backend
//!   carries a [`ShmAttachment`]. Cloning one (fork, area split) and dropping one (munmap,
//!   shmdt, exit) keep `shm_nattch` exact with atomics only.
//! - `shmat` without an address places the segment as `mmap` does (top-down below the
//!   mmap top). `shmdt(addr)` finds the pieces of an attachment by their offset in the
//!   segment, as Linux does, so pieces left by munmap/mprotect and attachments moved by
//!   `mremap` are detached too; it visits only the areas it may concern.
//! - Time and pids come from the caller in a [`ShmContext`], so everything is testable.

mod attach;
mod registry;
mod segment;
#[cfg(test)]
mod tests;

pub use registry::ShmRegistry;
pub use segment::ShmAttachment;

/// Create the segment if the key does not exist (`shmflg`).
pub const IPC_CREAT: u32 = 0o1000;
/// With `IPC_CREAT`: fail with `EEXIST` if the key exists (`shmflg`).
pub const IPC_EXCL: u32 = 0o2000;
/// Attach read-only (`shmat` flag).
pub const SHM_RDONLY: u32 = 0o10000;
/// Round the attach address down to [`SHMLBA`] (`shmat` flag).
pub const SHM_RND: u32 = 0o20000;
/// Replace existing mappings in the attach range (`shmat` flag).
pub const SHM_REMAP: u32 = 0o40000;
/// Allow executing the attached memory (`shmat` flag).
pub const SHM_EXEC: u32 = 0o100000;
/// `shm_perm.mode` bit of a segment removed with `IPC_RMID` but still attached.
pub const SHM_DEST: u32 = 0o1000;
/// `shm_perm.mode` bit of a segment locked with `SHM_LOCK`.
pub const SHM_LOCKED: u32 = 0o2000;
/// Alignment of attach addresses.
pub const SHMLBA: usize = memory_addr::PAGE_SIZE_4K;
/// Smallest segment size.
pub const SHMMIN: usize = 1;
/// The key that always creates a new segment.
pub const IPC_PRIVATE: ShmKey = ShmKey(0);

/// A segment identifier as returned by `shmget` (never negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShmId(pub i32);

/// A user-chosen key (`key_t`); [`IPC_PRIVATE`] is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShmKey(pub i32);

/// Who calls and when: recorded in `shm_cpid`, `shm_lpid`, `shm_atime`, `shm_dtime` and
/// `shm_ctime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmContext {
    /// Process id of the caller.
    pub pid: u32,
    /// Current time in seconds (the caller's clock).
    pub now: u64,
}

/// The `shmid_ds` fields a segment has (`IPC_STAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmIdDs {
    /// `shm_perm.__key`: [`IPC_PRIVATE`] once removed.
    pub key: ShmKey,
    /// `shm_perm.mode`: permission bits, plus [`SHM_DEST`] once removed.
    pub mode: u32,
    /// `shm_segsz`: the size asked for at creation, in bytes.
    pub size: usize,
    /// `shm_atime`: last attach (0 if never).
    pub atime: u64,
    /// `shm_dtime`: last detach (0 if never).
    pub dtime: u64,
    /// `shm_ctime`: creation or last `IPC_SET`.
    pub ctime: u64,
    /// `shm_cpid`: creator.
    pub cpid: u32,
    /// `shm_lpid`: last `shmat`/`shmdt` caller (0 if none yet).
    pub lpid: u32,
    /// `shm_nattch`: current number of attachments.
    pub nattch: usize,
}

/// Limits of one registry (Linux's `SHMMAX`, `SHMALL`, `SHMMNI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmLimits {
    /// Largest segment in bytes.
    pub max_size: usize,
    /// Most pages in all segments together.
    pub max_total_pages: usize,
    /// Most segments.
    pub max_segments: usize,
}

impl Default for ShmLimits {
    /// 1 GiB segments, 4 GiB in total, 4096 segments (smaller than Linux's defaults, which
    /// assume swap; segments here are backed by frames from the start).
    fn default() -> Self {
        Self {
            max_size: 1 << 30,
            max_total_pages: 1 << 20,
            max_segments: 4096,
        }
    }
}
