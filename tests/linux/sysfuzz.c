/* Robustness: forked children issue thousands of system calls with random arguments (a
 * fixed seed: every run is the same) — bad pointers, huge lengths, random flags — and
 * unknown call numbers (ENOSYS). The parent checks that every child exits or dies by a
 * signal (a child still running after a bound is killed: a call may block) and that the
 * system carries on; on Pagoda, MemFree + Slab is exactly back to its start afterwards.
 *
 * The calls come from a whitelist, safe to run as root on a real Linux host: they act on
 * the child itself and on a fresh scratch directory it works in (names from a fixed set, no
 * random memory as a path), never on other processes (kill/tgkill only target the child),
 * limits only read, no device nodes, no ioctl requests that change a file's flags, no
 * F_SETOWN (SIGIO to others), no madvise(MADV_HWPOISON), no fork/clone (no grandchildren
 * outlive the bound), RLIMIT_AS/RLIMIT_FSIZE bound memory and files. */
#include "t.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>

enum { CHILDREN = 32, CALLS = 500, BUF = 64 << 10 };

/* Calls issued by all children (a MAP_SHARED counter). */
static volatile long *issued;

/* Argument kinds. */
enum { Z, FD, PATH, PBUF, LEN, NUM, SMALL, MODE, SIG, SELF, TIME, ADV, IOC, FLAGS, ADDR };

struct call {
    long nr;
    unsigned char arg[6];
};

