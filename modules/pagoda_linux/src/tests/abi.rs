//! The encoders against the layouts of the host's C headers: a C program prints `offsetof`
//! and `sizeof` of the real structures, and each field's bytes must sit there.

use super::{Headers, c_values};
use crate::abi::*;

fn le(bytes: &[u8], at: usize, len: usize) -> u64 {
    bytes[at..at + len]
        .iter()
        .rev()
        .fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

fn sample_stat() -> Stat {
    Stat {
        dev: 0x0102,
        ino: 0x0304,
        mode: 0o100_644,
        nlink: 5,
        uid: 1000,
        gid: 100,
        rdev: 0x0506,
        size: 0x0708,
        blksize: 4096,
        blocks: 0x090a,
        atime: Timespec { sec: 11, nsec: 12 },
        mtime: Timespec { sec: 13, nsec: 14 },
        ctime: Timespec { sec: 15, nsec: 16 },
    }
}

/// (field, size in bytes, value) of a stat, in the order the probe prints offsets.
fn stat_fields(s: &Stat) -> Vec<(&'static str, usize, u64)> {
    vec![
        ("st_dev", 8, s.dev),
        ("st_ino", 8, s.ino),
        ("st_mode", 4, u64::from(s.mode)),
        ("st_uid", 4, u64::from(s.uid)),
        ("st_gid", 4, u64::from(s.gid)),
        ("st_rdev", 8, s.rdev),
        ("st_size", 8, s.size as u64),
        ("st_blocks", 8, s.blocks as u64),
        ("st_atime", 8, 11),
        ("st_atime_nsec", 8, 12),
        ("st_mtime", 8, 13),
        ("st_mtime_nsec", 8, 14),
        ("st_ctime", 8, 15),
        ("st_ctime_nsec", 8, 16),
    ]
}

fn check_stat(header: &str, arch: Arch, nlink_size: usize, blksize_size: usize) {
    let s = sample_stat();
    let mut fields = stat_fields(&s);
    fields.push(("st_nlink", nlink_size, u64::from(s.nlink)));
    fields.push(("st_blksize", blksize_size, u64::from(s.blksize)));
    let mut exprs: Vec<String> = fields
        .iter()
        .map(|(f, _, _)| format!("offsetof(struct stat, {f})"))
        .collect();
    exprs.push("sizeof(struct stat)".into());
    let exprs: Vec<&str> = exprs.iter().map(String::as_str).collect();
    let Some(values) = c_values(Headers::Libc, &[header], &exprs) else {
        eprintln!("no C compiler: {header} not checked");
        return;
    };
    let bytes = s.encode(arch);
    assert_eq!(*values.last().unwrap(), stat_size(arch));
    for ((name, len, value), at) in fields.iter().zip(&values) {
        assert_eq!(le(&bytes, *at, *len), *value, "{name} at {at} in {header}");
    }
}

#[test]
fn x86_64_stat_matches_asm_stat_h() {
    check_stat("asm/stat.h", Arch::X86_64, 8, 8);
}

#[test]
fn generic_stat_matches_asm_generic_stat_h() {
    check_stat("asm-generic/stat.h", Arch::Riscv64, 4, 4);
}

#[test]
fn statx_matches_linux_stat_h() {
    let s = sample_stat();
    let fields = [
        ("stx_blksize", 4, 4096u64),
        ("stx_nlink", 4, 5),
        ("stx_uid", 4, 1000),
        ("stx_gid", 4, 100),
        ("stx_mode", 2, 0o100_644),
        ("stx_ino", 8, 0x0304),
        ("stx_size", 8, 0x0708),
        ("stx_blocks", 8, 0x090a),
        ("stx_atime.tv_sec", 8, 11),
        ("stx_atime.tv_nsec", 4, 12),
        ("stx_mtime.tv_sec", 8, 13),
        ("stx_ctime.tv_nsec", 4, 16),
        ("stx_dev_minor", 4, u64::from(dev_minor(0x0102))),
        ("stx_rdev_major", 4, u64::from(dev_major(0x0506))),
    ];
    let mut exprs: Vec<String> = fields
        .iter()
        .map(|(f, _, _)| format!("offsetof(struct statx, {f})"))
        .collect();
    exprs.push("sizeof(struct statx)".into());
    let exprs: Vec<&str> = exprs.iter().map(String::as_str).collect();
    let Some(values) = c_values(Headers::Libc, &["linux/stat.h"], &exprs) else {
        return;
    };
    assert_eq!(*values.last().unwrap(), 256);
    let bytes = s.encode_statx();
    for ((name, len, value), at) in fields.iter().zip(&values) {
        assert_eq!(le(&bytes, *at, *len), *value, "{name} at {at}");
    }
    assert_eq!(le(&bytes, 0, 4), 0x7ff, "STATX_BASIC_STATS");
}

#[test]
fn siginfo_matches_signal_h() {
    let exprs = [
        "sizeof(siginfo_t)",
        "offsetof(siginfo_t, si_code)",
        "offsetof(siginfo_t, si_pid)",
        "offsetof(siginfo_t, si_uid)",
        "offsetof(siginfo_t, si_status)",
        "offsetof(siginfo_t, si_utime)",
        "offsetof(siginfo_t, si_stime)",
        "offsetof(siginfo_t, si_addr)",
        "offsetof(siginfo_t, si_value)",
    ];
    let Some(v) = c_values(Headers::Libc, &["signal.h"], &exprs) else {
        return;
    };
    assert_eq!(v[0], 128);
    let child = SiginfoFields::Child {
        pid: 42,
        uid: 7,
        status: 3,
        utime: 9,
        stime: 10,
    };
    let b = encode_siginfo(17, 0, 1, child);
    assert_eq!((le(&b, 0, 4), le(&b, v[1], 4)), (17, 1));
    assert_eq!(
        (le(&b, v[2], 4), le(&b, v[3], 4), le(&b, v[4], 4)),
        (42, 7, 3)
    );
    assert_eq!((le(&b, v[5], 8), le(&b, v[6], 8)), (9, 10));
    let fault = encode_siginfo(11, 0, 2, SiginfoFields::Fault { addr: 0xdead_b000 });
    assert_eq!(le(&fault, v[7], 8), 0xdead_b000);
    let queued = encode_siginfo(
        40,
        0,
        -1,
        SiginfoFields::Queue {
            pid: 1,
            uid: 2,
            value: 0x55,
        },
    );
    assert_eq!(le(&queued, v[8], 8), 0x55);
}

#[test]
fn utsname_and_sysinfo_match_their_headers() {
    let exprs = [
        "sizeof(struct utsname)",
        "offsetof(struct utsname, release)",
        "offsetof(struct utsname, machine)",
        "sizeof(struct sysinfo)",
        "offsetof(struct sysinfo, totalram)",
        "offsetof(struct sysinfo, freeram)",
        "offsetof(struct sysinfo, procs)",
        "offsetof(struct sysinfo, mem_unit)",
        "offsetof(struct sysinfo, loads)",
    ];
    let Some(v) = c_values(Headers::Libc, &["sys/utsname.h", "sys/sysinfo.h"], &exprs) else {
        return;
    };
    let u = encode_utsname([
        "Linux",
        "pagoda",
        "6.13.0-pagoda",
        "#1",
        "riscv64",
        "(none)",
    ]);
    assert_eq!(v[0], u.len());
    assert_eq!(&u[v[1]..v[1] + 13], b"6.13.0-pagoda");
    assert_eq!(&u[v[2]..v[2] + 8], b"riscv64\0");
    let s = Sysinfo {
        uptime: 3,
        loads: [1, 2, 3],
        totalram: 1 << 30,
        freeram: 1 << 29,
        sharedram: 0,
        procs: 9,
    };
    let b = s.encode();
    assert_eq!(v[3], b.len());
    assert_eq!((le(&b, v[4], 8), le(&b, v[5], 8)), (1 << 30, 1 << 29));
    assert_eq!(
        (le(&b, v[6], 2), le(&b, v[7], 4), le(&b, v[8] + 16, 8)),
        (9, 1, 3)
    );
}

#[test]
fn sigaction_layouts() {
    let act = KernelSigaction {
        handler: 0x1000,
        flags: 0x0400_0004,
        restorer: 0x2000,
        mask: 1 << 9,
    };
    for arch in [Arch::X86_64, Arch::Riscv64, Arch::Aarch64] {
        let bytes = act.encode(arch);
        let back = KernelSigaction::decode(arch, &bytes);
        let want = if arch.has_sa_restorer() {
            act
        } else {
            KernelSigaction { restorer: 0, ..act }
        };
        assert_eq!(back, want, "{arch:?}");
        let mask_at = if arch.has_sa_restorer() { 24 } else { 16 };
        assert_eq!(le(&bytes, mask_at, 8), 1 << 9);
        assert_eq!(KernelSigaction::size(arch), mask_at + 8);
    }
}

#[test]
fn timespec_and_devices_and_dirents() {
    let t = Timespec {
        sec: 5,
        nsec: 999_999_999,
    };
    assert_eq!(Timespec::decode(&t.encode()), Ok(t));
    let bad = Timespec {
        sec: 5,
        nsec: 1_000_000_000,
    }
    .encode();
    assert_eq!(Timespec::decode(&bad), Err(axerrno::LinuxError::EINVAL));
    let neg = Timespec { sec: -1, nsec: 0 }.encode();
    assert_eq!(Timespec::decode(&neg), Err(axerrno::LinuxError::EINVAL));
    for (ma, mi) in [(0, 0), (1, 3), (259, 0x12_3456), (0xf_ffff, 0xff)] {
        assert_eq!(
            (dev_major(make_dev(ma, mi)), dev_minor(make_dev(ma, mi))),
            (ma, mi)
        );
    }
    assert_eq!(
        make_dev(1, 3),
        0x103,
        "the classic encoding for small numbers"
    );
    let rec = encode_dirent64(7, 3, 8, b"init", 64).unwrap();
    assert_eq!(rec.len(), 24);
    assert_eq!(
        (le(&rec, 0, 8), le(&rec, 8, 8), le(&rec, 16, 2), rec[18]),
        (7, 3, 24, 8)
    );
    assert_eq!(&rec[19..24], b"init\0");
    assert_eq!(encode_dirent64(7, 3, 8, b"init", 23), None);
}

#[test]
fn timeval_itimerval_rusage_stack_t() {
    use crate::abi::{StackT, Timeval, decode_itimerval, encode_itimerval, encode_rusage};
    let t = Timeval::from_ns(2_345_678_901);
    assert_eq!(
        t,
        Timeval {
            sec: 2,
            usec: 345_678
        }
    );
    assert_eq!(t.as_ns(), 2_345_678_000);
    assert_eq!(Timeval::decode(&t.encode()), Ok(t));
    let bad = Timeval {
        sec: 0,
        usec: 1_000_000,
    }
    .encode();
    assert_eq!(Timeval::decode(&bad), Err(axerrno::LinuxError::EINVAL));
    let neg = Timeval { sec: -1, usec: 0 }.encode();
    assert_eq!(Timeval::decode(&neg), Err(axerrno::LinuxError::EINVAL));
    let it = encode_itimerval(10_000_000, 1_500_000_000);
    assert_eq!(&it[..8], &0u64.to_le_bytes());
    assert_eq!(&it[8..16], &10_000u64.to_le_bytes());
    assert_eq!(&it[16..24], &1u64.to_le_bytes());
    assert_eq!(&it[24..], &500_000u64.to_le_bytes());
    assert_eq!(decode_itimerval(&it), Ok((10_000_000, 1_500_000_000)));
    let ru = encode_rusage(3_000_001_000, 0);
    assert_eq!(&ru[..8], &3u64.to_le_bytes());
    assert_eq!(&ru[8..16], &1u64.to_le_bytes());
    assert!(ru[16..].iter().all(|&b| b == 0));
    let ss = StackT {
        sp: 0x1000,
        flags: 2,
        size: 8192,
    };
    let bytes = ss.encode();
    assert_eq!(&bytes[8..12], &2i32.to_le_bytes());
    assert_eq!(&bytes[12..16], &[0; 4]);
    assert_eq!(StackT::decode(&bytes), ss);
    assert_eq!(
        Timespec::from_ns(1_000_000_001),
        Timespec { sec: 1, nsec: 1 }
    );
    assert_eq!(
        Timespec {
            sec: i64::MAX,
            nsec: 5
        }
        .as_ns(),
        u64::MAX
    );
}
