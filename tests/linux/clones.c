/* clone(2)'s sharing flags: CLONE_FILES shares the descriptor table (also between
 * processes), without it the child gets a copy (also a thread); CLONE_FS shares the working
 * directory and umask; execve gives a process sharing its table a copy of its own (the
 * close-on-exec descriptors close only there). */
#include "t.h"
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char self[PATH_MAX];
static char stack[256 * 1024] __attribute__((aligned(16)));

/* Runs fn in a clone child with `flags` (plus SIGCHLD), waits, returns the status. */
static int run_clone(int (*fn)(void *), void *arg, int flags)
{
    fflush(stdout);
    pid_t c = clone(fn, stack + sizeof stack, flags | SIGCHLD, arg);
    if (c < 0)
        return -1;
    int st;
    if (waitpid(c, &st, 0) != c)
        return -1;
    return st;
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Opens /dev/null and closes the descriptor passed in; exits with the new fd. */
static int open_and_close(void *arg)
{
    int fd = open("/dev/null", O_RDONLY);
    close(*(int *)arg);
    return fd < 0 ? 255 : fd;
}

static void test_files(void)
{
    int victim = open("/dev/null", O_RDONLY);
    int st = run_clone(open_and_close, &victim, CLONE_FILES);
    int fd = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    ok(fd > 0 && fd != 255 && is_open(fd), "CLONE_FILES: the child's open shows in the parent");
    ok(!is_open(victim) && errno == EBADF, "CLONE_FILES: the child's close shows in the parent");
    if (fd > 0 && fd != 255)
        close(fd);

    victim = open("/dev/null", O_RDONLY);
    int probe = dup(victim);
    close(probe); /* the lowest free number: what the child's open gets */
    st = run_clone(open_and_close, &victim, 0);
    ok(EXITED(st, probe) && !is_open(probe), "no CLONE_FILES: the child's open stays there");
    ok(is_open(victim), "no CLONE_FILES: the child's close stays there");
    close(victim);
}

static int chdir_tmp_umask(void *arg)
{
    if (chdir("/tmp") != 0)
        return 1;
    umask(*(int *)arg);
    return 0;
}

static int cwd_is_tmp(void)
{
    char buf[PATH_MAX];
    return getcwd(buf, sizeof buf) && strcmp(buf, "/tmp") == 0;
}

static void test_fs(void)
{
    chdir("/");
    mode_t old = umask(022);
    int mask = 077;
    int st = run_clone(chdir_tmp_umask, &mask, CLONE_FS);
    mode_t now = umask(022);
    ok(EXITED(st, 0) && cwd_is_tmp() && now == 077, "CLONE_FS: chdir and umask show in the parent");
    chdir("/");
    mask = 027;
    st = run_clone(chdir_tmp_umask, &mask, 0);
    now = umask(022);
    ok(EXITED(st, 0) && !cwd_is_tmp() && now == 022, "no CLONE_FS: chdir and umask stay there");
    mask = 007;
    st = run_clone(chdir_tmp_umask, &mask, CLONE_FILES);
    now = umask(022);
    ok(EXITED(st, 0) && !cwd_is_tmp() && now == 022, "CLONE_FILES alone: cwd and umask not shared");
    umask(old);
}

static volatile int thread_fd = -1, thread_done;

__attribute__((unused)) static int thread_open(void *arg)
{
    thread_fd = open("/dev/null", O_RDONLY);
    __atomic_store_n(&thread_done, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* A thread (CLONE_THREAD) with or without CLONE_FILES opens a file. */
__attribute__((unused)) static int thread_sees(int share)
{
    int flags = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | (share ? CLONE_FILES : 0);
    thread_done = 0;
    thread_fd = -1;
    fflush(stdout);
    if (clone(thread_open, stack + sizeof stack, flags, NULL) < 0)
        return -1;
    for (long i = 0; i < 100000000 && !__atomic_load_n(&thread_done, __ATOMIC_SEQ_CST); i++)
        if (i % 1000 == 0)
            sched_yield();
    /* Let the thread's exit finish before the stack is reused. */
    for (int i = 0; i < 100; i++)
        sched_yield();
    return thread_fd >= 0 && is_open(thread_fd);
}

static void test_threads(void)
{
#ifndef __GLIBC__
    /* musl's clone() returns EINVAL for CLONE_THREAD (it cannot set up a thread it does
     * not manage), and pthread_create always shares the table. */
    skip("a thread with CLONE_FILES: musl's clone() refuses thread flags");
    skip("a thread without CLONE_FILES: musl's clone() refuses thread flags");
    return;
#endif
    int r = thread_sees(1);
    ok(r == 1, "a thread with CLONE_FILES shares the table");
    if (r == 1)
        close(thread_fd);
    int probe = dup(0);
    close(probe);
    r = thread_sees(0);
    ok(r == 0 && thread_fd == probe, "a thread without CLONE_FILES has a copy (fd %d)", thread_fd);
}

static int exec_child(void *arg)
{
    char num[16];
    snprintf(num, sizeof num, "%d", *(int *)arg);
    char *av[] = {"clones-child", "check-closed", num, NULL};
    execv(self, av);
    return 99;
}

static void test_exec_unshares(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int st = run_clone(exec_child, &fd, CLONE_FILES);
    ok(EXITED(st, 0), "execve with a shared table: close-on-exec closed in the new program");
    ok(is_open(fd), "execve with a shared table: the other process keeps its descriptor");
    close(fd);
}

/* /proc follows processes at once: a child's directory right after fork (its status
 * naming its parent), gone once it is reaped. */
static void test_proc_follows(void)
{
    int go[2];
    pipe(go);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char b;
        close(go[1]);
        read(go[0], &b, 1);
        _exit(0);
    }
    close(go[0]);
    char path[64], line[256];
    struct stat sb;
    snprintf(path, sizeof path, "/proc/%d", c);
    ok(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "/proc/<child> exists right after fork");
    snprintf(path, sizeof path, "/proc/%d/status", c);
    FILE *f = fopen(path, "r");
    int ppid = -1;
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "PPid: %d", &ppid);
    if (f)
        fclose(f);
    ok(ppid == getpid(), "its status names this process as parent (%d)", ppid);
    close(go[1]);
    waitpid(c, NULL, 0);
    snprintf(path, sizeof path, "/proc/%d", c);
    ok_err(stat(path, &sb), ENOENT, "/proc/<child> is gone once it is reaped");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "check-closed") == 0)
        return fcntl(atoi(argv[2]), F_GETFD) == -1 && errno == EBADF ? 0 : 1;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;
    else if (!realpath(argv[0], self))
        strcpy(self, argv[0]);
    test_files();
    test_fs();
    test_threads();
    test_exec_unshares();
    test_proc_follows();
    return t_done();
}
