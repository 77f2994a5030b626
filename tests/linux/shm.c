/* System V shared memory across processes: get/attach/detach/control, their error cases,
 * permissions for a non-root user, SHM_RDONLY and IPC_RMID while attached. */
#include "t.h"
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

static int stat_of(int id, struct shmid_ds *ds) { return shmctl(id, IPC_STAT, ds); }

static int write_probe(void *p) { *(volatile char *)p = 1; return 0; }

/* Child as uid/gid 65534: what may it do with segment `id`? Bit flags of failures. */
static int as_nobody(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (setgid(65534) || setuid(65534))
        return 100;
    int bad = 0;
    errno = 0;
    bad |= !(shmat(id, NULL, 0) == (void *)-1 && errno == EACCES);
    errno = 0;
    bad |= !(shmat(id, NULL, SHM_RDONLY) == (void *)-1 && errno == EACCES) << 1;
    struct shmid_ds ds;
    errno = 0;
    bad |= !(shmctl(id, IPC_STAT, &ds) == -1 && errno == EACCES) << 2;
    errno = 0;
    bad |= !(shmctl(id, IPC_RMID, NULL) == -1 && errno == EPERM) << 3;
    return bad;
}
/* Same, for a segment with mode 0604: read-only attach allowed, read-write not. */
static int as_nobody_other_read(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (setgid(65534) || setuid(65534))
        return 100;
    int bad = 0;
    errno = 0;
    bad |= !(shmat(id, NULL, 0) == (void *)-1 && errno == EACCES);
    char *p = shmat(id, NULL, SHM_RDONLY);
    bad |= (p == (void *)-1 || p[0] != 'r') << 1;
    /* SHM_RND may round to 0: a fixed attach there, below vm.mmap_min_addr (root only). */
    errno = 0;
    bad |= !(shmat(id, (void *)0x10, SHM_RND | SHM_RDONLY) == (void *)-1 && errno == EPERM) << 2;
    return bad;
}

