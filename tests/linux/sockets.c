/* AF_UNIX socket pairs (stream, datagram, seqpacket: errors, shutdown, close, poll,
 * SIGPIPE, message boundaries, send/recv flags, msghdr calls), vmsplice, splice, tee and
 * fallocate. */
#include "t.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

static volatile int sigpipes;
static void on_sigpipe(int s)
{
    (void)s;
    sigpipes++;
}

static void test_errors(void)
{
    int sv[2];
    /* An unmapped address the compiler cannot see through. */
    int *volatile bad_sv = (int *)8;
    ok_err(socketpair(AF_UNIX, SOCK_STREAM | 0x1000, 0, sv), EINVAL, "unknown type flag: EINVAL");
    ok_err(socketpair(99, SOCK_STREAM, 0, sv), EAFNOSUPPORT, "family 99: EAFNOSUPPORT");
    ok_err(socketpair(-1, SOCK_STREAM, 0, sv), EAFNOSUPPORT, "family -1: EAFNOSUPPORT");
    ok_err(socketpair(AF_UNIX, 13, 0, sv), EINVAL, "type past SOCK_MAX: EINVAL");
    ok_err(socketpair(AF_UNIX, 0, 0, sv), ESOCKTNOSUPPORT, "type 0: ESOCKTNOSUPPORT");
    ok_err(socketpair(AF_UNIX, SOCK_STREAM, 2, sv), EPROTONOSUPPORT, "protocol 2: EPROTONOSUPPORT");
    ok_err(socketpair(AF_UNIX, SOCK_STREAM, 0, bad_sv), EFAULT, "bad sv: EFAULT");
    ok_err(socketpair(99, SOCK_STREAM, 0, bad_sv), EFAULT, "bad sv comes before a bad family: EFAULT");
    sv[0] = sv[1] = -1;
    ok_err(socketpair(99, SOCK_STREAM, 0, sv), EAFNOSUPPORT, "family 99 with a good sv: EAFNOSUPPORT");
    ok(sv[0] >= 0 && sv[1] > sv[0] && fcntl(sv[0], F_GETFD) == -1 && errno == EBADF,
       "... after storing two descriptor numbers it did not keep open");
    ok(socketpair(AF_UNIX, SOCK_STREAM, AF_UNIX, sv) == 0, "protocol PF_UNIX is accepted");
    close(sv[0]);
    close(sv[1]);
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && write(sv[1], "x", 1) == 1, "pair with unread data");
    close(sv[0]);
    int e = -1;
    socklen_t el = sizeof e;
    ok(getsockopt(sv[1], SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == ECONNRESET && el == sizeof e,
       "SO_ERROR after the peer dropped unread data: ECONNRESET");
    ok(getsockopt(sv[1], SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0, "SO_ERROR took it: 0");
    ok_err(getsockopt(sv[1], 6, 1, &e, &el), EOPNOTSUPP, "getsockopt at another level: EOPNOTSUPP");
    ok_err(getsockopt(sv[1], SOL_SOCKET, 9999, &e, &el), ENOPROTOOPT, "unknown option: ENOPROTOOPT");
    close(sv[1]);
    int p[2];
    pipe(p);
    char c;
    ok_err(send(p[1], "x", 1, 0), ENOTSOCK, "send on a pipe: ENOTSOCK");
    ok_err(recv(99, &c, 1, 0), EBADF, "recv on a closed fd: EBADF");
    ok_err(shutdown(p[0], SHUT_RD), ENOTSOCK, "shutdown of a pipe: ENOTSOCK");
    close(p[0]);
    close(p[1]);
}

static void test_stream(void)
{
    int sv[2];
    char buf[64];
    ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "stream pair");
    ok((fcntl(sv[0], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDWR | O_NONBLOCK) &&
           (fcntl(sv[1], F_GETFD) & FD_CLOEXEC),
       "O_RDWR | O_NONBLOCK, FD_CLOEXEC");
    struct stat st;
    ok(fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode), "fstat: S_ISSOCK");
    int v = 0;
    socklen_t vl = sizeof v;
    ok(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl) == 0 && v == SOCK_STREAM, "SO_TYPE");
    ok_err(recv(sv[0], buf, sizeof buf, 0), EAGAIN, "empty: EAGAIN");
    ok(read(sv[0], buf, 0) == 0, "read of 0 bytes: 0");
    ok(write(sv[0], "hello", 5) == 5 && send(sv[0], " world", 6, 0) == 6, "two writes");
    int n = -1;
    ok(ioctl(sv[1], FIONREAD, &n) == 0 && n == 11, "FIONREAD: 11");
    ok(recv(sv[1], buf, 3, MSG_PEEK) == 3 && !memcmp(buf, "hel", 3), "MSG_PEEK");
    ok(read(sv[1], buf, sizeof buf) == 11 && !memcmp(buf, "hello world", 11), "a stream has no boundaries");
    struct pollfd pf = {.fd = sv[0], .events = POLLIN | POLLOUT};
    ok(poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT, "poll: writable, nothing to read");
    ok(shutdown(sv[0], 5) == -1 && errno == EINVAL, "shutdown(5): EINVAL");
    ok(shutdown(sv[0], SHUT_WR) == 0, "shutdown(SHUT_WR)");
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    ok_err(write(sv[0], "x", 1), EPIPE, "write after SHUT_WR: EPIPE");
    ok(sigpipes == 1, "... with SIGPIPE");
    ok_err(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE, "send(MSG_NOSIGNAL): EPIPE");
    ok(sigpipes == 1, "... without SIGPIPE");
    ok(read(sv[1], buf, sizeof buf) == 0, "the peer reads end of file");
    ok(write(sv[1], "back", 4) == 4 && read(sv[0], buf, 4) == 4, "the other direction still works");
    /* Close with unread data: the peer gets ECONNRESET, then end of file. */
    write(sv[1], "unread", 6);
    close(sv[0]);
    pf.fd = sv[1];
    pf.events = POLLIN | POLLRDHUP;
    ok(poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLIN | POLLRDHUP | POLLERR)) ==
                                   (POLLHUP | POLLIN | POLLRDHUP | POLLERR),
       "poll after the peer closed with unread data: HUP, IN, RDHUP, ERR");
    ok_err(read(sv[1], buf, sizeof buf), ECONNRESET, "then ECONNRESET");
    ok(read(sv[1], buf, sizeof buf) == 0, "then end of file");
    sigpipes = 0;
    ok_err(write(sv[1], "x", 1), EPIPE, "write to a closed peer: EPIPE");
    ok(sigpipes == 1, "... with SIGPIPE");
    close(sv[1]);
    signal(SIGPIPE, SIG_DFL);
}

