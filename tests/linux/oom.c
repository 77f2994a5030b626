/* Running out of memory: a child that keeps touching memory must fail cleanly (mmap/brk/
 * malloc ENOMEM) or be killed by SIGKILL, while the parent carries on.
 * On Linux, RLIMIT_AS bounds the child so the host is never exhausted; on Pagoda the same
 * program also exercises the real out-of-memory path (frame exhaustion), where the child is
 * either refused (ENOMEM) or killed with SIGKILL — both are accepted. On Pagoda only (told
 * by uname's version), a child without any limit eats every frame while a bystander child
 * keeps its data, and afterwards /proc/meminfo's MemFree + Slab (Pagoda's kernel heap,
 * which never shrinks) is exactly what it was before the first child (Linux's figures move
 * with the page cache and slab: there they are only checked to be plausible). */
#include "t.h"
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>

enum { LIMIT_MB = 64, CHUNK = 1 << 20, CAP_MB = 1024 };

/* Outcome codes a child reports through its exit status. */
enum { GOT_ENOMEM = 10, NO_LIMIT = 11, WRONG_ERRNO = 12 };

static const char *describe(int st);

static void limit_as(void)
{
    struct rlimit rl = {(rlim_t)LIMIT_MB << 20, (rlim_t)LIMIT_MB << 20};
    setrlimit(RLIMIT_AS, &rl);
}

/* Touches 1 MiB chunks until mmap fails; reports how many MiB it got through the pipe. */
static int eat_mmap(void *arg)
{
    int fd = (int)(intptr_t)arg;
    limit_as();
    for (int mb = 0; mb < CAP_MB; mb++) {
        char *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            write(fd, &mb, sizeof mb);
            return errno == ENOMEM ? GOT_ENOMEM : WRONG_ERRNO;
        }
        for (size_t i = 0; i < CHUNK; i += PG)
            p[i] = 1;
    }
    return NO_LIMIT;
}

static int eat_brk(void *arg)
{
    limit_as();
    for (int mb = 0; mb < CAP_MB; mb++) {
        char *p = sbrk(CHUNK);
        if (p == (void *)-1)
            return errno == ENOMEM ? GOT_ENOMEM : WRONG_ERRNO;
        for (size_t i = 0; i < CHUNK; i += PG)
            p[i] = 1;
    }
    return NO_LIMIT;
}

/* Where each chunk goes: clang may drop a malloc whose memory is never read. */
static char *volatile malloc_sink;

static int eat_malloc(void *arg)
{
    limit_as();
    for (int mb = 0; mb < CAP_MB; mb++) {
        char *p = malloc(CHUNK);
        if (!p)
            return errno == ENOMEM ? GOT_ENOMEM : WRONG_ERRNO;
        memset(p, 1, CHUNK);
        malloc_sink = p;
    }
    return NO_LIMIT;
}

