/* Pagoda Linux test programs: tiny TAP-like reporting shared by every program.
 * ok(cond, fmt, ...) prints "ok N - name" or "not ok N - name (file:line, errno)".
 * skip(fmt, ...) records a skipped check; t_done() prints the totals and returns the exit
 * status: 1 if any check failed, 4 if everything was skipped, else 0. */
#ifndef PAGODA_T_H
#define PAGODA_T_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __GLIBC__
#include <stdint.h>
#include <sys/syscall.h>
/* musl's sbrk() only answers sbrk(0) (and its brk() always fails): the tests judge the
 * kernel's brk, so sbrk is the usual wrapper over the brk system call here, as in glibc. */
__attribute__((unused)) static void *t_sbrk(intptr_t inc)
{
    uintptr_t cur = (uintptr_t)syscall(SYS_brk, 0);
    if (inc == 0)
        return (void *)cur;
    uintptr_t want = cur + (uintptr_t)inc;
    if ((inc > 0 && want < cur) || (inc < 0 && want > cur) || (uintptr_t)syscall(SYS_brk, want) != want) {
        errno = ENOMEM;
        return (void *)-1;
    }
    return (void *)cur;
}
#define sbrk t_sbrk
#endif

static int t_n, t_pass, t_fail, t_skip;

__attribute__((constructor)) static void t_init(void)
{
    /* Line buffering even into a pipe, so nothing is duplicated by fork. */
    setvbuf(stdout, NULL, _IOLBF, 0);
}

__attribute__((format(printf, 4, 5))) static int t_ok(int c, const char *file, int line,
                                                      const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    printf("%s %d - ", c ? "ok" : "not ok", ++t_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (c)
        t_pass++;
    else {
        t_fail++;
        printf("  # %s:%d errno=%d (%s)", file, line, e, strerror(e));
    }
    printf("\n");
    errno = e;
    return c;
}
#define ok(cond, ...) t_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* ok_err(expr, E, name): expr returned -1 (or MAP_FAILED) and set errno to E. */
#define ok_err(expr, E, ...)                                                                  \
    do {                                                                                      \
        errno = 0;                                                                            \
        long t_r_ = (long)(expr);                                                             \
        int t_e_ = errno;                                                                     \
        if (!ok(t_r_ == -1 && t_e_ == (E), __VA_ARGS__))                                      \
            printf("#   got %ld errno %d (%s), want errno %d (%s)\n", t_r_, t_e_,             \
                   strerror(t_e_), (E), strerror(E));                                         \
    } while (0)

#define skip(...)                                                                             \
    do {                                                                                      \
        printf("ok %d - # SKIP ", ++t_n);                                                     \
        printf(__VA_ARGS__);                                                                  \
        printf("\n");                                                                         \
        t_skip++;                                                                             \
    } while (0)

/* Whether directory `dir` lists `name`. */
static inline int t_lists(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strcmp(e->d_name, name) == 0;
    if (d)
        closedir(d);
    return found;
}

static int t_done(void)
{
    printf("# Totals: pass:%d fail:%d skip:%d\n", t_pass, t_fail, t_skip);
    fflush(stdout);
    if (t_fail)
        return 1;
    return t_pass == 0 && t_skip > 0 ? 4 : 0;
}

/* Runs fn(arg) in a child that exits with fn's return value; returns the wait status. */
__attribute__((unused)) static int t_child(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0)
        _exit(fn(arg));
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    return st;
}
#define EXITED(st, code) ((st) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == (code))
#define SIGNALED(st, sig) ((st) != -1 && WIFSIGNALED(st) && WTERMSIG(st) == (sig))

/* A field of /proc/meminfo in kB (-1 if missing); read without stdio, so that reading it
 * does not grow the heap. */
__attribute__((unused)) static long t_meminfo_kb(const char *key)
{
    static char text[4096];
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = 0;
    char *at = strstr(text, key);
    return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

/* A fresh, already unlinked file in /tmp of `size` bytes (read/write); -1 on failure. */
__attribute__((unused)) static int t_tmpfile(off_t size)
{
    char path[] = "/tmp/pagoda-lt-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (ftruncate(fd, size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#define PG 4096UL
#endif
