/* execve: argv/envp, close-on-exec, what survives exec (pid, ignored signals, mask) and what
 * does not (mappings, handlers, threads), failures leave the caller intact, #! scripts, auxv,
 * /proc/self/exe. Built statically and dynamically. */
#include "t.h"
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>

extern char **environ;
static int marker = 1;
static char self[PATH_MAX];

/* Child side: one '1' or '0' per check, written to fd `out`. */
static void put(int out, int c) { write(out, c ? "1" : "0", 1); }

static int has_interp(void)
{
    const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
    unsigned long n = getauxval(AT_PHNUM);
    for (unsigned long i = 0; ph && i < n; i++)
        if (ph[i].p_type == PT_INTERP)
            return 1;
    return 0;
}

static int threads_in_status(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "Threads: %d", &n);
    if (f)
        fclose(f);
    return n;
}

static void dummy_handler(int sig) {}

static void exec_child(int argc, char **argv)
{
    /* argv: exec-child child OUT CLOEXECFD MAPADDR PID RANDHEX "a b" "" */
    int out = atoi(argv[2]);
    put(out, argc == 9 && strcmp(argv[0], "exec-child") == 0 && strcmp(argv[7], "a b") == 0 &&
                 strcmp(argv[8], "") == 0 && argv[9] == NULL);
    int envc = 0;
    while (environ[envc])
        envc++;
    put(out, envc == 2 && strcmp(getenv("FOO") ?: "", "bar") == 0 && getenv("EMPTY") && !*getenv("EMPTY"));
    put(out, fcntl(atoi(argv[3]), F_GETFD) == -1 && errno == EBADF);
    unsigned char v;
    void *map = (void *)strtoul(argv[4], NULL, 16);
    put(out, mincore(map, PG, &v) == -1 && errno == ENOMEM);
    put(out, getpid() == atoi(argv[5]));
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    int c = sa.sa_handler == SIG_DFL;
    sigaction(SIGUSR2, NULL, &sa);
    c &= sa.sa_handler == SIG_IGN;
    put(out, c);
    sigset_t m;
    sigprocmask(SIG_SETMASK, NULL, &m);
    put(out, sigismember(&m, SIGINT));
    const char *fn = (const char *)getauxval(AT_EXECFN);
    put(out, fn && strcmp(fn, self) == 0);
    char hex[40];
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    for (int i = 0; i < 16; i++)
        sprintf(hex + 2 * i, "%02x", rnd ? rnd[i] : 0);
    put(out, rnd && strcmp(hex, argv[6]) != 0);
    put(out, marker == 1);
    put(out, threads_in_status() == 1);
    _exit(0);
}

static void interp_child(int argc, char **argv)
{
    int out = atoi(getenv("LT_FD") ?: "-1");
    put(out, argc == 4 && strcmp(argv[0], self) == 0 && strcmp(argv[1], "interp") == 0 &&
                 strncmp(argv[2], "/tmp/", 5) == 0 && strcmp(argv[3], "arg1") == 0);
    _exit(0);
}

/* Runs `fn` in a child and collects its '1'/'0' answers in `res` (NUL-terminated). */
static int collect(int fds[2], pid_t c, char *res, size_t cap)
{
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], res + n, cap - 1 - n)) > 0)
        n += r;
    res[n] = 0;
    close(fds[0]);
    int st;
    waitpid(c, &st, 0);
    return st;
}

static void *exec_from_thread(void *arg)
{
    execve(self, (char **)arg, environ);
    _exit(99);
}

static void test_exec(void)
{
    int fds[2], cx[2];
    pipe(fds);
    pipe2(cx, O_CLOEXEC);
    char *map = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    signal(SIGUSR1, dummy_handler); /* exec must reset it to SIG_DFL */
    signal(SIGUSR2, SIG_IGN);
    sigset_t m, old;
    sigemptyset(&m);
    sigaddset(&m, SIGINT);
    sigprocmask(SIG_BLOCK, &m, &old);
    marker = 2;
    char a_out[16], a_cx[16], a_map[32], a_pid[16], hex[40];
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    for (int i = 0; i < 16; i++)
        sprintf(hex + 2 * i, "%02x", rnd ? rnd[i] : 0);
    snprintf(a_out, sizeof a_out, "%d", fds[1]);
    snprintf(a_cx, sizeof a_cx, "%d", cx[0]);
    snprintf(a_map, sizeof a_map, "%lx", (unsigned long)map);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        snprintf(a_pid, sizeof a_pid, "%d", getpid());
        char *av[] = {"exec-child", "child", a_out, a_cx, a_map, a_pid, hex, "a b", "", NULL};
        char *ev[] = {"FOO=bar", "EMPTY=", NULL};
        execve(self, av, ev);
        _exit(99);
    }
    char res[32];
    int st = collect(fds, c, res, sizeof res);
    static const char *names[] = {
        "argv arrives exactly (incl. \"a b\" and \"\")", "envp arrives exactly (2 entries, EMPTY=)",
        "an FD_CLOEXEC descriptor is closed", "the old mappings are gone", "the pid is kept",
        "handled signals reset to SIG_DFL, ignored stay SIG_IGN", "the signal mask is kept",
        "AT_EXECFN is the execve path", "AT_RANDOM is fresh", "data is re-initialised (static var)",
        "a single thread (Threads: 1)"};
    ok(EXITED(st, 0) && strlen(res) == 11, "exec'd child answered (status %#x, %zu answers)", st, strlen(res));
    for (size_t i = 0; i < 11; i++)
        ok(i < strlen(res) && res[i] == '1', "execve: %s", names[i]);
    close(cx[0]);
    close(cx[1]);
    /* exec from a non-leader thread: the image takes over the process id, one thread left. */
    pipe(fds);
    snprintf(a_out, sizeof a_out, "%d", fds[1]);
    pipe2(cx, O_CLOEXEC);
    snprintf(a_cx, sizeof a_cx, "%d", cx[0]);
    if ((c = fork()) == 0) {
        snprintf(a_pid, sizeof a_pid, "%d", getpid());
        static char *av[10];
        char *src[] = {"exec-child", "child", a_out, a_cx, a_map, a_pid, hex, "a b", "", NULL};
        memcpy(av, src, sizeof src);
        pthread_t t;
        clearenv();
        setenv("FOO", "bar", 1);
        setenv("EMPTY", "", 1);
        pthread_create(&t, NULL, exec_from_thread, av);
        for (;;)
            pause();
    }
    st = collect(fds, c, res, sizeof res);
    ok(EXITED(st, 0) && strlen(res) == 11 && res[4] == '1' && res[10] == '1',
       "execve from a second thread: same pid, one thread (%s)", res);
    close(cx[0]);
    close(cx[1]);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    munmap(map, PG);
}

