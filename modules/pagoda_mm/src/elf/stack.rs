//! The initial user stack of a new program, as the System V ABI (RISC-V and x86-64 psABIs)
//! describes it. Pure: it produces the bytes and the stack pointer; the loader writes them.
//!
//! Layout, from high to low addresses (`top` is 16-byte aligned):
//! ```text
//! top ->  8 zero bytes, then AT_EXECFN's path ending right below them (only when given)
//!         argv[0]\0 argv[1]\0 ... envp[0]\0 ... envp[n-1]\0   (end at top without a path)
//!         AT_PLATFORM's string (only when given)
//!         16 random bytes (AT_RANDOM), 16-byte aligned, zero padding above them
//!         zero padding so that sp is 16-byte aligned
//!         AT_NULL 0
//!         auxv pairs (type, value) ..., AT_RANDOM &random
//!         NULL, envp pointers
//!         NULL, argv pointers
//! sp ->   argc
//! ```
//! Every word is 8 bytes, little-endian (both supported targets are 64-bit LE).

use alloc::vec::Vec;

use axerrno::LinuxError;
use memory_addr::{PAGE_SIZE_4K, VirtAddr};

use super::parse::{ElfPlan, PHDR_SIZE};

/// End of the auxiliary vector.
pub const AT_NULL: usize = 0;
/// Address of the program headers.
pub const AT_PHDR: usize = 3;
/// Size of one program header.
pub const AT_PHENT: usize = 4;
/// Number of program headers.
pub const AT_PHNUM: usize = 5;
/// Page size.
pub const AT_PAGESZ: usize = 6;
/// Base address of the interpreter (0 without one).
pub const AT_BASE: usize = 7;
/// Entry point of the program.
pub const AT_ENTRY: usize = 9;
/// Flags (always 0).
pub const AT_FLAGS: usize = 8;
/// Real user id.
pub const AT_UID: usize = 11;
/// Effective user id.
pub const AT_EUID: usize = 12;
/// Real group id.
pub const AT_GID: usize = 13;
/// Effective group id.
pub const AT_EGID: usize = 14;
/// Address of the platform string (x86_64: `"x86_64"`).
pub const AT_PLATFORM: usize = 15;
/// CPU capability bits.
pub const AT_HWCAP: usize = 16;
/// Frequency of `times()` (100).
pub const AT_CLKTCK: usize = 17;
/// Whether the program runs with changed credentials (set-uid).
pub const AT_SECURE: usize = 23;
/// Address of 16 random bytes.
pub const AT_RANDOM: usize = 25;
/// More CPU capability bits.
pub const AT_HWCAP2: usize = 26;
/// Address of the path the program was executed by.
pub const AT_EXECFN: usize = 31;
/// Smallest stack a signal handler can run on.
pub const AT_MINSIGSTKSZ: usize = 51;

/// Strings the stack builder places and points auxv entries at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackStrings<'a> {
    /// `AT_EXECFN`: the path given to `execve` (without NUL).
    pub execfn: Option<&'a [u8]>,
    /// `AT_PLATFORM` (without NUL).
    pub platform: Option<&'a [u8]>,
}

/// The bytes of a new stack: `bytes` is the content of `[sp, top)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackImage {
    /// Initial stack pointer (16-byte aligned, points at argc).
    pub sp: VirtAddr,
    /// Contents of `[sp, top)`.
    pub bytes: Vec<u8>,
    /// Where the 16 `AT_RANDOM` bytes are.
    pub random: VirtAddr,
}

/// The auxiliary vector of a loaded image without `AT_RANDOM`/`AT_NULL` (the stack builder
/// adds those). `interp_base` is `AT_BASE`: 0 when no interpreter was loaded.
pub fn auxv_for(plan: &ElfPlan, interp_base: VirtAddr) -> Vec<(usize, usize)> {
    alloc::vec![
        (AT_PHDR, plan.phdr.as_usize()),
        (AT_PHENT, PHDR_SIZE),
        (AT_PHNUM, plan.phnum),
        (AT_PAGESZ, PAGE_SIZE_4K),
        (AT_BASE, interp_base.as_usize()),
        (AT_ENTRY, plan.entry.as_usize()),
    ]
}

fn put(bytes: &mut [u8], at: usize, word: usize) {
    bytes[at..at + 8].copy_from_slice(&(word as u64).to_le_bytes());
}

/// Lays out argc/argv/envp/auxv, the strings and the random bytes below `top`.
///
/// # Errors
/// - `EINVAL`: `top` not 16-byte aligned, a string containing NUL, or `auxv` containing
///   `AT_NULL` or `AT_RANDOM` (added here).
/// - `E2BIG`: the image needs more than `max_size` bytes or would go below address 0.
pub fn build_stack<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    top: VirtAddr,
    argv: &[A],
    envp: &[E],
    auxv: &[(usize, usize)],
    random: &[u8; 16],
    max_size: usize,
) -> Result<StackImage, LinuxError> {
    let none = StackStrings::default();
    build_stack_with(top, argv, envp, auxv, random, max_size, &none)
}