#define C(name, ...) {SYS_##name, {__VA_ARGS__}}
static const struct call calls[] = {
    C(read, FD, PBUF, LEN), C(write, FD, PBUF, LEN), C(pread64, FD, PBUF, LEN, NUM),
    C(pwrite64, FD, PBUF, LEN, NUM), C(readv, FD, PBUF, SMALL), C(writev, FD, PBUF, SMALL),
    C(lseek, FD, NUM, SMALL), C(close, FD), C(dup, FD), C(dup3, FD, FD, FLAGS),
    C(openat, FD, PATH, FLAGS, MODE), C(fstat, FD, PBUF), C(newfstatat, FD, PATH, PBUF, FLAGS),
    C(statx, FD, PATH, FLAGS, NUM, PBUF), C(statfs, PATH, PBUF), C(fstatfs, FD, PBUF),
    C(getdents64, FD, PBUF, LEN), C(readlinkat, FD, PATH, PBUF, LEN), C(getcwd, PBUF, LEN),
    C(chdir, PATH), C(fchdir, FD), C(mkdirat, FD, PATH, MODE), C(unlinkat, FD, PATH, FLAGS),
    C(renameat2, FD, PATH, FD, PATH, FLAGS), C(linkat, FD, PATH, FD, PATH, FLAGS),
    C(symlinkat, PATH, FD, PATH), C(fchmodat, FD, PATH, MODE), C(fchmod, FD, MODE),
    C(fchownat, FD, PATH, NUM, NUM, FLAGS), C(fchown, FD, NUM, NUM), C(faccessat, FD, PATH, SMALL),
    C(truncate, PATH, NUM), C(ftruncate, FD, NUM), C(umask, MODE), C(pipe2, PBUF, FLAGS),
    C(memfd_create, PATH, FLAGS), C(fcntl, FD, SMALL, NUM), C(ioctl, FD, IOC, PBUF),
    C(ppoll, PBUF, SMALL, TIME, PBUF, SMALL), C(pselect6, SMALL, PBUF, PBUF, PBUF, TIME, Z),
    C(fsync, FD), C(fdatasync, FD), C(close_range, SMALL, SMALL, FLAGS), C(flock, FD, SMALL),
    C(mmap, ADDR, LEN, SMALL, FLAGS, FD, NUM), C(munmap, ADDR, LEN), C(mprotect, ADDR, LEN, SMALL),
    C(mremap, ADDR, LEN, LEN, FLAGS, ADDR), C(madvise, ADDR, LEN, ADV), C(msync, ADDR, LEN, SMALL),
    C(mincore, ADDR, LEN, PBUF), C(mlock, ADDR, LEN), C(munlock, ADDR, LEN), C(brk, NUM),
    C(mlockall, SMALL), C(munlockall), C(mlock2, ADDR, LEN, SMALL),
    C(rt_sigaction, SIG, PBUF, PBUF, SMALL), C(rt_sigprocmask, SMALL, PBUF, PBUF, SMALL),
    C(rt_sigpending, PBUF, SMALL), C(sigaltstack, PBUF, PBUF), C(rt_sigreturn),
    C(rt_sigtimedwait, PBUF, PBUF, TIME, SMALL), C(kill, SELF, SIG), C(tgkill, SELF, SELF, SIG),
    C(getpid), C(getppid), C(gettid), C(getuid), C(geteuid), C(getgid), C(getegid),
    C(setuid, NUM), C(setgid, NUM), C(setresuid, NUM, NUM, NUM), C(setreuid, NUM, NUM),
    C(getresuid, PBUF, PBUF, PBUF), C(getgroups, SMALL, PBUF), C(getpgid, Z), C(getsid, Z),
    C(setsid), C(setpgid, Z, Z), C(prctl, SMALL, NUM, NUM, NUM, NUM), C(prlimit64, Z, SMALL, Z, PBUF),
    C(getrlimit, SMALL, PBUF), C(getrusage, SMALL, PBUF), C(times, PBUF), C(sysinfo, PBUF),
    C(uname, PBUF), C(clock_gettime, SMALL, PBUF), C(clock_getres, SMALL, PBUF),
    C(gettimeofday, PBUF, PBUF), C(nanosleep, TIME, PBUF), C(clock_nanosleep, SMALL, FLAGS, TIME, PBUF),
    C(sched_yield), C(sched_getaffinity, Z, LEN, PBUF), C(getrandom, PBUF, LEN, FLAGS),
    C(futex, PBUF, SMALL, NUM, TIME, PBUF, NUM), C(set_tid_address, PBUF),
    C(set_robust_list, PBUF, LEN), C(wait4, NUM, PBUF, FLAGS, PBUF), C(waitid, SMALL, NUM, PBUF, FLAGS, PBUF),
    C(execve, PATH, PBUF, PBUF), C(getitimer, SMALL, PBUF),
#ifdef SYS_open
    C(open, PATH, FLAGS, MODE), C(stat, PATH, PBUF), C(lstat, PATH, PBUF), C(access, PATH, SMALL),
    C(mkdir, PATH, MODE), C(rmdir, PATH), C(unlink, PATH), C(rename, PATH, PATH),
    C(link, PATH, PATH), C(symlink, PATH, PATH), C(readlink, PATH, PBUF, LEN),
    C(chmod, PATH, MODE), C(dup2, FD, FD), C(pipe, PBUF), C(poll, PBUF, SMALL, Z),
    C(getpgrp), C(getdents64, FD, PBUF, LEN),
#endif
};

/* Pagoda only: System V shared memory (segments outlive their creator: a host would keep
 * them) and more signal and timer calls. The supervisor removes every segment after. */
static const struct call pagoda_calls[] = {
    C(shmget, Z, LEN, FLAGS), C(shmat, SMALL, ADDR, FLAGS), C(shmdt, ADDR),
    C(shmctl, SMALL, SMALL, PBUF), C(setitimer, SMALL, PBUF, PBUF), C(tkill, SELF, SIG),
    C(rt_sigqueueinfo, SELF, SIG, PBUF), C(rt_tgsigqueueinfo, SELF, SELF, SIG, PBUF),
};
static int pagoda;

static uint64_t rng = 0x5eed0f5a11c0ffeeULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static uint64_t pick(const uint64_t *v, int n)
{
    return v[next() % n];
}

static char *buf;           /* BUF writable bytes */
static char longname[5000]; /* not NUL-terminated within PATH_MAX */
static struct timespec tiny = {0, 1000};
static const char *names[] = {"f0", "f1", "d0", "d0/f2", "l0", "", ".", "d0/d1", "f3"};

/* Addresses no call may use: NULL, low pages (below Linux's mmap_min_addr; not 0x1000:
 * Pagoda maps its riscv64 signal trampoline there), the top, the kernel half, unaligned. */
