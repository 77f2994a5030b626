use axerrno::LinuxError;

use crate::Signal;
use crate::clone::{check_flags, flags};

/// The flags glibc's pthread_create passes.
const GLIBC_THREAD: usize = flags::VM
    | flags::FS
    | flags::FILES
    | flags::SIGHAND
    | flags::THREAD
    | flags::SYSVSEM
    | flags::SETTLS
    | flags::PARENT_SETTID
    | flags::CHILD_CLEARTID;

#[test]
fn fork_and_thread_flags() {
    // glibc's fork: SIGCHLD | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID.
    let fork = 17 | flags::CHILD_SETTID | flags::CHILD_CLEARTID;
    assert_eq!(check_flags(fork), Ok(Some(Signal::SIGCHLD)));
    assert_eq!(check_flags(GLIBC_THREAD), Ok(None));
    assert_eq!(
        check_flags(flags::VM | flags::VFORK | 17),
        Ok(Some(Signal::SIGCHLD))
    );
    assert_eq!(check_flags(0), Ok(None));
}

#[test]
fn bad_combinations() {
    assert_eq!(
        check_flags(flags::THREAD | flags::VM),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(check_flags(flags::SIGHAND), Err(LinuxError::EINVAL));
    assert_eq!(check_flags(65), Err(LinuxError::EINVAL));
    assert_eq!(check_flags(0x2_0000), Err(LinuxError::EINVAL)); // CLONE_NEWNS
    assert_eq!(check_flags(flags::PIDFD), Err(LinuxError::EINVAL));
    assert_eq!(check_flags(flags::PARENT), Err(LinuxError::EINVAL));
}

#[test]
fn every_exit_signal() {
    for n in 1..=64 {
        assert_eq!(
            check_flags(n).map(|s| s.map(Signal::num)),
            Ok(Some(n as u8))
        );
    }
}

/// `struct clone_args` bytes: the words in order, zero-padded to `len` bytes.
fn clone_args(words: &[u64], len: usize) -> std::vec::Vec<u8> {
    let mut v: std::vec::Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    v.resize(len, 0);
    v
}

#[test]
fn clone3_decodes_what_glibc_passes() {
    use crate::clone::{Clone3, decode_clone3};
    // pthread_create: thread flags, child_tid (CLEARTID), parent_tid, no exit signal, a
    // stack of 0x2000 at 0x7000_0000, tls.
    let thread = GLIBC_THREAD;
    let words = [
        thread as u64,
        0,
        0x100,
        0x200,
        0,
        0x7000_0000,
        0x2000,
        0x300,
    ];
    assert_eq!(
        decode_clone3(&clone_args(&words, 88)),
        Ok(Clone3 {
            flags: thread,
            sp: 0x7000_2000,
            parent_tid: 0x200,
            child_tid: 0x100,
            tls: 0x300,
        })
    );
    // A fork: SIGCHLD as exit_signal; the caller's stack; VER0 size and a page of zeros.
    let fork = [0, 0, 0, 0, 17, 0, 0, 0];
    for len in [64, 88, 4096] {
        let c = decode_clone3(&clone_args(&fork, len)).unwrap();
        assert_eq!((c.flags, c.sp), (17, 0), "size {len}");
    }
}

#[test]
fn clone3_checks_follow_linux() {
    use crate::clone::decode_clone3;
    let e = |words: &[u64], len: usize| decode_clone3(&clone_args(words, len)).unwrap_err();
    let ok = [0u64, 0, 0, 0, 17, 0, 0, 0];
    assert_eq!(e(&ok, 4097), LinuxError::E2BIG, "more than a page");
    assert_eq!(e(&ok, 63), LinuxError::EINVAL, "below VER0");
    let mut big = clone_args(&ok, 200);
    big[150] = 1;
    assert_eq!(
        decode_clone3(&big),
        Err(LinuxError::E2BIG),
        "unknown non-zero fields"
    );
    assert_eq!(
        e(&[17, 0, 0, 0, 0, 0, 0, 0], 64),
        LinuxError::EINVAL,
        "signal in flags"
    );
    assert_eq!(
        e(&[0, 0, 0, 0, 65, 0, 0, 0], 64),
        LinuxError::EINVAL,
        "signal 65"
    );
    assert_eq!(
        e(&[0, 0, 0, 0, 17, 0x1000, 0, 0], 64),
        LinuxError::EINVAL,
        "stack, no size"
    );
    assert_eq!(
        e(&[0, 0, 0, 0, 17, 0, 0x1000, 0], 64),
        LinuxError::EINVAL,
        "size, no stack"
    );
    let thread = (flags::VM | flags::SIGHAND | flags::THREAD) as u64;
    assert_eq!(
        e(&[thread, 0, 0, 0, 17, 0, 0, 0], 64),
        LinuxError::EINVAL,
        "thread + signal"
    );
    let detached = flags::DETACHED as u64;
    assert_eq!(
        e(&[detached, 0, 0, 0, 0, 0, 0, 0], 64),
        LinuxError::EINVAL,
        "detached"
    );
    let set_tid = clone_args(&[0, 0, 0, 0, 17, 0, 0, 0, 0x1000, 1], 88);
    assert_eq!(
        decode_clone3(&set_tid),
        Err(LinuxError::EINVAL),
        "set_tid unsupported"
    );
    let cgroup = clone_args(&[1 << 33, 0, 0, 0, 17, 0, 0, 0], 88);
    assert_eq!(
        decode_clone3(&cgroup),
        Err(LinuxError::EINVAL),
        "CLONE_INTO_CGROUP"
    );
    // clone's own rules still apply: CLONE_THREAD without CLONE_SIGHAND.
    let bad = (flags::VM | flags::THREAD) as u64;
    assert_eq!(e(&[bad, 0, 0, 0, 0, 0, 0, 0], 64), LinuxError::EINVAL);
}
