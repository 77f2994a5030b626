/* Running out of memory: a child that keeps touching memory must fail cleanly (mmap/brk/
 * malloc ENOMEM) or be killed by SIGKILL, while the parent carries on.
 * On Linux, RLIMIT_AS bounds the child so the host is never exhausted; on Pagoda the same
 * program also exercises the real out-of-memory path (frame exhaustion), where the child is
 * either refused (ENOMEM) or killed with SIGKILL — both are accepted. */
#include "t.h"
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

enum { LIMIT_MB = 64, CHUNK = 1 << 20, CAP_MB = 1024 };

/* Outcome codes a child reports through its exit status. */
enum { GOT_ENOMEM = 10, NO_LIMIT = 11, WRONG_ERRNO = 12 };

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

int main(void)
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
    return t_done();
}
