//! Which error wins when several apply: one row per combination, the expected errno
//! measured on this host's Linux (x86-64, 6.18) with `tests/linux/probe.c` (same ids;
//! not needed at test time). `BASE` stands for the probe's 0x3_0000_0000, `END` for an
//! address just below the end of the space (the probe's 0x7fff_ffff_f000).
//!
//! A row whose Pagoda result differs from Linux's says why (`pagoda`/`why`).

use alloc::sync::Arc;
use alloc::vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;

use super::*;
use crate::{Advice, File, LinuxError, MemFile, MmapFlags, MremapFlags, MsyncFlags};

const P: usize = PAGE_SIZE_4K;
const BASE: usize = 0x3_0000_0000;
const END: usize = USER_END - P;
const BAD_PROT: MappingFlags = MappingFlags::from_bits_retain(0x10);
const HUGE: usize = usize::MAX - 100;

const PRIV: MmapFlags = MmapFlags::PRIVATE;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const AN: MmapFlags = MmapFlags::ANONYMOUS;
const SV: MmapFlags = MmapFlags::SHARED_VALIDATE;
const FIX: MmapFlags = MmapFlags::FIXED;
const NOREP: MmapFlags = MmapFlags::FIXED_NOREPLACE;
/// A flag bit Linux does not know (`MAP_SHARED_VALIDATE` refuses it).
const UNKNOWN: MmapFlags = MmapFlags::from_bits_retain(0x20_0000);
const MAY: MremapFlags = MremapFlags::MAYMOVE;
const MFIX: MremapFlags = MremapFlags::MAYMOVE.union(MremapFlags::FIXED);

#[derive(Debug, Clone, Copy)]
enum Call {
    /// addr, len, prot, flags, with the probe's file, offset.
    Mmap(usize, usize, MappingFlags, MmapFlags, bool, u64),
    /// old, old_len, new_len, flags, new.
    Mremap(usize, usize, usize, MremapFlags, usize),
    Mprotect(usize, usize, MappingFlags),
    Munmap(usize, usize),
    Msync(usize, usize, MsyncFlags),
    Madvise(usize, usize, Advice),
    /// Raw advice decoded first (as a syscall layer does).
    MadviseRaw(usize, usize, u32),
}

use Call::*;

struct Row {
    id: &'static str,
    /// Pages from `BASE`: `x` mapped read-write, `r` mapped read-only (its own area),
    /// `s` shared anonymous read-write, `.` free.
    layout: &'static str,
    call: Call,
    linux: Result<(), LinuxError>,
}

const OK: Result<(), LinuxError> = Ok(());
const fn e(err: LinuxError) -> Result<(), LinuxError> {
    Err(err)
}
use LinuxError::{EBADF, EEXIST, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW};

