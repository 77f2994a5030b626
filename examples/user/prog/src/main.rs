//! The user-mode program of the `user` example: a static ELF at 0x40_0000 that the kernel
//! loads into a fresh address space and runs in U-mode / ring 3.
//!
//! It checks what the kernel set up: argv and the auxiliary vector on the initial stack,
//! a 64 KiB stack buffer (several pages, faulted in lazily), a zeroed 256 KiB `.bss`, and an
//! initialised `.data` word. Exit status 42 means every check passed; each failure has its
//! own status (see [`status`]) and prints a `FAILED` line first. A panic exits with 101.
//! Only Linux's `write` and `exit` are used, so the same ELF also runs under Linux
//! (x86_64), `qemu-riscv64` or `qemu-aarch64`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use pagoda_usys::{Startup, auxv, println};

pagoda_usys::main!(main);

/// Exit statuses.
mod status {
    /// Every check passed (the kernel example expects this).
    pub const OK: i32 = 42;
    /// AT_PAGESZ is not 4096 or AT_RANDOM is missing.
    pub const BAD_AUXV: i32 = 1;
    /// `.bss` was not zero at start.
    pub const BSS_NOT_ZERO: i32 = 2;
    /// The stack buffer did not read back what was written.
    pub const STACK_CHECKSUM: i32 = 3;
    /// `.bss` did not read back what was written.
    pub const BSS_CHECKSUM: i32 = 4;
    /// The `.data` word did not hold its initial value, or a write to it was lost.
    pub const BAD_DATA: i32 = 5;
    /// argc is 0 (no `argv[0]`).
    pub const BAD_ARGV: i32 = 6;
}

/// Bytes of the stack buffer: 16 pages below the entry frames.
const STACK_BYTES: usize = 64 * 1024;
/// 256 KiB of `.bss`, as 64-bit words.
const BSS_WORDS: usize = 256 * 1024 / 8;
/// The initial value of [`DATA`] ("Pagoda!!"); it must come from the ELF file.
const DATA_MAGIC: u64 = 0x2121_6164_6f67_6150;

/// Zero-initialised, so it lands in `.bss` (atomics: mutable statics without `unsafe`).
static BSS: [AtomicU64; BSS_WORDS] = [const { AtomicU64::new(0) }; BSS_WORDS];
/// Non-zero initial value, so it lands in `.data`.
static DATA: AtomicU64 = AtomicU64::new(DATA_MAGIC);

/// A deterministic xorshift64 sequence: a different word at every offset and per seed.
fn pattern(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed;
    core::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}

/// 64-bit FNV-1a over little-endian words.
fn checksum(words: impl Iterator<Item = u64>) -> u64 {
    words
        .flat_map(u64::to_le_bytes)
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Prints why the program fails and returns `code`.
fn fail(code: i32, why: fmt::Arguments<'_>) -> i32 {
    println!("user program FAILED (exit {code}): {why}");
    code
}

/// Fills a 64 KiB stack buffer, reads it back; `Ok(checksum)` if it matches the pattern.
#[inline(never)]
fn stack_check() -> Result<u64, i32> {
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = [0u8; STACK_BYTES];
    for (chunk, word) in buf.chunks_exact_mut(8).zip(pattern(SEED)) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    // Keep the stores and make the loads real: the optimiser must not see through this.
    let buf = black_box(&mut buf);
    let got = checksum(
        buf.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())),
    );
    let want = checksum(pattern(SEED).take(STACK_BYTES / 8));
    println!(
        "stack: {STACK_BYTES} bytes at {:p}, checksum {got:#018x}",
        buf.as_ptr()
    );
    if got == want {
        Ok(got)
    } else {
        Err(fail(
            status::STACK_CHECKSUM,
            format_args!("stack checksum {got:#x} != {want:#x}"),
        ))
    }
}

/// Checks `.bss` is zero, fills it, reads it back; `Ok(checksum)` if it matches the pattern.
fn bss_check() -> Result<u64, i32> {
    const SEED: u64 = 0x2545_f491_4f6c_dd1d;
    if let Some(i) = BSS.iter().position(|w| w.load(Relaxed) != 0) {
        return Err(fail(
            status::BSS_NOT_ZERO,
            format_args!("bss word {i} is not zero"),
        ));
    }
    for (slot, word) in BSS.iter().zip(pattern(SEED)) {
        slot.store(word, Relaxed);
    }
    let got = checksum(BSS.iter().map(|w| w.load(Relaxed)));
    let want = checksum(pattern(SEED).take(BSS_WORDS));
    println!(
        "bss: {} bytes at {:p}, was zero, checksum {got:#018x}",
        BSS_WORDS * 8,
        BSS.as_ptr()
    );
    if got == want {
        Ok(got)
    } else {
        Err(fail(
            status::BSS_CHECKSUM,
            format_args!("bss checksum {got:#x} != {want:#x}"),
        ))
    }
}

/// Checks the `.data` word came from the file and that a write to it sticks.
fn data_check() -> Result<(), i32> {
    let first = DATA.fetch_add(1, Relaxed);
    let now = DATA.load(Relaxed);
    println!("data: {first:#018x} at {:p}", &DATA);
    if first == DATA_MAGIC && now == DATA_MAGIC + 1 {
        Ok(())
    } else {
        Err(fail(
            status::BAD_DATA,
            format_args!("data word {first:#x} then {now:#x}"),
        ))
    }
}

fn main(start: &Startup) -> i32 {
    println!("hello from user mode");
    let Some(argv0) = start.arg(0) else {
        return fail(
            status::BAD_ARGV,
            format_args!("argc = {}, no argv[0]", start.argc()),
        );
    };
    println!(
        "argc = {}, argv[0] = {argv0:?}, envc = {}",
        start.argc(),
        start.envs().count()
    );

    let page_size = start.aux(auxv::AT_PAGESZ);
    let random = start.random_bytes();
    println!(
        "auxv: {} entries, AT_PAGESZ = {page_size:?}, AT_RANDOM = {:?}",
        start.auxv().len(),
        // Reading the bytes also checks the kernel mapped them.
        random.map(|r| (r.as_ptr(), u32::from_le_bytes([r[0], r[1], r[2], r[3]])))
    );
    if page_size != Some(4096) || random.is_none() {
        return fail(
            status::BAD_AUXV,
            format_args!("need AT_PAGESZ = 4096 and AT_RANDOM"),
        );
    }

    let result = data_check().and_then(|()| Ok(stack_check()? ^ bss_check()?));
    match result {
        Ok(sum) => {
            println!("user program: all checks passed (combined checksum {sum:#018x}), exit 42");
            status::OK
        }
        Err(code) => code,
    }
}
