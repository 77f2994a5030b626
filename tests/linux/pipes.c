/* Pipes: pipe2 flags, blocking across fork, EOF, EPIPE/SIGPIPE, PIPE_BUF atomicity,
 * capacity and F_SETPIPE_SZ, dup2/dup3/fcntl on pipe ends. */
#include "t.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

static void test_flags(void)
{
    int p[2];
    ok(pipe2(p, O_CLOEXEC) == 0 && (fcntl(p[0], F_GETFD) & FD_CLOEXEC) && (fcntl(p[1], F_GETFD) & FD_CLOEXEC),
       "pipe2(O_CLOEXEC) sets FD_CLOEXEC on both ends");
    ok((fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY && (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY,
       "read end O_RDONLY, write end O_WRONLY");
    struct stat st;
    ok(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fstat: S_ISFIFO");
    char c;
    ok_err(write(p[0], "x", 1), EBADF, "write to the read end: EBADF");
    ok_err(read(p[1], &c, 1), EBADF, "read from the write end: EBADF");
    close(p[0]);
    close(p[1]);
    ok(pipe2(p, O_NONBLOCK) == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK) && !(fcntl(p[0], F_GETFD) & FD_CLOEXEC),
       "pipe2(O_NONBLOCK) sets O_NONBLOCK only");
    ok_err(read(p[0], &c, 1), EAGAIN, "non-blocking read of an empty pipe: EAGAIN");
    write(p[1], "abc", 3);
    int n = -1;
    ok(ioctl(p[0], FIONREAD, &n) == 0 && n == 3, "FIONREAD counts 3 bytes");
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    ok(poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN), "poll: POLLIN with data");
    close(p[1]);
    char buf[8];
    ok(read(p[0], buf, 8) == 3 && read(p[0], buf, 8) == 0, "data first, then EOF once the writer closed");
    pf.revents = 0;
    ok(poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP), "poll: POLLHUP after the writer closed");
    close(p[0]);
    ok_err(pipe2(p, 0x10), EINVAL, "pipe2 unknown flag: EINVAL");
}

static void test_blocking(void)
{
    int p[2], back[2];
    pipe(p);
    pipe(back);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(p[0]);
        usleep(50000); /* the parent is most likely blocked in read by now */
        write(p[1], "hello", 5);
        read(back[0], &x, 1); /* the parent got "hello" */
        write(p[1], "!", 1);
        _exit(0);
    }
    close(p[1]);
    char buf[16];
    ssize_t n = read(p[0], buf, sizeof buf);
    ok(n == 5 && memcmp(buf, "hello", 5) == 0, "a blocking read waits for the child's write");
    write(back[1], "x", 1);
    ok(read(p[0], buf, sizeof buf) == 1 && buf[0] == '!', "the next read gets the next write");
    ok(read(p[0], buf, sizeof buf) == 0, "EOF when the child exits (last writer gone)");
    waitpid(c, NULL, 0);
    close(p[0]);
    close(back[0]);
    close(back[1]);
}

static void test_epipe(void)
{
    int p[2];
    pipe(p);
    close(p[0]);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        write(p[1], "x", 1);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    ok(SIGNALED(st, SIGPIPE), "write with no reader: SIGPIPE kills");
    signal(SIGPIPE, SIG_IGN);
    ok_err(write(p[1], "x", 1), EPIPE, "with SIGPIPE ignored: EPIPE");
    signal(SIGPIPE, SIG_DFL);
    sigset_t s, old, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, &old);
    ok_err(write(p[1], "x", 1), EPIPE, "with SIGPIPE blocked: EPIPE");
    sigpending(&pend);
    ok(sigismember(&pend, SIGPIPE), "... and SIGPIPE is pending");
    signal(SIGPIPE, SIG_IGN); /* discard the pending one */
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);
}

