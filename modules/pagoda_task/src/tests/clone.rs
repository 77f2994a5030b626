use axerrno::LinuxError;

use crate::Signal;
use crate::clone::{check_flags, flags};

#[test]
fn fork_and_thread_flags() {
    // glibc's fork: SIGCHLD | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID.
    let fork = 17 | flags::CHILD_SETTID | flags::CHILD_CLEARTID;
    assert_eq!(check_flags(fork), Ok(Some(Signal::SIGCHLD)));
    // glibc's pthread_create.
    let thread = flags::VM
        | flags::FS
        | flags::FILES
        | flags::SIGHAND
        | flags::THREAD
        | flags::SYSVSEM
        | flags::SETTLS
        | flags::PARENT_SETTID
        | flags::CHILD_CLEARTID;
    assert_eq!(check_flags(thread), Ok(None));
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
