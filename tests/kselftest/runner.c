/*
 * The pid-1 runner of `scripts/kselftest.sh run-qemu`: boots as /init on Debian's Linux
 * kernel or on Pagoda, runs the selftests named in /tests.list one after another and prints
 * one line per test on the console:
 *
 *   KSELFTEST <name> exit <status> <seconds>s    the test exited
 *   KSELFTEST <name> signal <number> <seconds>s  a signal killed it
 *   KSELFTEST <name> timeout <limit>s            it outlived its limit (then SIGKILL)
 *   KSELFTEST <name> unrun <why>                 it could not be started
 *
 * /tests.list holds one test a line: its file name under /tests, optionally followed by a
 * time limit in seconds (default 300). Each test is a child (fork + execve + wait4) in a
 * process group of its own, so a timeout kills whatever it forked too; pid 1 also reaps the
 * orphans the tests leave. The test's output goes straight to the console.
 *
 * When fork fails and the list holds exactly one test, the runner execs the test in its
 * own place (it becomes pid 1 and the kernel reports its exit status); if that fails too it
 * prints an `unrun` line. As pid 1 it first mounts proc, sysfs, devtmpfs and a tmpfs on
 * /tmp (each failure, e.g. ENOSYS, is reported and otherwise ignored) and at the end powers
 * the machine off with reboot(RB_POWER_OFF); if that fails it just exits.
 *
 * Not pid 1 (for a try on a host): `runner [LIST [DIR]]` mounts nothing and does not power
 * off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LIMIT 300
#define MAX_TESTS 64
#define LIST_BYTES 8192

struct test {
	char *name;
	unsigned limit;
};

static char *const test_env[] = { "PATH=/tests:/bin:/sbin", "HOME=/", "TERM=linux", NULL };
static volatile sig_atomic_t alarm_rang;

/* One console line, written at once (no stdio buffer to duplicate across fork). */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	for (int done = 0; done < n;) {
		ssize_t w = write(STDOUT_FILENO, line + done, (size_t)(n - done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		done += (int)w;
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	alarm_rang = 1;
}

static double now(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Mounts `type` on `dir` (creating it), reporting but tolerating failure. */
static void mount_fs(const char *type, const char *dir, const char *options)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		say("kselftest-runner: mkdir %s: %s", dir, strerror(errno));
	if (mount(type, dir, type, 0, options) != 0)
		say("kselftest-runner: mount %s on %s: %s (continuing)", type, dir,
		    strerror(errno));
}

/* Reads the list into `tests` (names point into `buf`); the count, or -1. */
static int read_list(const char *path, char *buf, size_t size, struct test *tests)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		say("kselftest-runner: open %s: %s", path, strerror(errno));
		return -1;
	}
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			say("kselftest-runner: read %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0 || (len += (size_t)r) == size - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *word_save = NULL;
		char *name = strtok_r(line, " \t", &word_save);
		if (!name || name[0] == '#')
			continue;
		if (n == MAX_TESTS) {
			say("kselftest-runner: more than %d tests in %s; the rest are ignored",
			    MAX_TESTS, path);
			break;
		}
		char *limit = strtok_r(NULL, " \t", &word_save);
		char *end = NULL;
		unsigned long secs = limit ? strtoul(limit, &end, 10) : DEFAULT_LIMIT;
		if (limit && (*end != '\0' || secs == 0 || secs > 86400)) {
			say("kselftest-runner: bad time limit '%s' for %s; using %d s", limit, name,
			    DEFAULT_LIMIT);
			secs = DEFAULT_LIMIT;
		}
		tests[n].name = name;
		tests[n].limit = (unsigned)secs;
		n++;
	}
	return n;
}

/* The child's side of fork: a process group of its own, default signals, then the test. */
static void exec_child(const char *dir, const char *path, char *name)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGALRM, SIG_DFL);
	setpgid(0, 0);
	if (chdir(dir) != 0)
		say("kselftest-runner: chdir %s: %s", dir, strerror(errno));
	char *argv[] = { name, NULL };
	execve(path, argv, test_env);
	say("kselftest-runner: execve %s: %s", path, strerror(errno));
	_exit(127);
}

