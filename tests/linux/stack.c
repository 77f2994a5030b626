/* The main thread's stack grows down on faults up to RLIMIT_STACK (the soft limit when
 * execve ran), then the process dies of SIGSEGV; MAP_GROWSDOWN areas grow on a fault
 * anywhere below them, keeping a guard gap (256 pages) from the area below. The stack
 * checks re-exec this program with a chosen RLIMIT_STACK: "recurse KIB" uses KIB KiB of
 * stack, then checks that /proc/self/maps' [stack] covers it. */
#include "t.h"
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

static char self[PATH_MAX];

/* Uses about `kib` KiB of stack: one KiB per level. */
__attribute__((noinline)) static int recurse(int kib)
{
    volatile char buf[1024];
    /* The buffer escapes (an empty asm that may read it), so the whole KiB stays in the
     * frame: clang otherwise keeps only the two bytes it touches. */
    __asm__ volatile("" : : "r"(buf) : "memory");
    buf[0] = (char)kib;
    buf[sizeof buf - 1] = 1;
    if (kib <= 1)
        return buf[0] + buf[sizeof buf - 1];
    /* The frame is read after the call, so no compiler can turn this into a loop (clang's
     * accumulator tail-recursion elimination would otherwise reuse one frame). */
    int below = recurse(kib - 1);
    return below + buf[0] - (char)kib + buf[sizeof buf - 1] - 1;
}

/* The [stack] line of /proc/self/maps: its size, 0 if none. */
static unsigned long stack_size(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long size = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &s, &e) == 2)
            size = e - s;
    }
    fclose(f);
    return size;
}

static int recurse_mode(int kib)
{
    if (recurse(kib) != 2)
        return 2;
    return stack_size() >= (unsigned long)kib * 1024 ? 0 : 3;
}

/* Runs this program as "recurse KIB" with RLIMIT_STACK's soft limit `limit`; returns the
 * wait status. */
static int run_with_limit(unsigned long limit, int kib)
{
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r;
        getrlimit(RLIMIT_STACK, &r);
        r.rlim_cur = limit;
        if (r.rlim_max != RLIM_INFINITY && r.rlim_max < limit)
            r.rlim_max = limit;
        if (setrlimit(RLIMIT_STACK, &r) != 0)
            _exit(90);
        char arg[16];
        snprintf(arg, sizeof arg, "%d", kib);
        char *av[] = {"stack-child", "recurse", arg, NULL};
        execv(self, av);
        _exit(91);
    }
    int st;
    if (c < 0 || waitpid(c, &st, 0) != c)
        return -1;
    return st;
}

/* A forked child lowers RLIMIT_STACK at run time: the next growth past it faults. */
static int lowered_at_run_time(void *arg)
{
    struct rlimit r;
    getrlimit(RLIMIT_STACK, &r);
    r.rlim_cur = 1 << 20;
    if (setrlimit(RLIMIT_STACK, &r) != 0)
        return 90;
    return recurse(*(int *)arg) == 2 ? 0 : 2;
}

static void test_stack(void)
{
    int st = run_with_limit(8 << 20, 4096);
    ok(EXITED(st, 0), "8 MiB RLIMIT_STACK: 4 MiB of recursion works, [stack] grew (%#x)", st);
    st = run_with_limit(1 << 20, 512);
    ok(EXITED(st, 0), "1 MiB RLIMIT_STACK: 512 KiB of recursion works (%#x)", st);
    st = run_with_limit(1 << 20, 2048);
    ok(SIGNALED(st, SIGSEGV), "1 MiB RLIMIT_STACK: 2 MiB of recursion is SIGSEGV (%#x)", st);
    st = run_with_limit(2 << 20, 1536);
    ok(EXITED(st, 0), "2 MiB RLIMIT_STACK: 1.5 MiB of recursion works (%#x)", st);
    int kib = 2048;
    st = t_child(lowered_at_run_time, &kib);
    ok(SIGNALED(st, SIGSEGV), "setrlimit(RLIMIT_STACK, 1 MiB) at run time: 2 MiB is SIGSEGV (%#x)",
       st);
    kib = 256;
    st = t_child(lowered_at_run_time, &kib);
    ok(EXITED(st, 0), "setrlimit(RLIMIT_STACK, 1 MiB) at run time: 256 KiB works (%#x)", st);
}

static sigjmp_buf jb;
static void on_segv(int sig)
{
    siglongjmp(jb, 1);
}

