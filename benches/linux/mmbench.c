/* mmbench: what the memory-management system calls cost a Linux program, measured from
 * user space with CLOCK_MONOTONIC. The same static binary runs as /init on the Linux kernel
 * and on Pagoda under the same QEMU machine (scripts/bench_linux.sh), so the two columns
 * of `make bench-linux` compare the kernels, not the emulator.
 *
 * Output: one line per benchmark, `BENCH <name> <ns per op>`, or `SKIP <name> <reason>`
 * when the kernel lacks a call it needs; then `BENCH-DONE`. Each figure is the median of
 * ROUNDS rounds. As pid 1 it powers the machine off at the end (reboot(2)); where that is
 * not available it exits, which ends a Pagoda run. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define ROUNDS 5

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One round of a benchmark: returns the nanoseconds per operation, or 0 on failure (errno
 * says why). */
typedef uint64_t (*round_fn)(void);

static void run(const char *name, round_fn f)
{
    uint64_t r[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        errno = 0;
        r[i] = f();
        if (r[i] == 0) {
            printf("SKIP %s %s\n", name, strerror(errno ? errno : ENOSYS));
            fflush(stdout);
            return;
        }
    }
    qsort(r, ROUNDS, sizeof r[0], cmp_u64);
    printf("BENCH %s %llu\n", name, (unsigned long long)r[ROUNDS / 2]);
    fflush(stdout);
}

/* mmap + munmap of one anonymous page. */
static uint64_t mmap_munmap_4k(void)
{
    enum { N = 2000 };
    uint64_t t0 = now_ns();
    for (int i = 0; i < N; i++) {
        void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || munmap(p, PAGE) != 0)
            return 0;
    }
    return (now_ns() - t0) / N;
}

/* First write to each page of a fresh anonymous mapping: the lazy fault, per page. */
static uint64_t anon_fault(void)
{
    enum { PAGES = 2048 };
    char *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < PAGES; i++)
        p[i * PAGE] = 1;
    uint64_t t = (now_ns() - t0) / PAGES;
    munmap(p, PAGES * PAGE);
    return t;
}

/* mprotect of one page in the middle of a mapping, there and back (split, then merge). */
static uint64_t mprotect_split(void)
{
    enum { N = 1000, PAGES = 64 };
    char *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    char *mid = p + PAGES / 2 * PAGE;
    uint64_t t0 = now_ns();
    for (int i = 0; i < N; i++) {
        if (mprotect(mid, PAGE, PROT_READ) != 0 || mprotect(mid, PAGE, PROT_READ | PROT_WRITE) != 0)
            return 0;
    }
    uint64_t t = (now_ns() - t0) / (2 * N);
    munmap(p, PAGES * PAGE);
    return t;
}

/* mmap(NULL, 2 pages) + munmap among AREAS one-page mappings with one-page holes: every
 * hole is too small, the adversarial layout for a free-area search. */
static uint64_t fragmented_mmap(void)
{
    enum { AREAS = 1000, N = 1000 };
    char *base = mmap(NULL, 2 * AREAS * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return 0;
    for (unsigned long i = 0; i < AREAS; i++)
        munmap(base + (2 * i + 1) * PAGE, PAGE);
    uint64_t t0 = now_ns();
    for (int i = 0; i < N; i++) {
        void *q = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED || munmap(q, 2 * PAGE) != 0)
            return 0;
    }
    uint64_t t = (now_ns() - t0) / N;
    munmap(base, 2 * AREAS * PAGE);
    return t;
}

/* brk up by one page and back down. */
static uint64_t brk_page(void)
{
    enum { N = 1000 };
    void *start = sbrk(0);
    if (start == (void *)-1)
        return 0;
    uint64_t t0 = now_ns();
    for (int i = 0; i < N; i++) {
        if (sbrk(PAGE) == (void *)-1 || sbrk(-(long)PAGE) == (void *)-1)
            return 0;
    }
    return (now_ns() - t0) / (2 * N);
}

/* fork of a process with 64 MiB of touched private memory, the child exiting at once,
 * plus the parent's wait: per fork. */
static uint64_t fork_wait(void)
{
    enum { N = 10, MIB = 64 };
    size_t len = MIB << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    memset(p, 1, len);
    uint64_t t0 = now_ns();
    for (int i = 0; i < N; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 0;
        if (pid == 0)
            _exit(0);
        int status;
        if (waitpid(pid, &status, 0) != pid)
            return 0;
    }
    uint64_t t = (now_ns() - t0) / N;
    munmap(p, len);
    return t;
}

/* Copy-on-write faults: the child of a fork writes every page the parent had touched; the
 * time per page is measured in the child and passed back through a shared anonymous page. */
static uint64_t cow_fault(void)
{
    enum { PAGES = 1024 };
    size_t len = PAGES * PAGE;
    uint64_t *result = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (result == MAP_FAILED || p == MAP_FAILED)
        return 0;
    memset(p, 1, len);
    *result = 0;
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        uint64_t t0 = now_ns();
        for (unsigned long i = 0; i < PAGES; i++)
            p[i * PAGE] = 2;
        *result = (now_ns() - t0) / PAGES;
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 0;
    uint64_t t = *result;
    munmap(p, len);
    munmap(result, PAGE);
    return t;
}

/* First write to each page of a MAP_SHARED file mapping (a memfd: the page cache), per
 * page. */
static uint64_t shared_file_fault(void)
{
    enum { PAGES = 1024 };
    size_t len = PAGES * PAGE;
    int fd = memfd_create("mmbench", 0);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        return 0;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < PAGES; i++)
        p[i * PAGE] = 1;
    uint64_t t = (now_ns() - t0) / PAGES;
    munmap(p, len);
    return t;
}

/* shmat + shmdt of a 64 KiB System V segment. */
static uint64_t shmat_shmdt(void)
{
    enum { N = 1000 };
    int id = shmget(IPC_PRIVATE, 16 * PAGE, IPC_CREAT | 0600);
    if (id < 0)
        return 0;
    uint64_t t = 0;
    uint64_t t0 = now_ns();
    int i;
    for (i = 0; i < N; i++) {
        void *p = shmat(id, NULL, 0);
        if (p == (void *)-1 || shmdt(p) != 0)
            break;
    }
    if (i == N)
        t = (now_ns() - t0) / N;
    shmctl(id, IPC_RMID, NULL);
    return t;
}

int main(void)
{
    if (now_ns() == 0) {
        printf("SKIP all clock_gettime: %s\n", strerror(errno));
        return 4;
    }
    run("mmap_munmap_4k", mmap_munmap_4k);
    run("anon_fault_per_page", anon_fault);
    run("mprotect_split_merge", mprotect_split);
    run("mmap_null_fragmented_1k", fragmented_mmap);
    run("brk_page", brk_page);
    run("fork_wait_64mib", fork_wait);
    run("cow_fault_per_page", cow_fault);
    run("shared_file_fault_per_page", shared_file_fault);
    run("shmat_shmdt_64k", shmat_shmdt);
    printf("BENCH-DONE\n");
    fflush(stdout);
    if (getpid() == 1) {
        sync();
        reboot(RB_POWER_OFF);
    }
    return 0;
}
