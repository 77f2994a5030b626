//! Kernel memory pressure: what keeps programs from starving the kernel heap.
//!
//! The kernel heap grows with frames and never gives them back, and an allocation it
//! cannot satisfy is fatal (Rust's infallible collections). Two rules keep it fed:
//! - a reserve of free frames only the heap may take: the frame allocator refuses user
//!   pages and page tables once only the reserve is left (a program then gets `ENOMEM` or
//!   an OOM kill);
//! - every system call that may allocate fails with `ENOMEM` while the heap has eaten half
//!   of that reserve, or while it holds half of memory in live allocations (bookkeeping
//!   without user frames, such as splitting areas with `mprotect` by the million: as the
//!   heap keeps what it took, the cap leaves programs the other half afterwards).
//!
//! Linux, which can reclaim, OOM-kills instead; `ENOMEM` from a call under memory
//! pressure is within its contract too. Per process, `vm.max_map_count` (in `pagoda_mm`)
//! bounds the areas as on Linux.

use pagoda::linux::Sysno;
use pagoda::mm::{self, PAGE_SIZE_4K};

/// The frames kept for the kernel heap: 1/32 of memory, at least 4 MiB.
pub fn set_reserve() {
    let total = mm::frame_stats().total;
    mm::set_heap_reserve((total / 32).max(1024));
}

/// Whether `sys` must fail with `ENOMEM` now: memory is low and the call adds kernel
/// state that stays (areas, processes, open files, segments).
pub fn refuses(sys: Sysno) -> bool {
    if !adds_state(sys) {
        return false;
    }
    let frames = mm::frame_stats();
    frames.free <= mm::heap_reserve() / 2
        || pagoda::mem::heap_stats().in_use >= frames.total / 2 * PAGE_SIZE_4K
}

/// The calls whose kernel allocations outlive them and grow without a bound of their own.
/// Reads, writes and the like allocate only bounded, short-lived buffers (a pipe's is its
/// capacity), and must keep working so that programs can report and exit.
fn adds_state(sys: Sysno) -> bool {
    use Sysno::*;
    matches!(
        sys,
        Mmap | Mprotect
            | PkeyMprotect
            | Mremap
            | Madvise
            | Mlock
            | Mlock2
            | Mlockall
            | Munlock
            | Brk
            | Mseal
            | Shmget
            | Shmat
            | Clone
            | Clone3
            | Fork
            | Vfork
            | Execve
            | Execveat
            | Open
            | Openat
            | Creat
            | Pipe
            | Pipe2
            | Socketpair
            | MemfdCreate
            | Mkdir
            | Mkdirat
            | Mknod
            | Mknodat
            | Link
            | Linkat
            | Symlink
            | Symlinkat
            | Dup
            | Dup2
            | Dup3
            | Fcntl
    )
}
