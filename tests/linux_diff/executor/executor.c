/*
 * The Linux side of the differential test: performs memory operations in its own
 * process, one command line from stdin at a time, and answers one line per command on
 * stdout. Built at test time by build.rs with the host `cc`; never committed as a binary.
 *
 * No stdio and no malloc: malloc would move the program break behind the test's back, and
 * buffered input could not be handed from process to process after fork. Every process
 * of the family shares stdin/stdout; exactly one of them (the active one) reads at a time,
 * the others wait on their semaphore in a MAP_SHARED control page ("switch" passes the
 * baton together with the input read ahead).
 *
 * Protocol (numbers are C literals: 0x.. hex or decimal, may be negative):
 *   init BASE PAGES NFILES SIZE...      -> "v HEAP"  (reserve the window PROT_NONE)
 *   mmap A LEN PROT FLAGS FILE OFF      -> "v ADDR" | "o" (placed outside the window,
 *                                          unmapped again) | "e ERRNO"
 *   munmap A LEN | mprotect A LEN PROT | madvise A LEN ADV | msync A LEN FLAGS
 *                                       -> "v 0" | "e ERRNO"
 *   mremap A OLD NEW FLAGS NA           -> as mmap
 *   brk A                               -> "v BRK"
 *   read A LEN | write A LEN SEED       -> "h HASH" / "k" | "s SIGNO CODE ADDRDELTA"
 *   pread F OFF LEN                     -> "v N HASH" | "e ERRNO"
 *   pwrite F OFF LEN SEED | ftrunc F LEN -> "v N" | "e ERRNO"
 *   fork child|parent                   -> "v INDEX" (then the child, resp. parent, is active)
 *   switch INDEX                        -> "v INDEX"
 *   maps                                -> "m N (START END PERMS OFF KIND)*" for the window
 *                                          and the heap region
 *   dump A PAGES                        -> "d (HASH | sSIGNO.CODE)*"
 *   quit                                -> (no answer; the whole family exits)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXP 8
#define MAXF 4
#define BUF 65536

struct ctl {
	sem_t sem[MAXP];
	int nproc;
	int quit;
	size_t hand_len;
	char hand[BUF];
};

static struct ctl *ctl;
static int me;
static char inbuf[BUF];
static size_t in_pos, in_len;
static char out[BUF * 2];
static size_t out_len;
static uintptr_t win_base, win_end, heap0;
#define HEAP_SPAN (1UL << 30)
static int fds[MAXF];
static ino_t inodes[MAXF];
static int nfiles;

static sigjmp_buf jb;
static volatile sig_atomic_t f_signo, f_code;
static volatile uintptr_t f_addr;

static void die(const char *msg)
{
	(void)!write(2, msg, strlen(msg));
	_exit(2);
}

/* ---- output ---- */
static void put(const char *s)
{
	size_t n = strlen(s);
	if (out_len + n >= sizeof(out))
		die("executor: output line too long\n");
	memcpy(out + out_len, s, n);
	out_len += n;
}

static void put_hex(uint64_t v)
{
	char b[24];
	int i = 23;
	b[i] = 0;
	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	put(b + i);
}

