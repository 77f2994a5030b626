//! The descriptor table against the host kernel: a C program runs the same dup / close /
//! fcntl / close_range sequence on its own table (0, 1, 2 open, nothing else) and every
//! result and errno must match.

use axerrno::LinuxError;
use proptest::prelude::*;

use super::{c_program, run_ops};
use crate::fd::*;

const EXECUTOR: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static char results[65536];
static size_t used;

static void put(long r) {
    used += snprintf(results + used, sizeof results - used, "%ld %d\n", r, r < 0 ? errno : 0);
}

int main(int argc, char **argv) {
    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    syscall(SYS_close_range, 3, ~0U, 0);
    for (int i = 2; i < argc; i++) {
        char op[16]; long a = 0, b = 0, c = 0;
        sscanf(argv[i], "%15[a-z0-9] %ld %ld %ld", op, &a, &b, &c);
        errno = 0;
        if (!strcmp(op, "open")) put(open("/dev/null", O_RDONLY | (a ? O_CLOEXEC : 0)));
        else if (!strcmp(op, "close")) put(close(a));
        else if (!strcmp(op, "dup")) put(dup(a));
        else if (!strcmp(op, "dup2")) put(dup2(a, b));
        else if (!strcmp(op, "dup3")) put(dup3(a, b, c ? O_CLOEXEC : 0));
        else if (!strcmp(op, "dupfd")) put(fcntl(a, c ? F_DUPFD_CLOEXEC : F_DUPFD, b));
        else if (!strcmp(op, "getfd")) put(fcntl(a, F_GETFD));
        else if (!strcmp(op, "setfd")) put(fcntl(a, F_SETFD, b ? FD_CLOEXEC : 0));
        else if (!strcmp(op, "limit")) { struct rlimit r; getrlimit(RLIMIT_NOFILE, &r); r.rlim_cur = a; put(setrlimit(RLIMIT_NOFILE, &r)); }
        else if (!strcmp(op, "cr")) put(syscall(SYS_close_range, (unsigned)a, (unsigned)b, (unsigned)c));
    }
    syscall(SYS_close_range, 0, ~0U, 0);
    setrlimit(RLIMIT_NOFILE, &saved);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, results, used) != (ssize_t)used) return 1;
    return 0;
}
"#;

#[derive(Debug, Clone)]
enum Op {
    Open(bool),
    Close(i32),
    Dup(i32),
    Dup2(i32, i32),
    Dup3(i32, i32, bool),
    DupFd(i32, i64, bool),
    GetFd(i32),
    SetFd(i32, bool),
    Limit(usize),
    CloseRange(u32, u32, u32),
}

fn fd() -> impl Strategy<Value = i32> {
    prop_oneof![8 => 0..12i32, 1 => Just(-1), 1 => 60..70i32]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Open),
        2 => fd().prop_map(Op::Close),
        2 => fd().prop_map(Op::Dup),
        2 => (fd(), fd()).prop_map(|(a, b)| Op::Dup2(a, b)),
        2 => (fd(), fd(), any::<bool>()).prop_map(|(a, b, c)| Op::Dup3(a, b, c)),
        2 => (fd(), -2..14i64, any::<bool>()).prop_map(|(a, b, c)| Op::DupFd(a, b, c)),
        1 => fd().prop_map(Op::GetFd),
        1 => (fd(), any::<bool>()).prop_map(|(a, b)| Op::SetFd(a, b)),
        1 => prop_oneof![Just(4usize), Just(6), Just(9), Just(64)].prop_map(Op::Limit),
        1 => (0..12u32, 0..14u32, prop_oneof![Just(0u32), Just(4), Just(8)]).prop_map(|(a, b, c)| Op::CloseRange(a, b, c)),
    ]
}

fn encode(op: &Op) -> String {
    match *op {
        Op::Open(c) => format!("open {}", c as i32),
        Op::Close(a) => format!("close {a}"),
        Op::Dup(a) => format!("dup {a}"),
        Op::Dup2(a, b) => format!("dup2 {a} {b}"),
        Op::Dup3(a, b, c) => format!("dup3 {a} {b} {}", c as i32),
        Op::DupFd(a, b, c) => format!("dupfd {a} {b} {}", c as i32),
        Op::GetFd(a) => format!("getfd {a}"),
        Op::SetFd(a, b) => format!("setfd {a} {}", b as i32),
        Op::Limit(n) => format!("limit {n}"),
        Op::CloseRange(a, b, c) => format!("cr {a} {b} {c}"),
    }
}

fn ours(t: &mut FdTable<u32>, op: &Op) -> String {
    let r: Result<i64, LinuxError> = match *op {
        Op::Open(c) => t.insert(7, c).map(i64::from),
        Op::Close(a) => t.close(a).map(|_| 0),
        Op::Dup(a) => t.dup(a).map(i64::from),
        Op::Dup2(a, b) => t.dup2(a, b).map(|(fd, _)| i64::from(fd)),
        Op::Dup3(a, b, c) => t.dup3(a, b, c).map(|(fd, _)| i64::from(fd)),
        Op::DupFd(a, b, c) => t.dup_from(a, b, c).map(i64::from),
        Op::GetFd(a) => t.cloexec(a).map(i64::from),
        Op::SetFd(a, b) => t.set_cloexec(a, b).map(|_| 0),
        Op::Limit(n) => t.set_limit(n).map(|_| 0),
        Op::CloseRange(a, b, c) => t.close_range(a, b, c).map(|_| 0),
    };
    match r {
        Ok(v) => format!("{v} 0"),
        Err(e) => format!("-1 {}", e.code()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::tests::cases(64)))]

    #[test]
    fn fd_table_matches_the_host_kernel(ops in proptest::collection::vec(op(), 1..40)) {
        let Some(exe) = c_program("fd_exec", EXECUTOR) else { return Ok(()) };
        let want = run_ops(&exe, &ops.iter().map(encode).collect::<Vec<_>>());
        let mut t = FdTable::new();
        for _ in 0..3 {
            t.insert(0, false).unwrap();
        }
        for (i, op) in ops.iter().enumerate() {
            prop_assert_eq!(&ours(&mut t, op), &want[i], "op {} {:?}", i, op);
        }
    }
}

#[test]
fn exec_closes_cloexec_descriptors_and_fork_copies() {
    let mut t = FdTable::new();
    let a = t.insert("a", false).unwrap();
    let b = t.insert("b", true).unwrap();
    let copy = t.clone();
    assert_eq!(t.exec(), ["b"]);
    assert_eq!(t.get(a), Ok(&"a"));
    assert_eq!(t.get(b), Err(LinuxError::EBADF));
    assert_eq!(copy.get(b), Ok(&"b"));
    assert_eq!(t.fds().collect::<Vec<_>>(), [0]);
    assert_eq!(t.set_limit(NR_OPEN + 1), Err(LinuxError::EPERM));
    assert_eq!(t.dup_from(a, i64::MIN, false), Err(LinuxError::EINVAL));
}
