/* Processes without files: fork/vfork/wait status words, zombies and orphans, process
 * groups and sessions, default signal actions (terminate, stop, continue), SIGCHLD,
 * execve and its failures, clocks, sleeps and interval timers. Needs no file system call
 * (no pipe, no open), so it judges the process layer alone. Written from the man pages. */
#include "t.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

extern char **environ;
static const char *self;
/* Bad pointers the compiler cannot see through. */
static char *volatile bad_path = (char *)1, *volatile bad_arg = (char *)8;

static long long now_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The exec'd image: argv[1] == "exec-child"; exits 33 if it got the argv and envp.
 * argv[1] == "exec-pid": exits 34 if its pid is argv[2]. */
static int exec_child(int argc, char **argv)
{
    const char *k = getenv("PAGODA_K");
    return argc == 3 && strcmp(argv[2], "two") == 0 && k && strcmp(k, "v") == 0 &&
                   environ[1] == NULL
               ? 33
               : 1;
}

static void test_fork_wait(void)
{
    int st;
    pid_t me = getpid();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0)
        _exit(getppid() == me ? 3 : 4);
    ok(c > 0 && waitpid(c, &st, 0) == c && EXITED(st, 3), "fork: child sees its parent, exit 3");
    ok_err(waitpid(-1, &st, WNOHANG), ECHILD, "no children: ECHILD");
    /* A child that waits for SIGTERM: WNOHANG sees it running, then it is killed. */
    c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    ok(waitpid(c, &st, WNOHANG) == 0, "WNOHANG on a running child: 0");
    siginfo_t si;
    memset(&si, 0xff, sizeof si);
    ok(waitid(P_PID, c, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0,
       "waitid WNOHANG on a running child: 0, si_pid 0");
    kill(c, SIGTERM);
    ok(waitid(P_PID, c, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == c && si.si_signo == SIGCHLD &&
           si.si_code == CLD_KILLED && si.si_status == SIGTERM,
       "waitid WNOWAIT: CLD_KILLED by SIGTERM");
    ok(waitpid(c, &st, 0) == c && SIGNALED(st, SIGTERM), "the zombie is still there: WTERMSIG SIGTERM");
    /* Stop and continue. */
    c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    kill(c, SIGSTOP);
    ok(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
       "SIGSTOP: WIFSTOPPED");
    kill(c, SIGCONT);
    ok(waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st), "SIGCONT: WIFCONTINUED");
    kill(c, SIGKILL);
    ok(waitpid(c, &st, 0) == c && SIGNALED(st, SIGKILL), "SIGKILL: WTERMSIG SIGKILL");
    /* An ignored signal does nothing; exit codes keep 8 bits. */
    c = fork();
    if (c == 0) {
        signal(SIGUSR1, SIG_IGN);
        raise(SIGUSR1);
        _exit(0x1234);
    }
    ok(waitpid(c, &st, 0) == c && EXITED(st, 0x34), "ignored SIGUSR1; exit status keeps 8 bits");
}

/* prctl: the name, the child subreaper flag, the parent-death signal. */
static void test_prctl(void)
{
    char name[16] = {0};
    ok(prctl(PR_SET_NAME, "pagoda-procs-long-name") == 0 && prctl(PR_GET_NAME, name) == 0 &&
           strcmp(name, "pagoda-procs-lo") == 0,
       "PR_SET_NAME truncates to 15 bytes, PR_GET_NAME reads it");
    ok_err(prctl(-1, 0, 0, 0, 0), EINVAL, "unknown prctl option: EINVAL");
    int on = -1;
    ok(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 && prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 && on == 1,
       "PR_SET_CHILD_SUBREAPER, read back");
    int st;
    fflush(stdout);
    pid_t mid = fork();
    pid_t grandchild = -1;
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int sig = 0;
            prctl(PR_GET_PDEATHSIG, &sig);
            if (sig != SIGKILL)
                _exit(5);
            for (;;)
                pause();
        }
        usleep(20000); /* let it set its parent-death signal */
        _exit(0);
    }
    waitpid(mid, &st, 0);
    grandchild = waitpid(-1, &st, 0);
    ok(grandchild > 0 && grandchild != mid && SIGNALED(st, SIGKILL),
       "the orphan comes to the subreaper, killed by its parent-death signal");
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* Last: on Pagoda the orphan is re-parented to this program (pid 1), whose SIGCHLD must
 * not disturb the other checks. */