static void put_dec(int64_t v)
{
	char b[24];
	int i = 23;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	b[i] = 0;
	do {
		b[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (v < 0)
		b[--i] = '-';
	put(b + i);
}

static void flush_line(void)
{
	put("\n");
	size_t done = 0;
	while (done < out_len) {
		ssize_t n = write(1, out + done, out_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		done += n;
	}
	out_len = 0;
}

static void reply_val(long r)
{
	if (r < 0 && errno) {
		put("e ");
		put_dec(errno);
	} else {
		put("v ");
		put_hex((uint64_t)r);
	}
	flush_line();
}

/* ---- input ---- */
static char *read_line(void)
{
	for (;;) {
		char *nl = memchr(inbuf + in_pos, '\n', in_len - in_pos);
		if (nl) {
			char *line = inbuf + in_pos;
			*nl = 0;
			in_pos = nl + 1 - inbuf;
			return line;
		}
		memmove(inbuf, inbuf + in_pos, in_len - in_pos);
		in_len -= in_pos;
		in_pos = 0;
		if (in_len == sizeof(inbuf))
			die("executor: input line too long\n");
		ssize_t n = read(0, inbuf + in_len, sizeof(inbuf) - in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		in_len += n;
	}
}

static char *tok_state;
static char *next_tok(void)
{
	char *t = strtok_r(NULL, " ", &tok_state);
	if (!t)
		die("executor: missing argument\n");
	return t;
}

static long long num(void)
{
	return strtoll(next_tok(), NULL, 0);
}

static unsigned long long unum(void)
{
	return strtoull(next_tok(), NULL, 0);
}

/* ---- data patterns, identical to the Rust side ---- */
static uint8_t pat(uint64_t seed, uint64_t i)
{
	return (uint8_t)(seed + i * 13 + (i >> 8));
}

static uint8_t file_byte(int f, uint64_t j)
{
	return (uint8_t)((f * 101 + j * 7 + (j >> 9)) ^ 0x5a);
}

#define FNV_INIT 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* ---- fault probes ---- */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	f_signo = sig;
	f_code = si->si_code;
	f_addr = (uintptr_t)si->si_addr;
	siglongjmp(jb, 1);
}

/* The access itself, out of line so that nothing of it lives across sigsetjmp. */
static __attribute__((noinline)) uint64_t touch(uintptr_t p, size_t len, int write, uint64_t seed)
{
	volatile uint8_t *m = (volatile uint8_t *)p;
	uint64_t h = FNV_INIT;
	for (size_t i = 0; i < len; i++) {
		if (write)
			m[i] = pat(seed, i);
		else
			h = (h ^ m[i]) * FNV_PRIME;
	}
	return h;
}

struct access {
	uintptr_t p;
	size_t len;
	int write;
	uint64_t seed;
	uint64_t hash;
};

/* Reads (write = 0) or writes [p, p + len); returns 0, or 1 after a fault (f_*). */
static int access_mem(struct access *a)
{
	if (sigsetjmp(jb, 1))
		return 1;
	a->hash = touch(a->p, a->len, a->write, a->seed);
	return 0;
}

static void put_fault(uintptr_t addr)
{
	put("s ");
	put_dec(f_signo);
	put(" ");
	put_dec(f_code);
	put(" ");
	put_dec((int64_t)(f_addr - addr));
}

/* ---- the process family ---- */
static void park(void)
{
	for (;;) {
		while (sem_wait(&ctl->sem[me]) != 0) {
			if (errno != EINTR)
				die("executor: sem_wait\n");
		}
		if (ctl->quit)
			_exit(0);
		memcpy(inbuf, ctl->hand, ctl->hand_len);
		in_pos = 0;
		in_len = ctl->hand_len;
		return;
	}
}

static void hand_to(int k)
{
	ctl->hand_len = in_len - in_pos;
	memcpy(ctl->hand, inbuf + in_pos, ctl->hand_len);
	sem_post(&ctl->sem[k]);
	park();
}

/* ---- /proc/self/maps of the window and the heap ---- */
static void do_maps(void)
{
	static char buf[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		die("executor: open maps\n");
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	char items[BUF];
	size_t ilen = 0;
	int count = 0;
	char *save, *line;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s2, *range = strtok_r(line, " ", &s2), *perms = strtok_r(NULL, " ", &s2);
		char *off = strtok_r(NULL, " ", &s2);
		(void)strtok_r(NULL, " ", &s2); /* dev */
		char *ino = strtok_r(NULL, " ", &s2);
		char *path = strtok_r(NULL, "", &s2);
		if (!range || !perms || !off || !ino)
			continue;
		while (path && *path == ' ')
			path++;
		char *dash = strchr(range, '-');
		uintptr_t start = strtoull(range, NULL, 16), end = strtoull(dash + 1, NULL, 16);
		const char *kind;
		char fk[8];
		int heap = start < heap0 + HEAP_SPAN && end > heap0;
		if (!heap && (end <= win_base || start >= win_end))
			continue;
		if (!heap) {
			start = start < win_base ? win_base : start;
			end = end > win_end ? win_end : end;
		}
		unsigned long long inode = strtoull(ino, NULL, 10);
		if (inode == 0) {
			kind = "anon";
		} else {
			kind = "other";
			if (path && strncmp(path, "/dev/zero", 9) == 0)
				kind = "shm";
			for (int f = 0; f < nfiles; f++)
				if (inodes[f] == inode) {
					fk[0] = 'f';
					fk[1] = '0' + f;
					fk[2] = 0;
					kind = fk;
				}
		}
		/* " START END PERMS OFF KIND" */
		size_t save_len = out_len;
		put(" ");
		put_hex(start);
		put(" ");
		put_hex(end);
		put(" ");
		put(perms);
		put(" 0x");
		put(off);
		put(" ");
		put(kind);
		size_t t = out_len - save_len;
		if (ilen + t >= sizeof(items))
			die("executor: maps too long\n");
		memcpy(items + ilen, out + save_len, t);
		ilen += t;
		out_len = save_len;
		count++;
	}
	put("m ");
	put_dec(count);
	if (out_len + ilen >= sizeof(out))
		die("executor: maps too long\n");
	memcpy(out + out_len, items, ilen);
	out_len += ilen;
	flush_line();
}

/* Unmaps a result outside the window (placement there is the kernel's business). */
static void reply_addr(long r, size_t len)
{
	int in_win = (uintptr_t)r >= win_base && (uintptr_t)r < win_end;
	int in_heap = (uintptr_t)r >= heap0 && (uintptr_t)r < heap0 + HEAP_SPAN;
	if (r != -1 && !in_win && !in_heap) {
		munmap((void *)r, len);
		put("o");
		flush_line();
		return;
	}
	reply_val(r);
}

static int file_fd(long long f)
{
	return f >= 0 && f < nfiles ? fds[f] : -1;
}

static void do_init(void)
{
	win_base = unum();
	win_end = win_base + unum() * 4096;
	nfiles = (int)num();
	if (nfiles < 0 || nfiles > MAXF)
		die("executor: bad file count\n");
	void *w = mmap((void *)win_base, win_end - win_base, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (w != (void *)win_base)
		die("executor: cannot reserve the window\n");
	for (int f = 0; f < nfiles; f++) {
		char name[8] = {'d', 'i', 'f', 'f', '0' + f, 0};
		unsigned long long size = unum();
		fds[f] = memfd_create(name, 0);
		if (fds[f] < 0)
			die("executor: memfd_create\n");
		static uint8_t page[4096];
		for (unsigned long long off = 0; off < size; off += 4096) {
			size_t n = size - off < 4096 ? size - off : 4096;
			for (size_t j = 0; j < n; j++)
				page[j] = file_byte(f, off + j);
			if (pwrite(fds[f], page, n, off) != (ssize_t)n)
				die("executor: pwrite\n");
		}
		struct stat st;
		fstat(fds[f], &st);
		inodes[f] = st.st_ino;
	}
	errno = 0;
	heap0 = (uintptr_t)syscall(SYS_brk, 0);
	reply_val((long)heap0);
}

int main(void)
{
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		die("executor: control page\n");
	for (int i = 0; i < MAXP; i++)
		sem_init(&ctl->sem[i], 1, 0);
	ctl->nproc = 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	char *line;
	while ((line = read_line()) != NULL) {
		char *cmd = strtok_r(line, " ", &tok_state);
		if (!cmd)
			continue;
		errno = 0;
		if (!strcmp(cmd, "init")) {
			do_init();
		} else if (!strcmp(cmd, "mmap")) {
			uintptr_t a = unum();
			size_t len = unum();
			int prot = num(), flags = num();
			int fd = file_fd(num());
			long long off = num();
			reply_addr((long)mmap((void *)a, len, prot, flags, fd, off), len);
		} else if (!strcmp(cmd, "munmap")) {
			uintptr_t a = unum();
			size_t len = unum();
			reply_val(munmap((void *)a, len));
		} else if (!strcmp(cmd, "mprotect")) {
			uintptr_t a = unum();
			size_t len = unum();
			reply_val(mprotect((void *)a, len, num()));
		} else if (!strcmp(cmd, "madvise")) {
			uintptr_t a = unum();
			size_t len = unum();
			reply_val(madvise((void *)a, len, num()));
		} else if (!strcmp(cmd, "msync")) {
			uintptr_t a = unum();
			size_t len = unum();
			reply_val(msync((void *)a, len, num()));
		} else if (!strcmp(cmd, "mremap")) {
			uintptr_t a = unum();
			size_t ol = unum(), nl = unum();
			int flags = num();
			uintptr_t na = unum();
			reply_addr((long)syscall(SYS_mremap, a, ol, nl, flags, na), nl);
		} else if (!strcmp(cmd, "brk")) {
			uintptr_t a = unum();
			errno = 0;
			reply_val((long)syscall(SYS_brk, a));
		} else if (!strcmp(cmd, "read") || !strcmp(cmd, "write")) {
			int wr = cmd[0] == 'w';
			uintptr_t a = unum();
			size_t len = unum();
			struct access ac = {a, len, wr, wr ? unum() : 0, 0};
			if (access_mem(&ac)) {
				put_fault(a);
			} else if (wr) {
				put("k");
			} else {
				put("h ");
				put_hex(ac.hash);
			}
			flush_line();
		} else if (!strcmp(cmd, "pread")) {
			int fd = file_fd(num());
			long long off = num();
			size_t len = unum();
			static uint8_t buf[BUF];
			ssize_t n = pread(fd, buf, len > BUF ? BUF : len, off);
			if (n < 0) {
				reply_val(-1);
			} else {
				uint64_t h = FNV_INIT;
				for (ssize_t i = 0; i < n; i++)
					h = (h ^ buf[i]) * FNV_PRIME;
				put("v ");
				put_hex(n);
				put(" ");
				put_hex(h);
				flush_line();
			}
		} else if (!strcmp(cmd, "pwrite")) {
			int fd = file_fd(num());
			long long off = num();
			size_t len = unum();
			uint64_t seed = unum();
			static uint8_t buf[BUF];
			len = len > BUF ? BUF : len;
			for (size_t i = 0; i < len; i++)
				buf[i] = pat(seed, i);
			reply_val(pwrite(fd, buf, len, off));
		} else if (!strcmp(cmd, "ftrunc")) {
			int fd = file_fd(num());
			reply_val(ftruncate(fd, num()));
		} else if (!strcmp(cmd, "fork")) {
			int child_active = !strcmp(next_tok(), "child");
			if (ctl->nproc >= MAXP) {
				errno = EAGAIN;
				reply_val(-1);
				continue;
			}
			int idx = ctl->nproc++;
			pid_t pid = fork();
			if (pid < 0) {
				ctl->nproc--;
				reply_val(-1);
				continue;
			}
			if (pid == 0)
				me = idx;
			if ((pid == 0) != child_active) {
				park();
			} else {
				errno = 0;
				reply_val(idx);
			}
		} else if (!strcmp(cmd, "switch")) {
			int k = (int)num();
			if (k < 0 || k >= ctl->nproc) {
				errno = ESRCH;
				reply_val(-1);
				continue;
			}
			errno = 0;
			reply_val(k);
			if (k != me)
				hand_to(k);
		} else if (!strcmp(cmd, "maps")) {
			do_maps();
		} else if (!strcmp(cmd, "dump")) {
			uintptr_t a = unum();
			size_t pages = unum();
			put("d");
			for (size_t i = 0; i < pages; i++) {
				struct access ac = {a + i * 4096, 4096, 0, 0, 0};
				put(" ");
				if (access_mem(&ac)) {
					put("s");
					put_dec(f_signo);
					put(".");
					put_dec(f_code);
				} else {
					put_hex(ac.hash);
				}
			}
			flush_line();
		} else if (!strcmp(cmd, "quit")) {
			break;
		} else {
			die("executor: unknown command\n");
		}
	}
	ctl->quit = 1;
	for (int i = 0; i < ctl->nproc; i++)
		if (i != me)
			sem_post(&ctl->sem[i]);
	return 0;
}
