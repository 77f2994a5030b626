/* fork: copy-on-write isolation, shared anonymous memory, private file mappings, large
 * mappings, wait status words and orphan re-parenting. */
#include "t.h"
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>

static void test_cow(void)
{
    char *a = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static char bss[PG];
    int p2c[2], c2p[2];
    pipe(p2c);
    pipe(c2p);
    a[0] = 'A';
    bss[0] = 'A';
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char x;
        int bad = (a[0] != 'A') | (bss[0] != 'A') << 1;
        a[0] = 'C';
        bss[0] = 'C';
        bad |= (a[0] != 'C') << 2;
        write(c2p[1], "x", 1);   /* child wrote */
        read(p2c[0], &x, 1);     /* parent wrote */
        bad |= (a[0] != 'C') << 3 | (a[PG] != 0) << 4;
        _exit(bad);
    }
    ok(c > 0, "fork returns the child pid");
    char x;
    read(c2p[0], &x, 1);
    ok(a[0] == 'A' && bss[0] == 'A', "child's writes do not reach the parent (anon and bss)");
    a[PG] = 'P';
    write(p2c[1], "x", 1);
    int st;
    waitpid(c, &st, 0);
    ok(EXITED(st, 0), "child saw pre-fork data, its own writes, not the parent's (status %#x)", st);
    close(p2c[0]); close(p2c[1]); close(c2p[0]); close(c2p[1]);
    munmap(a, 2 * PG);
}

static void test_shared_anon(void)
{
    enum { N = 4, ITER = 20000 };
    long *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t kids[N];
    fflush(stdout);
    for (int i = 0; i < N; i++) {
        if ((kids[i] = fork()) == 0) {
            s[1 + i] = 100 + i;
            for (int k = 0; k < ITER; k++)
                __atomic_fetch_add(&s[0], 1, __ATOMIC_SEQ_CST);
            _exit(0);
        }
    }
    int good = 1;
    for (int i = 0; i < N; i++) {
        int st;
        good &= waitpid(kids[i], &st, 0) == kids[i] && EXITED(st, 0);
    }
    ok(good, "%d children exited", N);
    ok(s[0] == N * ITER, "MAP_SHARED anonymous counter shared by %d processes (%ld)", N, s[0]);
    ok(s[1] == 100 && s[4] == 103, "each child's slot is visible to the parent");
    munmap(s, PG);
}

static int priv_child(void *p)
{
    char *m = p;
    int bad = m[0] != 'f';
    m[0] = 'k';
    return bad | (m[0] != 'k') << 1;
}

static void test_private_file(void)
{
    int fd = t_tmpfile(0);
    pwrite(fd, "file", 4, 0);
    char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int st = t_child(priv_child, m);
    char buf[4] = {0};
    pread(fd, buf, 4, 0);
    ok(EXITED(st, 0), "child writes its MAP_PRIVATE file copy");
    ok(m[0] == 'f' && memcmp(buf, "file", 4) == 0, "neither the parent's view nor the file changed");
    m[1] = 'X';
    st = t_child(priv_child, m);
    ok(EXITED(st, 0) && m[1] == 'X' && m[0] == 'f', "after the parent's own COW, fork copies its private page");
    munmap(m, PG);
    close(fd);
}

static void test_large(void)
{
    size_t len = 16UL << 20;
    uint32_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t words = len / 4, step = PG / 4;
    for (size_t i = 0; i < words; i += step)
        a[i] = (uint32_t)i;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int bad = 0;
        for (size_t i = 0; i < words; i += step) {
            bad |= a[i] != (uint32_t)i;
            if ((i / step) % 2 == 0)
                a[i] = 0xdead;
        }
        _exit(bad);
    }
    int st;
    waitpid(c, &st, 0);
    int good = 1;
    for (size_t i = 0; i < words; i += step)
        good &= a[i] == (uint32_t)i;
    ok(EXITED(st, 0), "child of a 16 MiB process sees every page");
    ok(good, "child's writes to half the pages leave the parent's copy intact");
    munmap(a, len);
}