const fn row(
    id: &'static str,
    layout: &'static str,
    call: Call,
    linux: Result<(), LinuxError>,
) -> Row {
    Row {
        id,
        layout,
        call,
        linux,
    }
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    row("M1", "x", Mmap(0, 0, R, ANON, false, 0), e(EINVAL)),
    row("M2", "x", Mmap(0, 0, R, PRIV, false, 0), e(EBADF)),
    row("M3", "x", Mmap(0, P, R, ANON, false, 0x123), e(EINVAL)),
    row("M4", "x", Mmap(0, P, R, ANON, false, 0x1000), OK),
    row("M5", "x", Mmap(0, P, R, SV.union(AN), false, 0), e(EINVAL)),
    row("M6", "x", Mmap(0, P, R, AN, false, 0), e(EINVAL)),
    row("M7", "x", Mmap(0, P, R, MmapFlags::empty(), false, 0), e(EBADF)),
    row("M8", "x", Mmap(0, P, R, PRIV, false, 0x123), e(EINVAL)),
    row("M9", "x", Mmap(BASE, P, R, AN.union(NOREP), false, 0), e(EEXIST)),
    row("M10", "x", Mmap(END, 2 * P, R, AN.union(FIX), false, 0), e(ENOMEM)),
    row("M11", "x", Mmap(BASE + 1, P, R, ANON.union(FIX), false, 0), e(EINVAL)),
    row("M13", "x", Mmap(0, P, R, SV.union(UNKNOWN), true, 0), e(EOPNOTSUPP)),
    row("M14", "x", Mmap(0, P, R, SV.union(AN).union(UNKNOWN), false, 0), e(EINVAL)),
    row("M15", "x", Mmap(0, 2 * P, R, PRIV, true, 0x7fff_ffff_ffff_f000), e(EOVERFLOW)),
    row("M16", "x", Mmap(0, HUGE, R, ANON, false, 0), e(ENOMEM)),
    row("M17", "x", Mmap(BASE, P, R, PRIV.union(NOREP), false, 0), e(EBADF)),
    row("M18", "x", Mmap(BASE + 1, P, R, PRIV.union(FIX), false, 0), e(EBADF)),
    row("M19", "x", Mmap(BASE, P, R, SV.union(AN).union(NOREP), false, 0), e(EEXIST)),
    row("M20", "x", Mmap(END, 2 * P, R, PRIV.union(FIX), false, 0), e(EBADF)),
    row("M21", "x", Mmap(BASE + 1, 0, R, ANON.union(FIX), false, 0), e(EINVAL)),
    row("M22", "x", Mmap(0, P, R, MmapFlags::SHARED.union(AN), false, 0x123), e(EINVAL)),
    row("M23", "x", Mmap(0, HUGE, R, PRIV, false, 0), e(EBADF)),
    row("M24", "x", Mmap(0, 0, BAD_PROT, AN, false, 0x123), e(EINVAL)),
    row("M25", "x", Mmap(END, 2 * P, R, ANON.union(FIX), false, 0x123), e(EINVAL)),
    row("M26", "x", Mmap(END + 1, 2 * P, R, ANON.union(FIX), false, 0), e(ENOMEM)),
    row("M28", "x", Mmap(1, P, R, ANON.union(FIX), false, 0), e(EINVAL)),
    row("M29", "x", Mmap(BASE, P, R, SV.union(NOREP).union(UNKNOWN), true, 0), e(EEXIST)),
    row("M30", "x", Mmap(0, 2 * P, R, SV.union(UNKNOWN), true, 0x7fff_ffff_ffff_f000), e(EOVERFLOW)),
    row("M31", "x", Mmap(BASE, P, R, NOREP, true, 0x7fff_ffff_ffff_f000), e(EEXIST)),
    row("R1", "x.x", Mremap(BASE, P, P, MremapFlags::from_bits_retain(0x10), 0), e(EINVAL)),
    row("R2", "x.x", Mremap(BASE, P, P, MremapFlags::FIXED, BASE + 8 * P), e(EINVAL)),
    row("R3", "x.x", Mremap(BASE + 1, P, P, MremapFlags::empty(), 0), e(EINVAL)),
    row("R4", "x.x", Mremap(BASE, P, 0, MremapFlags::empty(), 0), e(EINVAL)),
    row("R5", "x.x", Mremap(BASE + P, P, 2 * P, MAY, 0), e(EFAULT)),
    row("R6", "x.x", Mremap(BASE + P, 2 * P, P, MremapFlags::empty(), 0), e(EFAULT)),
    row("R7", "x.x", Mremap(BASE, 3 * P, P, MremapFlags::empty(), 0), OK),
    row("R8", "xrx", Mremap(BASE, 3 * P, 3 * P, MremapFlags::empty(), 0), OK),
    row("R9", "xrx", Mremap(BASE, 2 * P, 4 * P, MAY, 0), e(EFAULT)),
    row("R10", "x", Mremap(BASE + 8 * P, P, P, MFIX, BASE + 8 * P), e(EINVAL)),
    row("R11", "x", Mremap(BASE + 8 * P, P, P, MFIX, BASE + 1), e(EINVAL)),
    row("R12", "x", Mremap(BASE + 8 * P, P, 2 * P, MFIX, END), e(EINVAL)),
    row("R13", "x", Mremap(BASE, 0, P, MAY, 0), e(EINVAL)),
    row("R14", "x.", Mremap(BASE + 8 * P, P, P, MFIX, BASE), e(EFAULT)),
    row("R15", "xx", Mremap(BASE, P, 2 * P, MremapFlags::empty(), 0), e(ENOMEM)),
    row("R16", "xx", Mremap(BASE + 8 * P, 0, 0, MremapFlags::empty(), 0), e(EINVAL)),
    row("R17", "xx", Mremap(BASE + 8 * P, P, HUGE, MAY, 0), e(EINVAL)),
    row("R18", "xx", Mremap(BASE, P, HUGE, MAY, 0), e(EINVAL)),
    row("R20", "x.", Mremap(BASE, P, P, MFIX, BASE + P), OK),
    row("R21", "s.", Mremap(BASE, 0, P, MAY, 0), OK),
    row("R22", "s.", Mremap(BASE, 0, P, MremapFlags::empty(), 0), e(ENOMEM)),
    row("R23", "s.", Mremap(BASE, 0, 2 * P, MFIX, BASE + 8 * P), OK),
    row("P1", "x.x", Mprotect(BASE + 1, P, R), e(EINVAL)),
    row("P2", "x.x", Mprotect(BASE + 8 * P, 0, BAD_PROT), OK),
    row("P3", "x.x", Mprotect(BASE + 8 * P, P, BAD_PROT), e(EINVAL)),
    row("P4", "x.x", Mprotect(BASE + 8 * P, P, R), e(ENOMEM)),
    row("P5", "x.x", Mprotect(BASE, 3 * P, R), e(ENOMEM)),
    row("P6", "x.x", Mprotect(BASE, HUGE, R), e(ENOMEM)),
    row("P7", "x.x", Mprotect(BASE + 1, P, BAD_PROT), e(EINVAL)),
    row("P8", ".x", Mprotect(BASE, 2 * P, R), e(ENOMEM)),
    row("P9", ".x", Mprotect(BASE + 1, 0, R), e(EINVAL)),
    row("P10", ".x", Mprotect(BASE + P, P, R.union(BAD_PROT)), e(EINVAL)),
    row("U1", "x", Munmap(BASE, 0), e(EINVAL)),
    row("U2", "x", Munmap(BASE + 1, P), e(EINVAL)),
    row("U3", "x", Munmap(BASE + 1, 0), e(EINVAL)),
    row("U4", "x", Munmap(END, 2 * P), e(EINVAL)),
    row("U5", "x", Munmap(0, P), OK),
    row("U6", "x", Msync(0, P, MsyncFlags::SYNC), e(ENOMEM)),
    row("U7", "x", Madvise(0, P, Advice::DontNeed), e(ENOMEM)),
    row("S1", "x", Msync(BASE + 1, P, MsyncFlags::SYNC), e(EINVAL)),
    row("S2", "x", Msync(BASE, P, MsyncFlags::from_bits_retain(0x10)), e(EINVAL)),
    row("S3", "x", Msync(BASE, P, MsyncFlags::SYNC.union(MsyncFlags::ASYNC)), e(EINVAL)),
    row("S4", "x", Msync(BASE + 8 * P, 0, MsyncFlags::SYNC), OK),
    row("S5", "x", Msync(BASE, 2 * P, MsyncFlags::SYNC), e(ENOMEM)),
    row("S6", "x", Msync(BASE + 1, 0, MsyncFlags::SYNC), e(EINVAL)),
    row("S7", "x", Msync(BASE, HUGE, MsyncFlags::SYNC), OK),
    row("A1", "x", Madvise(BASE + 1, P, Advice::DontNeed), e(EINVAL)),
    row("A2", "x", Madvise(BASE + 8 * P, 0, Advice::DontNeed), OK),
    row("A3", "x", Madvise(BASE, 2 * P, Advice::DontNeed), e(ENOMEM)),
    row("A4", "x", Madvise(BASE, HUGE, Advice::DontNeed), e(EINVAL)),
    row("A5", "x", MadviseRaw(BASE + 1, P, 12345), e(EINVAL)),
    row("A6", "x", MadviseRaw(BASE + 8 * P, 0, 12345), e(EINVAL)),
];