/* Runs one test to its end (or its time limit) and prints its line. */
static void run_one(const char *dir, const struct test *t, int alone)
{
	char path[256];
	if (snprintf(path, sizeof(path), "%s/%s", dir, t->name) >= (int)sizeof(path)) {
		say("KSELFTEST %s unrun name too long", t->name);
		return;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		say("KSELFTEST %s unrun %s: %s", t->name, path, strerror(errno));
		return;
	}
	say("KSELFTEST-RUN %s", t->name);
	double start = now();
	pid_t pid = fork();
	if (pid < 0) {
		int fork_errno = errno;
		if (!alone) {
			say("KSELFTEST %s unrun fork: %s", t->name, strerror(fork_errno));
			return;
		}
		say("KSELFTEST-EXEC %s (fork: %s): the test replaces the runner as pid %d",
		    t->name, strerror(fork_errno), (int)getpid());
		char *argv[] = { t->name, NULL };
		if (chdir(dir) != 0)
			say("kselftest-runner: chdir %s: %s", dir, strerror(errno));
		execve(path, argv, test_env);
		say("KSELFTEST %s unrun fork: %s, execve: %s", t->name, strerror(fork_errno),
		    strerror(errno));
		return;
	}
	if (pid == 0)
		exec_child(dir, path, t->name);
	setpgid(pid, pid); /* also here: the child may not have run yet */
	alarm_rang = 0;
	alarm(t->limit);
	int status = 0, timed_out = 0;
	for (;;) {
		pid_t r = wait4(-1, &status, 0, NULL);
		if (r == pid)
			break;
		if (r > 0)
			continue; /* an orphan of an earlier test, reparented to pid 1 */
		if (errno == EINTR && alarm_rang && !timed_out) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			continue;
		}
		if (errno == EINTR)
			continue;
		say("KSELFTEST %s unrun wait4: %s", t->name, strerror(errno));
		alarm(0);
		return;
	}
	alarm(0);
	kill(-pid, SIGKILL); /* whatever the test left running in its group */
	double secs = now() - start;
	if (timed_out)
		say("KSELFTEST %s timeout %us", t->name, t->limit);
	else if (WIFEXITED(status))
		say("KSELFTEST %s exit %d %.1fs", t->name, WEXITSTATUS(status), secs);
	else if (WIFSIGNALED(status))
		say("KSELFTEST %s signal %d %.1fs", t->name, WTERMSIG(status), secs);
	else
		say("KSELFTEST %s unrun wait status %#x", t->name, (unsigned)status);
}

int main(int argc, char **argv)
{
	const char *list = argc > 1 ? argv[1] : "/tests.list";
	const char *dir = argc > 2 ? argv[2] : "/tests";
	int init = getpid() == 1;
	if (init) {
		mount_fs("proc", "/proc", NULL);
		mount_fs("sysfs", "/sys", NULL);
		mount_fs("devtmpfs", "/dev", NULL);
		mount_fs("tmpfs", "/tmp", "mode=1777");
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: the alarm interrupts wait4 */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		say("kselftest-runner: sigaction SIGALRM: %s (no time limits)", strerror(errno));

	static char buf[LIST_BYTES];
	struct test tests[MAX_TESTS];
	int n = read_list(list, buf, sizeof(buf), tests);
	if (n >= 0) {
		say("KSELFTEST-BEGIN %d tests", n);
		for (int i = 0; i < n; i++)
			run_one(dir, &tests[i], n == 1);
		say("KSELFTEST-END");
	}
	if (init) {
		sync();
		reboot(RB_POWER_OFF);
		say("kselftest-runner: reboot(RB_POWER_OFF): %s; exiting", strerror(errno));
	}
	return n >= 0 ? 0 : 1;
}