static uint64_t bad_ptr(void)
{
    const uint64_t v[] = {0, 1, 0x10, 0x8000, (uint64_t)-4096, (uint64_t)-1, 0xffff800000000000ULL,
                          0x8000000000000000ULL, 0x7ffffffff000ULL};
    return pick(v, sizeof v / sizeof *v);
}

static uint64_t arg(int kind)
{
    uint64_t r = next();
    switch (kind) {
    case FD: {
        if (r % 10 < 7)
            return r % 16;
        const uint64_t v[] = {(uint64_t)-1, (uint64_t)AT_FDCWD, 1000000, 0x7fffffff, r};
        return pick(v, 5);
    }
    case PATH:
        if (r % 10 < 8)
            return (uint64_t)names[(r >> 8) % (sizeof names / sizeof *names)];
        return r % 2 ? (uint64_t)longname : bad_ptr();
    case PBUF:
        if (r % 10 < 7)
            return (uint64_t)buf + ((r >> 8) % 64) * 64;
        return r % 2 ? (uint64_t)(uintptr_t)&arg : bad_ptr(); /* read-only text, or bad */
    case LEN: {
        const uint64_t v[] = {0, 1, 7, 64, 4096, BUF, 1 << 20, (uint64_t)-1, 0x7fffffff, r};
        return pick(v, 10);
    }
    case SMALL:
        return r % 16;
    case MODE:
        return r % 010000;
    case SIG: { /* mostly signals whose default action is to ignore (the child goes on) */
        const uint64_t v[] = {0, SIGCHLD, SIGURG, SIGWINCH, SIGCONT, r % 70};
        return pick(v, 6);
    }
    case SELF:
        return (uint64_t)getpid();
    case TIME:
        return r % 4 ? (uint64_t)&tiny : bad_ptr();
    case ADV: { /* never MADV_HWPOISON (100) or MADV_SOFT_OFFLINE (101) */
        const uint64_t v[] = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 14, 15, 16, 17, 20, 21, 22, 23, 25, 77};
        return pick(v, 20);
    }
    case IOC: { /* FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ, FIOASYNC, unknown */
        const uint64_t v[] = {0x541b, 0x5421, 0x5451, 0x5450, 0x5401, 0x5413, 0x5452, 0xdead};
        return pick(v, 8);
    }
    case FLAGS:
        return r % 3 ? r & 0xfffff : r;
    case NUM:
        return r % 3 ? r % 4096 : r;
    case ADDR: /* the scratch buffer, a free high range, or anything */
        if (r % 10 < 4)
            return (uint64_t)buf + ((r >> 8) % (BUF / 4096)) * 4096;
        if (r % 10 < 8)
            return 0x500000000000ULL + ((r >> 8) % (1 << 18)) * 4096;
        return r % 3 ? r % 4096 : r;
    default:
        return 0;
    }
}