static void test_orphan(void)
{
    int st;
    pid_t c;
    /* An orphan is re-parented. */
    uint32_t *shared = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    c = fork();
    if (c == 0) {
        pid_t mid = getpid();
        if (fork() == 0) {
            while (getppid() == mid)
                usleep(1000);
            __atomic_store_n(shared, 1, __ATOMIC_SEQ_CST);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(c, &st, 0);
    for (int i = 0; i < 5000 && !__atomic_load_n(shared, __ATOMIC_SEQ_CST); i++)
        usleep(1000);
    ok(*shared == 1, "an orphan gets a new parent");
    munmap(shared, PG);
}

static volatile sig_atomic_t chld_pid, chld_code, chld_status, alarms;
static void on_chld(int sig, siginfo_t *si, void *uc)
{
    chld_pid = si->si_pid;
    chld_code = si->si_code;
    chld_status = si->si_status;
}
static void on_alarm(int sig)
{
    alarms++;
}

static void test_sigchld(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0)
        _exit(5);
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGCHLD);
    while (chld_pid == 0)
        sigsuspend(&wait_mask);
    sigprocmask(SIG_SETMASK, &old, NULL);
    ok(chld_pid == c && chld_code == CLD_EXITED && chld_status == 5, "SIGCHLD: si_pid, CLD_EXITED, si_status");
    int st;
    waitpid(c, &st, 0);
    signal(SIGCHLD, SIG_IGN);
    c = fork();
    if (c == 0)
        _exit(0);
    ok_err(waitpid(c, &st, 0), ECHILD, "SIGCHLD ignored: the child is reaped at once (ECHILD)");
    signal(SIGCHLD, SIG_DFL);
}

static void test_sigwait(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);
    siginfo_t si;
    struct timespec zero = {0, 0}, short_wait = {0, 20000000};
    kill(getpid(), SIGUSR2);
    ok(sigtimedwait(&set, &si, &zero) == SIGUSR2 && si.si_code == SI_USER && si.si_pid == getpid(),
       "sigtimedwait takes a pending signal: SI_USER, si_pid");
    ok_err(sigtimedwait(&set, &si, &short_wait), EAGAIN, "sigtimedwait times out: EAGAIN");
    pid_t me = getpid();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        usleep(20000);
        kill(me, SIGUSR2);
        _exit(0);
    }
    int r = sigwaitinfo(&set, &si);
    ok(r == SIGUSR2 && si.si_pid == c, "sigwaitinfo waits for a signal from a child");
    int st;
    waitpid(c, &st, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* A zombie stays in its group until reaped: a shell's pipeline may put its second
 * process in the group of a first one that already ended. */
static void test_zombie_group(void)
{
    int st;
    siginfo_t si;
    fflush(stdout);
    pid_t a = fork();
    if (a == 0)
        _exit(0);
    setpgid(a, a);
    int zombie = waitid(P_PID, a, &si, WEXITED | WNOWAIT) == 0;
    pid_t b = fork();
    if (b == 0) {
        pause();
        _exit(0);
    }
    ok(zombie && setpgid(b, a) == 0 && getpgid(b) == a, "setpgid into a group whose only member is a zombie");
    ok(waitpid(a, &st, 0) == a && getpgid(b) == a, "the group outlives its reaped leader");
    ok_err(setpgid(b, b + 100000), EPERM, "setpgid into a group that does not exist: EPERM");
    kill(b, SIGKILL);
    waitpid(b, &st, 0);
}

static void test_groups(void)
{
    int st;
    /* getsid is 0 when the session leader lives in an ancestor PID namespace
     * (a CI container), so only -1 is wrong here. */
    ok(getpgid(0) == getpgrp() && getsid(0) >= 0, "getpgid(0) == getpgrp(), getsid(0) succeeds");
    ok_err(getpgid(999999), ESRCH, "getpgid of a missing pid: ESRCH");
    ok_err(kill(999999, SIGTERM), ESRCH, "kill of a missing pid: ESRCH");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int r = setpgid(0, 0) == 0 && getpgid(0) == getpid();
        /* A group leader cannot start a session. */
        r = r && setsid() == -1 && errno == EPERM;
        _exit(r ? 0 : 1);
    }
    ok(waitpid(c, &st, 0) == c && EXITED(st, 0), "setpgid(0, 0) leads a new group; its leader's setsid: EPERM");
    c = fork();
    if (c == 0)
        _exit(setsid() == getpid() && getsid(0) == getpid() && getpgid(0) == getpid() ? 0 : 1);
    ok(waitpid(c, &st, 0) == c && EXITED(st, 0), "setsid in a child: new session and group");
    ok_err(setpgid(0, -1), EINVAL, "setpgid negative group: EINVAL");
    test_zombie_group();
}