static int big_at_once(void *arg)
{
    limit_as();
    void *p = mmap(NULL, (size_t)2 * LIMIT_MB << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED && errno == ENOMEM ? GOT_ENOMEM : NO_LIMIT;
}

/* Eats memory without a limit until the kernel refuses or kills it. */
static int eat_all(void *arg)
{
    for (int mb = 0; mb < 64 * CAP_MB; mb++) {
        char *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return errno == ENOMEM ? GOT_ENOMEM : WRONG_ERRNO;
        for (size_t i = 0; i < CHUNK; i += PG)
            p[i] = 1;
    }
    return NO_LIMIT;
}

static int on_pagoda(void)
{
    struct utsname u;
    return uname(&u) == 0 && strstr(u.version, "Pagoda") != NULL;
}

static int nothing(void *arg)
{
    return 0;
}

/* Pagoda: the eater takes every frame while a bystander holding 4 MiB waits; the
 * bystander's data survives and it exits normally. */
static void test_eat_everything(void)
{
    int go[2];
    pipe(go);
    fflush(stdout);
    pid_t by = fork();
    if (by == 0) {
        close(go[1]);
        size_t len = 4UL << 20;
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(2);
        for (size_t i = 0; i < len; i += PG)
            p[i] = (char)(i >> 12);
        char c;
        read(go[0], &c, 1); /* until the eater is gone */
        for (size_t i = 0; i < len; i += PG)
            if (p[i] != (char)(i >> 12))
                _exit(3);
        _exit(0);
    }
    close(go[0]);
    int st = t_child(eat_all, NULL);
    ok(EXITED(st, GOT_ENOMEM) || SIGNALED(st, SIGKILL), "eating every frame: ENOMEM or SIGKILL (%s)", describe(st));
    close(go[1]);
    int bst = -1;
    waitpid(by, &bst, 0);
    ok(EXITED(bst, 0), "a bystander process kept its memory and carried on (%s)", describe(bst));
}

/* Splits one big PROT_NONE area into single pages with mprotect until the kernel refuses:
 * Linux and Pagoda at vm.max_map_count (ENOMEM; Pagoda refuses earlier, with ENOMEM from
 * every allocating call, if its kernel heap would otherwise starve: see
 * examples/linux/src/pressure.rs). Reports how far it got through the pipe; never calls
 * stdio. */
static int split_areas(void *arg)
{
    size_t span = 1UL << 34;
    char *base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return 2;
    long n = 0;
    int err = 0;
    for (size_t i = 0; i < span / PG; i += 2, n++)
        if (mprotect(base + i * PG, PG, PROT_READ) != 0) {
            err = errno;
            break;
        }
    long out[2] = {n, err};
    write((int)(intptr_t)arg, out, sizeof out);
    if (err == 0)
        return NO_LIMIT; /* a host whose vm.max_map_count is above 2^22 */
    return err == ENOMEM ? GOT_ENOMEM : 3;
}

static const char *describe(int st)
{
    static char b[64];
    if (WIFEXITED(st))
        snprintf(b, sizeof b, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(b, sizeof b, "signal %d", WTERMSIG(st));
    else
        snprintf(b, sizeof b, "status %#x", st);
    return b;
}

/* Every check that allocates, run in one supervisor process (so that this process's own
 * footprint — stdio buffers, page tables — stays as it was); exits 0 if all passed. */
static int supervise(void *arg)
{
    struct rlimit before;
    getrlimit(RLIMIT_AS, &before);
    int fds[2];
    pipe(fds);
    int st = t_child(eat_mmap, (void *)(intptr_t)fds[1]);
    int mb = -1;
    if (EXITED(st, GOT_ENOMEM))
        read(fds[0], &mb, sizeof mb);
    ok(EXITED(st, GOT_ENOMEM) || SIGNALED(st, SIGKILL), "mmap+touch until failure: ENOMEM or SIGKILL (%s)", describe(st));
    ok(mb == -1 || (mb > 0 && mb <= LIMIT_MB), "the limit was reached after %d MiB (<= %d)", mb, LIMIT_MB);
    st = t_child(eat_brk, NULL);
    ok(EXITED(st, GOT_ENOMEM) || SIGNALED(st, SIGKILL), "brk+touch until failure: ENOMEM or SIGKILL (%s)", describe(st));
    st = t_child(eat_malloc, NULL);
    ok(EXITED(st, GOT_ENOMEM) || SIGNALED(st, SIGKILL), "malloc+memset until failure: NULL/ENOMEM or SIGKILL (%s)", describe(st));
    st = t_child(split_areas, (void *)(intptr_t)fds[1]);
    long got[2] = {-1, -1};
    read(fds[0], got, sizeof got);
    if (EXITED(st, NO_LIMIT) && !*(int *)arg)
        skip("splitting areas until refused: this host allows %ld areas and more", got[0]);
    else
        ok(EXITED(st, GOT_ENOMEM) && got[0] > 1000, "splitting areas until refused: ENOMEM after %ld areas (%s)",
           got[0], describe(st));
    st = t_child(big_at_once, NULL);
    ok(EXITED(st, GOT_ENOMEM), "one mmap larger than RLIMIT_AS: ENOMEM (%s)", describe(st));
    /* The parent is untouched and can still allocate and use memory. */
    size_t len = 8UL << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int good = p != MAP_FAILED;
    for (size_t i = 0; good && i < len; i += PG)
        p[i] = (char)i;
    for (size_t i = 0; good && i < len; i += PG)
        good = p[i] == (char)i;
    ok(good, "the parent still maps and uses 8 MiB afterwards");
    struct rlimit rl;
    ok(getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur == before.rlim_cur, "the child's RLIMIT_AS did not leak to the parent");
    if (*(int *)arg) /* arg: {on Pagoda, the fd to report the counts to} */
        test_eat_everything();
    else
        skip("eating every frame without a limit (Pagoda only: it would hurt the host)");
    fflush(stdout);
    int counts[4] = {t_n, t_pass, t_fail, t_skip};
    write(*((int *)arg + 1), counts, sizeof counts);
    return t_fail ? 1 : 0;
}

int main(void)
{
    int pagoda = on_pagoda();
    /* The baseline after one fork and wait (lazily made kernel state exists then). */
    t_child(nothing, NULL);
    ok(t_meminfo_kb("MemTotal:") > 0, "/proc/meminfo has MemTotal");
    /* Free frames plus the kernel heap's (which grows and never shrinks). */
    long free0 = t_meminfo_kb("MemFree:") + t_meminfo_kb("\nSlab:"), total = t_meminfo_kb("MemTotal:");
    int arg[2] = {pagoda, -1}, counts[2];
    pipe(counts);
    arg[1] = counts[1];
    int st = t_child(supervise, arg);
    long free1 = t_meminfo_kb("MemFree:") + t_meminfo_kb("\nSlab:");
    /* The supervisor's checks count as this program's. */
    int c[4];
    if (read(counts[0], c, sizeof c) == sizeof c) {
        t_n = c[0];
        t_pass += c[1] - 1; /* its copy of the first check */
        t_fail += c[2];
        t_skip += c[3];
    }
    ok(EXITED(st, 0), "every check of the supervisor process passed (%s)", describe(st));
    ok(free0 > 0 && total >= free0, "MemFree + Slab %ld kB of MemTotal %ld kB", free0, total);
    if (pagoda)
        ok(free1 == free0, "every frame is back after the children exited: MemFree + Slab %ld kB, was %ld kB", free1, free0);
    else
        ok(free1 > 0 && free1 <= total, "MemFree + Slab is plausible afterwards: %ld kB of %ld kB", free1, total);
    return t_done();
}
