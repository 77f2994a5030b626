/* File mappings stay coherent with read/write: pwrite/pread against MAP_SHARED, msync,
 * truncation (SIGBUS past EOF, zeroed tail), growth, unlink while mapped, MAP_PRIVATE COW,
 * truncation under MAP_PRIVATE (copied pages past the new EOF are dropped too). */
#include "t.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

static sigjmp_buf jb;
static volatile sig_atomic_t bus_code;
static void on_bus(int sig, siginfo_t *si, void *uc)
{
    bus_code = sig == SIGBUS ? si->si_code : -sig;
    siglongjmp(jb, 1);
}
/* 1 if reading *p raises SIGBUS (BUS_ADRERR), 0 if it reads fine, -1 for anything else. */
static int bus_on_read(volatile char *p)
{
    bus_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        (void)*p;
        return 0;
    }
    return bus_code == BUS_ADRERR ? 1 : -1;
}
/* As bus_on_read, for a one-byte store. */
static int bus_on_write(volatile char *p)
{
    bus_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        *p = 'w';
        return 0;
    }
    return bus_code == BUS_ADRERR ? 1 : -1;
}

/* ftruncate under MAP_PRIVATE (at file offset 3 pages of a 4-page-and-1-byte file): pages past
 * the new EOF are unmapped whether they were only read or privately written (Linux unmaps the
 * private copies too); the page holding the new EOF keeps its copy; regrowth reads zeros. */
static void truncate_private(void)
{
    int fd = t_tmpfile(4 * PG + 1);
    char *p = fd < 0 ? MAP_FAILED : mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 3 * PG);
    if (p == MAP_FAILED) {
        skip("no private file mapping");
        return;
    }
    ok(pwrite(fd, "ab", 2, 3 * PG) == 2 && p[0] == 'a' && p[PG] == 0, "private mapping at offset 3 pages");
    p[1] = 'P';
    ok(pwrite(fd, "x", 1, 3 * PG) == 1 && p[0] == 'a' && p[1] == 'P', "page 0 is a private copy");
    ok(ftruncate(fd, 0) == 0, "ftruncate the file to 0 under the private mapping");
    ok(bus_on_read(p + PG) == 1, "an only-read private page past EOF: SIGBUS");
    ok(bus_on_read(p) == 1 && bus_on_write(p + 1) == 1, "a privately written page past EOF: SIGBUS, its copy is gone");
    ok(ftruncate(fd, 3 * PG + 10) == 0 && bus_on_write(p) == 0, "after regrowth the page comes back");
    ok(p[1] == 0 && p[0] == 'w' && p[10] == 0, "with the file's data (zeros), not the old copy");
    ok(bus_on_read(p + PG) == 1, "the page still past EOF: SIGBUS");
    char r[2];
    ok(pread(fd, r, 1, 3 * PG) == 1 && r[0] == 0, "the private store did not reach the file");
    ok(ftruncate(fd, 3 * PG + 5) == 0 && p[0] == 'w', "a copy holding the new EOF is kept");
    munmap(p, 2 * PG);
    close(fd);
}

