/* Probe of Linux's mmap-family error order, for pagoda_mm's table test
 * (src/tests/linux.rs). Build and run on an x86_64 Linux host:
 *   cc -O1 -o /tmp/probe modules/pagoda_mm/tests/linux/probe.c && /tmp/probe
 * Each line: case id, then the errno name (or OK / a value). Not used at test time. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define P 4096UL
#define BASE ((char *)0x300000000UL)
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static const char *name(long r) {
    if (r != -1) return "OK";
    switch (errno) {
    case EINVAL: return "EINVAL"; case ENOMEM: return "ENOMEM"; case EBADF: return "EBADF";
    case EEXIST: return "EEXIST"; case EFAULT: return "EFAULT"; case EACCES: return "EACCES";
    case EOPNOTSUPP: return "EOPNOTSUPP"; case EOVERFLOW: return "EOVERFLOW";
    case EPERM: return "EPERM"; case ENODEV: return "ENODEV";
    default: return "E?";
    }
}

static long mm(void *a, size_t l, int prot, int fl, int fd, off_t off) {
    void *r = mmap(a, l, prot, fl, fd, off);
    return r == MAP_FAILED ? -1 : 0;
}

/* Fresh layout at BASE: page i of `layout` mapped RW if layout[i] == 'x', shared
 * anonymous RW if 's'. */
static void reset(const char *layout) {
    munmap(BASE, 64 * P);
    for (size_t i = 0; layout[i]; i++) {
        int type = layout[i] == 's' ? MAP_SHARED | MAP_ANONYMOUS : ANON;
        if (layout[i] != '.' &&
            mmap(BASE + i * P, P, PROT_READ | PROT_WRITE, type | MAP_FIXED, -1, 0) == MAP_FAILED)
            abort();
    }
}

/* The protection of the page at `a` from /proc/self/maps ("rw-p" ...), or "none"
 * (a static buffer: one call per printf). */
static const char *perms_at(void *a) {
    static char out[8];
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    strcpy(out, "none");
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) == 3 && (unsigned long)a >= lo &&
            (unsigned long)a < hi) {
            strcpy(out, p);
            break;
        }
    }
    fclose(f);
    return out;
}

#define T(id, expr) do { long r_ = (expr); printf("%-4s %s\n", id, name(r_)); } while (0)

