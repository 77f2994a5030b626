/* Signals: fault si_code/si_addr, sigaction flags, masks, sigsuspend, sigaltstack, kill
 * targets, tgkill, SIGCHLD and timers. */
#include "t.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

static sigjmp_buf jb;
static volatile sig_atomic_t got_sig, got_code, hits, nested_blocked;
static void *volatile got_addr;

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
    got_sig = sig;
    got_code = si->si_code;
    got_addr = si->si_addr;
    siglongjmp(jb, 1);
}

/* Performs a read (write=0) or write of *p under SIGSEGV/SIGBUS handlers; 1 if it faulted. */
static int probe(volatile char *p, int write)
{
    got_sig = got_code = 0;
    got_addr = NULL;
    if (sigsetjmp(jb, 1) == 0) {
        if (write)
            *p = 1;
        else
            (void)*p;
        return 0;
    }
    return 1;
}

static void test_faults(void)
{
    struct sigaction sa = {.sa_sigaction = fault_handler, .sa_flags = SA_SIGINFO};
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    char *a = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(a + PG, PG);
    ok(probe(a + PG + 8, 0) && got_sig == SIGSEGV && got_code == SEGV_MAPERR && got_addr == a + PG + 8,
       "read of an unmapped page: SIGSEGV SEGV_MAPERR at the address");
    mprotect(a, PG, PROT_NONE);
    ok(probe(a + 5, 0) && got_sig == SIGSEGV && got_code == SEGV_ACCERR && got_addr == a + 5,
       "read of a PROT_NONE page: SEGV_ACCERR");
    mprotect(a + 2 * PG, PG, PROT_READ);
    ok(probe(a + 2 * PG + 1, 1) && got_sig == SIGSEGV && got_code == SEGV_ACCERR && got_addr == a + 2 * PG + 1,
       "write to a read-only page: SEGV_ACCERR");
    ok(!probe(a + 2 * PG, 0), "read of the read-only page works");
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    ok(!sigismember(&cur, SIGSEGV), "siglongjmp restored the mask (SIGSEGV not blocked)");
    ok(probe((char *)16, 0) && got_code == SEGV_MAPERR && got_addr == (void *)16, "NULL-page read: SEGV_MAPERR");
    int fd = t_tmpfile(100);
    char *f = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
    ok(!probe(f + 200, 0) && f[200] == 0, "a file page past EOF but in the last page reads zero");
    ok(probe(f + PG + 3, 0) && got_sig == SIGBUS && got_code == BUS_ADRERR && got_addr == f + PG + 3,
       "a file page wholly past EOF: SIGBUS BUS_ADRERR at the address");
    /* Same faults without a handler: the child dies with the signal. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        *(volatile char *)(a + PG) = 1;
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    ok(SIGNALED(st, SIGSEGV), "unhandled SIGSEGV kills the child (WTERMSIG)");
    if ((c = fork()) == 0) {
        (void)*(volatile char *)(f + PG);
        _exit(0);
    }
    waitpid(c, &st, 0);
    ok(SIGNALED(st, SIGBUS), "unhandled SIGBUS kills the child");
    /* A fault while SIGSEGV is blocked still kills (the kernel forces it). */
    if ((c = fork()) == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGSEGV);
        sigprocmask(SIG_BLOCK, &s, NULL);
        *(volatile char *)(a + PG) = 1;
        _exit(0);
    }
    waitpid(c, &st, 0);
    ok(SIGNALED(st, SIGSEGV), "a fault with SIGSEGV blocked still kills");
    munmap(f, 2 * PG);
    close(fd);
    munmap(a, 3 * PG);
}

static void count_handler(int sig, siginfo_t *si, void *uc)
{
    sigset_t cur;
    hits++;
    got_sig = sig;
    got_code = si->si_code;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    nested_blocked = sigismember(&cur, sig) | sigismember(&cur, SIGUSR2) << 1;
}

