/* Threads: shared memory, mutex/condvar over futexes, raw FUTEX_WAIT/WAKE, exit vs
 * exit_group, gettid/tgkill, CLONE_CHILD_CLEARTID. */
#include "t.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
enum { THREADS = 4, ITER = 50000 };

static void *incr(void *arg)
{
    for (int i = 0; i < ITER; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return (void *)(intptr_t)gettid();
}

/* Bounded queue of one slot: producer/consumer hand-off through a condvar. */
static int slot, full, consumed_sum;
static void *consumer(void *arg)
{
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&mu);
        while (!full)
            pthread_cond_wait(&cv, &mu);
        consumed_sum += slot;
        full = 0;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void test_mutex(void)
{
    pthread_t t[THREADS];
    int created = 0;
    for (int i = 0; i < THREADS; i++)
        created += pthread_create(&t[i], NULL, incr, NULL) == 0;
    ok(created == THREADS, "pthread_create x%d", THREADS);
    int distinct = 1;
    intptr_t tids[THREADS];
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        tids[i] = (intptr_t)r;
        distinct &= tids[i] != getpid();
        for (int j = 0; j < i; j++)
            distinct &= tids[j] != tids[i];
    }
    ok(counter == (long)THREADS * ITER, "mutex-protected counter: %ld", counter);
    ok(distinct, "every thread had its own tid, none equal to the pid");
    pthread_t c;
    pthread_create(&c, NULL, consumer, NULL);
    int sum = 0;
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&mu);
        while (full)
            pthread_cond_wait(&cv, &mu);
        slot = i;
        sum += i;
        full = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(c, NULL);
    ok(consumed_sum == sum, "condvar hand-off of 1000 items");
    pthread_mutex_lock(&mu);
    ok(pthread_mutex_trylock(&mu) == EBUSY, "trylock of a held mutex: EBUSY");
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += 20000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    ok(pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT, "pthread_cond_timedwait: ETIMEDOUT");
    pthread_mutex_unlock(&mu);
}

static uint32_t fword;
static volatile int waiter_ret = -100, waiter_errno;
static void *futex_waiter(void *arg)
{
    long r = futex(&fword, FUTEX_WAIT_PRIVATE, 0, NULL);
    waiter_errno = errno;
    waiter_ret = (int)r;
    return NULL;
}

static void test_futex(void)
{
    uint32_t w = 1;
    ok_err(futex(&w, FUTEX_WAIT_PRIVATE, 2, NULL), EAGAIN, "FUTEX_WAIT value mismatch: EAGAIN");
    struct timespec ts = {0, 30000000};
    ok_err(futex(&w, FUTEX_WAIT_PRIVATE, 1, &ts), ETIMEDOUT, "FUTEX_WAIT 30 ms timeout: ETIMEDOUT");
    ok(futex(&w, FUTEX_WAKE_PRIVATE, 1, NULL) == 0, "FUTEX_WAKE with no waiter wakes 0");
    ok_err(futex((uint32_t *)((char *)&w + 1), FUTEX_WAIT_PRIVATE, 1, &ts), EINVAL, "unaligned futex: EINVAL");
    ok_err(futex(&w, 99, 1, NULL), ENOSYS, "unknown futex op: ENOSYS");
    ts.tv_nsec = 2000000000L;
    ok_err(futex(&w, FUTEX_WAIT_PRIVATE, 1, &ts), EINVAL, "bad timeout: EINVAL");
    pthread_t t;
    fword = 0;
    pthread_create(&t, NULL, futex_waiter, NULL);
    long woke = 0;
    /* Wake until the waiter is actually woken (it may not be asleep yet); 5 s bound. */
    for (int i = 0; i < 5000 && woke == 0; i++) {
        woke = futex(&fword, FUTEX_WAKE_PRIVATE, 1, NULL);
        if (!woke)
            usleep(1000);
    }
    pthread_join(t, NULL);
    ok(woke == 1 && waiter_ret == 0, "FUTEX_WAKE wakes the waiting thread (returns 1, wait returns 0)");
    /* A shared futex across processes in MAP_SHARED memory. */
    uint32_t *sw = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        while (__atomic_load_n(sw, __ATOMIC_SEQ_CST) == 0)
            futex(sw, FUTEX_WAIT, 0, NULL);
        _exit(*sw == 7 ? 0 : 1);
    }
    usleep(20000);
    __atomic_store_n(sw, 7, __ATOMIC_SEQ_CST);
    futex(sw, FUTEX_WAKE, 1, NULL);
    int st;
    waitpid(c, &st, 0);
    ok(EXITED(st, 0), "a shared futex wakes a waiter in another process");
    munmap(sw, PG);
}

static void *exit_thread(void *arg)
{
    usleep(20000);
    exit(7);
}
static void *late_thread(void *arg)
{
    usleep(50000);
    int *fd = arg;
    write(*fd, "L", 1);
    exit(9);
}
static volatile pid_t sys_exit_tid;
static void *sys_exit_thread(void *arg)
{
    sys_exit_tid = gettid();
    syscall(SYS_exit, 0);
    return NULL;
}