static void test_messages(int type, const char *name)
{
    int sv[2];
    char buf[64];
    ok(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv) == 0, "%s pair", name);
    ok(send(sv[0], "hello", 5, 0) == 5 && send(sv[0], "hi", 2, 0) == 2 && send(sv[0], "", 0, 0) == 0,
       "%s: three messages, one empty", name);
    int n = -1;
    ok(ioctl(sv[1], FIONREAD, &n) == 0 && n == (type == SOCK_DGRAM ? 5 : 7), "%s: FIONREAD", name);
    ok(recv(sv[1], buf, 3, 0) == 3 && !memcmp(buf, "hel", 3), "%s: a short read cuts the message", name);
    ok(recv(sv[1], buf, 1, MSG_TRUNC) == 2, "%s: MSG_TRUNC returns the real length", name);
    ok(recv(sv[1], buf, sizeof buf, 0) == 0, "%s: the empty message", name);
    ok_err(recv(sv[1], buf, sizeof buf, 0), EAGAIN, "%s: then EAGAIN", name);
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    ok(writev(sv[0], iov, 2) == 4, "%s: writev is one message", name);
    char a[3] = {0}, b[3] = {0};
    struct iovec in[2] = {{a, 1}, {b, 2}};
    struct msghdr m = {.msg_iov = in, .msg_iovlen = 2};
    ok(recvmsg(sv[1], &m, 0) == 3 && !memcmp(a, "a", 1) && !memcmp(b, "bc", 2) && (m.msg_flags & MSG_TRUNC),
       "%s: recvmsg scatters and flags MSG_TRUNC", name);
    char big[1 << 18];
    ok_err(send(sv[0], big, sizeof big, 0), EMSGSIZE, "%s: 256 KiB message: EMSGSIZE", name);
    int sent = 0;
    while (send(sv[0], big, 4096, 0) == 4096 && sent < 1000)
        sent++;
    ok(errno == EAGAIN && sent > 4 && sent < 1000, "%s: the buffer fills (EAGAIN)", name);
    struct pollfd pf = {.fd = sv[0], .events = POLLOUT};
    ok(poll(&pf, 1, 0) == 0, "%s: poll: not writable when full", name);
    ok(shutdown(sv[0], SHUT_WR) == 0, "%s: shutdown(SHUT_WR)", name);
    sigpipes = 0;
    signal(SIGPIPE, on_sigpipe);
    ok_err(send(sv[0], "x", 1, 0), EPIPE, "%s: send after SHUT_WR: EPIPE", name);
    ok(sigpipes == 0, "%s: ... without SIGPIPE", name);
    signal(SIGPIPE, SIG_DFL);
    ok(send(sv[1], "u", 1, 0) == 1, "%s: the peer can still send to the shut-down end", name);
    close(sv[0]);
    if (type == SOCK_DGRAM) {
        ok_err(send(sv[1], "x", 1, 0), ECONNREFUSED, "dgram: send to a closed peer: ECONNREFUSED");
        ok_err(send(sv[1], "x", 1, 0), ENOTCONN, "dgram: then ENOTCONN");
    } else {
        ok_err(recv(sv[1], buf, sizeof buf, 0), ECONNRESET,
               "seqpacket: the peer closed with unread data: ECONNRESET first");
        int got = 0;
        ssize_t r;
        while ((r = recv(sv[1], big, 4096, 0)) == 4096)
            got++;
        ok(got == sent && r == 0, "seqpacket: then the queued messages, then end of file");
        ok_err(send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE, "seqpacket: send to a closed peer: EPIPE");
    }
    close(sv[1]);
}

