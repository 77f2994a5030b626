/* Every mm system call with the error cases its man page lists, checked against Linux. */
#include "t.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
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

static char *anon(size_t len, int prot)
{
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* 1 if the page at p is resident per mincore, 0 if not, -1 if mincore failed. */
static int resident(void *p)
{
    unsigned char v;
    return mincore(p, PG, &v) ? -1 : (v & 1);
}

static int mapped(void *p) { unsigned char v; return mincore(p, PG, &v) == 0; }

/* Access probes run in a child: 0 = no fault, else the killing signal. */
static int do_read(void *p) { return *(volatile char *)p == 0x5a ? 0 : 0; }
static int do_write(void *p) { *(volatile char *)p = 1; return 0; }
static int faults(int (*fn)(void *), void *p)
{
    int st = t_child(fn, p);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void test_mmap(int fd)
{
    ok_err(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL, "mmap length 0: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL, "mmap without SHARED/PRIVATE: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, 0x0f | MAP_ANONYMOUS, -1, 0), EINVAL, "mmap map type 0xf: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 100), EINVAL, "mmap unaligned offset: EINVAL");
    ok_err(mmap((void *)(PG + 1), PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EINVAL,
           "mmap MAP_FIXED unaligned addr: EINVAL");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | 0x800000, fd, 0), EOPNOTSUPP,
           "mmap MAP_SHARED_VALIDATE unknown flag: EOPNOTSUPP");
    /* Linux quirk: anonymous mappings reject the MAP_SHARED_VALIDATE type outright. */
    ok_err(mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0), EINVAL,
           "anonymous MAP_SHARED_VALIDATE: EINVAL (Linux)");
    char *q = mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE, fd, 0);
    ok(q != MAP_FAILED, "file MAP_SHARED_VALIDATE with known flags works");
    if (q != MAP_FAILED) munmap(q, PG);
    q = mmap(NULL, PG, PROT_READ, MAP_SHARED | 0x800000, fd, 0);
    ok(q != MAP_FAILED, "mmap MAP_SHARED ignores the same unknown flag");
    if (q != MAP_FAILED) munmap(q, PG);
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0), EBADF, "mmap fd -1 without MAP_ANONYMOUS: EBADF");
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0), EBADF, "mmap closed fd: EBADF");

    int ro = open("/proc/self/exe", O_RDONLY);
    ok_err(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), EACCES,
           "mmap MAP_SHARED PROT_WRITE on O_RDONLY fd: EACCES");
    q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    ok(q != MAP_FAILED, "mmap MAP_PRIVATE PROT_WRITE on O_RDONLY fd works");
    if (q != MAP_FAILED) {
        q[0] = 'x';
        ok(q[0] == 'x', "private write to a read-only file mapping stays private");
        munmap(q, PG);
    }
    q = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    ok(q != MAP_FAILED, "mmap MAP_SHARED PROT_READ on O_RDONLY fd works");
    if (q != MAP_FAILED) {
        ok_err(mprotect(q, PG, PROT_READ | PROT_WRITE), EACCES, "mprotect +WRITE on shared O_RDONLY map: EACCES");
        munmap(q, PG);
    }
    close(ro);
    char path[] = "/tmp/pagoda-lt-wo-XXXXXX";
    int tfd = mkstemp(path);
    ftruncate(tfd, PG);
    int wo = open(path, O_WRONLY);
    unlink(path);
    close(tfd);
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wo, 0), EACCES, "mmap O_WRONLY fd: EACCES");
    ok_err(mmap(NULL, PG, PROT_WRITE, MAP_SHARED, wo, 0), EACCES, "mmap MAP_SHARED O_WRONLY fd PROT_WRITE: EACCES");
    close(wo);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    ok_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dir, 0), ENODEV, "mmap a directory: ENODEV");
    close(dir);

    ok_err(mmap(NULL, 1UL << 50, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM,
           "mmap 2^50 bytes: ENOMEM");
    ok_err(mmap(NULL, SIZE_MAX - 100, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM,
           "mmap length rounding to 0: ENOMEM");
    ok_err(mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, (off_t)(INT64_MAX & ~(PG - 1))), EOVERFLOW,
           "mmap offset + length past the maximum file size: EOVERFLOW");

    char *a = anon(3 * PG, PROT_READ | PROT_WRITE);
    ok(a && ((uintptr_t)a & (PG - 1)) == 0, "mmap anonymous returns a page-aligned address");
    ok(a && a[0] == 0 && a[3 * PG - 1] == 0, "anonymous memory is zero-filled");
    ok_err(mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0), EEXIST,
           "MAP_FIXED_NOREPLACE over a mapping: EEXIST");
    a[PG] = 7;
    char *b = mmap(a + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ok(b == a + PG && b[0] == 0, "MAP_FIXED replaces the old page (zero again)");
    munmap(a + PG, PG);
    b = mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ok(b == a + PG, "MAP_FIXED_NOREPLACE into a hole returns that address");
    b = mmap(a, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(b != MAP_FAILED && b != a, "a hint on a busy address is moved elsewhere");
    munmap(b, PG);
    munmap(a, 3 * PG);
    char *f = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
    ok(f != MAP_FAILED && f[0] == 'B', "file mmap at offset 4096 sees the second page");
    munmap(f, PG);
}

static void test_munmap(void)
{
    char *a = anon(3 * PG, PROT_READ | PROT_WRITE);
    ok_err(munmap(a + 1, PG), EINVAL, "munmap unaligned addr: EINVAL");
    ok_err(munmap(a, 0), EINVAL, "munmap length 0: EINVAL");
    ok(munmap(a + PG, PG) == 0, "munmap the middle page");
    ok(mapped(a) && !mapped(a + PG) && mapped(a + 2 * PG), "munmap split the mapping around the hole");
    ok(munmap(a + PG, PG) == 0, "munmap of an unmapped range succeeds");
    ok(faults(do_read, a + PG) == SIGSEGV, "reading an unmapped page: SIGSEGV");
    ok(munmap(a, 3 * PG) == 0 && !mapped(a) && !mapped(a + 2 * PG), "munmap across a hole unmaps all");
    a = anon(2 * PG, PROT_READ | PROT_WRITE);
    ok(munmap(a, PG + 1) == 0 && !mapped(a + PG), "munmap length rounds up to whole pages");
}

static int read_ro_write_probe(void *p) { return *(volatile char *)p; }

static void test_mprotect(void)
{
    char *a = anon(3 * PG, PROT_READ | PROT_WRITE);
    a[0] = 42;
    ok(mprotect(a, PG, PROT_NONE) == 0, "mprotect PROT_NONE");
    ok(faults(do_read, a) == SIGSEGV, "read of PROT_NONE page: SIGSEGV");
    ok(mprotect(a, PG, PROT_READ) == 0 && a[0] == 42, "mprotect back to PROT_READ keeps the data");
    ok(faults(do_write, a) == SIGSEGV, "write to PROT_READ page: SIGSEGV");
    ok(faults(do_read, a) == 0, "read of PROT_READ page works");
    ok(mprotect(a, PG, PROT_WRITE) == 0, "mprotect PROT_WRITE only");
    int st = t_child(read_ro_write_probe, a);
    /* x86_64 and riscv64 page tables cannot express write-only: Linux maps it readable. */
    ok(EXITED(st, 42), "a PROT_WRITE-only page is readable (hardware has no write-only)");
    ok(faults(do_write, a) == 0, "a PROT_WRITE-only page is writable");
    /* The system call itself: musl's mprotect() rounds the start down to a page. */
    ok_err(syscall(SYS_mprotect, a + 1, PG, PROT_READ), EINVAL, "mprotect unaligned: EINVAL");
    ok_err(mprotect(a, PG, 0x1000), EINVAL, "mprotect unknown prot bit: EINVAL");
    ok_err(mprotect(a, PG, PROT_READ | PROT_GROWSDOWN), EINVAL, "PROT_GROWSDOWN on a normal mapping: EINVAL");
    ok(mprotect(a, 0, PROT_NONE) == 0, "mprotect length 0 succeeds");
    munmap(a + PG, PG);
    ok_err(mprotect(a + PG, PG, PROT_READ), ENOMEM, "mprotect of an unmapped page: ENOMEM");
    mprotect(a, PG, PROT_READ | PROT_WRITE);
    ok_err(mprotect(a, 3 * PG, PROT_READ), ENOMEM, "mprotect across a hole: ENOMEM");
    ok(faults(do_write, a) == SIGSEGV, "... but the part before the hole was changed (Linux)");
    ok(faults(do_write, a + 2 * PG) == 0, "... and the part after the hole was not");
    munmap(a, 3 * PG);
}

static void test_mremap(void)
{
    char *a = anon(4 * PG, PROT_READ | PROT_WRITE);
    memset(a, 'm', PG);
    munmap(a + PG, 3 * PG);
    char *r = mremap(a, PG, 4 * PG, 0);
    ok(r == a, "mremap grows in place into free space");
    ok(r != MAP_FAILED && r[3 * PG] == 0 && (r[3 * PG] = 1), "grown part is zero and writable");
    r = mremap(a, 4 * PG, PG, 0);
    ok(r == a && !mapped(a + PG) && a[0] == 'm', "mremap shrink keeps the start, unmaps the tail");
    char *blocker = mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ok(blocker == a + PG, "(map a blocker after it)");
    ok_err(mremap(a, PG, 2 * PG, 0), ENOMEM, "mremap grow without MAYMOVE when blocked: ENOMEM");
    r = mremap(a, PG, 2 * PG, MREMAP_MAYMOVE);
    ok(r != MAP_FAILED && r != a && r[0] == 'm' && r[PG] == 0, "MREMAP_MAYMOVE moves with the data");
    ok(!mapped(a), "the old range is gone after a move");
    char *t = anon(2 * PG, PROT_READ);
    char *f = mremap(r, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
    ok(f == t && f[0] == 'm' && !mapped(r), "MREMAP_FIXED moves onto (and replaces) a target");
    ok_err(mremap(f, 2 * PG, 2 * PG, MREMAP_FIXED, r), EINVAL, "MREMAP_FIXED without MAYMOVE: EINVAL");
    ok_err(mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, f + PG), EINVAL,
           "MREMAP_FIXED overlapping ranges: EINVAL");
    char *d = mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    ok(d != MAP_FAILED && d != f && d[0] == 'm', "MREMAP_DONTUNMAP moves the data");
    ok(mapped(f) && f[0] == 0, "... and leaves the old range mapped, zero-filled on access");
    ok_err(mremap(d, 2 * PG, 2 * PG, MREMAP_DONTUNMAP, NULL), EINVAL, "DONTUNMAP without MAYMOVE: EINVAL");
    ok_err(mremap(d, 2 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL), EINVAL, "DONTUNMAP with new size: EINVAL");
    ok_err(mremap(d + 1, PG, PG, 0), EINVAL, "mremap unaligned old address: EINVAL");
    ok_err(mremap(d, PG, 0, MREMAP_MAYMOVE), EINVAL, "mremap new size 0: EINVAL");
    ok_err(mremap(d, PG, PG, 0x100), EINVAL, "mremap unknown flag: EINVAL");
    ok_err(mremap(d, 0, PG, MREMAP_MAYMOVE), EINVAL, "mremap old size 0 of a private mapping: EINVAL");
    munmap(d, 2 * PG);
    ok_err(mremap(d, PG, 2 * PG, MREMAP_MAYMOVE), EFAULT, "mremap unmapped old address: EFAULT");
    char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s[0] = 's';
    char *s2 = mremap(s, 0, PG, MREMAP_MAYMOVE);
    ok(s2 != MAP_FAILED && s2 != s && s2[0] == 's', "mremap old size 0 of a shared mapping duplicates it");
    if (s2 != MAP_FAILED) {
        s2[1] = 't';
        ok(s[1] == 't', "... and both views share the pages");
        munmap(s2, PG);
    }
    munmap(s, PG);
    munmap(f, 2 * PG);
    munmap(blocker, PG);
    munmap(t, 2 * PG);
}

static void test_msync(int fd)
{
    char *f = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ok(msync(f, PG, MS_SYNC) == 0, "msync MS_SYNC");
    ok(msync(f, PG, MS_ASYNC) == 0, "msync MS_ASYNC");
    ok(msync(f, PG, MS_INVALIDATE) == 0, "msync MS_INVALIDATE");
    ok_err(msync(f, PG, MS_SYNC | MS_ASYNC), EINVAL, "msync MS_SYNC|MS_ASYNC: EINVAL");
    ok_err(msync(f, PG, 0x100), EINVAL, "msync unknown flag: EINVAL");
    ok_err(msync(f + 1, PG, MS_SYNC), EINVAL, "msync unaligned: EINVAL");
    if (mlock(f, PG) == 0) {
        ok_err(msync(f, PG, MS_INVALIDATE), EBUSY, "msync MS_INVALIDATE on a locked range: EBUSY");
        munlock(f, PG);
    } else
        skip("mlock unavailable: %s", strerror(errno));
    munmap(f, PG);
    ok_err(msync(f, PG, MS_SYNC), ENOMEM, "msync unmapped: ENOMEM");
}

static int child_touch(void *p) { return ((volatile char *)p)[0]; }
static void test_madvise(int fd)
{
    char *a = anon(4 * PG, PROT_READ | PROT_WRITE);
    memset(a, 9, 4 * PG);
    ok(madvise(a, 4 * PG, MADV_DONTNEED) == 0 && a[0] == 0 && a[4 * PG - 1] == 0,
       "MADV_DONTNEED: private anonymous memory reads zero after");
    char *f = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    f[0] = 'z';
    ok(madvise(f, PG, MADV_DONTNEED) == 0 && f[0] == 'A', "MADV_DONTNEED: private file page re-reads the file");
    munmap(f, PG);
    memset(a, 9, 4 * PG);
    ok(madvise(a, 4 * PG, MADV_FREE) == 0 && (a[0] == 9 || a[0] == 0), "MADV_FREE: old data or zero");
    a[0] = 5;
    ok(a[0] == 5, "MADV_FREE: a write after it sticks");
    ok(madvise(a, 4 * PG, MADV_WILLNEED) == 0, "MADV_WILLNEED");
    ok(madvise(a, 4 * PG, MADV_NORMAL) == 0 && madvise(a, 4 * PG, MADV_RANDOM) == 0 &&
       madvise(a, 4 * PG, MADV_SEQUENTIAL) == 0, "MADV_NORMAL/RANDOM/SEQUENTIAL");
    a[0] = 3;
    ok(madvise(a, PG, MADV_DONTFORK) == 0, "MADV_DONTFORK");
    int st = t_child(child_touch, a);
    ok(SIGNALED(st, SIGSEGV), "MADV_DONTFORK: the range is absent in the child");
    ok(madvise(a, PG, MADV_DOFORK) == 0 && EXITED(t_child(child_touch, a), 3), "MADV_DOFORK restores it");
    ok(madvise(a, PG, MADV_WIPEONFORK) == 0, "MADV_WIPEONFORK");
    ok(EXITED(t_child(child_touch, a), 0) && a[0] == 3, "MADV_WIPEONFORK: child sees zero, parent keeps data");
    ok(madvise(a, PG, MADV_KEEPONFORK) == 0 && EXITED(t_child(child_touch, a), 3), "MADV_KEEPONFORK");
    f = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ok_err(madvise(f, PG, MADV_WIPEONFORK), EINVAL, "MADV_WIPEONFORK on a file mapping: EINVAL");
    munmap(f, PG);
    char *p = anon(4 * PG, PROT_READ | PROT_WRITE);
    ok(resident(p) == 0, "fresh anonymous page is not resident");
    ok(madvise(p, 2 * PG, MADV_POPULATE_READ) == 0, "MADV_POPULATE_READ");
    ok(madvise(p + 2 * PG, 2 * PG, MADV_POPULATE_WRITE) == 0 && resident(p + 3 * PG) == 1,
       "MADV_POPULATE_WRITE makes pages resident");
    mprotect(p, PG, PROT_READ);
    /* Linux: a permission mismatch is EINVAL; EFAULT is kept for "would SIGBUS". */
    ok_err(madvise(p, PG, MADV_POPULATE_WRITE), EINVAL, "MADV_POPULATE_WRITE on a read-only page: EINVAL");
    mprotect(p, PG, PROT_NONE);
    ok_err(madvise(p, PG, MADV_POPULATE_READ), EINVAL, "MADV_POPULATE_READ on PROT_NONE: EINVAL");
    munmap(p, 4 * PG);
    ok_err(madvise(p, PG, MADV_POPULATE_READ), ENOMEM, "MADV_POPULATE_READ unmapped: ENOMEM");
    f = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
    ok_err(madvise(f + 2 * PG, PG, MADV_POPULATE_READ), EFAULT, "MADV_POPULATE_READ past EOF: EFAULT");
    munmap(f, 4 * PG);
    ok_err(madvise(a + 1, PG, MADV_NORMAL), EINVAL, "madvise unaligned: EINVAL");
    ok_err(madvise(a, PG, 12345), EINVAL, "madvise unknown advice: EINVAL");
    ok_err(madvise(a, (size_t)-PG, MADV_NORMAL), EINVAL, "madvise addr+len wraps: EINVAL");
    if (mlock(a, PG) == 0) {
        ok_err(madvise(a, PG, MADV_DONTNEED), EINVAL, "MADV_DONTNEED on locked pages: EINVAL");
        munlock(a, PG);
    }
    munmap(a + PG, PG);
    ok_err(madvise(a, 3 * PG, MADV_NORMAL), ENOMEM, "madvise across a hole: ENOMEM");
    munmap(a, 4 * PG);
}

static void test_mincore_mlock(void)
{
    char *a = anon(4 * PG, PROT_READ | PROT_WRITE);
    unsigned char v[4];
    a[PG] = 1;
    ok(mincore(a, 4 * PG, v) == 0 && v[0] == 0 && (v[1] & 1) && v[2] == 0, "mincore: only the touched page");
    ok_err(mincore(a + 1, PG, v), EINVAL, "mincore unaligned: EINVAL");
    ok_err(mincore(a, PG, (unsigned char *)8), EFAULT, "mincore bad vector: EFAULT");
    ok(mincore(a, 1, v) == 0, "mincore partial page length");
    ok(mlock(a, 2 * PG) == 0 && resident(a) == 1, "mlock populates");
    ok(munlock(a, 2 * PG) == 0, "munlock");
    ok(mlock2(a + 2 * PG, PG, MLOCK_ONFAULT) == 0 && resident(a + 2 * PG) == 0, "mlock2 MLOCK_ONFAULT does not populate");
    ok_err(mlock2(a, PG, 0x80), EINVAL, "mlock2 unknown flag: EINVAL");
    munlock(a, 4 * PG);
    munmap(a + 3 * PG, PG);
    ok_err(mlock(a + 3 * PG, PG), ENOMEM, "mlock unmapped: ENOMEM");
    ok_err(mincore(a + 3 * PG, PG, v), ENOMEM, "mincore unmapped: ENOMEM");
    ok_err(mlockall(0), EINVAL, "mlockall(0): EINVAL");
    ok_err(mlockall(MCL_ONFAULT), EINVAL, "mlockall(MCL_ONFAULT) alone: EINVAL");
    ok(mlockall(MCL_CURRENT) == 0 && resident(a + 2 * PG) == 1, "mlockall(MCL_CURRENT) populates");
    ok(munlockall() == 0, "munlockall");
    munmap(a, 3 * PG);
}

static void test_brk(void)
{
    char *cur = sbrk(0);
    long raw = syscall(SYS_brk, 0);
    ok((char *)raw == cur, "brk(0) returns the current break");
    char *old = sbrk(2 * PG);
    ok(old == cur && sbrk(0) == cur + 2 * PG, "sbrk(+8192) returns the old break");
    char *pg = (char *)(((uintptr_t)cur + PG - 1) & ~(PG - 1));
    memset(cur, 0x77, 2 * PG);
    ok(pg[0] == 0x77, "the new heap is writable");
    ok(sbrk(-2 * PG) == cur + 2 * PG && sbrk(0) == cur, "sbrk(-8192) shrinks");
    ok(faults(do_read, pg + PG) == SIGSEGV, "pages above the lowered break are unmapped");
    sbrk(2 * PG);
    ok(pg[PG] == 0, "growing again gives zero-filled pages");
    sbrk(-2 * PG);
    errno = 0;
    ok(sbrk(1L << 46) == (void *)-1 && errno == ENOMEM, "sbrk(2^46): ENOMEM");
    ok(syscall(SYS_brk, 4096) == raw, "brk below the heap start fails by returning the old break");
}

/* vm.mmap_min_addr (65536 on Debian and on Pagoda, which has no /proc/sys/vm): placement
 * never goes below it; a fixed address below it needs CAP_SYS_RAWIO (root), page 0 too. */
static uintptr_t min_addr = 0x10000;
static void read_min_addr(void)
{
    FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
    unsigned long v;
    if (f && fscanf(f, "%lu", &v) == 1)
        min_addr = (v + PG - 1) & ~(uintptr_t)(PG - 1);
    if (f)
        fclose(f);
}
#define MIN_ADDR min_addr
static void *placed(void *hint)
{
    void *p = mmap(hint, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        munmap(p, PG);
    return p;
}
/* The raw call: musl's mmap turns EPERM at address 0 without MAP_FIXED into ENOMEM. */
static int fixed_errno(uintptr_t at, int flags)
{
    void *p = (void *)syscall(SYS_mmap, at, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, PG);
        return 0;
    }
    return errno;
}
/* As uid 65534: each failing check sets a bit of the exit code. */
static int unprivileged_low(void *arg)
{
    (void)arg;
    if (setuid(65534))
        return 0x80;
    int bad = 0;
    bad |= fixed_errno(MIN_ADDR - PG, MAP_FIXED) != EPERM;
    bad |= (fixed_errno(0, MAP_FIXED) != EPERM) << 1;
    bad |= (fixed_errno(MIN_ADDR - PG, MAP_FIXED_NOREPLACE) != EPERM) << 2;
    char *q = anon(PG, PROT_READ);
    void *r = q ? mremap(q, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(MIN_ADDR - PG)) : NULL;
    bad |= (r != MAP_FAILED || errno != EPERM) << 3;
    bad |= ((uintptr_t)placed((void *)PG) < MIN_ADDR) << 4;
    return bad;
}
static void test_min_addr(void)
{
    read_min_addr();
    void *p = placed(NULL);
    ok(p != MAP_FAILED && (uintptr_t)p >= MIN_ADDR, "mmap(NULL) is placed at or above %#lx",
       (unsigned long)MIN_ADDR);
    p = placed((void *)PG);
    ok(p != MAP_FAILED && (uintptr_t)p >= MIN_ADDR, "a hint of 0x1000 is raised to %#lx",
       (unsigned long)MIN_ADDR);
    if (geteuid() != 0) {
        skip("mmap_min_addr: not root");
        return;
    }
    p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(p == NULL, "root maps page 0 with MAP_FIXED");
    if (p == NULL) {
        volatile char *z = p;
        __asm__ volatile("" : "+r"(z)); /* an opaque pointer: the compiler may not assume NULL */
        z[0] = 0x5a;
        z[PG - 1] = 0x33;
        ok(z[0] == 0x5a && z[PG - 1] == 0x33, "page 0 reads back what was written");
        int fds[2];
        ok(pipe(fds) == 0 && write(fds[1], (const void *)z, 1) == 1, "a syscall reads page 0");
        munmap(p, PG);
        errno = 0;
        ok(write(fds[1], (const void *)z, 1) == -1 && errno == EFAULT, "unmapped page 0: EFAULT");
        close(fds[0]);
        close(fds[1]);
    }
    char *q = anon(PG, PROT_READ | PROT_WRITE);
    if (q)
        q[0] = 7;
    void *r = q ? mremap(q, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, NULL) : MAP_FAILED;
    volatile char *z = r;
    __asm__ volatile("" : "+r"(z));
    ok(r == NULL && z[0] == 7, "root moves a mapping to 0 with MREMAP_FIXED");
    if (r == NULL)
        munmap(r, PG);
    ok(fixed_errno(MIN_ADDR - PG, MAP_FIXED_NOREPLACE) == 0, "root maps below mmap_min_addr");
    int st = t_child(unprivileged_low, NULL);
    ok(EXITED(st, 0), "uid 65534: fixed below mmap_min_addr is EPERM, hints are raised (%#x)",
       WIFEXITED(st) ? WEXITSTATUS(st) : st);
}

int main(void)
{
    int fd = t_tmpfile(0);
    char buf[2 * PG];
    memset(buf, 'A', PG);
    memset(buf + PG, 'B', PG);
    if (fd < 0 || pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
        skip("no writable /tmp");
        return t_done();
    }
    test_mmap(fd);
    test_munmap();
    test_mprotect();
    test_mremap();
    test_msync(fd);
    test_madvise(fd);
    test_mincore_mlock();
    test_brk();
    test_min_addr();
    return t_done();
}