int main(void)
{
    struct sigaction sa = {.sa_sigaction = on_bus, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    char path[] = "/tmp/pagoda-lt-fm-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        skip("no writable /tmp");
        return t_done();
    }
    char buf[3 * PG];
    memset(buf, 'a', PG);
    memset(buf + PG, 'b', PG);
    memset(buf + 2 * PG, 'c', PG);
    ok(pwrite(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "write 3 pages");
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ok(m != MAP_FAILED && m[0] == 'a' && m[PG] == 'b' && m[3 * PG - 1] == 'c', "MAP_SHARED shows the file");
    ok(pwrite(fd, "XYZ", 3, PG + 10) == 3 && memcmp(m + PG + 10, "XYZ", 3) == 0,
       "pwrite is visible in the mapping at once");
    memcpy(m + 2 * PG + 100, "mapped", 6);
    char r[8] = {0};
    ok(pread(fd, r, 6, 2 * PG + 100) == 6 && memcmp(r, "mapped", 6) == 0,
       "a store through the mapping is visible to pread at once (no msync)");
    ok(msync(m, 3 * PG, MS_SYNC) == 0, "msync MS_SYNC");
    struct stat st;
    ok(fstat(fd, &st) == 0 && st.st_size == 3 * (off_t)PG, "stores through the mapping do not change the size");
    char *m2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
    ok(m2 != MAP_FAILED && memcmp(m2 + 10, "XYZ", 3) == 0, "a second mapping at offset 4096 agrees");
    m[PG + 11] = 'q';
    ok(m2[11] == 'q', "two mappings of one file share the page");
    ok(bus_on_read(m + 3 * PG) == 1, "the mapped page wholly past EOF: SIGBUS BUS_ADRERR");

    /* Shrink to 1.5 pages: the tail of the last page reads zero, later pages SIGBUS. */
    ok(ftruncate(fd, PG + PG / 2) == 0, "ftruncate to 6144 bytes");
    ok(m[PG] == 'b' && m[PG + PG / 2 - 1] == 'b', "data before the new EOF is kept");
    ok(m[PG + PG / 2] == 0 && m[2 * PG - 1] == 0, "the last page's tail past EOF reads zero");
    ok(bus_on_read(m + 2 * PG) == 1 && bus_on_read(m2 + 100) == 0, "the page past the new EOF: SIGBUS");
    ok(ftruncate(fd, 3 * PG) == 0, "ftruncate grows back to 3 pages");
    ok(bus_on_read(m + 2 * PG) == 0 && m[2 * PG] == 0 && m[2 * PG + 100] == 0,
       "the regrown page is accessible again and zero (old data gone)");
    memset(r, 1, sizeof r);
    ok(pread(fd, r, 4, PG + PG / 2) == 4 && r[0] == 0 && r[3] == 0, "read() agrees: zeros after regrowth");

    /* MAP_PRIVATE: reads the file until the first write, then keeps its own copy. */
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ok(p != MAP_FAILED && p[0] == 'a', "MAP_PRIVATE shows the file");
    pwrite(fd, "1", 1, 0);
    ok(p[0] == '1', "before a private write, file changes show through (Linux)");
    p[1] = 'P';
    pwrite(fd, "2", 1, 0);
    pwrite(fd, "3", 1, PG);
    ok(p[0] == '1' && p[1] == 'P', "after the private write the page is a copy: file changes hidden");
    ok(pread(fd, r, 2, 0) == 2 && r[0] == '2' && r[1] == 'a', "the private write did not reach the file");
    ok(p[PG] == '3', "other (uncopied) pages still follow the file");
    munmap(p, 2 * PG);

    /* Shared mapping across fork: the child's store reaches the parent and the file. */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        m[5] = 'K';
        _exit(0);
    }
    int ws;
    waitpid(c, &ws, 0);
    ok(m[5] == 'K' && pread(fd, r, 1, 5) == 1 && r[0] == 'K', "a child's store to MAP_SHARED is seen by parent and file");

    /* Unlink and close: the mapping keeps the inode alive. */
    ok(unlink(path) == 0 && close(fd) == 0, "unlink and close the mapped file");
    ok(m[PG + 10] == 'X' && (m[0] = 'U') == 'U' && m[0] == 'U', "the mapping still reads and writes");
    munmap(m2, PG);
    ok(munmap(m, 4 * PG) == 0, "munmap releases it");

    /* An empty file mapping exists, but every access SIGBUSes. */
    int e = t_tmpfile(0);
    char *z = mmap(NULL, PG, PROT_READ, MAP_SHARED, e, 0);
    ok(z != MAP_FAILED && bus_on_read(z) == 1, "mapping an empty file works; touching it: SIGBUS");
    ok(pwrite(e, "w", 1, 0) == 1 && bus_on_read(z) == 0 && z[0] == 'w', "after the file grows, the page appears");
    munmap(z, PG);
    close(e);
    truncate_private();
    return t_done();
}
