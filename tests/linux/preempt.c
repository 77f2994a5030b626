/* Preemption: children spinning forever on the parent's CPU do not starve it; the parent
 * sleeps, sees the monotonic clock advance, kills them. Clocks and sleeps are checked for
 * their guaranteed lower bounds only (never tight timing). */
#include "t.h"
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

static long long now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_alarm(int sig) {}

int main(void)
{
    /* Everyone on one CPU, so the parent only runs if the spinners are preempted. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    int pinned = sched_setaffinity(0, sizeof one, &one) == 0;
    printf("# %s\n", pinned ? "pinned to CPU 0" : "sched_setaffinity failed: not pinned");
    ok(sched_yield() == 0, "sched_yield returns 0");
    volatile long *progress = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    enum { N = 2 };
    pid_t kids[N];
    fflush(stdout);
    for (int i = 0; i < N; i++)
        if ((kids[i] = fork()) == 0)
            for (;;)
                progress[i]++; /* busy forever, never yields */
    long long t0 = now_ns(CLOCK_MONOTONIC);
    int parent_rounds = 0;
    for (int r = 0; r < 10; r++) {
        struct timespec d = {0, 20000000};
        if (nanosleep(&d, NULL) == 0)
            parent_rounds++;
        sched_yield();
    }
    long long t1 = now_ns(CLOCK_MONOTONIC);
    ok(parent_rounds == 10, "the parent keeps running and sleeping beside %d spinning children", N);
    ok(t1 - t0 >= 200000000LL, "ten 20 ms nanosleeps take at least 200 ms of CLOCK_MONOTONIC");
    /* Both spinners get CPU time, and keep getting it while we sleep (bounded: 10 s). */
    long seen[N];
    int ran = 0, keeps = 0;
    for (int r = 0; r < 500 && !ran; r++) {
        ran = progress[0] > 0 && progress[1] > 0;
        struct timespec d = {0, 20000000};
        nanosleep(&d, NULL);
    }
    for (int i = 0; i < N; i++)
        seen[i] = progress[i];
    for (int r = 0; r < 500 && !keeps; r++) {
        struct timespec d = {0, 20000000};
        nanosleep(&d, NULL);
        keeps = progress[0] > seen[0] && progress[1] > seen[1];
    }
    ok(ran, "both spinners made progress (each got CPU time)");
    ok(keeps, "they keep running while we sleep");
    long long t2 = now_ns(CLOCK_MONOTONIC);
    sched_yield();
    ok(now_ns(CLOCK_MONOTONIC) >= t2 && t2 > t1, "CLOCK_MONOTONIC advances");
    int killed = 1;
    for (int i = 0; i < N; i++) {
        int st;
        kill(kids[i], SIGKILL);
        killed &= waitpid(kids[i], &st, 0) == kids[i] && SIGNALED(st, SIGKILL);
    }
    ok(killed, "SIGKILL ends the spinners");
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    ok(ru.ru_utime.tv_sec + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec > 0,
       "the reaped spinners' CPU time is accounted (RUSAGE_CHILDREN)");

    /* Clock and sleep interfaces. */
    struct timespec res;
    ok(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000,
       "clock_getres(CLOCK_MONOTONIC) <= 10 ms");
    ok_err(clock_gettime((clockid_t)12345, &res), EINVAL, "clock_gettime bad clock: EINVAL");
    struct timespec bad = {0, 1000000000};
    ok_err(nanosleep(&bad, NULL), EINVAL, "nanosleep tv_nsec = 10^9: EINVAL");
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    ok_err(nanosleep(&bad, NULL), EINVAL, "nanosleep negative: EINVAL");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long rt = now_ns(CLOCK_REALTIME), gt = tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
    ok(rt >= gt && rt - gt < 10000000000LL, "CLOCK_REALTIME agrees with gettimeofday");
    ok(now_ns(CLOCK_PROCESS_CPUTIME_ID) > 0 && now_ns(CLOCK_THREAD_CPUTIME_ID) > 0, "CPU-time clocks are nonzero");
    /* A signal interrupts nanosleep: EINTR with the remaining time filled in. */
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec longsleep = {5, 0}, rem = {0, 0};
    long long s0 = now_ns(CLOCK_MONOTONIC);
    errno = 0;
    int r = nanosleep(&longsleep, &rem);
    ok(r == -1 && errno == EINTR, "SIGALRM interrupts a 5 s nanosleep: EINTR");
    ok(rem.tv_sec < 5 && (rem.tv_sec > 0 || rem.tv_nsec > 0), "the remaining time is reported (%ld.%09ld s)",
       (long)rem.tv_sec, rem.tv_nsec);
    ok(now_ns(CLOCK_MONOTONIC) - s0 < 4000000000LL, "and it returned early");
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20000000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000;
    }
    ok(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == 0 &&
           now_ns(CLOCK_MONOTONIC) >= abs.tv_sec * 1000000000LL + abs.tv_nsec,
       "clock_nanosleep TIMER_ABSTIME sleeps until the deadline");
    return t_done();
}