static void set_handler(int sig, int flags)
{
    struct sigaction sa = {.sa_sigaction = count_handler, .sa_flags = SA_SIGINFO | flags};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void test_flags(void)
{
    struct sigaction sa = {.sa_sigaction = count_handler, .sa_flags = SA_SIGINFO | SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    hits = 0;
    raise(SIGUSR1);
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    ok(hits == 1 && old.sa_handler == SIG_DFL, "SA_RESETHAND: handler ran once, then SIG_DFL");
    /* POSIX lets SA_RESETHAND imply SA_NODEFER; Linux does not. */
    ok(nested_blocked == 3, "SA_RESETHAND: the signal and sa_mask (SIGUSR2) are blocked in the handler");
    set_handler(SIGUSR1, 0);
    raise(SIGUSR1);
    ok(nested_blocked == 1, "without SA_NODEFER the signal is blocked in its handler");
    set_handler(SIGUSR1, SA_NODEFER);
    raise(SIGUSR1);
    ok(nested_blocked == 0, "SA_NODEFER: not blocked in its handler");
    ok(got_code == SI_TKILL, "raise(): si_code SI_TKILL");
    ok_err(sigaction(SIGKILL, &sa, NULL), EINVAL, "sigaction(SIGKILL): EINVAL");
    ok_err(sigaction(0, &sa, NULL), EINVAL, "sigaction(0): EINVAL");
    ok_err(sigaction(65, &sa, NULL), EINVAL, "sigaction(65): EINVAL");
}

/* Process state letter from /proc/<pid>/stat ('S' while blocked in read). */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return '?';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *e = strrchr(buf, ')');
    return e ? e[2] : '?';
}

/* A child waits until we block in read, signals SIGUSR1, then writes one byte. */
static ssize_t read_interrupted(int restart, int *err)
{
    int fds[2];
    pipe(fds);
    set_handler(SIGUSR1, restart ? SA_RESTART : 0);
    pid_t me = getpid();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < 5000 && proc_state(me) != 'S'; i++)
            usleep(1000);
        usleep(20000);
        kill(me, SIGUSR1);
        usleep(50000);
        write(fds[1], "z", 1);
        _exit(0);
    }
    char x;
    hits = 0;
    errno = 0;
    ssize_t r = read(fds[0], &x, 1);
    *err = errno;
    waitpid(c, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    return r;
}

static void test_restart(void)
{
    int e;
    ssize_t r = read_interrupted(1, &e);
    ok(r == 1 && hits == 1, "SA_RESTART: the interrupted pipe read restarts and returns the data");
    r = read_interrupted(0, &e);
    ok(r == -1 && e == EINTR && hits == 1, "without SA_RESTART: read fails with EINTR");
}

static void test_masks(void)
{
    sigset_t s, old, pend;
    set_handler(SIGUSR2, 0);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigaddset(&s, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &s, &old);
    hits = 0;
    raise(SIGUSR2);
    raise(SIGUSR2);
    sigpending(&pend);
    ok(hits == 0 && sigismember(&pend, SIGUSR2), "blocked SIGUSR2 stays pending");
    sigprocmask(SIG_SETMASK, &old, NULL);
    ok(hits == 1, "unblocking delivers a standard signal once (no queueing)");
    set_handler(SIGRTMIN, 0);
    sigprocmask(SIG_BLOCK, &s, NULL);
    hits = 0;
    union sigval v = {.sival_int = 9};
    for (int i = 0; i < 3; i++)
        sigqueue(getpid(), SIGRTMIN, v);
    sigprocmask(SIG_SETMASK, &old, NULL);
    ok(hits == 3 && got_code == SI_QUEUE, "real-time signals queue: 3 sent, 3 delivered, SI_QUEUE");
    sigfillset(&s);
    sigprocmask(SIG_SETMASK, &s, NULL);
    sigprocmask(SIG_SETMASK, NULL, &pend);
    ok(!sigismember(&pend, SIGKILL) && !sigismember(&pend, SIGSTOP) && sigismember(&pend, SIGTERM),
       "SIGKILL and SIGSTOP cannot be blocked (silently dropped from the mask)");
    sigprocmask(SIG_SETMASK, &old, NULL);
    ok_err(sigprocmask(99, &s, NULL), EINVAL, "sigprocmask bad how: EINVAL");
    /* sigsuspend: block, let a child signal us, wait with an empty mask. */
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    set_handler(SIGUSR1, 0);
    sigprocmask(SIG_BLOCK, &s, NULL);
    hits = 0;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    sigset_t empty;
    sigemptyset(&empty);
    errno = 0;
    int r = sigsuspend(&empty);
    ok(r == -1 && errno == EINTR && hits == 1, "sigsuspend returns EINTR after the handler");
    sigprocmask(SIG_SETMASK, NULL, &pend);
    ok(sigismember(&pend, SIGUSR1), "sigsuspend restored the mask");
    waitpid(c, NULL, 0);
    ok(got_code == SI_USER, "kill() from another process: SI_USER");
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static char *alt_base;
static size_t alt_size;
static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
    char here;
    stack_t cur;
    sigaltstack(NULL, &cur);
    int on = &here >= alt_base && &here < alt_base + alt_size;
    _exit(on && (cur.ss_flags & SS_ONSTACK) && si->si_code == SEGV_MAPERR ? 42 : 1);
}
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(int n)
{
    volatile char buf[512];
    buf[0] = (char)n;
    return recurse(n + 1) + buf[0];
}
static int overflow_child(void *arg)
{
    struct rlimit rl = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_STACK, &rl);
    alt_size = 64 * 1024;
    alt_base = malloc(alt_size);
    stack_t ss = {.ss_sp = alt_base, .ss_size = alt_size};
    if (sigaltstack(&ss, NULL))
        return 2;
    struct sigaction sa = {.sa_sigaction = overflow_handler, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigaction(SIGSEGV, &sa, NULL);
    return recurse(0);
}