static void test_ids_limits(void)
{
    int st;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        uid_t u = 60000 + getpid() % 5000, r, e, s;
        if (setresgid(u, u, u) != 0 || setresuid(u, u, u) != 0)
            _exit(3);
        int good = getresuid(&r, &e, &s) == 0 && r == u && e == u && s == u && getuid() == u &&
                   geteuid() == u;
        good = good && setuid(0) == -1 && errno == EPERM;
        /* Not root any more: init (or our ancestor) may not be signalled. */
        good = good && kill(getppid(), 0) == -1 && errno == EPERM;
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_max != RLIM_INFINITY) {
            rl.rlim_max++;
            good = good && setrlimit(RLIMIT_NOFILE, &rl) == -1 && errno == EPERM;
        }
        _exit(good ? 0 : 1);
    }
    waitpid(c, &st, 0);
    if (EXITED(st, 3))
        skip("setresuid unavailable (not root)");
    else
        ok(EXITED(st, 0), "setresuid to a user: getresuid, setuid(0) EPERM, kill EPERM, no raising");
    struct rlimit rl, back;
    ok(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= rl.rlim_max && rl.rlim_cur > 0,
       "getrlimit(RLIMIT_NOFILE)");
    struct rlimit lower = {rl.rlim_cur - 1, rl.rlim_max};
    ok(setrlimit(RLIMIT_NOFILE, &lower) == 0 && getrlimit(RLIMIT_NOFILE, &back) == 0 &&
           back.rlim_cur == rl.rlim_cur - 1,
       "setrlimit lowers the soft limit");
    setrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit bad = {10, 5};
    ok_err(setrlimit(RLIMIT_CPU, &bad), EINVAL, "setrlimit soft above hard: EINVAL");
    ok_err(prlimit(999999, RLIMIT_CPU, NULL, &back), ESRCH, "prlimit of a missing pid: ESRCH");
    c = fork();
    if (c == 0) {
        struct rlimit as = {64 << 20, 64 << 20}, got;
        setrlimit(RLIMIT_AS, &as);
        _exit(getrlimit(RLIMIT_AS, &got) == 0 && got.rlim_cur == (64 << 20) ? 0 : 1);
    }
    struct rlimit mine;
    getrlimit(RLIMIT_AS, &mine);
    ok(waitpid(c, &st, 0) == c && EXITED(st, 0) && mine.rlim_cur == RLIM_INFINITY,
       "a child's RLIMIT_AS is its own");
}

