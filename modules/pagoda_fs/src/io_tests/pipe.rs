//! The pipe buffer against the host kernel: a C program drives a non-blocking pipe with the
//! same writes, reads, size changes and closes; results, errnos and the bytes read must
//! match.

use proptest::prelude::*;

use super::{c_program, run_ops};
use crate::pipe::*;

const EXECUTOR: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char results[1 << 16];
static size_t used;
static unsigned char data[1 << 20], in[1 << 20];
static unsigned counter;

int main(int argc, char **argv) {
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(p, O_NONBLOCK)) return 1;
    for (int i = 2; i < argc; i++) {
        char op[8]; long n = 0;
        sscanf(argv[i], "%7s %ld", op, &n);
        long r; unsigned sum = 0;
        errno = 0;
        if (!strcmp(op, "w")) {
            for (long k = 0; k < n; k++) data[k] = (unsigned char)(counter++ * 7);
            r = write(p[1], data, n);
            counter -= r < 0 ? n : n - r;
        } else if (!strcmp(op, "r")) {
            r = read(p[0], in, n);
            for (long k = 0; k < r; k++) sum = sum * 31 + in[k];
        } else if (!strcmp(op, "sz")) {
            r = fcntl(p[1], F_SETPIPE_SZ, n);
        } else if (!strcmp(op, "cw")) {
            r = close(p[1]);
        } else {
            r = close(p[0]);
        }
        used += snprintf(results + used, sizeof results - used, "%ld %d %u\n", r, r < 0 ? errno : 0, sum);
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    return fd < 0 || write(fd, results, used) != (ssize_t)used;
}
"#;

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Read(usize),
    Size(usize),
    CloseWrite,
    CloseRead,
}

fn op() -> impl Strategy<Value = Op> {
    let sizes = prop_oneof![
        1..100usize,
        4000..4200usize,
        8000..9000usize,
        Just(4096),
        Just(65536),
        1..70_000usize
    ];
    prop_oneof![
        6 => sizes.clone().prop_map(Op::Write),
        5 => sizes.prop_map(Op::Read),
        1 => prop_oneof![Just(0usize), 1..5000usize, Just(8192), Just(20000), Just(65536), Just(1 << 20)].prop_map(Op::Size),
        1 => Just(Op::CloseWrite),
        1 => Just(Op::CloseRead),
    ]
}

fn encode(op: &Op) -> String {
    match op {
        Op::Write(n) => format!("w {n}"),
        Op::Read(n) => format!("r {n}"),
        Op::Size(n) => format!("sz {n}"),
        Op::CloseWrite => "cw".into(),
        Op::CloseRead => "cr".into(),
    }
}

struct Model {
    pipe: Pipe,
    counter: u32,
    write_open: bool,
    read_open: bool,
}

fn ours(m: &mut Model, op: &Op) -> String {
    const EBADF: i32 = 9;
    let (r, errno, sum): (i64, i32, u32) = match *op {
        Op::Write(_) if !m.write_open => (-1, EBADF, 0),
        Op::Write(n) => {
            let data: Vec<u8> = (0..n)
                .map(|k| (m.counter.wrapping_add(k as u32).wrapping_mul(7)) as u8)
                .collect();
            match m.pipe.write(&data) {
                PipeWrite::Wrote(w) => {
                    m.counter = m.counter.wrapping_add(w as u32);
                    (w as i64, 0, 0)
                }
                PipeWrite::Full => (-1, 11, 0),
                PipeWrite::Broken => (-1, 32, 0),
            }
        }
        Op::Read(_) if !m.read_open => (-1, EBADF, 0),
        Op::Read(n) => {
            let mut buf = vec![0; n];
            match m.pipe.read(&mut buf) {
                PipeRead::Data(k) => (
                    k as i64,
                    0,
                    buf[..k]
                        .iter()
                        .fold(0u32, |s, b| s.wrapping_mul(31).wrapping_add(u32::from(*b))),
                ),
                PipeRead::Eof => (0, 0, 0),
                PipeRead::Empty => (-1, 11, 0),
            }
        }
        Op::Size(_) if !m.write_open => (-1, EBADF, 0),
        Op::Size(n) => match m.pipe.set_capacity(n, true) {
            Ok(size) => (size as i64, 0, 0),
            Err(SetSizeError::Busy) => (-1, 16, 0),
            Err(SetSizeError::TooBig) => (-1, 1, 0),
            Err(SetSizeError::Invalid) => (-1, 22, 0),
        },
        Op::CloseWrite if !m.write_open => (-1, EBADF, 0),
        Op::CloseWrite => {
            m.write_open = false;
            m.pipe.drop_writer();
            (0, 0, 0)
        }
        Op::CloseRead if !m.read_open => (-1, EBADF, 0),
        Op::CloseRead => {
            m.read_open = false;
            m.pipe.drop_reader();
            (0, 0, 0)
        }
    };
    format!("{r} {errno} {sum}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::tests::cases(64)))]

    #[test]
    fn pipe_matches_the_host_kernel(ops in proptest::collection::vec(op(), 1..50)) {
        let Some(exe) = c_program("pipe_exec", EXECUTOR) else { return Ok(()) };
        let want = run_ops(&exe, &ops.iter().map(encode).collect::<Vec<_>>());
        let mut m = Model { pipe: Pipe::new(), counter: 0, write_open: true, read_open: true };
        for (i, op) in ops.iter().enumerate() {
            prop_assert_eq!(&ours(&mut m, op), &want[i], "op {} {:?}", i, op);
        }
    }
}

#[test]
fn small_writes_are_atomic_and_ends_report_eof_and_epipe() {
    let mut p = Pipe::new();
    assert_eq!(p.capacity(), 65536);
    assert_eq!(p.read(&mut [0; 4]), PipeRead::Empty);
    for _ in 0..16 {
        assert_eq!(p.write(&[1; 4096]), PipeWrite::Wrote(4096));
    }
    assert_eq!(p.write(&[2; 1]), PipeWrite::Full, "no partial small write");
    assert_eq!(p.len(), 65536);
    let mut buf = vec![0; 5000];
    assert_eq!(p.read(&mut buf), PipeRead::Data(5000));
    assert_eq!(
        p.write(&[3; 10]),
        PipeWrite::Wrote(10),
        "a freed slot takes it"
    );
    p.drop_writer();
    let mut all = vec![0; 1 << 17];
    assert_eq!(p.read(&mut all), PipeRead::Data(65536 - 5000 + 10));
    assert_eq!(p.read(&mut all), PipeRead::Eof);
    p.drop_reader();
    assert_eq!(p.write(b"x"), PipeWrite::Broken);
    assert_eq!(p.read(&mut []), PipeRead::Data(0));
}