static void test_failures(void)
{
    char *av[] = {"x", NULL};
    int guard = 12345;
    ok_err(execve("/nonexistent-pagoda/x", av, environ), ENOENT, "execve missing file: ENOENT");
    ok_err(execve("/tmp", av, environ), EACCES, "execve a directory: EACCES");
    char p1[] = "/tmp/pagoda-lt-ex-XXXXXX";
    int fd = mkstemp(p1);
    write(fd, "not an elf, no #!\n", 18);
    fchmod(fd, 0644);
    close(fd);
    ok_err(execve(p1, av, environ), EACCES, "execve a file without x bits: EACCES");
    chmod(p1, 0755);
    ok_err(execve(p1, av, environ), ENOEXEC, "execve a non-ELF, non-#! file: ENOEXEC");
    char p2[PATH_MAX];
    snprintf(p2, sizeof p2, "%s/x", p1);
    ok_err(execve(p2, av, environ), ENOTDIR, "execve through a file as directory: ENOTDIR");
    char *volatile bad = (char *)8;
    ok_err(execve(bad, av, environ), EFAULT, "execve bad path pointer: EFAULT");
    ok(guard == 12345 && marker == 2, "after failed execve calls the process is intact");
    unlink(p1);

    /* #! script naming ourselves as the interpreter with one argument. */
    char sc[] = "/tmp/pagoda-lt-sh-XXXXXX";
    fd = mkstemp(sc);
    dprintf(fd, "#!%s interp\n", self);
    fchmod(fd, 0755);
    close(fd);
    int fds[2];
    pipe(fds);
    char env0[32];
    snprintf(env0, sizeof env0, "LT_FD=%d", fds[1]);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char *sv[] = {"s0", "arg1", NULL}, *ev[] = {env0, NULL};
        execve(sc, sv, ev);
        _exit(99);
    }
    char res[8];
    int st = collect(fds, c, res, sizeof res);
    ok(EXITED(st, 0) && strcmp(res, "1") == 0, "#! script: argv = [interp, arg, script, argv[1..]]");
    unlink(sc);
}

static void test_auxv(int dynamic)
{
    ok(getauxval(AT_PAGESZ) == 4096 && sysconf(_SC_PAGESIZE) == 4096, "AT_PAGESZ 4096");
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    int nz = 0;
    for (int i = 0; r && i < 16; i++)
        nz |= r[i];
    ok(r && nz, "AT_RANDOM points at 16 bytes, not all zero");
    const char *fn = (const char *)getauxval(AT_EXECFN);
    ok(fn && *fn, "AT_EXECFN is a string (%s)", fn ? fn : "null");
    ok(getauxval(AT_HWCAP) != 0, "AT_HWCAP is nonzero (%#lx)", getauxval(AT_HWCAP));
    ok(getauxval(AT_CLKTCK) == 100 && sysconf(_SC_CLK_TCK) == 100, "AT_CLKTCK 100");
    errno = 0;
    ok(getauxval(AT_SECURE) == 0 && errno == 0, "AT_SECURE present and 0");
    ok(getauxval(AT_PHENT) == sizeof(Elf64_Phdr) && getauxval(AT_PHNUM) > 0 && getauxval(AT_PHDR) != 0,
       "AT_PHDR/PHENT/PHNUM");
    ok(getauxval(AT_ENTRY) != 0, "AT_ENTRY");
    ok(getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid() && getauxval(AT_GID) == getgid() &&
           getauxval(AT_EGID) == getegid(), "AT_UID/EUID/GID/EGID match");
    if (dynamic)
        ok(getauxval(AT_BASE) != 0, "dynamic build: AT_BASE is ld.so's base");
    else
        ok(getauxval(AT_BASE) == 0, "static build: AT_BASE is 0 (no interpreter)");
    errno = 0;
    ok(getauxval(12345) == 0 && errno == ENOENT, "a missing auxv entry: ENOENT");
}

int main(int argc, char **argv)
{
    /* Our own path: /proc/self/exe, else argv[0] resolved (checked separately below). */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char real[PATH_MAX];
    int proc_exe = n > 0;
    if (proc_exe)
        self[n] = 0;
    else if (!realpath(argv[0], self)) {
        skip("cannot find our own binary");
        return t_done();
    }
    if (argc >= 2 && strcmp(argv[1], "child") == 0)
        exec_child(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "interp") == 0)
        interp_child(argc, argv);
    ok(proc_exe && self[0] == '/' && realpath(argv[0], real) && strcmp(real, self) == 0,
       "/proc/self/exe is our own binary");
    int dynamic = has_interp();
    printf("# %s build\n", dynamic ? "dynamic" : "static");
    test_auxv(dynamic);
    test_exec();
    test_failures();
    return t_done();
}
