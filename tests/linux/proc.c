/* /proc: maps, meminfo, status, pagemap, smaps, stat and cmdline describe this process. */
#include "t.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

extern char **environ;

/* n fresh private read-write pages between two PROT_NONE guards: Linux merges an anonymous
 * mapping with a like neighbour (musl's malloc maps many), the guards keep ours one line. */
static char *own_map(size_t n)
{
    char *g = mmap(NULL, (n + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED)
        return g;
    return mmap(g + PG, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

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

/* The value of "Key:" (kB) in the smaps block starting at `start`, or -1; with `flags`,
 * copies that block's VmFlags line. */
static long smaps_field(uintptr_t start, const char *key, char *flags, size_t cap)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    int in = 0;
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char pr[5];
        if (sscanf(line, "%lx-%lx %4s", &s, &e, pr) == 3)
            in = s == start;
        else if (in && strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
        else if (in && flags && strncmp(line, "VmFlags:", 8) == 0)
            snprintf(flags, cap, "%s", line + 8);
    }
    if (f)
        fclose(f);
    return v;
}

/* The whole of a small /proc file (NUL-terminated), its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = 0, r;
    if (fd < 0)
        return -1;
    while ((size_t)n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += r;
    close(fd);
    buf[n] = 0;
    return n;
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
    char *a = own_map(3);
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

    char *p = own_map(8);
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
    /* smaps figures of the 4 written pages of p, and the VmFlags of private memory. */
    char vmf[256] = "";
    ok(smaps_field((uintptr_t)p, "Private_Dirty", vmf, sizeof vmf) == 16 &&
           smaps_field((uintptr_t)p, "Anonymous", NULL, 0) == 16 && smaps_field((uintptr_t)p, "Pss", NULL, 0) == 16,
       "smaps: Private_Dirty, Anonymous, Pss 16 kB for 4 written private pages");
    ok(smaps_field((uintptr_t)p, "Shared_Clean", NULL, 0) == 0 && smaps_field((uintptr_t)p, "Locked", NULL, 0) == 0 &&
           smaps_field((uintptr_t)p, "Swap", NULL, 0) == 0, "smaps: Shared_Clean, Locked, Swap 0");
    ok(strstr(vmf, " rd wr ") == vmf && strstr(vmf, " mr mw me ") && strstr(vmf, " ac ") && !strstr(vmf, " lo "),
       "smaps: VmFlags%s", strtok(vmf, "\n"));
    ok(mlock(p, 2 * PG) == 0, "mlock 2 pages");
    ok(smaps_field((uintptr_t)p, "Locked", vmf, sizeof vmf) == 8 && strstr(vmf, " lo ") != NULL,
       "smaps: the locked area shows Locked 8 kB and \"lo\"");
    ok(kv("/proc/self/status", "VmLck") >= 8, "status: VmLck counts it");
    munlock(p, 2 * PG);
    ok(smaps_field((uintptr_t)p, "THPeligible", NULL, 0) >= 0 && smaps_field((uintptr_t)p, "KernelPageSize", NULL, 0) == 4,
       "smaps: THPeligible, KernelPageSize 4 kB");
    char txt[8192];
    ok(slurp("/proc/self/smaps_rollup", txt, sizeof txt) > 0 && strstr(txt, "[rollup]\n") && strstr(txt, "\nPss_Anon:") &&
           strstr(txt, "\nRss:"), "smaps_rollup: a [rollup] header, Rss and Pss_Anon");
    long roll = kv("/proc/self/smaps_rollup", "Rss"), vmrss = kv("/proc/self/status", "VmRSS");
    ok(roll >= 16 && roll <= vmrss + 64 && vmrss <= roll + 64, "smaps_rollup: Rss %ld kB ~ VmRSS %ld kB", roll, vmrss);

    /* pagemap: alignment rules, frame numbers for root, the exclusive bit. */
    int pm = open("/proc/self/pagemap", O_RDONLY);
    uint64_t word = 0;
    errno = 0;
    ok(pread(pm, &word, 8, 4) == -1 && errno == EINVAL, "pagemap: an unaligned offset is EINVAL");
    errno = 0;
    ok(pread(pm, &word, 4, 0) == -1 && errno == EINVAL, "pagemap: a length not a multiple of 8 is EINVAL");
    uint64_t words[8];
    ok(pread(pm, words, sizeof words, (off_t)((uintptr_t)p / PG) * 8) == sizeof words && (words[0] >> 63) &&
           !(words[3] >> 63) && (words[4] >> 63), "pagemap: 8 words at once, touched pages present");
    if (getuid() == 0)
        ok((e0 & ((1ULL << 55) - 1)) != 0, "pagemap: root sees the frame number");
    ok((e0 >> 56 & 1) == 1, "pagemap: a private page mapped once is exclusive (bit 56)");
    uint64_t fw = pagemap_entry(f);
    ok((fw >> 63) == 0 || (fw >> 61 & 1) == 1, "pagemap: a file page is file-backed (bit 61) when present");
    close(pm);

    /* /proc/self/mem: reads, debugger writes into read-only memory, EIO for holes. */
    int mem = open("/proc/self/mem", O_RDWR);
    char byte = 0;
    p[3 * PG] = 42;
    ok(mem >= 0 && pread(mem, &byte, 1, (off_t)(uintptr_t)(p + 3 * PG)) == 1 && byte == 42, "mem: pread sees memory");
    char *ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(pwrite(mem, "ptrace", 6, (off_t)(uintptr_t)ro) == 6 && memcmp(ro, "ptrace", 6) == 0,
       "mem: pwrite reaches a PROT_READ page (FOLL_FORCE)");
    ok(maps_line((uintptr_t)ro, &end, perms, &off, path, sizeof path) && strcmp(perms, "r--p") == 0,
       "mem: and the page stays read-only");
    char *hole = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, PG);
    errno = 0;
    ok(pread(mem, &byte, 1, (off_t)(uintptr_t)hole) == -1 && errno == EIO, "mem: an unmapped address is EIO");
    char lazy = 1;
    char *lz = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(pread(mem, &lazy, 1, (off_t)(uintptr_t)lz) == 1 && lazy == 0, "mem: reading an untouched page gives zeros");
    close(mem);

    /* Small files. */
    char sm[256];
    unsigned long st[7];
    ok(slurp("/proc/self/statm", sm, sizeof sm) > 0 &&
           sscanf(sm, "%lu %lu %lu %lu %lu %lu %lu", &st[0], &st[1], &st[2], &st[3], &st[4], &st[5], &st[6]) == 7 &&
           st[0] >= st[1] && st[1] > 0, "statm: 7 fields, size %lu >= resident %lu pages", st[0], st[1]);
    ok(slurp("/proc/self/stat", txt, sizeof txt) > 0, "stat: read");
    char *after = strrchr(txt, ')');
    int fields = 2;
    long ppid = -1, threads = -1;
    for (char *tok = after ? strtok(after + 1, " \n") : NULL; tok; tok = strtok(NULL, " \n")) {
        fields++;
        if (fields == 4)
            ppid = strtol(tok, NULL, 10);
        if (fields == 20)
            threads = strtol(tok, NULL, 10);
    }
    ok(fields == 52 && ppid == getppid() && threads == 1, "stat: 52 fields, ppid, num_threads (%d)", fields);
    char want[32];
    snprintf(want, sizeof want, "%.15s\n", base);
    ok(slurp("/proc/self/comm", sm, sizeof sm) > 0 && strcmp(sm, want) == 0, "comm: %s", base);
    ssize_t en = slurp("/proc/self/environ", txt, sizeof txt);
    ok(en > 0 && environ[0] && strcmp(txt, environ[0]) == 0, "environ: starts with %s", environ[0] ? environ[0] : "?");
    ok(slurp("/proc/self/status", txt, sizeof txt) > 0 && strstr(txt, "\nUid:\t0\t0\t0\t0\n") == NULL ? getuid() != 0 : 1,
       "status: Uid line");
    ok(strstr(txt, "\nSigBlk:\t") && strstr(txt, "\nCapEff:\t") && strstr(txt, "\nVmPTE:\t") &&
           strstr(txt, "\nCpus_allowed_list:\t"), "status: SigBlk, CapEff, VmPTE, Cpus_allowed_list");
    char me[32], link[64] = "";
    snprintf(me, sizeof me, "%d", getpid());
    ok(readlink("/proc/self", link, sizeof link - 1) > 0 && strcmp(link, me) == 0, "readlink /proc/self = %s", me);
    ok(t_lists("/proc", "self") && t_lists("/proc", me) && t_lists("/proc", "meminfo"), "getdents /proc: self, %s, meminfo", me);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%s", me);
    ok(t_lists(dir, "maps") && t_lists(dir, "smaps") && t_lists(dir, "pagemap") && t_lists(dir, "status") && t_lists(dir, "mem"),
       "getdents /proc/<pid>: maps, smaps, pagemap, status, mem");
    char pmaps[80];
    snprintf(pmaps, sizeof pmaps, "/proc/%s/maps", me);
    ok(slurp(pmaps, txt, sizeof txt) > 0 && strstr(txt, "[stack]"), "/proc/<pid>/maps reads like /proc/self/maps");
    ok(access("/proc/thread-self/status", R_OK) == 0, "/proc/thread-self/status exists");
    ok(slurp("/proc/sys/vm/overcommit_memory", sm, sizeof sm) == 2 && strchr("012", sm[0]), "sys/vm/overcommit_memory");
    ok(slurp("/proc/sys/vm/max_map_count", sm, sizeof sm) > 0 && atol(sm) > 0, "sys/vm/max_map_count %ld", atol(sm));
    ok(slurp("/proc/sys/kernel/pid_max", sm, sizeof sm) > 0 && atol(sm) >= 32768, "sys/kernel/pid_max %ld", atol(sm));
    ok(slurp("/proc/cpuinfo", txt, sizeof txt) > 0 && strncmp(txt, "processor", 9) == 0, "cpuinfo: processor");
    int wr = open("/proc/self/maps", O_WRONLY);
    errno = 0;
    ok(getuid() != 0 || (wr >= 0 && write(wr, "x", 1) == -1 && errno == EINVAL), "maps: root may open it for writing, write is EINVAL");
    if (wr >= 0)
        close(wr);

    /* After fork a page is shared: not exclusive, Pss halves. */
    int pfd[2];
    pipe(pfd);
    pid_t child = fork();
    if (child < 0 && errno == ENOSYS) {
        skip("fork: ENOSYS");
    } else if (child == 0) {
        char c;
        read(pfd[0], &c, 1);
        _exit(0);
    } else {
        uint64_t sh = pagemap_entry(p);
        ok((sh >> 63) && !(sh >> 56 & 1), "pagemap: after fork the page is not exclusive");
        ok(smaps_field((uintptr_t)p, "Shared_Dirty", NULL, 0) >= 4 && smaps_field((uintptr_t)p, "Pss", NULL, 0) < 16,
           "smaps: after fork Shared_Dirty and a smaller Pss");
        /* Another process's files, read by its parent. */
        char cdir[64], cpath[96], cbuf[4096];
        snprintf(cdir, sizeof cdir, "/proc/%d", (int)child);
        snprintf(cpath, sizeof cpath, "%s/status", cdir);
        ok(kv(cpath, "PPid") == getpid() && kv(cpath, "Pid") == child && slurp(cpath, cbuf, sizeof cbuf) > 0 &&
               (strstr(cbuf, "\nState:\tS (sleeping)\n") || strstr(cbuf, "\nState:\tR (running)\n")),
           "/proc/<child>/status: Pid, PPid, State S or R");
        snprintf(cpath, sizeof cpath, "%s/maps", cdir);
        ok(slurp(cpath, cbuf, sizeof cbuf) > 0 && strstr(cbuf, "[stack]"), "/proc/<child>/maps");
        snprintf(cpath, sizeof cpath, "%s/mem", cdir);
        int cm = open(cpath, O_RDONLY);
        byte = 0;
        ok(cm >= 0 && pread(cm, &byte, 1, (off_t)(uintptr_t)(p + 3 * PG)) == 1 && byte == 42,
           "/proc/<child>/mem reads the child's memory");
        if (cm >= 0)
            close(cm);
        snprintf(cpath, sizeof cpath, "%s/pagemap", cdir);
        int cp = open(cpath, O_RDONLY);
        word = 0;
        ok(cp >= 0 && pread(cp, &word, 8, (off_t)((uintptr_t)p / PG) * 8) == 8 && (word >> 63) && !(word >> 56 & 1),
           "/proc/<child>/pagemap: the shared page, present, not exclusive");
        if (cp >= 0)
            close(cp);
        ok(t_lists("/proc", cdir + 6), "getdents /proc lists the child");
        write(pfd[1], "x", 1);
        waitpid(child, NULL, 0);
        ok(access(cdir, F_OK) == -1 && errno == ENOENT, "/proc/<child> goes once it is reaped");
    }
    return t_done();
}
