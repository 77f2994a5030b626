//! An in-memory file (6000 bytes: one page and a bit) mapped private and shared, read and
//! written through the MMU: the tail of the last page past EOF reads zero, a page wholly
//! past EOF is a bus error, private writes stay private, shared writes show in `read_at`
//! at once (one page cache) and reach the backing store at `msync` (never past EOF), a
//! `write_at` shows in the mappings at once, and shrinking the file unmaps the pages past
//! its new end.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;

use pagoda::mm::{self, File, MemFile, MmapFlags, MsyncFlags, PAGE_SIZE_4K, Signal, VirtAddr};
use pagoda::{print, println};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("file_mmap");
const SIZE: usize = 6000;

/// The `u64` at byte `off` of `data`.
fn word(data: &[u8], off: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&data[off..off + 8]);
    u64::from_le_bytes(w)
}

fn mmap(file: &Arc<MemFile>, pages: usize, how: MmapFlags) -> VirtAddr {
    let file: Arc<dyn File> = file.clone();
    let len = pages * PAGE_SIZE_4K;
    let null = VirtAddr::from_usize(0);
    T.ok(
        mm::current(|s| s.mmap(null, len, mm::RW, how, Some(file), 0)),
        "mmap",
    )
}

fn main() {
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
    let file = Arc::new(MemFile::with_name("/data/6000-bytes", data.clone()));
    T.ok(mm::switch_to_new(), "switch to a new address space");
    let private = mmap(&file, 3, MmapFlags::PRIVATE);
    let shared = mmap(&file, 2, MmapFlags::SHARED);
    mm::with_current(|s| print!("{s}"));

    // The file's bytes, then zeros to the end of the page, then SIGBUS.
    T.eq(mm::probe_read(private + 8), Ok(word(&data, 8)), "file data");
    T.eq(
        mm::probe_read(private + 5992),
        Ok(word(&data, 5992)),
        "last word",
    );
    T.eq(
        mm::probe_read(private + SIZE),
        Ok(0),
        "the EOF tail reads zero",
    );
    T.eq(
        mm::probe_read(private + 0x1ff8),
        Ok(0),
        "up to the page end",
    );
    let past = mm::probe_read(private + 0x2000).map_err(|e| e.signal);
    T.eq(past, Err(Signal::Bus), "a page past EOF is a bus error");
    println!("private: file bytes, zeros after EOF in the last page, SIGBUS past it");

    // A private write copies the page: neither the file nor the shared mapping see it.
    T.ok(mm::probe_write(private + 8, 0x1111), "private write");
    T.eq(
        mm::probe_read(shared + 8),
        Ok(word(&data, 8)),
        "shared unchanged",
    );
    T.eq(word(&file.contents(), 8), word(&data, 8), "file unchanged");

    // A shared write reaches the file at msync; the part past EOF does not.
    T.ok(mm::probe_write(shared + 16, 0x2222), "shared write");
    T.ok(
        mm::probe_write(shared + SIZE, 0x3333),
        "write past EOF in the page",
    );
    T.eq(
        word(&file.contents(), 16),
        0x2222,
        "read sees the store at once",
    );
    T.eq(
        word(&file.stored(), 16),
        word(&data, 16),
        "not yet written back",
    );
    let len = 2 * PAGE_SIZE_4K;
    T.ok(
        mm::current(|s| s.msync(shared, len, MsyncFlags::SYNC)),
        "msync",
    );
    let now = file.stored();
    T.eq(word(&now, 16), 0x2222, "msync wrote the page back");
    T.eq(now.len(), SIZE, "nothing written past EOF");
    T.eq(
        word(&now, 8),
        word(&data, 8),
        "the private write stays private",
    );
    println!(
        "shared: read saw the store at once, msync wrote it back, the file is still {SIZE} bytes"
    );

    // A write to the file shows in the shared mapping at once, and in private pages not
    // yet copied; the private copy keeps its bytes.
    let second = PAGE_SIZE_4K + 24;
    T.ok(file.write_at(24, &0x4444u64.to_le_bytes()), "pwrite");
    T.ok(
        file.write_at(second as u64, &0x5555u64.to_le_bytes()),
        "pwrite",
    );
    T.eq(
        mm::probe_read(shared + 24),
        Ok(0x4444),
        "the mapping sees pwrite",
    );
    T.eq(
        mm::probe_read(private + 24),
        Ok(word(&data, 24)),
        "the copy keeps its bytes",
    );
    T.eq(
        mm::probe_read(private + second),
        Ok(0x5555),
        "an uncopied page sees pwrite",
    );
    // Shrinking to one page: the second page is gone from the mapping (SIGBUS).
    file.set_len(PAGE_SIZE_4K);
    T.some(
        mm::with_current(|s| s.apply_truncations()),
        "return-to-user hook",
    );
    let gone = mm::probe_read(shared + PAGE_SIZE_4K).map_err(|e| e.signal);
    T.eq(
        gone,
        Err(Signal::Bus),
        "a page past the new end is a bus error",
    );
    println!("pwrite showed in the mappings at once; ftruncate unmapped the page past the end");
    T.pass();
}