int main(void)
{
    int id = shmget(IPC_PRIVATE, 2 * PG, IPC_CREAT | 0600);
    if (id < 0 && errno == ENOSYS) {
        skip("System V shm not available");
        return t_done();
    }
    ok(id >= 0, "shmget(IPC_PRIVATE, 8192)");
    char *a = shmat(id, NULL, 0);
    ok(a != (void *)-1 && ((uintptr_t)a % SHMLBA) == 0, "shmat returns an SHMLBA-aligned address");
    /* Segments get memory on first touch, not at shmget or shmat. */
    unsigned char vec[2] = {9, 9};
    ok(a != (void *)-1 && mincore(a, 2 * PG, vec) == 0 && vec[0] == 0 && vec[1] == 0,
       "mincore: an untouched segment has no resident page");
    ok(a[0] == 0 && a[2 * PG - 1] == 0, "a new segment is zero-filled");
    a[0] = 0;
    ok(mincore(a, 2 * PG, vec) == 0 && (vec[0] & 1) && (vec[1] & 1),
       "mincore: both touched pages are resident");
    struct shmid_ds ds;
    ok(stat_of(id, &ds) == 0 && ds.shm_segsz == 2 * PG && ds.shm_nattch == 1 && ds.shm_cpid == getpid() &&
           ds.shm_lpid == getpid() && (ds.shm_perm.mode & 0777) == 0600 && ds.shm_perm.uid == geteuid() &&
           ds.shm_perm.cuid == geteuid() && ds.shm_atime != 0, "IPC_STAT: size, nattch 1, cpid, lpid, mode, uid, atime");

    int p2c[2];
    pipe(p2c);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char x;
        strcpy(a + 100, "from child");
        read(p2c[0], &x, 1);
        _exit(a[200] == 'P' ? 0 : 1);
    }
    int nattch_during = stat_of(id, &ds) == 0 ? (int)ds.shm_nattch : -1;
    ok(nattch_during == 2, "fork inherits the attachment: nattch 2 (%d)", nattch_during);
    a[200] = 'P';
    write(p2c[1], "x", 1);
    int st;
    waitpid(c, &st, 0);
    ok(EXITED(st, 0) && strcmp(a + 100, "from child") == 0, "child and parent see each other's stores");
    ok(stat_of(id, &ds) == 0 && ds.shm_nattch == 1 && ds.shm_lpid == c, "child exit detaches: nattch 1, lpid = child");

    char *b = shmat(id, NULL, 0);
    ok(b != (void *)-1 && b != a && strcmp(b + 100, "from child") == 0, "a second attach aliases the same memory");
    ok(stat_of(id, &ds) == 0 && ds.shm_nattch == 2, "nattch counts both attaches");
    ok(shmdt(b) == 0 && stat_of(id, &ds) == 0 && ds.shm_nattch == 1, "shmdt: nattch back to 1");
    ok_err(shmdt(b), EINVAL, "shmdt of an address no longer attached: EINVAL");
    ok_err(shmdt(a + 1), EINVAL, "shmdt unaligned: EINVAL");

    char *r = shmat(id, NULL, SHM_RDONLY);
    ok(r != (void *)-1 && r[100] == 'f', "SHM_RDONLY attach reads");
    st = t_child(write_probe, r);
    ok(SIGNALED(st, SIGSEGV), "a store to an SHM_RDONLY attach: SIGSEGV");
    shmdt(r);

    /* Fixed addresses: unaligned without SHM_RND fails; SHM_RND rounds down. */
    char *hole = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 4 * PG);
    ok_err(shmat(id, hole + 100, 0), EINVAL, "shmat at an unaligned address: EINVAL");
    char *fx = shmat(id, hole + 100, SHM_RND);
    ok(fx == hole && fx[100] == 'f', "SHM_RND rounds the address down to SHMLBA");
    shmdt(fx);
    ok_err(shmat(-1, NULL, 0), EINVAL, "shmat bad id: EINVAL");
    ok_err(shmat(id, (void *)0x10, SHM_RND | SHM_REMAP), EINVAL, "SHM_REMAP rounding to 0: EINVAL");
    /* One page: Pagoda's riscv64 signal trampoline occupies 0x1000. */
    int one = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0600);
    char *zero = shmat(one, (void *)0x10, SHM_RND);
    ok(zero == NULL, "root: SHM_RND rounding to 0 attaches at page 0");
    if (zero != (void *)-1)
        shmdt(zero);
    shmctl(one, IPC_RMID, NULL);

    ds.shm_perm.mode = 0640;
    ok(shmctl(id, IPC_SET, &ds) == 0 && stat_of(id, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0640,
       "IPC_SET changes the mode");
    ok_err(shmctl(id, 12345, &ds), EINVAL, "shmctl bad command: EINVAL");

    st = t_child(as_nobody, (void *)(intptr_t)id);
    if (EXITED(st, 100))
        skip("cannot setuid to 65534 (not root?)");
    else
        ok(EXITED(st, 0), "uid 65534 on a 0640 root segment: shmat/IPC_STAT EACCES, IPC_RMID EPERM (%#x)", st);
    int ro = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0604);
    char *rp = shmat(ro, NULL, 0);
    rp[0] = 'r';
    st = t_child(as_nobody_other_read, (void *)(intptr_t)ro);
    if (!EXITED(st, 100))
        ok(EXITED(st, 0), "uid 65534 on a 0604 segment: read-only attach works, read-write EACCES, page 0 EPERM (%#x)", st);
    shmdt(rp);
    shmctl(ro, IPC_RMID, NULL);

    /* IPC_RMID while attached: usable until the last detach, then gone. */
    ok(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID while attached");
    ok(stat_of(id, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST) && ds.shm_nattch == 1,
       "the segment lives on, marked SHM_DEST");
    a[0] = 'L';
    ok(a[0] == 'L', "the attached memory still works");
    /* Linux-specific: a segment marked for destruction can still be attached by id. */
    b = shmat(id, NULL, 0);
    ok(b != (void *)-1 && b[0] == 'L', "Linux lets a SHM_DEST segment be attached by id");
    shmdt(b);
    ok(shmdt(a) == 0, "last detach");
    ok_err(stat_of(id, &ds), EINVAL, "after the last detach the id is gone: EINVAL");

    /* Keys: IPC_CREAT|IPC_EXCL, ENOENT, size checks. */
    key_t key = 0x50470000 | (getpid() & 0xffff);
    int k = shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600);
    ok(k >= 0, "shmget(key, IPC_CREAT|IPC_EXCL)");
    ok_err(shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600), EEXIST, "IPC_EXCL on an existing key: EEXIST");
    ok(shmget(key, PG, 0600) == k && shmget(key, 0, 0) == k, "the same key finds the same id (size 0 ok)");
    ok_err(shmget(key, 4 * PG, 0600), EINVAL, "existing key with a larger size: EINVAL");
    ok_err(shmget(key + 0x8000, PG, 0600), ENOENT, "missing key without IPC_CREAT: ENOENT");
    ok_err(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL, "size 0: EINVAL");
    ok_err(shmget(IPC_PRIVATE, SIZE_MAX, IPC_CREAT | 0600), EINVAL, "size > SHMMAX: EINVAL");
    ok(shmctl(k, IPC_RMID, NULL) == 0, "IPC_RMID of an unattached segment");
    ok_err(shmget(key, PG, 0600), ENOENT, "its key is free again: ENOENT");
    int odd = shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600);
    ok(odd >= 0 && stat_of(odd, &ds) == 0 && ds.shm_segsz == 100, "shm_segsz keeps the requested size (100)");
    char *o = shmat(odd, NULL, 0);
    ok(o != (void *)-1 && o[PG - 1] == 0, "the attach covers the whole page");
    shmdt(o);
    shmctl(odd, IPC_RMID, NULL);
    return t_done();
}