static void fuzz_child(int index)
{
    /* Its own fixed stream. */
    rng ^= (uint64_t)(index + 1) * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 16; i++)
        next();
    /* Bounds for the host: memory, file sizes, no core files. */
    struct rlimit as = {256 << 20, 256 << 20}, fsize = {16 << 20, 16 << 20}, core = {0, 0};
    setrlimit(RLIMIT_AS, &as);
    setrlimit(RLIMIT_FSIZE, &fsize);
    setrlimit(RLIMIT_CORE, &core);
    signal(SIGXFSZ, SIG_IGN);
    /* Only its own files: 0-2 become a scratch file, nothing else stays open. */
    syscall(SYS_close_range, 0, ~0U, 0);
    for (int i = 0; i < 3; i++)
        open("out", O_WRONLY | O_CREAT | O_APPEND, 0600);
    buf = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        _exit(2);
    int unknown_ok = 1;
    for (int k = 0; k < CALLS; k++) {
        __atomic_add_fetch(issued, 1, __ATOMIC_RELAXED);
        if (next() % 16 == 0) {
            /* An unknown call number. */
            long nr = 1000 + (long)(next() % 1000);
            long r = syscall(nr, next(), next(), next(), next(), next(), next());
            unknown_ok &= r == -1 && errno == ENOSYS;
            continue;
        }
        const struct call *c = &calls[next() % (sizeof calls / sizeof *calls)];
        /* rt_sigreturn of a garbage frame always kills: keep it rare. */
        while (c->nr == SYS_rt_sigreturn && next() % 16 != 0)
            c = &calls[next() % (sizeof calls / sizeof *calls)];
        if (pagoda && next() % 8 == 0)
            c = &pagoda_calls[next() % (sizeof pagoda_calls / sizeof *pagoda_calls)];
        uint64_t a[6];
        for (int j = 0; j < 6; j++)
            a[j] = arg(c->arg[j]);
        if (c->nr == SYS_pipe2 || c->nr == SYS_memfd_create)
            a[1] |= O_NONBLOCK; /* an empty pipe must not block the child */
        if (c->nr == SYS_prlimit64)
            a[2] = 0; /* read limits only: raising RLIMIT_AS would unbound the child */
        if (c->nr == SYS_fcntl && (a[1] == F_SETOWN || a[1] == F_SETOWN_EX))
            a[1] = F_GETFL; /* SIGIO must never go to another process */
        issued[1 + index] = c->nr; /* the last call of each child, for the diagnostics */
        syscall(c->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        /* Every fourth call also puts a known-good buffer back for the next ones. */
        if (k % 4 == 0 && mprotect(buf, BUF, PROT_READ | PROT_WRITE) != 0)
            mmap(buf, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
    _exit(unknown_ok ? 0 : 3);
}

/* Sizes no memory holds: a file grown to 2^61.7 bytes by truncate and by a write far out.
 * Linux's filesystems grow sparse files or say EFBIG; a RAM filesystem may say ENOSPC. */
static int huge_sizes(void *arg)
{
    int fd = open("huge", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 1;
    const off_t size = 3804180263615858460LL;
    /* Some data first, written back: growing then means moving or extending a block. */
    static char page[4096];
    if (write(fd, page, sizeof page) != (ssize_t)sizeof page || fsync(fd) != 0)
        return 3;
    int t = ftruncate(fd, size);
    int terr = errno;
    ssize_t w = pwrite(fd, "x", 1, size);
    int werr = errno;
    ftruncate(fd, 0);
    close(fd);
    unlink("huge");
    int t_ok = t == 0 || terr == EFBIG || terr == ENOSPC;
    int w_ok = w == 1 || werr == EFBIG || werr == ENOSPC || werr == EINVAL;
    return t_ok && w_ok ? 0 : 2;
}

/* Removes everything below the current directory (as root: any mode). */
static void rm_tree(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0)
        return;
    fchmod(fd, 0700);
    DIR *d = fdopendir(fd);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0 && (errno == EISDIR || errno == EPERM)) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            rm_tree(sub);
            unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
        }
    }
    closedir(d);
}

/* Runs every fuzz child in a fresh scratch directory, then removes it. Returns 0 if all
 * checks passed; the counts go to `out`. */