static void test_altstack(void)
{
    int st = t_child(overflow_child, NULL);
    ok(EXITED(st, 42), "stack overflow handled on the alternate stack (SS_ONSTACK, SEGV_MAPERR)");
    stack_t ss = {.ss_sp = malloc(64), .ss_size = 64};
    ok_err(sigaltstack(&ss, NULL), ENOMEM, "sigaltstack smaller than MINSIGSTKSZ: ENOMEM");
    ss.ss_size = 65536;
    ss.ss_sp = malloc(65536);
    ss.ss_flags = 0x1234;
    ok_err(sigaltstack(&ss, NULL), EINVAL, "sigaltstack bad flags: EINVAL");
    stack_t cur;
    ok(sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE), "no alternate stack by default");
}

static void test_kill(void)
{
    set_handler(SIGUSR1, 0);
    sigset_t s, old, empty;
    sigemptyset(&s);
    sigemptyset(&empty);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, &old);
    ok(kill(getpid(), 0) == 0, "kill(self, 0) probes");
    ok_err(kill(getpid(), 99), EINVAL, "kill bad signal: EINVAL");
    ok_err(kill(0x3ffffff0, SIGUSR1), ESRCH, "kill a missing pid: ESRCH");
    /* A fresh group: a leader and two members, all waiting for SIGUSR1. */
    hits = 0;
    fflush(stdout);
    pid_t leader = fork();
    if (leader == 0) {
        setpgid(0, 0);
        pid_t m[2];
        for (int i = 0; i < 2; i++)
            if ((m[i] = fork()) == 0) {
                sigsuspend(&empty);
                _exit(hits == 1 ? 10 : 1);
            }
        kill(0, SIGUSR1); /* whole group, ourselves included */
        sigsuspend(&empty);
        int good = hits == 1;
        for (int i = 0; i < 2; i++) {
            int st;
            waitpid(m[i], &st, 0);
            good &= EXITED(st, 10);
        }
        _exit(good ? 0 : 1);
    }
    int st;
    waitpid(leader, &st, 0);
    ok(EXITED(st, 0), "kill(0, sig) reaches every member of the caller's group");
    int ready[2];
    pipe(ready);
    pid_t g = fork();
    if (g == 0) {
        setpgid(0, 0);
        if (fork() == 0) {
            sigsuspend(&empty);
            _exit(10);
        }
        write(ready[1], "r", 1); /* the member exists (SIGUSR1 blocked: it will stay pending) */
        sigsuspend(&empty);
        wait(&st);
        _exit(EXITED(st, 10) ? 0 : 1);
    }
    setpgid(g, g); /* both sides set it: no race */
    char x;
    read(ready[0], &x, 1);
    close(ready[0]);
    close(ready[1]);
    ok(kill(-g, SIGUSR1) == 0, "kill(-pgid) succeeds");
    waitpid(g, &st, 0);
    ok(EXITED(st, 0), "kill(-pgid) reaches the leader and its member");
    ok_err(kill(-g, SIGUSR1), ESRCH, "kill(-pgid) of an empty group: ESRCH");
    /* kill(-1): run as an otherwise unused uid (per run, so parallel runs stay apart), so
     * "everyone we may signal" is our own family. */
    uid_t uid = 60000 + getpid() % 5000;
    pid_t k = fork();
    if (k == 0) {
        if (setresuid(uid, uid, uid) != 0)
            _exit(3);
        pid_t m = fork();
        if (m == 0) {
            sigsuspend(&empty);
            _exit(10);
        }
        int eperm = kill(1, 0) == -1 && errno == EPERM;
        usleep(20000);
        int r = kill(-1, SIGUSR1);
        waitpid(m, &st, 0);
        sigset_t p;
        sigpending(&p);
        /* Linux leaves the caller out of kill(-1). */
        _exit(r == 0 && EXITED(st, 10) && !sigismember(&p, SIGUSR1) && eperm ? 0 : 1);
    }
    waitpid(k, &st, 0);
    if (EXITED(st, 3))
        skip("setresuid unavailable");
    else
        ok(EXITED(st, 0), "kill(-1) reaches the processes we may signal, not the caller; EPERM on init");
    /* tgkill */
    sigprocmask(SIG_SETMASK, &old, NULL);
    hits = 0;
    ok(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) == 0 && hits == 1 && got_code == SI_TKILL,
       "tgkill to ourselves: delivered, SI_TKILL");
    ok_err(syscall(SYS_tgkill, getpid() + 100000, gettid(), SIGUSR1), ESRCH, "tgkill wrong tgid: ESRCH");
    ok_err(syscall(SYS_tgkill, getpid(), gettid(), 99), EINVAL, "tgkill bad signal: EINVAL");
    ok_err(syscall(SYS_tgkill, 0, gettid(), SIGUSR1), EINVAL, "tgkill tgid 0: EINVAL");
}