static void test_vfork_exec(void)
{
    int st;
    fflush(stdout);
    pid_t c = vfork();
    if (c == 0)
        _exit(42);
    ok(c > 0 && waitpid(c, &st, 0) == c && EXITED(st, 42), "vfork + _exit: the parent resumes, status 42");
    c = fork();
    if (c == 0) {
        char *argv[] = {(char *)self, "exec-child", "two", NULL};
        char *envp[] = {"PAGODA_K=v", NULL};
        execve(self, argv, envp);
        _exit(99);
    }
    ok(waitpid(c, &st, 0) == c && EXITED(st, 33), "execve passes argv and envp");
    c = vfork();
    if (c == 0) {
        char *argv[] = {(char *)self, "exec-child", "two", NULL};
        char *envp[] = {"PAGODA_K=v", NULL};
        execve(self, argv, envp);
        _exit(99);
    }
    ok(c > 0 && waitpid(c, &st, 0) == c && EXITED(st, 33), "vfork + execve");
    char *none[] = {NULL};
    ok_err(execve("/pagoda-no-such-file", none, none), ENOENT, "execve of a missing file: ENOENT");
    ok_err(execve("/", none, none), EACCES, "execve of a directory: EACCES");
    ok_err(execve(bad_path, none, none), EFAULT, "execve of a bad path pointer: EFAULT");
    char *bad_argv[] = {(char *)self, bad_arg, NULL};
    ok_err(execve(self, bad_argv, none), EFAULT, "execve with a bad argv string: EFAULT");
    size_t big = 200 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = 0;
    char *big_argv[] = {(char *)self, huge, NULL};
    ok_err(execve(self, big_argv, none), E2BIG, "execve with a 200 KiB argument: E2BIG");
    free(huge);
    ok(getpid() > 0, "failed execs leave the caller running");
}

static void test_time(void)
{
    struct timespec t;
    int clocks_ok = 1;
    clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID,
                       CLOCK_THREAD_CPUTIME_ID};
    for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++)
        clocks_ok &= clock_gettime(ids[i], &t) == 0 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000;
    ok(clocks_ok, "clock_gettime of REALTIME, MONOTONIC, BOOTTIME and the CPU clocks");
    ok_err(clock_gettime((clockid_t)99, &t), EINVAL, "clock_gettime bad clock: EINVAL");
    struct timeval tv;
    ok(gettimeofday(&tv, NULL) == 0 && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday");
    long long t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec d = {0, 10000000};
    ok(nanosleep(&d, NULL) == 0 && now_ns(CLOCK_MONOTONIC) - t0 >= 10000000, "nanosleep 10 ms sleeps at least 10 ms");
    struct timespec bad = {0, 1000000000};
    ok_err(nanosleep(&bad, NULL), EINVAL, "nanosleep tv_nsec = 1e9: EINVAL");
    t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec abs = {(t0 + 10000000) / 1000000000, (t0 + 10000000) % 1000000000};
    ok(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == 0 &&
           now_ns(CLOCK_MONOTONIC) >= t0 + 10000000,
       "clock_nanosleep TIMER_ABSTIME");
    ok(sched_yield() == 0, "sched_yield");
    long long c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < 2000000000L && now_ns(CLOCK_PROCESS_CPUTIME_ID) == c0; i++)
        ;
    ok(now_ns(CLOCK_PROCESS_CPUTIME_ID) > c0, "CLOCK_PROCESS_CPUTIME_ID advances while we compute");
    /* alarm and ITIMER_REAL. */
    ok(alarm(5) == 0 && alarm(0) == 5, "alarm: the previous alarm's seconds are returned");
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    ok(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer(ITIMER_REAL, 10 ms periodic)");
    for (int i = 0; i < 200 && alarms < 3; i++) {
        struct timespec w = {0, 5000000};
        nanosleep(&w, NULL);
    }
    struct itimerval cur;
    ok(getitimer(ITIMER_REAL, &cur) == 0 && cur.it_interval.tv_usec == 10000, "getitimer reports the interval");
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    ok(alarms >= 3, "a periodic ITIMER_REAL sends SIGALRM again and again");
    /* A handler without SA_RESTART interrupts nanosleep: EINTR and the time left. */
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval once = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &once, NULL);
    struct timespec longer = {5, 0}, rem = {0, 0};
    errno = 0;
    int r = nanosleep(&longer, &rem);
    ok(r == -1 && errno == EINTR && rem.tv_sec >= 3 && rem.tv_sec <= 5, "SIGALRM interrupts nanosleep: EINTR, rem left");
    signal(SIGALRM, SIG_DFL);
    struct rusage ru;
    ok(getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec > 0,
       "getrusage(RUSAGE_SELF) counts our CPU time");
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static volatile sig_atomic_t usr1_tid;
static void on_usr1(int sig)
{
    usr1_tid = gettid();
}
static void *count_up(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return (void *)(intptr_t)gettid();
}
static void *wait_usr1(void *arg)
{
    *(volatile pid_t *)arg = gettid();
    for (int i = 0; i < 5000 && usr1_tid == 0; i++)
        usleep(1000);
    return NULL;
}
static void *exit_7(void *arg)
{
    exit(7);
}
static void *sys_exit(void *arg)
{
    syscall(SYS_exit, 0);
    return NULL;
}
static void *exec_self(void *arg)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", getpid());
    char *argv[] = {(char *)self, "exec-pid", pid, NULL};
    char *envp[] = {NULL};
    execve(self, argv, envp);
    _exit(98);
}