/* Blocking across fork: the child waits for the parent's message and answers. */
static void test_fork(void)
{
    int sv[2];
    ok(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "seqpacket pair for fork");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char b[16];
        close(sv[1]);
        ssize_t n = read(sv[0], b, sizeof b);
        _exit(n == 4 && write(sv[0], "pong", 4) == 4 ? 0 : 1);
    }
    close(sv[0]);
    char b[16];
    ok(write(sv[1], "ping", 4) == 4 && read(sv[1], b, sizeof b) == 4 && !memcmp(b, "pong", 4),
       "a blocked child reader wakes and answers");
    int st;
    ok(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child exits 0");
    ok(read(sv[1], b, sizeof b) == 0, "end of file once the child is gone");
    close(sv[1]);
}

/* MSG_WAITALL on a stream waits for the whole request across the peer's separate writes;
 * poll wakes up for data from another process. */
static void test_waitall(void)
{
    int sv[2], go[2];
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(go) == 0, "stream pair for MSG_WAITALL");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(sv[1]);
        int r = write(sv[0], "ab", 2) == 2 && read(go[0], &x, 1) == 1 && write(sv[0], "cd", 2) == 2;
        _exit(r ? 0 : 1);
    }
    close(sv[0]);
    struct pollfd pf = {.fd = sv[1], .events = POLLIN};
    ok(poll(&pf, 1, 10000) == 1 && (pf.revents & POLLIN), "poll wakes for the child's data");
    write(go[1], "g", 1);
    char b[8] = {0};
    ok(recv(sv[1], b, 4, MSG_WAITALL) == 4 && !memcmp(b, "abcd", 4), "MSG_WAITALL gets both writes");
    int st;
    ok(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child exits 0");
    ok(recv(sv[1], b, 4, MSG_WAITALL) == 0, "MSG_WAITALL at end of file: 0");
    close(sv[1]);
    close(go[0]);
    close(go[1]);
}