/// Rows where Pagoda deliberately differs: (id, Pagoda's result, why).
const DIFFERENT: &[(&str, Result<(), LinuxError>, &str)] = &[
    // M12 (Linux OK): `prot` is `MappingFlags`, where 0x10 is `DEVICE`, not a PROT_ bit;
    // Linux's mmap ignores unknown PROT_ bits, so the syscall layer drops them.
    (
        "M12",
        Err(EINVAL),
        "MappingFlags beyond READ|WRITE|EXECUTE are refused",
    ),
    // R19 (Linux 6.17+ OK): moving several areas (and the holes between them) at once.
    (
        "R19",
        Err(EFAULT),
        "mremap moves only a range inside one area",
    ),
];

const DIFFERENT_ROWS: &[Row] = &[
    row(
        "M12",
        "x",
        Mmap(0, P, R.union(BAD_PROT), ANON, false, 0),
        OK,
    ),
    row(
        "R19",
        "x.",
        Mremap(BASE, 2 * P, 2 * P, MFIX, BASE + 8 * P),
        OK,
    ),
];

fn layout(s: &mut Space, layout: &str) {
    for (i, c) in layout.chars().enumerate() {
        let (prot, flags) = match c {
            'x' => (RW, ANON),
            'r' => (R, ANON),
            's' => (RW, MmapFlags::SHARED | AN),
            _ => continue,
        };
        let at = va(BASE + i * P);
        s.mmap(at, P, prot, flags | FIX, None, 0).unwrap();
    }
}

