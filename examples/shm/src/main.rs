//! System V shared memory: two address spaces attach one segment and see each other's
//! writes through the MMU; `IPC_RMID` while attached defers the free to the last detach,
//! which gives the segment's frames back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use pagoda::mm::shm::{self, IPC_CREAT, IPC_PRIVATE, SHM_DEST};
use pagoda::mm::{self, PAGE_SIZE_4K};
use pagoda::println;

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("shm");
const PAGES: usize = 4;
/// Process ids of the two address spaces.
const PID_A: u32 = 100;
/// See [`PID_A`].
const PID_B: u32 = 200;
/// Where B attaches the segment (A lets the kernel choose).
const B_ADDR: usize = 0x1000_0000;

fn main() {
    let reg = shm::registry();
    let (mut a, mut b) = (
        T.ok(mm::new_space(), "space A"),
        T.ok(mm::new_space(), "space B"),
    );
    let before = mm::page_frames();
    let (ctx_a, ctx_b) = (shm::context(PID_A), shm::context(PID_B));
    let size = PAGES * PAGE_SIZE_4K;
    let id = T.ok(
        reg.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600, ctx_a),
        "shmget",
    );
    // Segments are lazy as Linux's shmem: frames come with the first touch.
    T.eq(
        mm::page_frames() - before,
        0,
        "a new segment has no frame yet",
    );
    let at_a = T.ok(reg.shmat(&mut a, id, None, 0, ctx_a), "attach in A");
    let fixed = Some(mm::VirtAddr::from_usize(B_ADDR));
    let at_b = T.ok(reg.shmat(&mut b, id, fixed, 0, ctx_b), "attach in B");
    println!(
        "segment {} ({PAGES} pages) attached at {:#x} in A and {:#x} in B",
        id.0,
        at_a.as_usize(),
        at_b.as_usize()
    );

    // A writes, B reads; B writes, A reads: one set of frames behind both.
    T.ok(mm::switch_to(a), "switch to A");
    T.ok(mm::write_pattern(at_a, PAGES, 1), "A writes");
    let a = T.ok(mm::exchange(b), "switch");
    T.ok(mm::check_pattern(at_b, PAGES, 1), "B sees A's writes");
    T.ok(mm::write_pattern(at_b, PAGES, 2), "B writes");
    let mut b = T.ok(mm::exchange(a), "switch");
    T.ok(mm::check_pattern(at_a, PAGES, 2), "A sees B's writes");
    println!("A and B see each other's writes through the MMU");

    let ds = T.ok(reg.stat(id), "IPC_STAT");
    println!(
        "IPC_STAT: size {}, nattch {}, cpid {}, lpid {}, atime {}",
        ds.size, ds.nattch, ds.cpid, ds.lpid, ds.atime
    );
    T.eq((ds.nattch, ds.cpid, ds.lpid), (2, PID_A, PID_B), "shmid_ds");

    // IPC_RMID while attached: marked for destruction, freed at the last detach.
    T.ok(reg.remove(id), "IPC_RMID");
    let ds = T.ok(reg.stat(id), "IPC_STAT after IPC_RMID");
    T.check(ds.mode & SHM_DEST != 0, "SHM_DEST is set");
    let frames = mm::page_frames();
    T.ok(reg.shmdt(&mut b, at_b, ctx_b), "detach B");
    let ds = T.ok(reg.stat(id), "IPC_STAT after one detach");
    T.eq(ds.nattch, 1, "one attachment left");
    let ok = mm::current(|a| reg.shmdt(a, at_a, ctx_a));
    T.ok(ok, "detach A");
    let freed = frames - mm::page_frames();
    println!("IPC_RMID, then both detached: {freed} frames freed");
    T.check(freed >= PAGES, "the segment's frames are freed");
    T.eq(
        reg.stat(id).map(|_| ()),
        Err(mm::LinuxError::EINVAL),
        "the segment is gone",
    );
    // Dropping the spaces frees their two root tables too.
    drop((b, mm::take_current()));
    T.eq(mm::page_frames(), before - 2, "every frame is back");
    T.pass();
}