static void test_exit(void)
{
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exit_thread, NULL);
        for (;;)
            pause();
    }
    int st;
    waitpid(c, &st, 0);
    ok(EXITED(st, 7), "exit() in a thread ends the whole process (exit_group)");
    int p[2];
    pipe(p);
    if ((c = fork()) == 0) {
        pthread_t t;
        pthread_create(&t, NULL, late_thread, &p[1]);
        pthread_exit(NULL); /* main thread leaves; the process lives on */
    }
    char x = 0;
    read(p[0], &x, 1);
    waitpid(c, &st, 0);
    ok(x == 'L' && EXITED(st, 9), "after the main thread's pthread_exit the other thread still runs");
    if ((c = fork()) == 0) {
        pthread_t t;
        pthread_create(&t, NULL, sys_exit_thread, NULL);
        /* Not pthread_join: the raw exit skips libc's thread exit, and musl's join waits
         * for a state only its pthread_exit sets. Wait (5 s bound) until the tid is gone. */
        for (int i = 0; i < 5000 && (!sys_exit_tid || syscall(SYS_tgkill, getpid(), sys_exit_tid, 0) == 0); i++)
            usleep(1000);
        _exit(sys_exit_tid && syscall(SYS_tgkill, getpid(), sys_exit_tid, 0) == -1 && errno == ESRCH ? 3 : 4);
    }
    waitpid(c, &st, 0);
    ok(EXITED(st, 3), "raw SYS_exit in a thread ends only that thread");
    close(p[0]);
    close(p[1]);
}

static volatile pid_t handler_tid;
static void on_usr1(int sig) { handler_tid = gettid(); }
static volatile pid_t worker_tid;
static volatile int worker_stop;
static void *worker(void *arg)
{
    worker_tid = gettid();
    while (!worker_stop)
        usleep(1000);
    return NULL;
}

static void test_tgkill(void)
{
    ok(gettid() == getpid(), "main thread: gettid() == getpid()");
    signal(SIGUSR1, on_usr1);
    pthread_t t;
    worker_stop = 0;
    pthread_create(&t, NULL, worker, NULL);
    while (!worker_tid)
        usleep(1000);
    ok(worker_tid != getpid(), "thread tid differs from the pid");
    handler_tid = 0;
    ok(syscall(SYS_tgkill, getpid(), worker_tid, SIGUSR1) == 0, "tgkill to the thread");
    for (int i = 0; i < 5000 && !handler_tid; i++)
        usleep(1000);
    ok(handler_tid == worker_tid, "the handler ran on the target thread");
    /* Process-directed, with the main thread blocking it: the worker must take it. */
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, &old);
    handler_tid = 0;
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 5000 && !handler_tid; i++)
        usleep(1000);
    ok(handler_tid == worker_tid, "kill() to the process goes to a thread not blocking it");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    worker_stop = 1;
    pthread_join(t, NULL);
    /* pthread_join returns once the kernel clears the tid word, which happens before the
     * thread is released: for a moment the tid still answers. Poll (bounded: 5 s). */
    long r = 0;
    for (int i = 0; i < 5000 && (r = syscall(SYS_tgkill, getpid(), worker_tid, 0)) == 0; i++)
        usleep(1000);
    ok(r == -1 && errno == ESRCH, "tgkill to an exited (joined) thread: ESRCH, soon after join");
    signal(SIGUSR1, SIG_DFL);
}

#ifdef __GLIBC__
/* A raw clone()d thread (no libc thread state): glibc's clone() runs fn on our stack. */
static volatile int raw_ran;
static int raw_thread(void *arg)
{
    raw_ran = 1;
    return 0; /* glibc's clone() then calls SYS_exit: this thread only */
}
#endif

static void test_cleartid(void)
{
#ifdef __GLIBC__
    size_t ss = 64 * 1024;
    char *stack = mmap(NULL, ss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static uint32_t ctid = 0xffffffff, ptid;
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    int tid = clone(raw_thread, stack + ss, flags, NULL, &ptid, NULL, &ctid);
    ok(tid > 0 && ptid == (uint32_t)tid, "clone(CLONE_THREAD|CLONE_PARENT_SETTID) stores the tid");
    /* Wait while the word still holds the tid (or the initial value, if not yet stored). */
    int rounds = 0;
    struct timespec ts = {0, 100000000};
    for (uint32_t v; (v = __atomic_load_n(&ctid, __ATOMIC_SEQ_CST)) != 0 && rounds < 50; rounds++)
        futex(&ctid, FUTEX_WAIT, v, &ts);
    ok(ctid == 0 && raw_ran, "CLONE_CHILD_CLEARTID: the tid word is zeroed and futex-woken at thread exit");
    munmap(stack, ss);
#else
    /* musl's clone() (>= 1.2.5) refuses CLONE_THREAD and CLONE_CHILD_CLEARTID: EINVAL. */
    skip("clone(CLONE_THREAD|CLONE_PARENT_SETTID): musl's clone() refuses thread flags");
    skip("CLONE_CHILD_CLEARTID through clone(): musl's clone() refuses thread flags");
#endif
    static uint32_t word;
    long r = syscall(SYS_set_tid_address, &word);
    ok(r == gettid(), "set_tid_address returns the caller's tid");
}

int main(void)
{
    test_mutex();
    test_futex();
    test_exit();
    test_tgkill();
    test_cleartid();
    return t_done();
}
