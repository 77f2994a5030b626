/* Every memory system call and its error cases (from the man pages), in ONE process: no
 * fork, no signals, no files (only /dev/zero, skipped if it cannot be opened). What a
 * fault would show is checked without faulting: residency with mincore, protections with
 * MADV_POPULATE_WRITE (EINVAL when the page is not writable). */
#include "t.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef SHM_LOCKED
#define SHM_LOCKED 02000
#endif
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define RW (PROT_READ | PROT_WRITE)

static char *anon(size_t len, int prot)
{
    void *p = mmap(NULL, len, prot, ANON, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
/* 1 resident, 0 not, -1 unmapped (mincore failed). */
static int resident(void *p)
{
    unsigned char v;
    return mincore(p, PG, &v) ? -1 : (v & 1);
}
static int mapped(void *p) { return resident(p) >= 0; }
/* Whether the page at p is writable (populating it for writing is EINVAL otherwise). */
static int writable(void *p) { return madvise(p, PG, MADV_POPULATE_WRITE) == 0; }

static void test_mmap(void)
{
    ok_err(mmap(NULL, 0, PROT_READ, ANON, -1, 0), EINVAL, "mmap length 0: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL, "mmap without SHARED/PRIVATE: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, 0x0f | MAP_ANONYMOUS, -1, 0), EINVAL, "mmap map type 0xf: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, ANON, -1, 100), EINVAL, "mmap unaligned offset (anonymous too): EINVAL");
    ok_err(mmap((void *)(PG + 1), PG, PROT_READ, ANON | MAP_FIXED, -1, 0), EINVAL, "MAP_FIXED unaligned: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0), EINVAL,
           "anonymous MAP_SHARED_VALIDATE: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0), EBADF, "fd -1 without MAP_ANONYMOUS: EBADF");
    ok_err(mmap(NULL, 0, PROT_READ, MAP_PRIVATE, -1, 0), EBADF, "EBADF comes before the length check");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0), EBADF, "closed fd: EBADF");
    ok_err(mmap(NULL, 1UL << 50, PROT_READ, ANON, -1, 0), ENOMEM, "mmap 2^50 bytes: ENOMEM");
    ok_err(mmap(NULL, SIZE_MAX - 100, PROT_READ, ANON, -1, 0), ENOMEM, "length rounding to 0: ENOMEM");
    ok_err(mmap(NULL, PG, RW, ANON | MAP_HUGETLB, -1, 0), ENOMEM, "MAP_HUGETLB without huge pages: ENOMEM");

    char *a = anon(3 * PG, RW);
    ok(a && ((uintptr_t)a & (PG - 1)) == 0, "anonymous mmap is page-aligned");
    ok(a && a[0] == 0 && a[3 * PG - 1] == 0, "anonymous memory is zero-filled");
    ok(resident(a + PG) == 0, "an untouched page is not resident");
    ok_err(mmap(a + PG, PG, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0), EEXIST, "FIXED_NOREPLACE on a mapping: EEXIST");
    a[PG] = 7;
    char *b = mmap(a + PG, PG, RW, ANON | MAP_FIXED, -1, 0);
    ok(b == a + PG && b[0] == 0, "MAP_FIXED replaces the page (zero again)");
    munmap(a + PG, PG);
    b = mmap(a + PG, PG, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    ok(b == a + PG, "MAP_FIXED_NOREPLACE into a hole returns that address");
    b = mmap(a, PG, PROT_READ, ANON, -1, 0);
    ok(b != MAP_FAILED && b != a, "a hint on a busy address is moved elsewhere");
    munmap(b, PG);
    munmap(a, 3 * PG);

    b = mmap(NULL, PG, PROT_READ | 0x1000, ANON | 0x800000, -1, 0);
    ok(b != MAP_FAILED, "unknown PROT and MAP bits are ignored");
    ok(b != MAP_FAILED && !writable(b), "... and the mapping is read-only");
    munmap(b, PG);
    b = mmap(NULL, 4 * PG, RW, ANON | MAP_POPULATE, -1, 0);
    ok(b != MAP_FAILED && resident(b) == 1 && resident(b + 3 * PG) == 1, "MAP_POPULATE populates");
    munmap(b, 4 * PG);
    b = mmap(NULL, 2 * PG, RW, ANON | MAP_POPULATE | MAP_NONBLOCK, -1, 0);
    ok(b != MAP_FAILED && resident(b) == 0, "MAP_POPULATE | MAP_NONBLOCK does not populate");
    munmap(b, 2 * PG);
    b = mmap(NULL, 2 * PG, RW, ANON | MAP_LOCKED, -1, 0);
    ok(b != MAP_FAILED && resident(b + PG) == 1, "MAP_LOCKED populates");
    ok(b != MAP_FAILED && madvise(b, PG, MADV_DONTNEED) == -1 && errno == EINVAL, "... and locks (DONTNEED: EINVAL)");
    munmap(b, 2 * PG);
    b = mmap(NULL, 2 * PG, RW, ANON | MAP_NORESERVE | MAP_STACK | MAP_GROWSDOWN | MAP_DENYWRITE, -1, 0);
    ok(b != MAP_FAILED && (b[PG] = 1) == 1, "MAP_NORESERVE | MAP_STACK | MAP_GROWSDOWN | MAP_DENYWRITE map");
    munmap(b, 2 * PG);
#ifdef __x86_64__
    b = mmap(NULL, PG, RW, ANON | MAP_32BIT, -1, 0);
    ok(b != MAP_FAILED && (uintptr_t)b + PG <= 0x80000000UL, "MAP_32BIT maps below 2 GiB (%p)", b);
    munmap(b, PG);
#endif
    char *s = mmap(NULL, PG, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(s != MAP_FAILED, "MAP_SHARED | MAP_ANONYMOUS");
    char *s2 = mremap(s, 0, PG, MREMAP_MAYMOVE);
    ok(s2 != MAP_FAILED && s2 != s, "mremap(old_len 0) maps shared memory a second time");
    if (s2 != MAP_FAILED) {
        s[5] = 'x';
        ok(s2[5] == 'x', "... and both views share the page");
        munmap(s2, PG);
    }
    munmap(s, PG);

    int z = open("/dev/zero", O_RDWR);
    if (z < 0) {
        skip("no /dev/zero: %s", strerror(errno));
        return;
    }
    char *zp = mmap(NULL, 2 * PG, RW, MAP_PRIVATE, z, 0);
    ok(zp != MAP_FAILED && zp[0] == 0 && (zp[PG] = 3) == 3, "/dev/zero MAP_PRIVATE is anonymous memory");
    munmap(zp, 2 * PG);
    zp = mmap(NULL, PG, RW, MAP_SHARED, z, 0);
    char *zp2 = zp == MAP_FAILED ? MAP_FAILED : mremap(zp, 0, PG, MREMAP_MAYMOVE);
    ok(zp2 != MAP_FAILED && (zp[1] = 9) && zp2[1] == 9, "/dev/zero MAP_SHARED is shared memory");
    munmap(zp, PG);
    munmap(zp2, PG);
    zp = mmap(NULL, PG, RW, MAP_SHARED_VALIDATE, z, 0);
    ok(zp != MAP_FAILED, "/dev/zero MAP_SHARED_VALIDATE with known flags works");
    munmap(zp, PG);
    ok_err(mmap(NULL, PG, RW, MAP_SHARED_VALIDATE | 0x800000, z, 0), EOPNOTSUPP,
           "/dev/zero MAP_SHARED_VALIDATE unknown flag: EOPNOTSUPP");
    close(z);
}

static void test_munmap_mprotect(void)
{
    char *a = anon(3 * PG, RW);
    ok_err(munmap(a + 1, PG), EINVAL, "munmap unaligned: EINVAL");
    ok_err(munmap(a, 0), EINVAL, "munmap length 0: EINVAL");
    ok(munmap(a + PG, PG) == 0 && mapped(a) && !mapped(a + PG) && mapped(a + 2 * PG), "munmap splits the mapping");
    ok(munmap(a + PG, PG) == 0, "munmap of an unmapped range succeeds");
    ok(munmap(a, 3 * PG) == 0 && !mapped(a) && !mapped(a + 2 * PG), "munmap across a hole");
    a = anon(2 * PG, RW);
    ok(munmap(a, PG + 1) == 0 && !mapped(a + PG), "munmap length rounds up");

    a = anon(3 * PG, RW);
    a[0] = 42;
    ok(mprotect(a, PG, PROT_NONE) == 0, "mprotect PROT_NONE");
    ok_err(madvise(a, PG, MADV_POPULATE_READ), EINVAL, "... the page is inaccessible");
    ok(mprotect(a, PG, PROT_READ) == 0 && a[0] == 42 && !writable(a), "PROT_READ keeps the data, not writable");
    ok(mprotect(a, PG, PROT_READ | PROT_SEM) == 0, "PROT_SEM is accepted");
    /* The system call itself: musl's mprotect() rounds the start down to a page. */
    ok_err(syscall(SYS_mprotect, a + 1, PG, PROT_READ), EINVAL, "mprotect unaligned: EINVAL");
    ok_err(mprotect(a, PG, 0x1000), EINVAL, "mprotect unknown bit: EINVAL");
    ok_err(mprotect(a, PG, PROT_READ | PROT_GROWSDOWN), EINVAL, "PROT_GROWSDOWN on a normal mapping: EINVAL");
    ok_err(mprotect(a, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP), EINVAL, "GROWSDOWN|GROWSUP: EINVAL");
    ok(mprotect(a, 0, 0x1000) == 0, "mprotect length 0 succeeds whatever prot");
    ok_err(mprotect(a, (size_t)-PG, PROT_READ), ENOMEM, "mprotect range wrapping: ENOMEM");
    munmap(a + PG, PG);
    ok_err(mprotect(a + PG, PG, PROT_READ), ENOMEM, "mprotect unmapped: ENOMEM");
    ok_err(mprotect(a + PG, PG, PROT_READ | PROT_GROWSDOWN), ENOMEM, "PROT_GROWSDOWN on unmapped: ENOMEM");
    mprotect(a, PG, RW);
    ok_err(mprotect(a, 3 * PG, PROT_READ), ENOMEM, "mprotect across a hole: ENOMEM");
    ok(!writable(a), "... the part before the hole changed (Linux)");
    ok(writable(a + 2 * PG), "... the part after it did not");
    munmap(a, 3 * PG);
}

static void test_mremap(void)
{
    char *a = anon(4 * PG, RW);
    memset(a, 'm', PG);
    munmap(a + PG, 3 * PG);
    char *r = mremap(a, PG, 4 * PG, 0);
    ok(r == a && r[3 * PG] == 0, "mremap grows in place");
    r = mremap(a, 4 * PG, PG, 0);
    ok(r == a && !mapped(a + PG) && a[0] == 'm', "mremap shrinks in place");
    char *blk = mmap(a + PG, PG, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    ok(blk == a + PG, "(a blocker after it)");
    ok_err(mremap(a, PG, 2 * PG, 0), ENOMEM, "grow when blocked without MAYMOVE: ENOMEM");
    r = mremap(a, PG, 2 * PG, MREMAP_MAYMOVE);
    ok(r != MAP_FAILED && r != a && r[0] == 'm' && r[PG] == 0 && !mapped(a), "MREMAP_MAYMOVE moves the data");
    char *t = anon(2 * PG, PROT_READ);
    char *f = mremap(r, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
    ok(f == t && f[0] == 'm' && !mapped(r), "MREMAP_FIXED replaces the target");
    ok_err(mremap(f, 2 * PG, 2 * PG, MREMAP_FIXED, r), EINVAL, "FIXED without MAYMOVE: EINVAL");
    ok_err(mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, f + PG), EINVAL, "FIXED overlapping: EINVAL");
    char *d = mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    ok(d != MAP_FAILED && d != f && d[0] == 'm', "MREMAP_DONTUNMAP moves the data");
    ok(mapped(f) && resident(f) == 0 && f[0] == 0, "... the old range stays mapped, empty");
    ok_err(mremap(d, 2 * PG, 2 * PG, MREMAP_DONTUNMAP, NULL), EINVAL, "DONTUNMAP without MAYMOVE: EINVAL");
    ok_err(mremap(d, 2 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL), EINVAL, "DONTUNMAP resizing: EINVAL");
    ok_err(mremap(d + 1, PG, PG, 0), EINVAL, "mremap unaligned: EINVAL");
    ok_err(mremap(d, PG, 0, MREMAP_MAYMOVE), EINVAL, "mremap new size 0: EINVAL");
    ok_err(mremap(d, PG, PG, 0x100), EINVAL, "mremap unknown flag: EINVAL");
    ok_err(mremap(d, 0, PG, MREMAP_MAYMOVE), EINVAL, "old size 0 of a private mapping: EINVAL");
    munmap(d, 2 * PG);
    ok_err(mremap(d, PG, 2 * PG, MREMAP_MAYMOVE), EFAULT, "mremap unmapped: EFAULT");
    munmap(f, 2 * PG);
    munmap(blk, PG);
}

static void test_msync_madvise(void)
{
    char *a = anon(4 * PG, RW);
    ok(msync(a, PG, MS_SYNC) == 0 && msync(a, PG, MS_ASYNC) == 0 && msync(a, PG, MS_INVALIDATE) == 0,
       "msync MS_SYNC / MS_ASYNC / MS_INVALIDATE");
    ok(msync(a, 0, MS_SYNC) == 0, "msync length 0");
    ok_err(msync(a, PG, MS_SYNC | MS_ASYNC), EINVAL, "msync SYNC|ASYNC: EINVAL");
    ok_err(msync(a, PG, 0x100), EINVAL, "msync unknown flag: EINVAL");
    ok_err(msync(a + 1, PG, MS_SYNC), EINVAL, "msync unaligned: EINVAL");
    ok(mlock(a, PG) == 0, "(mlock a page)");
    ok_err(msync(a, PG, MS_INVALIDATE), EBUSY, "msync MS_INVALIDATE on locked pages: EBUSY");
    ok_err(madvise(a, PG, MADV_DONTNEED), EINVAL, "MADV_DONTNEED on locked pages: EINVAL");
    ok_err(madvise(a, PG, MADV_FREE), EINVAL, "MADV_FREE on locked pages: EINVAL");
    munlock(a, PG);

    memset(a, 9, 4 * PG);
    ok(madvise(a, 4 * PG, MADV_DONTNEED) == 0 && a[0] == 0 && a[4 * PG - 1] == 0, "MADV_DONTNEED: zero after");
    memset(a, 9, 4 * PG);
    ok(madvise(a, 4 * PG, MADV_FREE) == 0 && (a[0] == 9 || a[0] == 0), "MADV_FREE: old data or zero");
    a[0] = 5;
    ok(a[0] == 5, "MADV_FREE: a later write sticks");
    ok(madvise(a, 4 * PG, MADV_WILLNEED) == 0, "MADV_WILLNEED");
    ok(madvise(a, PG, MADV_NORMAL) == 0 && madvise(a, PG, MADV_RANDOM) == 0 && madvise(a, PG, MADV_SEQUENTIAL) == 0,
       "MADV_NORMAL / RANDOM / SEQUENTIAL");
    ok(madvise(a, PG, MADV_DONTDUMP) == 0 && madvise(a, PG, MADV_DODUMP) == 0, "MADV_DONTDUMP / DODUMP");
    ok(madvise(a, PG, MADV_COLD) == 0 && madvise(a, PG, MADV_PAGEOUT) == 0 && a[0] == 5, "MADV_COLD / PAGEOUT keep data");
    ok(madvise(a + PG, PG, MADV_DONTFORK) == 0 && madvise(a + PG, PG, MADV_DOFORK) == 0, "MADV_DONTFORK / DOFORK");
    ok(madvise(a, PG, MADV_WIPEONFORK) == 0 && madvise(a, PG, MADV_KEEPONFORK) == 0 && a[0] == 5,
       "MADV_WIPEONFORK / KEEPONFORK keep the parent's data");
    char *s = mmap(NULL, PG, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok_err(madvise(s, PG, MADV_WIPEONFORK), EINVAL, "MADV_WIPEONFORK on shared memory: EINVAL");
    ok_err(madvise(s, PG, MADV_FREE), EINVAL, "MADV_FREE on shared memory: EINVAL");
    s[0] = 1;
    ok(madvise(s, PG, MADV_DONTNEED) == 0 && s[0] == 1, "MADV_DONTNEED keeps shared memory's data");
    munmap(s, PG);
    ok_err(madvise(a, PG, MADV_REMOVE), EINVAL, "MADV_REMOVE on private memory: EINVAL");
    ok(madvise(a, PG, MADV_HUGEPAGE) == 0 && madvise(a, PG, MADV_NOHUGEPAGE) == 0, "MADV_HUGEPAGE / NOHUGEPAGE");
    ok(madvise(a, PG, MADV_MERGEABLE) == 0 && madvise(a, PG, MADV_UNMERGEABLE) == 0, "MADV_MERGEABLE / UNMERGEABLE");
    ok_err(madvise(a, PG, 25), EINVAL, "MADV_COLLAPSE: EINVAL");
    ok_err(madvise(a, PG, MADV_HWPOISON), EINVAL, "MADV_HWPOISON: EINVAL");
    a[0] = 1;
    a[PG] = 1;
    mlock(a + PG, PG);
    ok_err(madvise(a, 2 * PG, MADV_DONTNEED), EINVAL, "MADV_DONTNEED reaching a locked page: EINVAL");
    ok(resident(a) == 0 && a[PG] == 1, "... the pages before it were dropped, the locked one kept");
    ok(madvise(a + PG, PG, 24) == 0 && resident(a + PG) == 0, "MADV_DONTNEED_LOCKED drops locked pages");
    munlock(a + PG, PG);

    char *p = anon(4 * PG, RW);
    ok(madvise(p, 2 * PG, MADV_POPULATE_READ) == 0 && resident(p + PG) == 1, "MADV_POPULATE_READ");
    ok(madvise(p + 2 * PG, 2 * PG, MADV_POPULATE_WRITE) == 0 && resident(p + 3 * PG) == 1, "MADV_POPULATE_WRITE");
    mprotect(p, PG, PROT_READ);
    ok_err(madvise(p, PG, MADV_POPULATE_WRITE), EINVAL, "POPULATE_WRITE on read-only: EINVAL");
    mprotect(p, PG, PROT_NONE);
    ok_err(madvise(p, PG, MADV_POPULATE_READ), EINVAL, "POPULATE_READ on PROT_NONE: EINVAL");
    munmap(p + PG, PG);
    ok_err(madvise(p + PG, PG, MADV_POPULATE_READ), ENOMEM, "POPULATE_READ unmapped: ENOMEM");
    munmap(p, 4 * PG);
    ok_err(madvise(a + 1, PG, MADV_NORMAL), EINVAL, "madvise unaligned: EINVAL");
    ok_err(madvise(a, PG, 12345), EINVAL, "madvise unknown advice: EINVAL");
    ok_err(madvise(a + 1, PG, 12345), EINVAL, "... checked before the alignment");
    ok_err(madvise(a, (size_t)-PG, MADV_NORMAL), EINVAL, "madvise wrapping: EINVAL");
    ok(madvise(a, 0, MADV_NORMAL) == 0, "madvise length 0");
    munmap(a + PG, PG);
    ok_err(madvise(a, 3 * PG, MADV_NORMAL), ENOMEM, "madvise across a hole: ENOMEM");
    munmap(a, 4 * PG);
    ok_err(msync(a, PG, MS_SYNC), ENOMEM, "msync unmapped: ENOMEM");
}

static void test_mincore_mlock(void)
{
    char *a = anon(4 * PG, RW);
    unsigned char v[4] = {9, 9, 9, 9};
    a[PG] = 1;
    ok(mincore(a, 4 * PG, v) == 0 && v[0] == 0 && (v[1] & 1) && v[2] == 0 && v[3] == 0, "mincore: the touched page");
    ok_err(mincore(a + 1, PG, v), EINVAL, "mincore unaligned: EINVAL");
    ok_err(mincore(a, PG, (unsigned char *)8), EFAULT, "mincore bad vector: EFAULT");
    ok(mincore(a, 1, v) == 0 && mincore(a, 0, v) == 0, "mincore partial page and length 0");
    ok(mlock(a + 10, PG) == 0 && resident(a) == 1 && resident(a + PG) == 1 && resident(a + 2 * PG) == 0,
       "mlock rounds to the pages touched and populates");
    ok(munlock(a, 2 * PG) == 0 && madvise(a, PG, MADV_DONTNEED) == 0, "munlock: DONTNEED allowed again");
    ok(mlock2(a + 2 * PG, PG, MLOCK_ONFAULT) == 0 && resident(a + 2 * PG) == 0, "mlock2 MLOCK_ONFAULT does not populate");
    ok_err(madvise(a + 2 * PG, PG, MADV_DONTNEED), EINVAL, "... but locks");
    ok_err(mlock2(a, PG, 0x80), EINVAL, "mlock2 unknown flag: EINVAL");
    char *none = anon(PG, PROT_NONE);
    ok_err(mlock(none, PG), ENOMEM, "mlock of PROT_NONE: ENOMEM (cannot populate)");
    ok_err(madvise(none, PG, MADV_DONTNEED), EINVAL, "... but it is locked");
    ok(mlock2(none, PG, MLOCK_ONFAULT) == 0, "mlock2 MLOCK_ONFAULT of PROT_NONE works");
    munmap(none, PG);
    char *g = anon(2 * PG, RW);
    munmap(g + PG, PG);
    mlock(g, PG);
    ok(mremap(g, PG, 2 * PG, 0) == g && resident(g + PG) == 1, "a locked mapping that grows is populated");
    munmap(g, 2 * PG);
    munlock(a, 4 * PG);
    munmap(a + 3 * PG, PG);
    ok_err(mlock(a + 3 * PG, PG), ENOMEM, "mlock unmapped: ENOMEM");
    ok_err(munlock(a + 2 * PG, 2 * PG), ENOMEM, "munlock across a hole: ENOMEM");
    ok_err(mincore(a + 3 * PG, PG, v), ENOMEM, "mincore unmapped: ENOMEM");
    ok_err(mlockall(0), EINVAL, "mlockall(0): EINVAL");
    ok_err(mlockall(MCL_ONFAULT), EINVAL, "mlockall(MCL_ONFAULT) alone: EINVAL");
    ok_err(mlockall(0x100), EINVAL, "mlockall unknown flag: EINVAL");
    ok(mlockall(MCL_CURRENT) == 0 && resident(a + 2 * PG) == 1, "mlockall(MCL_CURRENT) populates");
    ok(munlockall() == 0, "munlockall");
    char *n = anon(PG, RW);
    ok(n && resident(n) == 0, "after munlockall new mappings are lazy");
    ok(mlockall(MCL_CURRENT | MCL_FUTURE) == 0, "mlockall(MCL_CURRENT | MCL_FUTURE)");
    char *fut = anon(2 * PG, RW);
    ok(fut && resident(fut + PG) == 1, "MCL_FUTURE: a new mapping is populated");
    ok(fut && madvise(fut, PG, MADV_DONTNEED) == -1 && errno == EINVAL, "... and locked");
    char *brk0 = sbrk(0);
    sbrk(3 * PG);
    char *hp = (char *)(((uintptr_t)brk0 + PG - 1) & ~(PG - 1)) + PG;
    ok(resident(hp) == 1, "MCL_FUTURE: the heap brk adds is populated");
    sbrk(-3 * PG);
    munlockall();
    char *lazy = anon(PG, RW);
    ok(lazy && resident(lazy) == 0, "munlockall ends MCL_FUTURE");
    munmap(lazy, PG);
    munmap(fut, 2 * PG);
    munmap(n, PG);
    munmap(a, 3 * PG);
}

static void test_brk_rlimits(void)
{
    char *cur = sbrk(0);
    long raw = syscall(SYS_brk, 0);
    ok((char *)raw == cur, "brk(0) returns the break");
    ok(sbrk(2 * PG) == cur && sbrk(0) == cur + 2 * PG, "sbrk(+8192)");
    char *pg = (char *)(((uintptr_t)cur + PG - 1) & ~(PG - 1));
    memset(cur, 0x77, 2 * PG);
    ok(pg[0] == 0x77, "the new heap is writable");
    ok(sbrk(-2 * PG) == cur + 2 * PG && sbrk(0) == cur && !mapped(pg + PG), "sbrk(-8192) unmaps");
    sbrk(2 * PG);
    ok(pg[PG] == 0, "growing again gives zeros");
    sbrk(-2 * PG);
    errno = 0;
    ok(sbrk(1L << 46) == (void *)-1 && errno == ENOMEM, "sbrk(2^46): ENOMEM");
    ok(syscall(SYS_brk, 4096) == raw, "brk below the heap start returns the old break");

    struct rlimit rl, old;
    ok(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur > 0, "getrlimit(RLIMIT_STACK)");
    ok(getrlimit(RLIMIT_AS, &old) == 0 && old.rlim_cur == RLIM_INFINITY, "RLIMIT_AS starts unlimited");
    ok_err(getrlimit(99, &rl), EINVAL, "getrlimit bad resource: EINVAL");
    ok_err(syscall(SYS_getrlimit, RLIMIT_AS, 8), EFAULT, "getrlimit bad pointer: EFAULT");
    rl.rlim_cur = 2;
    rl.rlim_max = 1;
    ok_err(setrlimit(RLIMIT_AS, &rl), EINVAL, "setrlimit soft > hard: EINVAL");
    struct rlimit as = {64UL << 30, old.rlim_max};
    ok(setrlimit(RLIMIT_AS, &as) == 0 && getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur == 64UL << 30,
       "setrlimit(RLIMIT_AS, 64 GiB)");
    ok_err(mmap(NULL, 128UL << 30, PROT_NONE, ANON | MAP_NORESERVE, -1, 0), ENOMEM, "RLIMIT_AS: mmap 128 GiB: ENOMEM");
    char *m = anon(PG, RW);
    ok(m != NULL, "RLIMIT_AS: a small mmap works");
    ok(m && mremap(m, PG, 128UL << 30, MREMAP_MAYMOVE) == MAP_FAILED && errno == ENOMEM, "RLIMIT_AS: mremap growth: ENOMEM");
    munmap(m, PG);
    ok((char *)syscall(SYS_brk, (long)cur + (100L << 30)) == cur, "RLIMIT_AS: brk +100 GiB fails");
    struct rlimit prev;
    ok(syscall(SYS_prlimit64, 0, RLIMIT_AS, &old, &prev) == 0 && prev.rlim_cur == 64UL << 30,
       "prlimit64 sets and returns the old limit");
    ok_err(syscall(SYS_prlimit64, 0x7fffffff, RLIMIT_AS, NULL, &prev), ESRCH, "prlimit64 unknown pid: ESRCH");
    ok(syscall(SYS_prlimit64, getpid(), RLIMIT_AS, NULL, &prev) == 0 && prev.rlim_cur == RLIM_INFINITY,
       "prlimit64 own pid");

    struct rlimit data;
    getrlimit(RLIMIT_DATA, &data);
    struct rlimit small = {4UL << 20, data.rlim_max};
    ok(setrlimit(RLIMIT_DATA, &small) == 0, "setrlimit(RLIMIT_DATA, 4 MiB)");
    ok(anon(8UL << 20, RW) == NULL && errno == ENOMEM, "RLIMIT_DATA: 8 MiB private writable: ENOMEM");
    char *ro = anon(8UL << 20, PROT_READ);
    ok(ro != NULL, "RLIMIT_DATA: read-only mappings do not count");
    char *sh = mmap(NULL, 8UL << 20, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(sh != MAP_FAILED, "RLIMIT_DATA: shared mappings do not count");
    ok(sbrk(8L << 20) == (void *)-1, "RLIMIT_DATA: sbrk(8 MiB) fails");
    ok(sbrk(PG) != (void *)-1, "RLIMIT_DATA: sbrk(4096) works");
    sbrk(-PG);
    munmap(ro, 8UL << 20);
    munmap(sh, 8UL << 20);
    ok(setrlimit(RLIMIT_DATA, &data) == 0 && anon(8UL << 20, RW) != NULL, "RLIMIT_DATA restored");
}

static void test_shm(void)
{
    int id = shmget(IPC_PRIVATE, 2 * PG, IPC_CREAT | 0600);
    ok(id >= 0, "shmget(IPC_PRIVATE, 8192)");
    char *a = shmat(id, NULL, 0);
    ok(a != (void *)-1 && ((uintptr_t)a % SHMLBA) == 0 && a[0] == 0 && a[2 * PG - 1] == 0, "shmat: aligned, zero");
    struct shmid_ds ds;
    ok(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_segsz == 2 * PG && ds.shm_nattch == 1 && ds.shm_cpid == getpid() &&
           ds.shm_lpid == getpid() && (ds.shm_perm.mode & 0777) == 0600 && ds.shm_atime != 0,
       "IPC_STAT: size, nattch, cpid, lpid, mode, atime");
    strcpy(a + 100, "hello");
    char *b = shmat(id, NULL, 0);
    ok(b != (void *)-1 && b != a && strcmp(b + 100, "hello") == 0, "a second attach aliases the memory");
    ok(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 2, "nattch 2");
    ok(shmdt(b) == 0 && shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1 && ds.shm_dtime != 0, "shmdt: nattch 1, dtime");
    ok_err(shmdt(b), EINVAL, "shmdt of a detached address: EINVAL");
    ok_err(shmdt(a + 1), EINVAL, "shmdt unaligned: EINVAL");
    char *r = shmat(id, NULL, SHM_RDONLY);
    ok(r != (void *)-1 && strcmp(r + 100, "hello") == 0 && !writable(r), "SHM_RDONLY reads, is not writable");
    ok_err(mprotect(r, PG, RW), EACCES, "mprotect +WRITE on an SHM_RDONLY attach: EACCES");
    shmdt(r);
    char *hole = mmap(NULL, 4 * PG, PROT_NONE, ANON, -1, 0);
    munmap(hole, 4 * PG);
    ok_err(shmat(id, hole + 100, 0), EINVAL, "shmat unaligned: EINVAL");
    char *fx = shmat(id, hole + 100, SHM_RND);
    ok(fx == hole && strcmp(fx + 100, "hello") == 0, "SHM_RND rounds down");
    ok_err(shmat(id, fx, 0), EINVAL, "shmat over a mapping: EINVAL");
    ok(shmat(id, fx, SHM_REMAP) == fx, "SHM_REMAP replaces it");
    shmdt(fx);
    shmdt(fx);
    ok_err(shmat(id, NULL, SHM_REMAP), EINVAL, "SHM_REMAP without an address: EINVAL");
    ok_err(shmat(-1, NULL, 0), EINVAL, "shmat bad id: EINVAL");
    ds.shm_perm.mode = 0640;
    ok(shmctl(id, IPC_SET, &ds) == 0 && shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0640,
       "IPC_SET changes the mode");
    ok_err(shmctl(id, IPC_SET, (struct shmid_ds *)8), EFAULT, "IPC_SET bad pointer: EFAULT");
    ok_err(shmctl(id, 12345, &ds), EINVAL, "shmctl bad command: EINVAL");
    ok(shmctl(id, SHM_LOCK, NULL) == 0 && shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_LOCKED),
       "SHM_LOCK sets SHM_LOCKED");
    ok(shmctl(id, SHM_UNLOCK, NULL) == 0 && shmctl(id, IPC_STAT, &ds) == 0 && !(ds.shm_perm.mode & SHM_LOCKED),
       "SHM_UNLOCK clears it");
    struct shminfo info;
    int max = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
    ok(max >= 0 && info.shmmax >= 2 * PG && info.shmmni > 0, "IPC_INFO: limits, highest index %d", max);
    struct shm_info use;
    ok(shmctl(0, SHM_INFO, (struct shmid_ds *)&use) == max && use.used_ids >= 1, "SHM_INFO: segments in use");
    int found = 0;
    for (int i = 0; i <= max; i++)
        if (shmctl(i, SHM_STAT, &ds) == id && ds.shm_segsz == 2 * PG)
            found = 1;
    ok(found, "SHM_STAT by index finds the segment");
    ok(shmctl(id, IPC_RMID, NULL) == 0 && shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST),
       "IPC_RMID while attached: SHM_DEST");
    a[0] = 'L';
    ok(a[0] == 'L' && shmdt(a) == 0, "usable until the last detach");
    ok_err(shmctl(id, IPC_STAT, &ds), EINVAL, "then the id is gone: EINVAL");
    ok_err(shmctl(-1, IPC_STAT, &ds), EINVAL, "negative id: EINVAL");

    key_t key = 0x50480000 | (getpid() & 0xffff);
    int k = shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600);
    ok(k >= 0, "shmget(key, IPC_CREAT | IPC_EXCL)");
    ok_err(shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600), EEXIST, "IPC_EXCL on an existing key: EEXIST");
    ok(shmget(key, PG, 0600) == k && shmget(key, 0, 0) == k, "the key finds the id");
    ok_err(shmget(key, 4 * PG, 0600), EINVAL, "existing key, larger size: EINVAL");
    ok_err(shmget(key + 0x8000, PG, 0600), ENOENT, "missing key: ENOENT");
    ok_err(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL, "size 0: EINVAL");
    ok_err(shmget(IPC_PRIVATE, SIZE_MAX, IPC_CREAT | 0600), EINVAL, "size > SHMMAX: EINVAL");
    ok(shmctl(k, IPC_RMID, NULL) == 0, "IPC_RMID unattached");
    ok_err(shmget(key, PG, 0600), ENOENT, "its key is free: ENOENT");
}

int main(void)
{
    test_mmap();
    test_munmap_mprotect();
    test_mremap();
    test_msync_madvise();
    test_mincore_mlock();
    test_brk_rlimits();
    test_shm();
    return t_done();
}