static void test_threads(void)
{
    pthread_t t[3];
    int made = 0;
    for (int i = 0; i < 3; i++)
        made += pthread_create(&t[i], NULL, count_up, NULL) == 0;
    intptr_t tids[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        tids[i] = (intptr_t)r;
    }
    ok(made == 3 && counter == 60000, "3 threads, a mutex-protected counter: 60000");
    ok(tids[0] != tids[1] && tids[1] != tids[2] && tids[0] != getpid() && tids[0] > 0,
       "threads have their own tids, none the pid");
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += 20000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&mu);
    int r = pthread_cond_timedwait(&cv, &mu, &dl);
    pthread_mutex_unlock(&mu);
    ok(r == ETIMEDOUT, "pthread_cond_timedwait: ETIMEDOUT");
    signal(SIGUSR1, on_usr1);
    volatile pid_t target = 0;
    pthread_t w;
    pthread_create(&w, NULL, wait_usr1, (void *)&target);
    for (int i = 0; i < 5000 && target == 0; i++)
        usleep(1000);
    ok(syscall(SYS_tgkill, getpid(), target, SIGUSR1) == 0, "tgkill to a thread");
    pthread_join(w, NULL);
    ok(usr1_tid == target, "the handler ran on the target thread");
    signal(SIGUSR1, SIG_DFL);
    int st;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        pthread_t x;
        pthread_create(&x, NULL, exit_7, NULL);
        for (;;)
            pause();
    }
    ok(waitpid(c, &st, 0) == c && EXITED(st, 7), "exit() in a thread ends the process");
    c = fork();
    if (c == 0) {
        pthread_t x;
        pthread_create(&x, NULL, sys_exit, NULL);
        usleep(20000);
        _exit(8);
    }
    ok(waitpid(c, &st, 0) == c && EXITED(st, 8), "SYS_exit in a thread ends only that thread");
    c = fork();
    if (c == 0) {
        pthread_t x;
        pthread_create(&x, NULL, exec_self, NULL);
        for (;;)
            pause();
    }
    ok(waitpid(c, &st, 0) == c && EXITED(st, 34), "execve from a thread keeps the process id");
}

/* clone3(2): a fork through struct clone_args, and its size checks (E2BIG above a page,
 * EINVAL below CLONE_ARGS_SIZE_VER0, EINVAL for a stack without a size). */
static void test_clone3(void)
{
    uint64_t args[11] = {0};
    args[4] = SIGCHLD; /* exit_signal */
    long pid = syscall(SYS_clone3, args, 88);
    if (pid == 0)
        _exit(42);
    int status = 0;
    ok(pid > 0 && waitpid((pid_t)pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 42,
       "clone3 forks: the child's exit status reaches waitpid");
    ok_err(syscall(SYS_clone3, args, 4097), E2BIG, "clone3 size above a page: E2BIG");
    ok_err(syscall(SYS_clone3, args, 63), EINVAL, "clone3 size below VER0: EINVAL");
    args[5] = 0x10000; /* stack without stack_size */
    ok_err(syscall(SYS_clone3, args, 88), EINVAL, "clone3 stack without a size: EINVAL");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return exec_child(argc, argv);
    if (argc > 2 && strcmp(argv[1], "exec-pid") == 0)
        return atoi(argv[2]) == getpid() ? 34 : 1;
    self = argv[0];
    test_fork_wait();
    test_sigchld();
    test_sigwait();
    test_groups();
    test_ids_limits();
    test_vfork_exec();
    test_time();
    test_threads();
    test_clone3();
    test_prctl();
    test_orphan();
    return t_done();
}
