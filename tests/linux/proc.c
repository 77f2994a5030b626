/* /proc: maps, meminfo, status, pagemap, smaps, stat and cmdline describe this process. */
#include "t.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

/* Finds the /proc/self/maps line starting at `start`; copies its perms and path. */
static int maps_line(uintptr_t start, uintptr_t *end, char perms[5], unsigned long *off, char *path, size_t cap)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned long s, e, o, ino;
        unsigned mj, mn;
        char pr[5];
        int pos = 0;
        if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu %n", &s, &e, pr, &o, &mj, &mn, &ino, &pos) < 7)
            continue;
        if (s == start) {
            *end = e;
            memcpy(perms, pr, 5);
            *off = o;
            snprintf(path, cap, "%s", line + pos);
            path[strcspn(path, "\n")] = 0;
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Every line parses; counts lines and whether one covers `addr` with perms `want`. */
static int maps_all_parse(int *lines, uintptr_t addr, const char *want, int *covered)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int good = f != NULL;
    *lines = 0;
    *covered = 0;
    uintptr_t prev_end = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e, o, ino;
        unsigned mj, mn;
        char pr[5];
        good &= sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &s, &e, pr, &o, &mj, &mn, &ino) == 7;
        good &= s < e && s >= prev_end && (s & (PG - 1)) == 0 && (e & (PG - 1)) == 0;
        good &= strlen(pr) == 4 && strchr("r-", pr[0]) && strchr("w-", pr[1]) && strchr("x-", pr[2]) &&
                strchr("ps", pr[3]);
        prev_end = e;
        if (addr >= s && addr < e && strcmp(pr, want) == 0)
            *covered = 1;
        (*lines)++;
    }
    if (f)
        fclose(f);
    return good;
}

/* The value (kB) of "Key:" in a /proc file of "Key: N kB" lines, or -1. */
static long kv(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* Rss (kB) of the smaps block starting at `start`, or -1; also its Size. */
static long smaps_rss(uintptr_t start, long *size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    int in = 0;
    long rss = -1;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char pr[5];
        /* Block headers look like maps lines; "Key:" lines never parse as "hex-hex perms". */
        if (sscanf(line, "%lx-%lx %4s", &s, &e, pr) == 3)
            in = s == start;
        else if (in && strncmp(line, "Rss:", 4) == 0)
            rss = strtol(line + 4, NULL, 10);
        else if (in && strncmp(line, "Size:", 5) == 0)
            *size = strtol(line + 5, NULL, 10);
    }
    if (f)
        fclose(f);
    return rss;
}

static uint64_t pagemap_entry(void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t e = 0;
    if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)addr / PG) * 8) != 8)
        e = UINT64_MAX;
    if (fd >= 0)
        close(fd);
    return e;
}

static volatile int stop;
static void *idle(void *arg)
{
    while (!stop)
        usleep(1000);
    return NULL;
}