/// [`build_stack`] that also places `strings` and adds `AT_EXECFN` / `AT_PLATFORM` entries
/// pointing at them (after `auxv`, before `AT_RANDOM`).
///
/// # Errors
/// As [`build_stack`]; `EINVAL` also for a string of `strings` containing NUL or `auxv`
/// containing `AT_EXECFN` / `AT_PLATFORM`.
pub fn build_stack_with<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    top: VirtAddr,
    argv: &[A],
    envp: &[E],
    auxv: &[(usize, usize)],
    random: &[u8; 16],
    max_size: usize,
    extra: &StackStrings<'_>,
) -> Result<StackImage, LinuxError> {
    let top = top.as_usize();
    let reserved = [AT_NULL, AT_RANDOM, AT_EXECFN, AT_PLATFORM];
    if !top.is_multiple_of(16) || auxv.iter().any(|&(t, _)| reserved.contains(&t)) {
        return Err(LinuxError::EINVAL);
    }
    let extras = [extra.execfn, extra.platform];
    if extras.iter().flatten().any(|s| s.contains(&0)) {
        return Err(LinuxError::EINVAL);
    }
    // The path sits at the very top (below 8 zero bytes), as Linux puts it.
    let (strings_top, execfn_at) = match extra.execfn {
        Some(p) => {
            let at = top.checked_sub(8 + p.len() + 1).ok_or(LinuxError::E2BIG)?;
            (at, Some(at))
        }
        None => (top, None),
    };
    let strings = argv
        .iter()
        .map(AsRef::as_ref)
        .chain(envp.iter().map(AsRef::as_ref));
    let mut str_len = 0usize;
    for s in strings.clone() {
        if s.contains(&0) {
            return Err(LinuxError::EINVAL);
        }
        str_len = str_len.checked_add(s.len() + 1).ok_or(LinuxError::E2BIG)?;
    }
    let extra_entries = extras.iter().flatten().count();
    let words = (argv.len() + envp.len())
        .checked_add(3 + 2 * (auxv.len() + 2 + extra_entries))
        .ok_or(LinuxError::E2BIG)?;
    let str_start = strings_top.checked_sub(str_len).ok_or(LinuxError::E2BIG)?;
    let platform_at = match extra.platform {
        Some(p) => Some(
            str_start
                .checked_sub(p.len() + 1)
                .ok_or(LinuxError::E2BIG)?,
        ),
        None => None,
    };
    let random_at = platform_at
        .unwrap_or(str_start)
        .checked_sub(16)
        .ok_or(LinuxError::E2BIG)?
        & !15;
    let sp = words
        .checked_mul(8)
        .and_then(|n| random_at.checked_sub(n))
        .ok_or(LinuxError::E2BIG)?
        & !15;
    if top - sp > max_size {
        return Err(LinuxError::E2BIG);
    }

    let mut bytes = alloc::vec![0u8; top - sp];
    let mut ptrs = Vec::with_capacity(argv.len() + envp.len());
    let mut at = str_start;
    for s in strings {
        bytes[at - sp..at - sp + s.len()].copy_from_slice(s);
        ptrs.push(at);
        at += s.len() + 1;
    }
    bytes[random_at - sp..random_at - sp + 16].copy_from_slice(random);
    let placed = [
        (AT_EXECFN, execfn_at, extra.execfn),
        (AT_PLATFORM, platform_at, extra.platform),
    ];
    let mut string_entries = Vec::with_capacity(2);
    for (ty, at, s) in placed {
        if let (Some(at), Some(s)) = (at, s) {
            bytes[at - sp..at - sp + s.len()].copy_from_slice(s);
            string_entries.push((ty, at));
        }
    }

    let (argv_ptrs, envp_ptrs) = ptrs.split_at(argv.len());
    let mut w = 0;
    let mut push = |v: usize| {
        put(&mut bytes, w, v);
        w += 8;
    };
    push(argv.len());
    argv_ptrs.iter().for_each(|&p| push(p));
    push(0);
    envp_ptrs.iter().for_each(|&p| push(p));
    push(0);
    for &(t, v) in auxv
        .iter()
        .chain(string_entries.iter())
        .chain([(AT_RANDOM, random_at), (AT_NULL, 0)].iter())
    {
        push(t);
        push(v);
    }
    Ok(StackImage {
        sp: VirtAddr::from(sp),
        bytes,
        random: VirtAddr::from(random_at),
    })
}