static void test_atomic(void)
{
    enum { W = 4, MSGS = 64 };
    int p[2];
    pipe(p);
    pid_t kids[W];
    fflush(stdout);
    for (int w = 0; w < W; w++) {
        if ((kids[w] = fork()) == 0) {
            char msg[PIPE_BUF];
            memset(msg, 'A' + w, sizeof msg);
            close(p[0]);
            for (int i = 0; i < MSGS; i++)
                if (write(p[1], msg, sizeof msg) != (ssize_t)sizeof msg)
                    _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    int count[W] = {0}, torn = 0, total = 0;
    static char chunk[PIPE_BUF];
    for (;;) {
        size_t got = 0;
        while (got < sizeof chunk) {
            ssize_t n = read(p[0], chunk + got, sizeof chunk - got);
            if (n <= 0)
                break;
            got += n;
        }
        if (got == 0)
            break;
        total++;
        int w = chunk[0] - 'A';
        int uniform = got == sizeof chunk && w >= 0 && w < W;
        for (size_t i = 1; uniform && i < got; i++)
            uniform = chunk[i] == chunk[0];
        if (uniform)
            count[w]++;
        else
            torn++;
    }
    int good = 1;
    for (int w = 0; w < W; w++) {
        int st;
        waitpid(kids[w], &st, 0);
        good &= EXITED(st, 0) && count[w] == MSGS;
    }
    ok(PIPE_BUF == 4096, "PIPE_BUF is 4096");
    ok(torn == 0 && good && total == W * MSGS, "%d writers x %d PIPE_BUF writes arrive whole (%d torn)", W, MSGS, torn);
    close(p[0]);
}

static void test_capacity(void)
{
    int p[2];
    pipe2(p, O_NONBLOCK);
    int sz = fcntl(p[0], F_GETPIPE_SZ);
    ok(sz == 65536, "default capacity 64 KiB (%d)", sz);
    static char buf[65536 * 2];
    long total = 0;
    ssize_t n;
    while ((n = write(p[1], buf, PG)) > 0)
        total += n;
    ok(n == -1 && errno == EAGAIN && total == sz, "a non-blocking writer fills exactly the capacity, then EAGAIN");
    ok_err(fcntl(p[1], F_SETPIPE_SZ, PG), EBUSY, "F_SETPIPE_SZ below the queued data: EBUSY");
    ok(read(p[0], buf, sizeof buf) == sz, "one read drains it");
    ok(fcntl(p[1], F_SETPIPE_SZ, 3 * PG) == 4 * PG && fcntl(p[0], F_GETPIPE_SZ) == 4 * PG,
       "F_SETPIPE_SZ rounds up to a power-of-two number of pages");
    ok(fcntl(p[1], F_SETPIPE_SZ, 1) == PG, "F_SETPIPE_SZ(1) gives one page");
    ok(write(p[1], buf, 2 * PG) == PG, "a non-blocking write larger than the room is partial");
    ok_err(write(p[1], buf, 1), EAGAIN, "then EAGAIN when full");
    read(p[0], buf, sizeof buf);
    ok(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) == 1 << 20, "F_SETPIPE_SZ 1 MiB");
    ok(write(p[1], buf, sizeof buf) == (ssize_t)sizeof buf, "a 128 KiB write fits at once");
    close(p[0]);
    close(p[1]);
}

static void test_dup(void)
{
    int p[2];
    pipe(p);
    ok(dup2(p[1], 100) == 100, "dup2 to fd 100");
    ok(write(100, "d", 1) == 1, "write through the duplicate");
    char c;
    ok(read(p[0], &c, 1) == 1 && c == 'd', "the original read end sees it");
    ok(dup2(p[1], p[1]) == p[1], "dup2(fd, fd) returns fd");
    ok_err(dup2(999, 101), EBADF, "dup2 of a closed fd: EBADF");
    ok_err(dup3(p[1], p[1], 0), EINVAL, "dup3(fd, fd): EINVAL");
    /* The system call itself: musl's dup3() without O_CLOEXEC is dup2() on x86_64. */
    ok_err(syscall(SYS_dup3, p[1], 102, 0x10), EINVAL, "dup3 bad flags: EINVAL");
    ok(dup3(p[1], 102, O_CLOEXEC) == 102 && (fcntl(102, F_GETFD) & FD_CLOEXEC), "dup3(O_CLOEXEC)");
    ok(dup2(p[0], 102) == 102 && !(fcntl(102, F_GETFD) & FD_CLOEXEC), "dup2 over it clears FD_CLOEXEC");
    int d = fcntl(p[1], F_DUPFD, 50);
    ok(d >= 50, "F_DUPFD returns >= 50 (%d)", d);
    int e = fcntl(p[1], F_DUPFD_CLOEXEC, 50);
    ok(e > d && (fcntl(e, F_GETFD) & FD_CLOEXEC), "F_DUPFD_CLOEXEC: next free fd, close-on-exec");
    ok(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0 && (fcntl(102, F_GETFL) & O_NONBLOCK),
       "O_NONBLOCK is shared by duplicates (one open file description)");
    ok(fcntl(p[0], F_SETFD, FD_CLOEXEC) == 0 && !(fcntl(102, F_GETFD) & FD_CLOEXEC),
       "FD_CLOEXEC is per descriptor");
    close(p[1]);
    close(100);
    close(e);
    ok_err(read(p[0], &c, 1), EAGAIN, "a duplicate write end (fd %d) still open: no EOF", d);
    close(d);
    ok(read(p[0], &c, 1) == 0, "all write ends closed: EOF");
    ok_err(fcntl(999, F_GETFD), EBADF, "fcntl on a closed fd: EBADF");
    close(p[0]);
    close(102);
}

int main(void)
{
    test_flags();
    test_blocking();
    test_epipe();
    test_atomic();
    test_capacity();
    test_dup();
    return t_done();
}