int main(int argc, char **argv)
{
    if (access("/proc/self/maps", R_OK) != 0) {
        skip("no /proc");
        return t_done();
    }
    char *a = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(a + PG, PG, PROT_READ);
    uintptr_t end;
    char perms[5], path[256];
    unsigned long off;
    ok(maps_line((uintptr_t)a, &end, perms, &off, path, sizeof path) && end == (uintptr_t)a + PG &&
           strcmp(perms, "rw-p") == 0 && off == 0 && path[0] == 0, "maps: our anonymous rw-p page, no path");
    ok(maps_line((uintptr_t)a + PG, &end, perms, &off, path, sizeof path) && end == (uintptr_t)a + 2 * PG &&
           strcmp(perms, "r--p") == 0, "maps: mprotect split off an r--p page");
    ok(maps_line((uintptr_t)a + 2 * PG, &end, perms, &off, path, sizeof path) && strcmp(perms, "rw-p") == 0,
       "maps: and the rw-p rest");
    char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(maps_line((uintptr_t)s, &end, perms, &off, path, sizeof path) && strcmp(perms, "rw-s") == 0,
       "maps: MAP_SHARED shows rw-s");
    char *w = mmap(NULL, PG, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(maps_line((uintptr_t)w, &end, perms, &off, path, sizeof path) && strcmp(perms, "-w-p") == 0 && w[0] == 0,
       "maps: a PROT_WRITE-only mapping shows -w-p (yet reads work)");
    munmap(w, PG);
    char tmpl[] = "/tmp/pagoda-lt-proc-XXXXXX";
    int fd = mkstemp(tmpl);
    ftruncate(fd, 2 * PG);
    char *f = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, PG);
    ok(maps_line((uintptr_t)f, &end, perms, &off, path, sizeof path) && strcmp(perms, "r--p") == 0 && off == PG &&
           strcmp(path, tmpl) == 0, "maps: file mapping with offset 0x1000 and its path");
    unlink(tmpl);
    maps_line((uintptr_t)f, &end, perms, &off, path, sizeof path);
    ok(strstr(path, " (deleted)") != NULL, "maps: an unlinked file shows \" (deleted)\"");
    int lines = 0, covered = 0;
    ok(maps_all_parse(&lines, (uintptr_t)main, "r-xp", &covered) && lines >= 5, "maps: all %d lines parse, sorted", lines);
    ok(covered, "maps: main() lies in an r-xp mapping");
    int local;
    maps_all_parse(&lines, (uintptr_t)&local, "rw-p", &covered);
    ok(covered, "maps: the stack is rw-p");
    FILE *mf = fopen("/proc/self/maps", "r");
    char line[512];
    int stack = 0;
    while (mf && fgets(line, sizeof line, mf))
        stack |= strstr(line, "[stack]") != NULL;
    fclose(mf);
    ok(stack, "maps: a [stack] line");

    long total = kv("/proc/meminfo", "MemTotal"), fr = kv("/proc/meminfo", "MemFree");
    ok(total > 0 && fr > 0 && fr <= total, "meminfo: MemTotal %ld kB >= MemFree %ld kB", total, fr);
    ok(kv("/proc/meminfo", "MemAvailable") >= 0, "meminfo: MemAvailable");

    long rss0 = kv("/proc/self/status", "VmRSS");
    ok(rss0 > 0, "status: VmRSS %ld kB", rss0);
    ok(kv("/proc/self/status", "Threads") == 1, "status: Threads 1");
    ok(kv("/proc/self/status", "Pid") == getpid() && kv("/proc/self/status", "PPid") == getppid(), "status: Pid, PPid");
    size_t big = 8UL << 20;
    char *b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < big; i += PG)
        b[i] = 1;
    long rss1 = kv("/proc/self/status", "VmRSS");
    ok(rss1 - rss0 >= 4096, "status: VmRSS grows after touching 8 MiB (%ld -> %ld kB)", rss0, rss1);
    munmap(b, big);
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    ok(kv("/proc/self/status", "Threads") == 2, "status: Threads 2 with a second thread");
    stop = 1;
    pthread_join(t, NULL);

    char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 8; i += 2)
        p[i * PG] = 1;
    uint64_t e0 = pagemap_entry(p), e1 = pagemap_entry(p + PG);
    ok(e0 != UINT64_MAX && (e0 >> 63) == 1, "pagemap: a touched page is present (bit 63)");
    ok(e1 != UINT64_MAX && (e1 >> 63) == 0, "pagemap: an untouched page is not");
    ok((e0 >> 61 & 1) == 0, "pagemap: an anonymous page is not file-backed (bit 61)");
    long size = -1, rss = smaps_rss((uintptr_t)p, &size);
    ok(size == 32 && rss == 16, "smaps: Size 32 kB, Rss 16 kB for 4 of 8 pages touched (%ld, %ld)", size, rss);

    FILE *sf = fopen("/proc/self/stat", "r");
    int pid = 0;
    char comm[64] = "", state = 0;
    ok(sf && fscanf(sf, "%d (%63[^)]) %c", &pid, comm, &state) == 3 && pid == getpid() && state == 'R',
       "stat: pid, (comm), state R");
    if (sf)
        fclose(sf);
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    ok(strncmp(comm, base, 15) == 0, "stat: comm is the program name (%s)", comm);
    int cf = open("/proc/self/cmdline", O_RDONLY);
    char cmd[512];
    ssize_t n = cf >= 0 ? read(cf, cmd, sizeof cmd) : -1;
    ok(n == (ssize_t)strlen(argv[0]) + 1 && strcmp(cmd, argv[0]) == 0, "cmdline: NUL-terminated argv[0]");
    close(cf);
    return t_done();
}
