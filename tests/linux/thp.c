/* Transparent huge page settings and NUMA memory policies as a program on a one-node machine
 * sees them: /sys/kernel/mm/transparent_hugepage (formats, root writes read back, EINVAL for
 * junk, EACCES for read-only files), smaps' THPeligible and AnonHugePages, and
 * mbind / set_mempolicy / get_mempolicy with their errors. Settings changed here are put
 * back before the program ends (natively they are the host's). */
#include "t.h"

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define THP "/sys/kernel/mm/transparent_hugepage/"
#define HPAGE (2UL << 20)

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_PREFERRED_MANY 5
#define MPOL_WEIGHTED_INTERLEAVE 6
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_NUMA_BALANCING (1 << 13)
#define MPOL_MF_STRICT 1
#define MPOL_MF_MOVE 2
#define MPOL_MF_MOVE_ALL 4
#define MPOL_F_NODE 1
#define MPOL_F_ADDR 2
#define MPOL_F_MEMS_ALLOWED 4

static long mbind_(void *a, unsigned long len, int mode, const unsigned long *mask,
                   unsigned long maxnode, unsigned flags)
{
    return syscall(SYS_mbind, a, len, mode, mask, maxnode, flags);
}
static long setpol(int mode, const unsigned long *mask, unsigned long maxnode)
{
    return syscall(SYS_set_mempolicy, mode, mask, maxnode);
}
static long getpol(int *mode, unsigned long *mask, unsigned long maxnode, void *addr,
                   unsigned long flags)
{
    return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

/* The file's contents (NUL-terminated, "" on failure). */
static const char *rd(const char *name)
{
    static char buf[256];
    char path[256];
    snprintf(path, sizeof path, THP "%s", name);
    buf[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

/* write(2) of `val` (its strlen) to the file: the result, errno set. */
static long wr(const char *name, const char *val)
{
    char path[256];
    snprintf(path, sizeof path, THP "%s", name);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -2;
    long r = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* The word in brackets of a choice file. */
static const char *chosen(const char *name)
{
    static char word[64];
    const char *t = rd(name), *a = strchr(t, '['), *b = a ? strchr(a, ']') : NULL;
    word[0] = 0;
    if (a && b && b - a < (long)sizeof word)
        snprintf(word, sizeof word, "%.*s", (int)(b - a - 1), a + 1);
    return word;
}

static int nonroot_writer(void *unused)
{
    if (setuid(65534) != 0)
        return 2;
    errno = 0;
    if (open(THP "enabled", O_WRONLY) != -1 || errno != EACCES)
        return 1;
    return rd("enabled")[0] ? 0 : 3;
}

static void test_sysfs(void)
{
    struct stat st;
    ok(stat("/sys/kernel/mm/transparent_hugepage", &st) == 0 && S_ISDIR(st.st_mode),
       "transparent_hugepage is a directory");
    ok(stat("/sys/kernel/mm", &st) == 0 && S_ISDIR(st.st_mode), "/sys/kernel/mm too");
    ok(strcmp(rd("hpage_pmd_size"), "2097152\n") == 0, "hpage_pmd_size: 2097152");
    ok(stat(THP "hpage_pmd_size", &st) == 0 && (st.st_mode & 07777) == 0444 && st.st_uid == 0,
       "hpage_pmd_size is 0444 root");
    ok(stat(THP "enabled", &st) == 0 && (st.st_mode & 07777) == 0644, "enabled is 0644");
    ok_err(open(THP "hpage_pmd_size", O_WRONLY), EACCES, "0444: no write open, even for root");
    ok_err(open(THP "khugepaged/full_scans", O_RDWR), EACCES, "full_scans is read-only");
    ok_err(open(THP "enabled", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST, "O_EXCL: EEXIST");
    ok_err(open(THP "enabled", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY: ENOTDIR");
    char now[80];
    snprintf(now, sizeof now, "%s\n", chosen("enabled"));
    int fd = open(THP "enabled", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ok(fd >= 0 && write(fd, now, strlen(now)) == (long)strlen(now),
       "a shell's redirection (O_CREAT|O_TRUNC) of the current value");
    close(fd);
    ok(t_child(nonroot_writer, NULL) == 0, "uid 65534 reads but may not open for writing");
    ok(t_lists("/sys", "kernel") && t_lists("/sys/kernel", "mm") &&
           t_lists("/sys/kernel/mm", "transparent_hugepage") && t_lists(THP, "khugepaged") &&
           t_lists(THP, "hugepages-2048kB") && t_lists(THP "khugepaged", "pages_to_scan"),
       "the directories list their entries");

    /* Formats: one choice in brackets among Linux's words. */
    char top[64], pmd[64], s64[64];
    snprintf(top, sizeof top, "%s", chosen("enabled"));
    snprintf(pmd, sizeof pmd, "%s", chosen("hugepages-2048kB/enabled"));
    snprintf(s64, sizeof s64, "%s", chosen("hugepages-64kB/enabled"));
    const char *t = rd("enabled");
    ok(strstr(t, "always") && strstr(t, "madvise") && strstr(t, "never") &&
           t[strlen(t) - 1] == '\n' && top[0],
       "enabled: always madvise never, one chosen (%s)", top);
    t = rd("hugepages-2048kB/enabled");
    ok(strstr(t, "always") == t && strstr(t, "inherit") && strstr(t, "madvise") &&
           strstr(t, "never"),
       "hugepages-2048kB/enabled lists always inherit madvise never");
    int sizes = 0;
    for (int kb = 16; kb <= 2048; kb *= 2) {
        char n[64];
        snprintf(n, sizeof n, "hugepages-%dkB/enabled", kb);
        sizes += chosen(n)[0] != 0;
    }
    ok(sizes == 8, "hugepages-16kB .. 2048kB each have a setting (%d)", sizes);
    t = rd("defrag");
    ok(strstr(t, "always defer defer+madvise") == t && chosen("defrag")[0],
       "defrag: Linux's five words");
    t = rd("shmem_enabled");
    ok(strstr(t, "always within_size advise") == t && strstr(t, "deny force\n"),
       "shmem_enabled: Linux's words");
    ok(strtoul(rd("khugepaged/max_ptes_none"), NULL, 10) <= 511 &&
           strtoul(rd("khugepaged/pages_to_scan"), NULL, 10) > 0,
       "khugepaged numbers in range");

    /* Writes as root, read back, then put back. */
    ok(wr("enabled", "never") == 5 && strcmp(chosen("enabled"), "never") == 0,
       "enabled := never");
    ok(wr("enabled", "always\n") == 7 && strcmp(chosen("enabled"), "always") == 0,
       "enabled := always (trailing newline)");
    ok_err(wr("enabled", "sometimes"), EINVAL, "enabled: junk is EINVAL");
    ok_err(wr("enabled", "always\n\n"), EINVAL, "enabled: two newlines are EINVAL");
    ok(strcmp(chosen("enabled"), "always") == 0, "a refused write changes nothing");
    ok(wr("enabled", top) > 0 && strcmp(chosen("enabled"), top) == 0, "enabled put back");
    ok(wr("hugepages-64kB/enabled", "always") == 6 &&
           strcmp(chosen("hugepages-64kB/enabled"), "always") == 0,
       "hugepages-64kB := always");
    ok_err(wr("hugepages-64kB/enabled", "inheritx"), EINVAL, "per-size junk is EINVAL");
    ok(wr("hugepages-64kB/enabled", s64) > 0 && strcmp(chosen("hugepages-64kB/enabled"), s64) == 0,
       "hugepages-64kB put back");
    ok(wr("hugepages-2048kB/enabled", pmd) > 0, "hugepages-2048kB written with its value");
    char defrag[64];
    snprintf(defrag, sizeof defrag, "%s", chosen("defrag"));
    ok(wr("defrag", "defer+madvise") == 13 && strcmp(chosen("defrag"), "defer+madvise") == 0,
       "defrag := defer+madvise");
    ok_err(wr("defrag", "defer+"), EINVAL, "defrag junk");
    ok(wr("defrag", defrag) > 0, "defrag put back");
    ok(wr("use_zero_page", "0") == 1 || errno == 0, "use_zero_page accepts 0");
    ok_err(wr("use_zero_page", "2"), EINVAL, "use_zero_page 2: EINVAL");
    ok_err(wr("use_zero_page", "99999999999999999999999"), ERANGE, "use_zero_page overflow: ERANGE");
    ok(wr("use_zero_page", "1") == 1 || errno == EINVAL, "use_zero_page 1: set or EINVAL");
    ok(wr("shmem_enabled", "never") == 5 && strcmp(chosen("shmem_enabled"), "never") == 0,
       "shmem_enabled := never");
    ok_err(wr("shmem_enabled", "bogus"), EINVAL, "shmem_enabled junk");

    const char *knob = "khugepaged/max_ptes_none";
    unsigned long none = strtoul(rd(knob), NULL, 10);
    ok(wr(knob, "+100\n") == 5 && strtoul(rd(knob), NULL, 10) == 100, "max_ptes_none := +100");
    ok_err(wr(knob, "512"), EINVAL, "max_ptes_none 512: EINVAL");
    ok_err(wr(knob, "-1"), EINVAL, "max_ptes_none -1: EINVAL");
    ok_err(wr(knob, " 1"), EINVAL, "max_ptes_none ' 1': EINVAL");
    char v[32];
    snprintf(v, sizeof v, "%lu", none);
    ok(wr(knob, v) > 0 && strtoul(rd(knob), NULL, 10) == none, "max_ptes_none put back");
    ok_err(wr("khugepaged/pages_to_scan", "0"), EINVAL, "pages_to_scan 0: EINVAL");
    ok_err(wr("khugepaged/scan_sleep_millisecs", "4294967296"), EINVAL,
           "scan_sleep_millisecs past 32 bits: EINVAL");
    ok_err(wr("khugepaged/defrag", "2"), EINVAL, "khugepaged/defrag 2: EINVAL");
    ok(wr("khugepaged/defrag", "") == 0, "an empty write does nothing");
}

/* smaps fields of the area containing `addr` (kB, -1 if missing). */
static long smaps_field(void *addr, const char *key)
{
    static char text[1 << 16];
    int fd = open("/proc/self/smaps", O_RDONLY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    ssize_t r;
    while (n < sizeof text - 1 && (r = read(fd, text + n, sizeof text - 1 - n)) > 0)
        n += r;
    close(fd);
    text[n] = 0;
    for (char *line = text; line && *line;) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ') &&
            (uintptr_t)addr >= a && (uintptr_t)addr < b) {
            char *k = strstr(line, key);
            return k ? strtol(k + strlen(key), NULL, 10) : -1;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -1;
}

static void test_thp_eligible(void)
{
    char *m = mmap(NULL, 3 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *a = (char *)(((uintptr_t)m + HPAGE - 1) & ~(HPAGE - 1));
    ok(m != MAP_FAILED, "mmap 6 MiB");
    char top[64];
    snprintf(top, sizeof top, "%s", chosen("enabled"));
    ok(wr("enabled", "madvise") == 7, "enabled := madvise");
    ok(smaps_field(a, "THPeligible:") == 0, "not advised: THPeligible 0");
    ok(madvise(a, HPAGE, MADV_HUGEPAGE) == 0, "MADV_HUGEPAGE on an aligned 2 MiB");
    ok(smaps_field(a, "THPeligible:") == 1, "advised: THPeligible 1");
    ok(smaps_field(a, "AnonHugePages:") == 0, "nothing touched: AnonHugePages 0 kB");
    ok(wr("enabled", "never") == 5 && smaps_field(a, "THPeligible:") == 0,
       "enabled never: THPeligible 0");
    ok(wr("enabled", top) > 0, "enabled put back");
    char *s = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(s != MAP_FAILED && smaps_field(s, "THPeligible:") == 0, "shared memory: THPeligible 0");
    munmap(s, HPAGE);
    munmap(m, 3 * HPAGE);
}

/* Pages of [addr, addr + n pages) present in pagemap (-1 on error). */
static int present_pages(void *addr, int n)
{
    static uint64_t words[512];
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0 || n > 512)
        return -1;
    ssize_t r = pread(fd, words, n * 8, (uintptr_t)addr / PG * 8);
    close(fd);
    if (r != n * 8)
        return -1;
    int present = 0;
    for (int i = 0; i < n; i++)
        present += (int)(words[i] >> 63);
    return present;
}

/* A first write to an advised, aligned 2 MiB block fills it with one huge page. */
static void test_huge_fault(void)
{
    char top[64], pmd[64];
    snprintf(top, sizeof top, "%s", chosen("enabled"));
    snprintf(pmd, sizeof pmd, "%s", chosen("hugepages-2048kB/enabled"));
    ok(wr("enabled", "madvise") == 7 && wr("hugepages-2048kB/enabled", "inherit") == 7,
       "enabled madvise, 2048kB inherit");
    char *m = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *a = (char *)(((uintptr_t)m + HPAGE - 1) & ~(HPAGE - 1));
    ok(m != MAP_FAILED && madvise(a, HPAGE, MADV_HUGEPAGE) == 0, "MADV_HUGEPAGE");
    a[100] = 7;
    ok(present_pages(a, 512) == 512, "one write: all 512 pages present (%d)",
       present_pages(a, 512));
    ok(smaps_field(a, "AnonHugePages:") == 2048, "smaps AnonHugePages: 2048 kB (%ld)",
       smaps_field(a, "AnonHugePages:"));
    ok(t_meminfo_kb("AnonHugePages:") >= 2048, "meminfo AnonHugePages >= 2048 kB");
    int zero = 1;
    for (size_t i = 0; i < HPAGE; i += 4096)
        zero &= a[i + 1] == 0;
    ok(zero && a[100] == 7, "the block reads zeros and the byte written");
    a[HPAGE - 1] = 9;
    ok(mprotect(a + 5 * PG, PG, PROT_READ) == 0, "mprotect one page of it");
    ok(smaps_field(a, "AnonHugePages:") == 0 && smaps_field(a + 5 * PG, "AnonHugePages:") == 0,
       "split: AnonHugePages 0 kB");
    ok(present_pages(a, 512) == 512 && a[100] == 7 && a[HPAGE - 1] == 9,
       "all pages still there, contents kept");
    munmap(m, 2 * HPAGE);

    /* The settings decide the next fault: never, then the size's own always. */
    ok(wr("enabled", "never") == 5, "enabled := never");
    m = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    a = (char *)(((uintptr_t)m + HPAGE - 1) & ~(HPAGE - 1));
    ok(m != MAP_FAILED && madvise(a, HPAGE, MADV_HUGEPAGE) == 0, "MADV_HUGEPAGE");
    a[0] = 1;
    ok(smaps_field(a, "AnonHugePages:") == 0 && present_pages(a, 512) < 512,
       "never: no huge page (%d pages)", present_pages(a, 512));
    ok(wr("hugepages-2048kB/enabled", "always") == 6, "hugepages-2048kB := always");
    munmap(m, 2 * HPAGE);
    m = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    a = (char *)(((uintptr_t)m + HPAGE - 1) & ~(HPAGE - 1));
    a[0] = 1;
    ok(smaps_field(a, "AnonHugePages:") == 2048,
       "the size's always wins over the top never, without advice");
    munmap(m, 2 * HPAGE);
    ok(wr("enabled", top) > 0 && wr("hugepages-2048kB/enabled", pmd) > 0, "settings put back");
}

static int maps_areas(void *lo, void *hi)
{
    static char text[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY), n = 0;
    size_t len = 0;
    ssize_t r;
    while (fd >= 0 && len < sizeof text - 1 && (r = read(fd, text + len, sizeof text - 1 - len)) > 0)
        len += r;
    if (fd >= 0)
        close(fd);
    text[len] = 0;
    for (char *line = text; line && *line;) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < (uintptr_t)hi && b > (uintptr_t)lo)
            n++;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return n;
}

static sigjmp_buf jb;
static void on_segv(int sig)
{
    siglongjmp(jb, 1);
}

static int nonroot_move_all(void *p)
{
    if (setuid(65534) != 0)
        return 2;
    errno = 0;
    long r = mbind_(p, PG, MPOL_BIND, (unsigned long[]){1}, 64, MPOL_MF_MOVE_ALL);
    return r == -1 && errno == EPERM ? 0 : 1;
}

static int child_policies(void *p)
{
    int mode = -1;
    unsigned long mask = 0;
    if (getpol(&mode, &mask, 64, p, MPOL_F_ADDR) != 0 || mode != MPOL_BIND || mask != 1)
        return 1;
    if (getpol(&mode, &mask, 64, 0, 0) != 0 || mode != MPOL_INTERLEAVE)
        return 2;
    return 0;
}

static void test_mempolicy(void)
{
    int mode = -1;
    unsigned long mask = ~0UL, one = 1, two = 2, three = 3;
    ok(getpol(&mode, &mask, 64, 0, 0) == 0 && mode == MPOL_DEFAULT && mask == 0,
       "default task policy, empty mask");
    ok(getpol(&mode, NULL, 0, 0, 0) == 0, "no mask wanted: maxnode 0 is fine");
    ok_err(getpol(&mode, &mask, 0, 0, 0), EINVAL, "mask with maxnode 0: EINVAL");
    ok_err(getpol(&mode, NULL, 0, 0, 8), EINVAL, "unknown flag: EINVAL");
    ok_err(getpol(&mode, NULL, 0, 0, MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR), EINVAL,
           "MEMS_ALLOWED with ADDR: EINVAL");
    mask = 0;
    ok(getpol(&mode, &mask, 64, 0, MPOL_F_MEMS_ALLOWED) == 0 && mask == 1,
       "MEMS_ALLOWED: node 0 only");
    ok_err(getpol(&mode, NULL, 0, (void *)4096, 0), EINVAL, "an address without F_ADDR");
    ok_err(getpol(&mode, NULL, 0, 0, MPOL_F_NODE), EINVAL, "F_NODE of a default policy");
    ok_err(getpol((int *)8, NULL, 0, 0, 0), EFAULT, "bad policy pointer: EFAULT");

    ok(setpol(MPOL_BIND, &one, 64) == 0, "set_mempolicy BIND {0}");
    ok(getpol(&mode, &mask, 64, 0, 0) == 0 && mode == MPOL_BIND && mask == 1, "reads back");
    ok(setpol(MPOL_BIND, &three, 64) == 0 && getpol(&mode, &mask, 64, 0, 0) == 0 && mask == 1,
       "BIND {0,1}: the mask is what exists, {0}");
    ok_err(setpol(MPOL_BIND, &two, 64), EINVAL, "BIND {1}: no such node");
    ok_err(setpol(MPOL_BIND, NULL, 0), EINVAL, "BIND without nodes");
    ok_err(setpol(MPOL_BIND, &one, 1), EINVAL, "maxnode 1 reads no bit: empty");
    ok_err(setpol(MPOL_BIND, &one, 0), EINVAL, "maxnode 0 with a mask");
    ok_err(setpol(MPOL_BIND, &one, 32770), EINVAL, "maxnode past a page of bits");
    ok_err(setpol(MPOL_BIND, (unsigned long *)8, 64), EFAULT, "bad mask pointer: EFAULT");
    unsigned long wide[18] = {1};
    wide[16] = 1;
    ok_err(setpol(MPOL_BIND, wide, 18 * 64), EINVAL, "node 1024: past MAX_NUMNODES");
    wide[16] = 0;
    ok(setpol(MPOL_BIND, wide, 18 * 64) == 0, "a wide mask of node 0");
    ok_err(setpol(7, &one, 64), EINVAL, "mode 7: EINVAL");
    ok_err(setpol(MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, &one, 64), EINVAL,
           "STATIC and RELATIVE: EINVAL");
    ok_err(setpol(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, &one, 64), EINVAL,
           "NUMA_BALANCING with INTERLEAVE");
    ok(setpol(MPOL_BIND | MPOL_F_NUMA_BALANCING, &one, 64) == 0 &&
           getpol(&mode, NULL, 0, 0, 0) == 0 && mode == (MPOL_BIND | MPOL_F_NUMA_BALANCING),
       "BIND|NUMA_BALANCING reads back");
    ok(setpol(MPOL_BIND | MPOL_F_STATIC_NODES, &three, 64) == 0 &&
           getpol(&mode, &mask, 64, 0, 0) == 0 && mode == (MPOL_BIND | MPOL_F_STATIC_NODES) &&
           mask == 3,
       "STATIC_NODES keeps the mask as given");
    ok(setpol(MPOL_PREFERRED | MPOL_F_RELATIVE_NODES, &two, 64) == 0 &&
           getpol(&mode, &mask, 64, 0, 0) == 0 && mode == (MPOL_PREFERRED | MPOL_F_RELATIVE_NODES) &&
           mask == 2,
       "RELATIVE_NODES {1} folds onto node 0");
    ok_err(setpol(MPOL_DEFAULT, &one, 64), EINVAL, "DEFAULT with nodes");
    ok(setpol(MPOL_PREFERRED, NULL, 0) == 0 && getpol(&mode, &mask, 64, 0, 0) == 0 &&
           mode == MPOL_LOCAL && mask == 0,
       "PREFERRED without nodes is LOCAL");
    ok_err(setpol(MPOL_PREFERRED | MPOL_F_STATIC_NODES, NULL, 0), EINVAL,
           "PREFERRED, no nodes, STATIC");
    ok_err(setpol(MPOL_LOCAL, &one, 64), EINVAL, "LOCAL with nodes");
    ok(setpol(MPOL_PREFERRED_MANY, &one, 64) == 0 && setpol(MPOL_WEIGHTED_INTERLEAVE, &one, 64) == 0,
       "PREFERRED_MANY, WEIGHTED_INTERLEAVE");
    ok(setpol(MPOL_INTERLEAVE, &one, 64) == 0 && getpol(&mode, NULL, 0, 0, MPOL_F_NODE) == 0 &&
           mode == 0,
       "INTERLEAVE: F_NODE gives the next node, 0");

    /* mbind: per area. */
    char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(p != MAP_FAILED, "mmap 4 pages");
    ok(getpol(&mode, &mask, 64, p, MPOL_F_ADDR) == 0 && mode == MPOL_DEFAULT && mask == 0,
       "an area without policy reads DEFAULT (not the task's)");
    ok(mbind_(p + PG, PG, MPOL_BIND, &one, 64, 0) == 0, "mbind BIND on page 1");
    ok(maps_areas(p, p + 4 * PG) == 3, "the area split in three (%d)", maps_areas(p, p + 4 * PG));
    ok(getpol(&mode, &mask, 64, p + PG, MPOL_F_ADDR) == 0 && mode == MPOL_BIND && mask == 1,
       "page 1 reads BIND {0}");
    ok(getpol(&mode, NULL, 0, p + 2 * PG, MPOL_F_ADDR) == 0 && mode == MPOL_DEFAULT,
       "page 2 still DEFAULT");
    ok(mbind_(p + 2 * PG, 2 * PG - 100, MPOL_BIND, &one, 64, 0) == 0 &&
           maps_areas(p, p + 4 * PG) == 2,
       "same policy on pages 2-3: they merge with page 1");
    ok(getpol(&mode, NULL, 0, p + 3 * PG, MPOL_F_ADDR) == 0 && mode == MPOL_BIND,
       "the length was rounded up");
    ok(getpol(&mode, NULL, 0, p + PG, MPOL_F_ADDR | MPOL_F_NODE) == 0 && mode == 0,
       "F_ADDR|F_NODE: the page is on node 0");
    ok(t_child(child_policies, p + PG) == 0, "fork keeps area and task policies");
    ok(mbind_(p, 4 * PG, MPOL_DEFAULT, NULL, 0, 0) == 0 && maps_areas(p, p + 4 * PG) == 1,
       "mbind DEFAULT: one area again");
    ok_err(mbind_(p + 1, PG, MPOL_BIND, &one, 64, 0), EINVAL, "unaligned start");
    ok_err(mbind_(p, PG, MPOL_BIND, &one, 64, 8), EINVAL, "unknown flag");
    ok_err(mbind_(p, PG, MPOL_BIND, &two, 64, 0), EINVAL, "node 1");
    ok_err(mbind_(p, PG, MPOL_BIND, (unsigned long *)8, 64, 0), EFAULT, "bad mask");
    ok_err(mbind_(p, PG, 9, &one, 64, 0), EINVAL, "bad mode");
    ok_err(mbind_(p + 1, PG, MPOL_BIND, &one, 64, 8), EINVAL, "flags before alignment");
    ok(mbind_(p, 0, MPOL_BIND, &two, 64, 0) == 0,
       "an empty length returns before the nodes are checked");
    ok(mbind_(p, 0, MPOL_BIND, &one, 64, 0) == 0, "length 0: nothing to do");
    ok_err(mbind_(p + PG, -2 * PG, MPOL_BIND, &one, 64, 0), EINVAL, "range wraps");
    ok(mbind_(p, PG, MPOL_BIND, &one, 64, MPOL_MF_MOVE_ALL) == 0, "MOVE_ALL as root");
    ok(t_child(nonroot_move_all, p) == 0, "MOVE_ALL without CAP_SYS_NICE: EPERM");

    ok(munmap(p + 2 * PG, PG) == 0, "a hole at page 2");
    ok_err(mbind_(p, 4 * PG, MPOL_BIND, &one, 64, 0), EFAULT, "hole in the range: EFAULT");
    ok(mbind_(p, 4 * PG, MPOL_DEFAULT, NULL, 0, 0) == 0, "DEFAULT may span holes");
    ok_err(mbind_(p + 2 * PG, PG, MPOL_DEFAULT, NULL, 0, 0), EFAULT, "DEFAULT on a hole alone");
    ok_err(getpol(&mode, NULL, 0, p + 2 * PG, MPOL_F_ADDR), EFAULT, "F_ADDR of a hole");

    p[0] = 1;
    ok_err(mbind_(p, PG, MPOL_LOCAL, NULL, 0, MPOL_MF_STRICT), EIO,
           "LOCAL|STRICT on a touched page without MOVE: EIO");
    ok(mbind_(p + 3 * PG, PG, MPOL_LOCAL, NULL, 0, MPOL_MF_STRICT) == 0, "untouched: no EIO");
    ok(mbind_(p, PG, MPOL_BIND, &one, 64, MPOL_MF_STRICT) == 0, "BIND {0} STRICT: on node 0");
    ok(mbind_(p, PG, MPOL_LOCAL, NULL, 0, MPOL_MF_STRICT | MPOL_MF_MOVE) == 0, "with MOVE: fine");
    ok(getpol(&mode, NULL, 0, p, MPOL_F_ADDR) == 0 && mode == MPOL_LOCAL, "LOCAL reads back");

    /* mkdirty's migration test: a read-only page stays read-only after being moved. */
    p[PG] = 42;
    ok(mprotect(p + PG, PG, PROT_READ) == 0, "page 1 read-only");
    ok(mbind_(p + PG, PG, MPOL_LOCAL, NULL, 0x7ff, MPOL_MF_MOVE) == 0, "mbind LOCAL MOVE");
    signal(SIGSEGV, on_segv);
    volatile int faulted = 0;
    if (sigsetjmp(jb, 1) == 0)
        *(volatile char *)(p + PG) = 43;
    else
        faulted = 1;
    signal(SIGSEGV, SIG_DFL);
    ok(faulted && p[PG] == 42, "a write still faults, contents kept");
    munmap(p, 4 * PG);
    ok(setpol(MPOL_DEFAULT, NULL, 0) == 0 && getpol(&mode, NULL, 0, 0, 0) == 0 &&
           mode == MPOL_DEFAULT,
       "back to DEFAULT");
}

int main(void)
{
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0) {
        test_sysfs();
        test_thp_eligible();
        test_huge_fault();
    } else {
        skip("no transparent huge pages");
    }
    test_mempolicy();
    return t_done();
}