int main(void) {
    char path[] = "/tmp/pagoda-probe-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    if (ftruncate(fd, 4 * P)) abort();

    /* mmap */
    reset("x");
    T("M1", mm(0, 0, PROT_READ, ANON, -1, 0));
    T("M2", mm(0, 0, PROT_READ, MAP_PRIVATE, -1, 0));
    T("M3", mm(0, P, PROT_READ, ANON, -1, 0x123));
    T("M4", mm(0, P, PROT_READ, ANON, -1, 0x1000));
    T("M5", mm(0, P, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0));
    T("M6", mm(0, P, PROT_READ, MAP_ANONYMOUS, -1, 0));
    T("M7", mm(0, P, PROT_READ, 0, -1, 0));
    T("M8", mm(0, P, PROT_READ, MAP_PRIVATE, -1, 0x123));
    T("M9", mm(BASE, P, PROT_READ, MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    T("M10", mm((void *)0x7ffffffff000UL, 2 * P, PROT_READ, MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    T("M11", mm(BASE + 1, P, PROT_READ, ANON | MAP_FIXED, -1, 0));
    T("M12", mm(0, P, PROT_READ | 0x10, ANON, -1, 0));
    T("M13", mm(0, P, PROT_READ, MAP_SHARED_VALIDATE | 0x200000, fd, 0));
    T("M14", mm(0, P, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x200000, -1, 0));
    T("M15", mm(0, 2 * P, PROT_READ, MAP_PRIVATE, fd, 0x7ffffffffffff000L));
    T("M16", mm(0, SIZE_MAX - 100, PROT_READ, ANON, -1, 0));
    T("M17", mm(BASE, P, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, -1, 0));
    T("M18", mm(BASE + 1, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, -1, 0));
    T("M19", mm(BASE, P, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    T("M20", mm((void *)0x7ffffffff000UL, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, -1, 0));
    T("M21", mm(BASE + 1, 0, PROT_READ, ANON | MAP_FIXED, -1, 0));
    T("M22", mm(0, P, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0x123));
    T("M23", mm(0, SIZE_MAX - 100, PROT_READ, MAP_PRIVATE, -1, 0));
    T("M24", mm(0, 0, PROT_READ | 0x10, MAP_ANONYMOUS, -1, 0x123));
    T("M26", mm((void *)0x7ffffffff001UL, 2 * P, PROT_READ, ANON | MAP_FIXED, -1, 0));
    T("M27", mm(0, P, PROT_READ, ANON | MAP_FIXED, -1, 0));
    T("M28", mm((void *)1, P, PROT_READ, ANON | MAP_FIXED, -1, 0));
    T("M29", mm(BASE, P, PROT_READ, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE | 0x200000, fd, 0));
    T("M30", mm(0, 2 * P, PROT_READ, MAP_SHARED_VALIDATE | 0x200000, fd, 0x7ffffffffffff000L));
    T("M31", mm(BASE, P, PROT_READ, MAP_FIXED_NOREPLACE, fd, 0x7ffffffffffff000L));
    T("M25", mm((void *)0x7ffffffff000UL, 2 * P, PROT_READ, ANON | MAP_FIXED, -1, 0x123));

    /* mremap */
    reset("x.x");
    T("R1", (long)mremap(BASE, P, P, 0x10) == -1 ? -1 : 0);
    T("R2", (long)mremap(BASE, P, P, MREMAP_FIXED, BASE + 8 * P) == -1 ? -1 : 0);
    T("R3", (long)mremap(BASE + 1, P, P, 0) == -1 ? -1 : 0);
    T("R4", (long)mremap(BASE, P, 0, 0) == -1 ? -1 : 0);
    T("R5", (long)mremap(BASE + P, P, 2 * P, MREMAP_MAYMOVE) == -1 ? -1 : 0);
    T("R6", (long)mremap(BASE + P, 2 * P, P, 0) == -1 ? -1 : 0);
    reset("x.x");
    T("R7", (long)mremap(BASE, 3 * P, P, 0) == -1 ? -1 : 0);
    printf("R7b  page2 %s\n", perms_at(BASE + 2 * P));
    reset("xxx");
    mprotect(BASE + P, P, PROT_READ); /* three areas */
    T("R8", (long)mremap(BASE, 3 * P, 3 * P, 0) == -1 ? -1 : 0);
    T("R9", (long)mremap(BASE, 2 * P, 4 * P, MREMAP_MAYMOVE) == -1 ? -1 : 0);
    reset("x");
    T("R10", (long)mremap(BASE + 8 * P, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 8 * P) == -1 ? -1 : 0);
    T("R11", (long)mremap(BASE + 8 * P, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 1) == -1 ? -1 : 0);
    T("R12", (long)mremap(BASE + 8 * P, P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x7ffffffff000UL) == -1 ? -1 : 0);
    T("R13", (long)mremap(BASE, 0, P, MREMAP_MAYMOVE) == -1 ? -1 : 0);
    reset("x.");
    T("R14", (long)mremap(BASE + 8 * P, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE) == -1 ? -1 : 0);
    printf("R14b page0 %s\n", perms_at(BASE));
    reset("xx");
    T("R15", (long)mremap(BASE, P, 2 * P, 0) == -1 ? -1 : 0);
    T("R16", (long)mremap(BASE + 8 * P, 0, 0, 0) == -1 ? -1 : 0);
    T("R17", (long)mremap(BASE + 8 * P, P, SIZE_MAX - 100, MREMAP_MAYMOVE) == -1 ? -1 : 0);
    T("R18", (long)mremap(BASE, P, SIZE_MAX - 100, MREMAP_MAYMOVE) == -1 ? -1 : 0);
    reset("x.");
    T("R19", (long)mremap(BASE, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 8 * P) == -1 ? -1 : 0);
    reset("s.");
    T("R21", (long)mremap(BASE, 0, P, MREMAP_MAYMOVE) == -1 ? -1 : 0);
    T("R22", (long)mremap(BASE, 0, P, 0) == -1 ? -1 : 0);
    T("R23", (long)mremap(BASE, 0, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 8 * P) == -1 ? -1 : 0);
    reset("x.");
    T("R20", (long)mremap(BASE, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 1 * P) == -1 ? -1 : 0);

    /* mprotect */
    reset("x.x");
    T("P1", mprotect(BASE + 1, P, PROT_READ));
    T("P2", mprotect(BASE + 8 * P, 0, 0x10));
    T("P3", mprotect(BASE + 8 * P, P, 0x10));
    T("P4", mprotect(BASE + 8 * P, P, PROT_READ));
    T("P5", mprotect(BASE, 3 * P, PROT_READ));
    printf("P5b  page0 %s", perms_at(BASE));
    printf(" page2 %s\n", perms_at(BASE + 2 * P));
    T("P6", mprotect(BASE, SIZE_MAX - 100, PROT_READ));
    T("P7", mprotect(BASE + 1, P, 0x10));
    reset(".x");
    T("P8", mprotect(BASE, 2 * P, PROT_READ));
    printf("P8b  page1 %s\n", perms_at(BASE + P));
    T("P9", mprotect(BASE + 1, 0, PROT_READ));
    T("P10", mprotect(BASE + P, P, PROT_READ | 0x10));

    /* munmap / msync / madvise */
    reset("x");
    T("U1", munmap(BASE, 0));
    T("U2", munmap(BASE + 1, P));
    T("U3", munmap(BASE + 1, 0));
    T("U4", munmap((void *)0x7ffffffff000UL, 2 * P));
    T("U5", munmap((void *)0, P));
    T("U6", msync((void *)0, P, MS_SYNC));
    T("U7", madvise((void *)0, P, MADV_DONTNEED));
    T("S1", msync(BASE + 1, P, MS_SYNC));
    T("S2", msync(BASE, P, 0x10));
    T("S3", msync(BASE, P, MS_SYNC | MS_ASYNC));
    T("S4", msync(BASE + 8 * P, 0, MS_SYNC));
    T("S5", msync(BASE, 2 * P, MS_SYNC));
    T("S6", msync(BASE + 1, 0, MS_SYNC));
    T("S7", msync(BASE, SIZE_MAX - 100, MS_SYNC));
    T("A1", madvise(BASE + 1, P, MADV_DONTNEED));
    T("A2", madvise(BASE + 8 * P, 0, MADV_DONTNEED));
    T("A3", madvise(BASE, 2 * P, MADV_DONTNEED));
    T("A4", madvise(BASE, SIZE_MAX - 100, MADV_DONTNEED));
    T("A5", madvise(BASE + 1, P, 12345));
    T("A6", madvise(BASE + 8 * P, 0, 12345));

    /* brk (raw syscall: returns the new or the old break) */
    char *cur = (char *)syscall(SYS_brk, 0);
    char *top = (char *)(((uintptr_t)cur + P - 1) & ~(P - 1));
    if (mmap(top + 4 * P, P, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED) abort();
    printf("B1   grow to leave no free page: %s\n",
           (char *)syscall(SYS_brk, top + 4 * P) == top + 4 * P ? "moved" : "refused");
    printf("B2   grow leaving one free page: %s\n",
           (char *)syscall(SYS_brk, top + 3 * P) == top + 3 * P ? "moved" : "refused");
    printf("B2b  grow to end 1 page below: %s\n",
           (char *)syscall(SYS_brk, top + 3 * P + 1) == top + 3 * P + 1 ? "moved" : "refused");
    syscall(SYS_brk, top + 3 * P);
    munmap(top, 3 * P);
    printf("B3   shrink over nothing mapped: %s\n",
           (char *)syscall(SYS_brk, top + P) == top + P ? "moved" : "refused");
    munmap(top + 2 * P, P);
    mmap(top + 2 * P, P, PROT_READ | PROT_WRITE, ANON | MAP_FIXED, -1, 0);
    int moved = (char *)syscall(SYS_brk, top + P) == top + P;
    printf("B4   shrink over a non-heap mapping: %s", moved ? "moved" : "refused");
    printf(" (page now %s)\n", perms_at(top + 2 * P));
    printf("B5   same page, nothing mapped: %s\n",
           (char *)syscall(SYS_brk, top + P + 5) == top + P + 5 ? "moved" : "refused");
    printf("B6   below start: %s\n",
           (char *)syscall(SYS_brk, cur - 64 * P) == cur - 64 * P ? "moved" : "refused");
    return 0;
}
