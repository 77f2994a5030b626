//! A short tour of Pagoda's memory management (the default of `make run`): lazy memory,
//! protection, fork with copy-on-write, shared memory, file mappings, huge pages, and a
//! user program in its own address space, each checked through the real MMU.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::sync::Arc;

use pagoda::mm::shm::{self, IPC_CREAT, IPC_PRIVATE};
use pagoda::mm::{self, File, MemFile, MmapFlags, PAGE_SIZE_2M, PAGE_SIZE_4K, StaticFrames};
use pagoda::mm::{ExitStatus, PageSize, VirtAddr};
use pagoda::{print, println};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("tour");
static PROGRAM: &[u8] = include_bytes!(env!("PAGODA_USER_ELF"));
const PAGES: usize = 16;
const LEN: usize = PAGES * PAGE_SIZE_4K;

fn lazy_and_protect() -> VirtAddr {
    let faults = mm::fault_stats();
    let va = T.ok(mm::mmap_anon(LEN, mm::RW), "mmap");
    T.ok(mm::write_pattern(va, PAGES, 1), "touch");
    let n = mm::fault_stats().since(&faults).filled;
    println!("1. lazy memory: mmap {PAGES} pages, touching them took {n} page faults");
    T.eq(n, PAGES, "one fault per page");

    T.ok(mm::current(|s| s.mprotect(va, LEN, mm::RO)), "mprotect");
    let err = T.some(mm::probe_write(va, 0).err(), "write to read-only memory");
    println!("2. mprotect(PROT_READ), then a write: {err}");
    T.eq(err.signal, mm::Signal::Segv, "SIGSEGV");
    T.ok(
        mm::current(|s| s.mprotect(va, LEN, mm::RW)),
        "mprotect back",
    );
    va
}

fn fork_cow(va: VirtAddr) {
    let child = T.ok(mm::current(|s| s.fork()), "fork");
    let faults = mm::fault_stats();
    T.ok(mm::write_pattern(va, PAGES, 2), "parent writes");
    let copies = mm::fault_stats().since(&faults).cow_copied;
    let parent = T.ok(mm::exchange(child), "switch to the child");
    T.ok(
        mm::check_pattern(va, PAGES, 1),
        "the child keeps the old data",
    );
    println!(
        "3. fork: the parent's writes cost {copies} copies; the child still sees the old data"
    );
    T.eq(copies, PAGES, "one copy per page");
    drop(T.ok(mm::exchange(parent), "back to the parent"));
}

fn shared_memory() {
    let reg = shm::registry();
    let ctx = shm::context(1);
    let id = T.ok(
        reg.shmget(IPC_PRIVATE, LEN, IPC_CREAT | 0o600, ctx),
        "shmget",
    );
    let mut other = T.ok(mm::new_space(), "second space");
    let there = T.ok(
        reg.shmat(&mut other, id, None, 0, shm::context(2)),
        "shmat there",
    );
    let here = T.ok(
        mm::current(|s| reg.shmat(s, id, None, 0, ctx)),
        "shmat here",
    );
    T.ok(mm::write_pattern(here, PAGES, 3), "write here");
    let me = T.ok(mm::exchange(other), "switch");
    T.ok(mm::check_pattern(there, PAGES, 3), "read there");
    println!("4. shared memory: a second address space reads what the first wrote");
    drop(T.ok(mm::exchange(me), "switch back"));
    T.ok(reg.remove(id), "IPC_RMID");
}

fn file_mapping() {
    let file = Arc::new(MemFile::with_name("/tour.txt", *b"hello, file"));
    let dyn_file: Arc<dyn File> = file.clone();
    let null = VirtAddr::from_usize(0);
    let how = MmapFlags::SHARED;
    let va = T.ok(
        mm::current(|s| s.mmap(null, 2 * PAGE_SIZE_4K, mm::RW, how, Some(dyn_file), 0)),
        "mmap",
    );
    T.ok(
        mm::probe_write(va, u64::from_le_bytes(*b"HELLO, F")),
        "write",
    );
    T.ok(
        mm::current(|s| s.msync(va, PAGE_SIZE_4K, mm::MsyncFlags::SYNC)),
        "msync",
    );
    let past = T.some(mm::probe_read(va + PAGE_SIZE_4K).err(), "a page past EOF");
    let text = file.contents();
    println!(
        "5. file mapping: after msync the file reads {:?}; past EOF: {past}",
        core::str::from_utf8(&text).unwrap_or("?")
    );
    T.eq(&text[..], b"HELLO, File", "written back");
}

fn huge_page() {
    let block = T.ok(
        StaticFrames::alloc(PAGE_SIZE_2M, PAGE_SIZE_2M),
        "2 MiB of RAM",
    );
    let va = VirtAddr::from_usize(0x4000_0000);
    T.ok(mm::current(|s| mm::map_static(s, va, block, mm::RW)), "map");
    T.ok(block.write_u64(PAGE_SIZE_2M - 8, 42), "kernel write");
    let size = mm::with_current(|s| mm::page_size_at(s, va)).flatten();
    let last = T.ok(
        mm::probe_read(va + (PAGE_SIZE_2M - 8)),
        "read the last word",
    );
    T.eq(size, Some(PageSize::Size2M), "one 2 MiB leaf");
    println!("6. huge page: 2 MiB of contiguous RAM mapped as one 2 MiB leaf; last word {last}");
    T.eq(last, 42, "the kernel's write");
}

fn main() {
    T.ok(mm::switch_to_new(), "switch to a new address space");
    let va = lazy_and_protect();
    fork_cow(va);
    shared_memory();
    file_mapping();
    huge_page();
    println!("   the address space now:");
    mm::with_current(|s| print!("{s}"));

    println!("7. a user program in its own address space (its output follows):");
    let report = T.ok(mm::exec(PROGRAM, &["user-prog"]), "exec");
    println!(
        "   it {} after {} page faults",
        report.status,
        report.faults.total()
    );
    T.eq(report.status, ExitStatus::Exited(42), "exit status");
    T.pass();
}
