//! System V shared memory: one registry for the whole kernel (`pagoda_mm::shm`).
//!
//! ```ignore
//! use pagoda::mm::shm::{self, IPC_CREAT, IPC_PRIVATE};
//! let ctx = shm::context(1); // pid 1, now
//! let id = shm::registry().shmget(IPC_PRIVATE, 0x4000, IPC_CREAT | 0o600, ctx)?;
//! let at = shm::registry().shmat(&mut space, id, None, 0, ctx)?;
//! ```

pub use pagoda_mm::shm::{
    IPC_CREAT, IPC_EXCL, IPC_PRIVATE, SHM_DEST, SHM_EXEC, SHM_RDONLY, SHM_REMAP, SHM_RND, SHMLBA,
    ShmAttachment, ShmContext, ShmId, ShmIdDs, ShmKey, ShmLimits,
};

use pagoda_hal::paging::KernelPaging;

/// The segment table type (frames from the kernel frame allocator).
pub type ShmRegistry = pagoda_mm::shm::ShmRegistry<KernelPaging>;

static REGISTRY: spin::Once<ShmRegistry> = spin::Once::new();

/// The kernel's segment table (created with the default limits on first use).
pub fn registry() -> &'static ShmRegistry {
    REGISTRY.call_once(ShmRegistry::default)
}

/// The caller's context for `shmid_ds` stamps: process `pid`, the wall-clock time now.
pub fn context(pid: u32) -> ShmContext {
    ShmContext {
        pid,
        now: pagoda_hal::time::wall_clock_secs(),
    }
}