static void test_vmsplice(void)
{
    int p[2];
    long page = sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(mem, 'a', 2 * page);
    pipe(p);
    struct iovec iov = {mem + page / 2, page};
    ok(vmsplice(p[1], &iov, 1, 0) == page, "vmsplice moves a page-crossing buffer");
    munmap(mem, 2 * page);
    char *got = malloc(page);
    ok(read(p[0], got, page) == page && got[0] == 'a' && got[page - 1] == 'a',
       "the pipe holds the data after munmap");
    ok_err(vmsplice(p[1], &iov, 1, 0x10), EINVAL, "unknown flag: EINVAL");
    ok_err(vmsplice(99, &iov, 1, 0), EBADF, "closed fd: EBADF");
    int f = open("/tmp", O_RDONLY | O_DIRECTORY);
    ok_err(vmsplice(f, &iov, 1, 0), EBADF, "a directory: EBADF");
    close(f);
    ok(vmsplice(p[1], &iov, 0, 0) == 0, "no iovecs: 0");
    char *src = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(src, 'b', page);
    struct iovec s = {src, page};
    int n = 0;
    while (vmsplice(p[1], &s, 1, SPLICE_F_NONBLOCK) == page && n < 1000)
        n++;
    ok(errno == EAGAIN && n == 16, "a full pipe (16 pages): SPLICE_F_NONBLOCK gives EAGAIN");
    struct iovec d = {got, page};
    ok(vmsplice(p[0], &d, 1, 0) == page && got[0] == 'b', "vmsplice from the read end to memory");
    close(p[0]);
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    ok_err(vmsplice(p[1], &s, 1, 0), EPIPE, "no reader: EPIPE");
    ok(sigpipes == 1, "... with SIGPIPE");
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);
    free(got);
    munmap(src, page);
}

