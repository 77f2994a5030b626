/* fpu: a thread's floating-point registers belong to it. A value held in an FP register
 * across a raw system call (no libc code in between that could spill it) must come back
 * unchanged when the kernel ran other threads, processes and signal handlers in the
 * meantime, and a forked child starts with its parent's registers. This is what a kernel
 * that keeps the registers live between traps (and saves them only when another context
 * needs them) can get wrong. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "t.h"

/* Puts `v` in an FP register, makes system call `nr(a0, a1, 0, 0)` with nothing between
 * the load and the call, and returns what the register holds afterwards; `*ret` gets the
 * call's result. */
static double hold_across(double v, long nr, long a0, long a1, long *ret)
{
    double out;
#if defined(__x86_64__)
    register long rax __asm__("rax") = nr;
    register long rdi __asm__("rdi") = a0;
    register long rsi __asm__("rsi") = a1;
    register long rdx __asm__("rdx") = 0;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("movsd %[v], %%xmm7\n\t"
                     "syscall\n\t"
                     "movsd %%xmm7, %[o]"
                     : [o] "=m"(out), "+r"(rax)
                     : [v] "m"(v), "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10)
                     : "rcx", "r11", "xmm7", "memory");
    *ret = rax;
#elif defined(__riscv)
    register long a7 __asm__("a7") = nr;
    register long r0 __asm__("a0") = a0;
    register long r1 __asm__("a1") = a1;
    register long r2 __asm__("a2") = 0;
    register long r3 __asm__("a3") = 0;
    __asm__ volatile("fld fs11, %[v]\n\t"
                     "ecall\n\t"
                     "fsd fs11, %[o]"
                     : [o] "=m"(out), "+r"(r0)
                     : [v] "m"(v), "r"(a7), "r"(r1), "r"(r2), "r"(r3)
                     : "fs11", "memory");
    *ret = r0;
#else
#error "fpu.c: x86_64 or riscv64"
#endif
    return out;
}

/* Two threads yield to each other, each holding its own value. */
static volatile int stop;

static void *yielder(void *arg)
{
    double mine = *(double *)arg;
    long ret, bad = 0;
    for (int i = 0; i < 2000 && !stop; i++)
        if (hold_across(mine + i, SYS_sched_yield, 0, 0, &ret) != mine + i)
            bad++;
    return (void *)bad;
}

static void test_threads(void)
{
    double a = 1.25, b = -7.5e100;
    pthread_t ta, tb;
    void *ra, *rb;
    ok(pthread_create(&ta, NULL, yielder, &a) == 0 && pthread_create(&tb, NULL, yielder, &b) == 0,
       "two threads started");
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    ok(ra == NULL && rb == NULL, "each thread's FP register survives 2000 yields to the other"
       " (%ld and %ld lost)", (long)ra, (long)rb);
}

/* A busy thread that only computes, preempted by the timer, beside one that yields. */
static void *spinner(void *arg)
{
    double x = 1.0, y = 0.0;
    for (long i = 0; i < 2000000; i++) {
        x = x * 1.0000001 + 0.5;
        y += x;
    }
    *(double *)arg = y;
    return NULL;
}

static void test_preempted(void)
{
    double first = 0, second = 0;
    pthread_t t;
    spinner(&first);
    ok(pthread_create(&t, NULL, spinner, &second) == 0, "spinning thread started");
    double mine = 3.0e-300;
    long ret, bad = 0;
    for (int i = 0; i < 200; i++)
        if (hold_across(mine, SYS_sched_yield, 0, 0, &ret) != mine)
            bad++;
    pthread_join(t, NULL);
    ok(bad == 0, "the yielding thread keeps its FP register beside a computing one");
    ok(first == second, "a computation preempted by the timer gives the same sum as alone");
}

/* fork: the child starts with the parent's registers; the parent keeps its own while the
 * child runs and changes them. */
static void test_fork(void)
{
    long pid;
    double v = 42.125;
    /* clone(SIGCHLD, 0): fork on both arches (riscv64 has no fork call). */
    double got = hold_across(v, SYS_clone, SIGCHLD, 0, &pid);
    if (pid == 0) {
        long ret;
        int same = got == v;
        /* The child now uses the register for something else, and yields. */
        for (int i = 0; i < 50; i++)
            hold_across(-1.0 - i, SYS_sched_yield, 0, 0, &ret);
        _exit(same ? 0 : 1);
    }
    ok(pid > 0, "fork");
    ok(got == v, "the parent's FP register survives fork");
    int status = 0;
    long ret;
    double after = hold_across(v, SYS_wait4, pid, (long)&status, &ret);
    ok(ret == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the child started with the parent's FP register (status %#x)", status);
    ok(after == v, "the parent's FP register survives waiting for the child");
}

/* A signal handler that uses the same register: sigreturn gives back the interrupted
 * code's value. */
static volatile double handler_result;

static void fp_handler(int sig)
{
    double x = sig;
    for (int i = 0; i < 100; i++)
        x = x * 0.5 + 3.0;
    handler_result = x;
}

static void test_signal(void)
{
    struct sigaction sa = {.sa_handler = fp_handler};
    ok(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    double v = 0.1;
    long ret;
    double got = hold_across(v, SYS_kill, getpid(), SIGUSR1, &ret);
    ok(ret == 0 && handler_result > 5.9, "the handler ran and computed (%g)", handler_result);
    ok(got == v, "the FP register survives a signal handler that uses it");
}

int main(void)
{
    test_threads();
    test_preempted();
    test_fork();
    test_signal();
    return t_done();
}