/* Writes one byte at p: 1 if it worked, 0 if it faulted. */
static int touch(volatile char *p)
{
    if (sigsetjmp(jb, 1))
        return 0;
    *p = 1;
    return 1;
}

/* The text of /proc/self/<name> in a static buffer, read without stdio: a FILE's buffer
 * is malloc'd, and musl's malloc maps new areas, which could land in the room the
 * grow-down checks keep free. */
static char text[1 << 16];
static const char *proc_text(const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/%s", name);
    int fd = open(path, O_RDONLY);
    size_t n = 0;
    ssize_t r = 1;
    while (fd >= 0 && r > 0 && n < sizeof text - 1) {
        r = read(fd, text + n, sizeof text - 1 - n);
        n += r > 0 ? (size_t)r : 0;
    }
    if (fd >= 0)
        close(fd);
    text[n] = 0;
    return text;
}

/* The start of the /proc/self/maps area containing p, 0 if none. */
static uintptr_t area_start(void *p)
{
    uintptr_t found = 0;
    for (const char *l = proc_text("maps"); *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        unsigned long s, e;
        if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s <= (uintptr_t)p && (uintptr_t)p < e)
            found = s;
    }
    return found;
}

/* Whether the smaps VmFlags of the area containing p include `flag`. */
static int has_vmflag(void *p, const char *flag)
{
    int in = 0, found = 0;
    char want[8];
    snprintf(want, sizeof want, " %s", flag);
    for (const char *l = proc_text("smaps"); *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        const char *eol = strchr(l, '\n');
        unsigned long s, e;
        if (sscanf(l, "%lx-%lx ", &s, &e) == 2 && strchr(l, '-') < strchr(l, ' '))
            in = s <= (uintptr_t)p && (uintptr_t)p < e;
        else if (in && strncmp(l, "VmFlags:", 8) == 0) {
            const char *hit = strstr(l, want);
            found = hit && (!eol || hit < eol);
        }
    }
    return found;
}

static void test_growsdown(void)
{
    const unsigned long gap = 256 * PG, span = 8 << 20;
    struct sigaction sa = {.sa_handler = on_segv};
    sigaction(SIGSEGV, &sa, NULL);
    /* Find 8 MiB of free room, then put a read-only floor page at its bottom and a
     * 4-page grow-down area at its top. */
    char *room = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(room != MAP_FAILED, "reserve room");
    if (room == MAP_FAILED)
        return;
    munmap(room, span);
    int fixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
    char *floor = mmap(room, PG, PROT_READ, fixed, -1, 0);
    char *a = mmap(room + span - 4 * PG, 4 * PG, PROT_READ | PROT_WRITE, fixed | MAP_GROWSDOWN,
                   -1, 0);
    ok(floor == room && a == room + span - 4 * PG, "MAP_GROWSDOWN mapped");
    char *h = mmap(a - 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(h != MAP_FAILED && h != a - 4 * PG, "mmap does not take a hint in the guard gap below it");
    if (h != MAP_FAILED)
        munmap(h, PG);
    int local;
    ok(has_vmflag(a, "gd") && has_vmflag(&local, "gd"), "smaps: VmFlags gd on it and on [stack]");
    ok(!has_vmflag(floor, "gd"), "smaps: no gd on an ordinary area");
    ok(touch(a - 1) && area_start(a) == (uintptr_t)(a - PG),
       "a fault just below grows the area by one page");
    ok(touch(a - 100 * PG + 5) && area_start(a) == (uintptr_t)(a - 100 * PG),
       "a fault 100 pages below grows the area to that page");
    char *lowest = floor + PG + gap;
    ok(!touch(lowest - 1) && area_start(a) == (uintptr_t)(a - 100 * PG),
       "no growth into the guard gap above the area below: SIGSEGV, area unchanged");
    ok(touch(lowest) && area_start(a) == (uintptr_t)lowest, "growth down to the guard gap");
    char *plain = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(plain - 512 * PG, 512 * PG);
    ok(!touch(plain - 1), "an ordinary area does not grow");
    munmap(a, span);
    munmap(floor, PG);
    munmap(plain, 4 * PG);
    signal(SIGSEGV, SIG_DFL);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "recurse") == 0)
        return recurse_mode(atoi(argv[2]));
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;
    else if (!realpath(argv[0], self))
        strcpy(self, argv[0]);
    test_stack();
    test_growsdown();
    return t_done();
}