static int supervise(void *arg)
{
    char dir[] = "/tmp/pagoda-lt-fuzzXXXXXX";
    int ended = 0, exited = 0, signaled = 0, killed = 0, stopped = 0, enosys_bad = 0, by_signal[64] = {0};
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        ok(0, "scratch directory");
        return 1;
    }
    memset(longname, 'a', sizeof longname);
    int st = t_child(huge_sizes, NULL);
    ok(EXITED(st, 0), "truncate and pwrite far past any memory: done or EFBIG/ENOSPC (%#x)", st);
    issued = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (issued == MAP_FAILED) {
        ok(0, "a shared counter");
        return 1;
    }
    for (int i = 0; i < CHILDREN; i++) {
        fflush(stdout);
        pid_t c = fork();
        if (c == 0)
            fuzz_child(i);
        if (c < 0)
            break;
        int st = 0;
        pid_t w = 0;
        /* Bounded: a child blocked in a call is killed (no timing is asserted). */
        for (int polls = 0; polls < 1000; polls++) {
            w = waitpid(c, &st, WNOHANG | WUNTRACED);
            if (w == c && WIFSTOPPED(st)) {
                /* It sent itself a stop signal: it would wait forever. */
                kill(c, SIGKILL);
                stopped++;
                continue;
            }
            if (w != 0)
                break;
            struct timespec ms = {0, 10 * 1000 * 1000};
            nanosleep(&ms, NULL);
        }
        if (w == 0) {
            kill(c, SIGKILL);
            w = waitpid(c, &st, 0);
            killed++;
        }
        if (w == c && (WIFEXITED(st) || WIFSIGNALED(st)))
            ended++;
        if (w == c && WIFEXITED(st)) {
            exited++;
            enosys_bad += WEXITSTATUS(st) == 3;
        }
        if (w == c && WIFSIGNALED(st)) {
            signaled++;
            by_signal[WTERMSIG(st) & 63]++;
            printf("# child %d: signal %d after call %ld\n", i, WTERMSIG(st), issued[1 + i]);
            fflush(stdout);
        }
    }
    ok(ended == CHILDREN,
       "%d of %d fuzz children ended (%d exited, %d by a signal, %d stopped themselves, %d killed "
       "after the bound)",
       ended, CHILDREN, exited, signaled, stopped, killed);
    ok(*issued > 0, "%ld calls issued", *issued);
    printf("# children ended by signal:");
    for (int i = 1; i < 64; i++)
        if (by_signal[i])
            printf(" %d x%d", i, by_signal[i]);
    printf("\n");
    munmap((void *)issued, PG);
    ok(enosys_bad == 0, "unknown call numbers are ENOSYS (%d children saw something else)", enosys_bad);
    ok(chdir("/") == 0, "the parent still runs calls");
    if (pagoda) {
        /* Remove the segments the children left (ids are indices up to SHM_INFO's answer). */
        struct shm_info info;
        int highest = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
        int removed = 0;
        for (int id = 0; id <= highest; id++)
            removed += shmctl(id, IPC_RMID, NULL) == 0;
        struct shm_info after;
        int got = shmctl(0, SHM_INFO, (struct shmid_ds *)&after) >= 0;
        ok(got && after.used_ids == 0, "%d shared memory segments left by the children removed",
           removed);
    }
    rm_tree(dir);
    ok(rmdir(dir) == 0, "the scratch directory is removed");
    fflush(stdout);
    int counts[4] = {t_n, t_pass, t_fail, t_skip};
    write(*(int *)arg, counts, sizeof counts);
    return t_fail ? 1 : 0;
}

static int nothing(void *arg)
{
    return 0;
}


int main(int argc, char **argv)
{
    /* Another fixed stream: `sysfuzz SEED` (the default run always uses the same one). */
    if (argc > 1)
        rng = strtoull(argv[1], NULL, 0) | 1;
    struct utsname u;
    pagoda = uname(&u) == 0 && strstr(u.version, "Pagoda") != NULL;
    t_child(nothing, NULL);
    ok(t_meminfo_kb("MemTotal:") > 0, "/proc/meminfo has MemTotal");
    long free0 = t_meminfo_kb("MemFree:") + t_meminfo_kb("\nSlab:"), total = t_meminfo_kb("MemTotal:");
    int counts[2];
    pipe(counts);
    int st = t_child(supervise, &counts[1]);
    long free1 = t_meminfo_kb("MemFree:") + t_meminfo_kb("\nSlab:");
    int c[4];
    if (read(counts[0], c, sizeof c) == sizeof c) {
        t_n = c[0];
        t_pass += c[1] - 1;
        t_fail += c[2];
        t_skip += c[3];
    }
    ok(EXITED(st, 0), "the supervisor's checks passed (%#x)", st);
    if (pagoda)
        ok(free1 == free0, "every frame is back afterwards: MemFree + Slab %ld kB, was %ld kB", free1, free0);
    else
        ok(free1 > 0 && free1 <= total, "MemFree + Slab is plausible afterwards: %ld of %ld kB", free1, total);
    return t_done();
}