static void test_splice(void)
{
    int a[2], b[2], sv[2];
    char buf[128] = {0};
    pipe(a);
    pipe(b);
    write(a[1], "hello", 5);
    ok(splice(a[0], NULL, b[1], NULL, 100, 0) == 5 && read(b[0], buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5),
       "splice pipe to pipe moves what is there");
    write(a[1], "abc", 3);
    ok(tee(a[0], b[1], 10, 0) == 3 && read(b[0], buf, sizeof buf) == 3 && read(a[0], buf + 3, 10) == 3 &&
           !memcmp(buf, "abcabc", 6),
       "tee copies without consuming");
    ok(splice(a[0], NULL, b[1], NULL, 0, 0) == 0, "splice of 0 bytes: 0");
    ok_err(splice(a[0], NULL, b[1], NULL, 1, 0x10), EINVAL, "splice unknown flag: EINVAL");
    ok_err(splice(a[0], NULL, a[1], NULL, 1, 0), EINVAL, "splice a pipe into itself: EINVAL");
    ok_err(tee(a[0], a[1], 1, 0), EINVAL, "tee a pipe into itself: EINVAL");
    loff_t off = 0;
    ok_err(splice(a[0], &off, b[1], NULL, 1, 0), ESPIPE, "an offset for a pipe: ESPIPE");
    ok_err(splice(a[1], NULL, b[1], NULL, 1, 0), EBADF, "the write end as input: EBADF");
    ok_err(splice(a[0], NULL, b[1], NULL, 1, SPLICE_F_NONBLOCK), EAGAIN, "an empty pipe, SPLICE_F_NONBLOCK: EAGAIN");
    char path[] = "/tmp/pagoda-lt-spliceXXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    write(fd, "0123456789", 10);
    lseek(fd, 0, SEEK_SET);
    off = 2;
    ok(splice(fd, &off, b[1], NULL, 4, 0) == 4 && off == 6 && lseek(fd, 0, SEEK_CUR) == 0, "file to pipe at an offset");
    ok(splice(fd, NULL, b[1], NULL, 3, 0) == 3 && lseek(fd, 0, SEEK_CUR) == 3, "file to pipe at the file position");
    ok(read(b[0], buf, sizeof buf) == 7 && !memcmp(buf, "2345012", 7), "the pipe holds both");
    off = 20;
    ok(splice(fd, &off, b[1], NULL, 4, 0) == 0, "file to pipe past the end: 0");
    write(a[1], "XY", 2);
    off = 8;
    ok(splice(a[0], NULL, fd, &off, 10, 0) == 2 && off == 10 && pread(fd, buf, 4, 6) == 4 && !memcmp(buf, "67XY", 4),
       "pipe to file at an offset");
    ok_err(splice(fd, NULL, fd, NULL, 1, 0), EINVAL, "file to file: EINVAL");
    char apath[] = "/tmp/pagoda-lt-appendXXXXXX";
    close(mkstemp(apath));
    int ap = open(apath, O_WRONLY | O_APPEND);
    unlink(apath);
    write(a[1], "x", 1);
    ok_err(splice(a[0], NULL, ap, NULL, 1, 0), EINVAL, "into an O_APPEND file: EINVAL");
    close(ap);
    read(a[0], buf, 1);
    close(fd);
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && write(sv[0], "sock", 4) == 4, "stream pair with data");
    ok(splice(sv[1], NULL, b[1], NULL, 10, 0) == 4 && read(b[0], buf, sizeof buf) == 4 && !memcmp(buf, "sock", 4),
       "stream socket to pipe");
    write(a[1], "pipe", 4);
    ok(splice(a[0], NULL, sv[0], NULL, 10, 0) == 4 && recv(sv[1], buf, sizeof buf, 0) == 4 && !memcmp(buf, "pipe", 4),
       "pipe to stream socket");
    close(sv[0]);
    close(sv[1]);
    int z = open("/dev/zero", O_RDONLY), n = open("/dev/null", O_WRONLY);
    ok(splice(z, NULL, b[1], NULL, 100, 0) == 100 && splice(b[0], NULL, n, NULL, 1000, 0) == 100,
       "/dev/zero to pipe to /dev/null");
    close(z);
    close(n);
    close(a[1]);
    ok(splice(a[0], NULL, b[1], NULL, 10, 0) == 0, "an empty pipe without writers: 0");
    close(b[0]);
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    pipe(a);
    write(a[1], "x", 1);
    ok_err(splice(a[0], NULL, b[1], NULL, 1, 0), EPIPE, "into a pipe without readers: EPIPE");
    ok(sigpipes == 1, "... with SIGPIPE");
    signal(SIGPIPE, SIG_DFL);
    close(a[0]);
    close(a[1]);
    close(b[1]);
}

static void test_fallocate(void)
{
    char path[] = "/tmp/pagoda-lt-sockXXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    struct stat st;
    ok(fallocate(fd, 0, 0, 8192) == 0 && fstat(fd, &st) == 0 && st.st_size == 8192, "fallocate grows the file");
    ok(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536) == 0 && fstat(fd, &st) == 0 && st.st_size == 8192,
       "FALLOC_FL_KEEP_SIZE keeps the size");
    pwrite(fd, "xyz", 3, 100);
    char b[3];
    ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0 && pread(fd, b, 3, 100) == 3 &&
           b[0] == 0 && b[2] == 0,
       "a punched hole reads as zeros");
    ok_err(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP, "PUNCH_HOLE without KEEP_SIZE: EOPNOTSUPP");
    ok_err(fallocate(fd, 0, -1, 4096), EINVAL, "negative offset: EINVAL");
    ok_err(fallocate(fd, 0, 0, 0), EINVAL, "zero length: EINVAL");
    close(fd);
    int p[2];
    pipe(p);
    ok_err(fallocate(p[1], 0, 0, 1), ESPIPE, "a pipe: ESPIPE");
    ok_err(fallocate(p[0], 0, 0, 1), EBADF, "a read-only descriptor: EBADF");
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    test_errors();
    test_stream();
    test_messages(SOCK_DGRAM, "dgram");
    test_messages(SOCK_SEQPACKET, "seqpacket");
    test_fork();
    test_waitall();
    test_vmsplice();
    test_splice();
    test_fallocate();
    return t_done();
}