fn run(s: &mut Space, file: &Arc<dyn File>, call: Call) -> Result<(), LinuxError> {
    match call {
        Mmap(addr, len, prot, flags, with_file, off) => {
            let f = with_file.then(|| file.clone());
            s.mmap(va(addr), len, prot, flags, f, off).map(drop)
        }
        Mremap(old, old_len, new_len, flags, new) => s
            .mremap(va(old), old_len, new_len, flags, va(new))
            .map(drop),
        Mprotect(addr, len, prot) => {
            // Both flavours agree on the error; they differ only in what stays changed.
            let r = s.mprotect(va(addr), len, prot);
            assert_eq!(s.mprotect_linux(va(addr), len, prot), r);
            r
        }
        Munmap(addr, len) => s.munmap(va(addr), len),
        Msync(addr, len, flags) => s.msync(va(addr), len, flags),
        Madvise(addr, len, advice) => s.madvise(va(addr), len, advice),
        MadviseRaw(addr, len, raw) => {
            let advice = Advice::try_from(raw)?;
            s.madvise(va(addr), len, advice)
        }
    }
}

#[test]
fn errors_come_in_linux_order() {
    let mut failures = vec![];
    for r in ROWS.iter().chain(DIFFERENT_ROWS) {
        let mut s = setup();
        let file: Arc<dyn File> = Arc::new(MemFile::new(vec![0u8; 4 * P]));
        layout(&mut s, r.layout);
        let want = DIFFERENT
            .iter()
            .find(|d| d.0 == r.id)
            .map_or(r.linux, |d| d.1);
        let got = run(&mut s, &file, r.call);
        if got != want {
            failures.push(alloc::format!(
                "{} {:?}: {got:?}, want {want:?}",
                r.id,
                r.call
            ));
        }
        drop((s, file));
        assert_no_leak();
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