static volatile sig_atomic_t chld_pid, chld_status, chld_code;
static void chld_handler(int sig, siginfo_t *si, void *uc)
{
    chld_pid = si->si_pid;
    chld_status = si->si_status;
    chld_code = si->si_code;
}

static void test_sigchld(void)
{
    struct sigaction sa = {.sa_sigaction = chld_handler, .sa_flags = SA_SIGINFO};
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    sigprocmask(SIG_BLOCK, &s, &old);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0)
        _exit(5);
    sigsuspend(&old);
    ok(chld_pid == c && chld_code == CLD_EXITED && chld_status == 5, "SIGCHLD: si_pid, CLD_EXITED, si_status 5");
    waitpid(c, NULL, 0);
    if ((c = fork()) == 0) {
        pause();
        _exit(0);
    }
    kill(c, SIGKILL);
    sigsuspend(&old);
    ok(chld_pid == c && chld_code == CLD_KILLED && chld_status == SIGKILL, "SIGCHLD: CLD_KILLED, si_status 9");
    waitpid(c, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGCHLD, SIG_IGN);
    if ((c = fork()) == 0)
        _exit(0);
    int st;
    ok_err(waitpid(c, &st, 0), ECHILD, "SIGCHLD ignored: children are reaped automatically (ECHILD)");
    signal(SIGCHLD, SIG_DFL);
}

static void test_timers(void)
{
    set_handler(SIGALRM, 0);
    ok(alarm(5) == 0, "alarm(5) returns 0 with no alarm pending");
    unsigned left = alarm(0);
    ok(left >= 4 && left <= 5, "alarm(0) returns the seconds left (%u)", left);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    sigprocmask(SIG_BLOCK, &s, &old);
    struct itimerval it = {.it_interval = {0, 20000}, .it_value = {0, 20000}}, cur;
    hits = 0;
    ok(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer ITIMER_REAL 20 ms periodic");
    ok(getitimer(ITIMER_REAL, &cur) == 0 && cur.it_interval.tv_usec == 20000 &&
           (cur.it_value.tv_sec || cur.it_value.tv_usec), "getitimer shows the armed timer");
    while (hits < 3)
        sigsuspend(&old);
    ok(hits >= 3 && got_sig == SIGALRM, "three periodic SIGALRMs arrived");
    struct itimerval zero = {0};
    setitimer(ITIMER_REAL, &zero, NULL);
    getitimer(ITIMER_REAL, &cur);
    ok(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0, "a zero it_value disarms");
    sigprocmask(SIG_SETMASK, &old, NULL);
    it.it_value.tv_usec = 2000000;
    ok_err(setitimer(ITIMER_REAL, &it, NULL), EINVAL, "setitimer tv_usec >= 10^6: EINVAL");
    ok_err(setitimer(99, &zero, NULL), EINVAL, "setitimer bad timer: EINVAL");
}

static volatile int low_handled;
static void on_usr1_low(int sig)
{
    low_handled = sig;
}

/* Handlers still return with the lowest pages mapped over by the program (root may map
 * page 0): the kernel's signal-return path must not live there. */
static void test_low_pages(void)
{
    if (geteuid() != 0) {
        skip("mapping page 0 needs root");
        return;
    }
    long pg = sysconf(_SC_PAGESIZE);
    void *p = (void *)syscall(SYS_mmap, 0, 2 * pg, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != NULL) {
        skip("page 0 cannot be mapped here (mmap_min_addr)");
        return;
    }
    signal(SIGUSR1, on_usr1_low);
    raise(SIGUSR1);
    ok(low_handled == SIGUSR1, "a handler returns while pages 0 and 1 are the program's");
    signal(SIGUSR1, SIG_DFL);
    munmap(p, 2 * pg);
}

int main(void)
{
    test_low_pages();
    test_faults();
    test_flags();
    test_restart();
    test_masks();
    test_altstack();
    test_kill();
    test_sigchld();
    test_timers();
    return t_done();
}