static void test_wait(void)
{
    int st;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    ok(waitpid(c, &st, 0) == c && st == 0x300 && WIFEXITED(st) && WEXITSTATUS(st) == 3,
       "exit(3): status word 0x300");
    if ((c = fork()) == 0)
        _exit(256 + 255);
    waitpid(c, &st, 0);
    ok(EXITED(st, 255), "exit status keeps only the low 8 bits");
    if ((c = fork()) == 0) {
        pause();
        _exit(0);
    }
    ok(waitpid(c, &st, WNOHANG) == 0, "WNOHANG on a running child returns 0");
    kill(c, SIGKILL);
    ok(waitpid(c, &st, 0) == c && st == SIGKILL && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
           !WCOREDUMP(st), "SIGKILL: status word 9");
    if ((c = fork()) == 0) {
        pause();
        _exit(0);
    }
    kill(c, SIGSTOP);
    ok(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "WUNTRACED reports SIGSTOP");
    kill(c, SIGCONT);
    ok(waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st), "WCONTINUED reports SIGCONT");
    kill(c, SIGTERM);
    ok(waitpid(c, &st, 0) == c && SIGNALED(st, SIGTERM), "SIGTERM: WTERMSIG");
    if ((c = fork()) == 0)
        _exit(7);
    siginfo_t si = {0};
    ok(waitid(P_PID, c, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == c && si.si_code == CLD_EXITED &&
           si.si_status == 7, "waitid WNOWAIT: CLD_EXITED status 7");
    ok(waitid(P_PID, c, &si, WEXITED) == 0 && si.si_status == 7, "the zombie is still there after WNOWAIT");
    ok_err(waitpid(c, &st, 0), ECHILD, "waiting for a reaped child: ECHILD");
    ok_err(waitpid(-1, &st, WNOHANG), ECHILD, "no children at all: ECHILD");
    ok_err(waitpid(1, &st, 0), ECHILD, "waiting for a non-child: ECHILD");
    if ((c = fork()) == 0)
        _exit(getppid() == getppid() ? 0 : 1);
    ok(wait(&st) == c && EXITED(st, 0), "wait() reaps any child");
}

/* The pid of `pid`'s parent from /proc/<pid>/stat, or -1. */
static pid_t ppid_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *e = strrchr(buf, ')');
    int pp;
    return e && sscanf(e + 2, "%*c %d", &pp) == 1 ? pp : -1;
}

/* Forks a child that forks a grandchild and exits; returns the grandchild's new parent. */
static pid_t orphan_new_parent(void)
{
    int fds[2];
    pipe(fds);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        pid_t mid = getpid();
        if (fork() == 0) {
            /* Wait (bounded: 10 s) for the middle process to exit. */
            for (int i = 0; i < 10000 && getppid() == mid; i++)
                usleep(1000);
            pid_t np = getppid();
            write(fds[1], &np, sizeof np);
            _exit(0);
        }
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    pid_t np = -1;
    read(fds[0], &np, sizeof np);
    close(fds[0]);
    close(fds[1]);
    return np;
}

static void test_orphans(void)
{
    /* No subreaper of our own: the orphan goes to init or to an ancestor that is a
     * subreaper (test runners often are). Accept pid 1 or any ancestor of ours; when we
     * are init ourselves (run as /init), the orphan comes to us. */
    pid_t np = orphan_new_parent();
    int ancestor = np == 1;
    for (pid_t p = getppid(); p > 1 && !ancestor; p = ppid_of(p))
        ancestor = p == np;
    ok(np > 0 && (np != getpid() || getpid() == 1) && ancestor,
       "orphan re-parented to init or an ancestor subreaper (%d)", np);
    usleep(10000); /* let the new parent reap it; not ours to wait for */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        skip("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        return;
    }
    int on = 0;
    ok(prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 && on == 1, "PR_GET_CHILD_SUBREAPER reads back 1");
    np = orphan_new_parent();
    ok(np == getpid(), "with PR_SET_CHILD_SUBREAPER the orphan comes to us (%d)", np);
    int st;
    pid_t r = waitpid(-1, &st, 0);
    ok(r > 0 && EXITED(st, 0), "the subreaper reaps the adopted grandchild");
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

int main(void)
{
    test_cow();
    test_shared_anon();
    test_private_file();
    test_large();
    test_wait();
    test_orphans();
    return t_done();
}
