/* The file system calls of one process (no fork): open flags, read/write/seek, vectors,
 * positional I/O, the stat family, directories, names (link, symlink, rename, unlink),
 * cwd, modes, truncate, fcntl and dup, pipes, memfd, devices, ioctl and /proc. Expected
 * values and errno orders are Linux's (see the man pages). */
#include "t.h"
#include <dirent.h>
#include <linux/close_range.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>

#define D "/tmp/pagoda-files"

/* An address nothing is mapped at (volatile: the compiler cannot see through it). */
static void *volatile bad = (void *)1;

static int has_entry(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, name) == 0)
            found = 1;
    closedir(d);
    return found;
}

static void open_flags(void)
{
    int fd = open(D "/a", O_CREAT | O_EXCL | O_RDWR, 0640);
    ok(fd >= 0, "open O_CREAT|O_EXCL creates");
    struct stat st;
    ok(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0640 && st.st_size == 0,
       "fstat: regular, mode 0640 (umask 022), size 0");
    ok_err(open(D "/a", O_CREAT | O_EXCL | O_RDWR, 0600), EEXIST, "O_CREAT|O_EXCL on an existing file: EEXIST");
    ok(write(fd, "hello world", 11) == 11, "write 11 bytes");
    close(fd);
    fd = open(D "/a", O_RDWR | O_TRUNC);
    ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "O_TRUNC empties the file");
    ok(write(fd, "abc", 3) == 3, "write after truncate");
    close(fd);
    fd = open(D "/a", O_WRONLY | O_APPEND);
    ok(fd >= 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, "def", 3) == 3, "O_APPEND write");
    ok(lseek(fd, 0, SEEK_CUR) == 6, "O_APPEND: the offset is at the end after the write");
    char b[16] = {0};
    ok_err(read(fd, b, 1), EBADF, "read on O_WRONLY: EBADF");
    close(fd);
    fd = open(D "/a", O_RDONLY);
    ok(read(fd, b, sizeof b) == 6 && memcmp(b, "abcdef", 6) == 0, "O_APPEND appended");
    ok_err(write(fd, "x", 1), EBADF, "write on O_RDONLY: EBADF");
    close(fd);
    ok_err(open(D "/missing", O_RDONLY), ENOENT, "open a missing file: ENOENT");
    ok_err(open(D "/a/x", O_RDONLY), ENOTDIR, "a file used as a directory: ENOTDIR");
    ok_err(open(D "/a", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file: ENOTDIR");
    ok_err(open(D, O_WRONLY), EISDIR, "a directory opened for writing: EISDIR");
    ok_err(open(D "/nodir/x", O_CREAT | O_RDWR, 0600), ENOENT, "O_CREAT in a missing directory: ENOENT");
    ok(symlink("a", D "/sl") == 0, "symlink");
    ok_err(open(D "/sl", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink: ELOOP");
    fd = open(D "/sl", O_RDONLY);
    ok(fd >= 0 && read(fd, b, 3) == 3 && memcmp(b, "abc", 3) == 0, "open follows a symlink");
    close(fd);
    fd = open(D "/a", O_RDONLY | O_CLOEXEC);
    ok(fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "O_CLOEXEC sets FD_CLOEXEC");
    close(fd);
    fd = open(D "/sl", O_PATH | O_NOFOLLOW);
    ok(fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode), "O_PATH|O_NOFOLLOW opens the symlink itself");
    ok_err(read(fd, b, 1), EBADF, "read on O_PATH: EBADF");
    ok((fcntl(fd, F_GETFL) & O_PATH) == O_PATH, "F_GETFL shows O_PATH");
    close(fd);
    fd = openat(AT_FDCWD, D "/a", O_RDONLY);
    ok(fd >= 0, "openat(AT_FDCWD)");
    close(fd);
    int dfd = open(D, O_RDONLY | O_DIRECTORY);
    fd = openat(dfd, "a", O_RDONLY);
    ok(dfd >= 0 && fd >= 0, "openat relative to a directory fd");
    int f2 = openat(fd, "a", O_RDONLY);
    ok(f2 == -1 && errno == ENOTDIR, "openat relative to a file fd: ENOTDIR");
    ok_err(openat(9999, "a", O_RDONLY), EBADF, "openat with a bad dirfd: EBADF");
    close(fd);
    close(dfd);
    ok_err(open("", O_RDONLY), ENOENT, "open(\"\"): ENOENT");
    ok_err(open(bad, O_RDONLY), EFAULT, "open of a bad pointer: EFAULT");
}

static void io(void)
{
    int fd = open(D "/io", O_CREAT | O_RDWR | O_TRUNC, 0644);
    char b[32] = {0};
    ok(pwrite(fd, "0123456789", 10, 0) == 10, "pwrite");
    ok(lseek(fd, 0, SEEK_CUR) == 0, "pwrite does not move the offset");
    ok(pread(fd, b, 4, 3) == 4 && memcmp(b, "3456", 4) == 0, "pread at 3");
    ok(pread(fd, b, 4, 100) == 0, "pread past the end: 0");
    ok_err(pread(fd, b, 4, -1), EINVAL, "pread at a negative offset: EINVAL");
    ok(lseek(fd, -2, SEEK_END) == 8, "SEEK_END - 2");
    ok(read(fd, b, 10) == 2 && memcmp(b, "89", 2) == 0, "read to the end");
    ok(read(fd, b, 10) == 0, "read at the end: 0");
    ok(lseek(fd, 3, SEEK_SET) == 3 && lseek(fd, 2, SEEK_CUR) == 5, "SEEK_SET, SEEK_CUR");
    ok_err(lseek(fd, -10, SEEK_CUR), EINVAL, "lseek before 0: EINVAL");
    ok_err(lseek(fd, 0, 42), EINVAL, "lseek with a bad whence: EINVAL");
    ok(lseek(fd, 0, SEEK_DATA) == 0 && lseek(fd, 0, SEEK_HOLE) == 10, "SEEK_DATA / SEEK_HOLE");
    ok_err(lseek(fd, 10, SEEK_DATA), ENXIO, "SEEK_DATA at the end: ENXIO");
    ok(lseek(fd, 20, SEEK_SET) == 20 && write(fd, "x", 1) == 1, "write past the end");
    struct stat st;
    ok(fstat(fd, &st) == 0 && st.st_size == 21, "the file grew to 21");
    ok(pread(fd, b, 10, 10) == 10 && b[0] == 0 && b[9] == 0, "the gap reads as zeros");
    struct iovec wv[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    ok(lseek(fd, 0, SEEK_SET) == 0 && writev(fd, wv, 3) == 5, "writev of 3 iovecs");
    char x[2], y[3];
    struct iovec rv[2] = {{x, 2}, {y, 3}};
    ok(lseek(fd, 0, SEEK_SET) == 0 && readv(fd, rv, 2) == 5 && memcmp(x, "ab", 2) == 0 &&
           memcmp(y, "cde", 3) == 0,
       "readv scatters");
    ok_err(syscall(SYS_writev, fd, wv, 1025), EINVAL, "writev of more than IOV_MAX iovecs: EINVAL");
    ok_err(write(fd, bad, 4), EFAULT, "write from a bad buffer: EFAULT");
    ok_err(read(fd, bad, 4), EFAULT, "read into a bad buffer: EFAULT");
    ok(fsync(fd) == 0 && fdatasync(fd) == 0, "fsync, fdatasync");
    close(fd);
    ok_err(read(fd, b, 1), EBADF, "read on a closed fd: EBADF");
    ok_err(close(fd), EBADF, "close twice: EBADF");
    ok_err(lseek(1000, 0, SEEK_SET), EBADF, "lseek on a bad fd: EBADF");
}

static void stats(void)
{
    struct stat st, lst;
    ok(stat(D "/sl", &st) == 0 && S_ISREG(st.st_mode), "stat follows the symlink");
    ok(lstat(D "/sl", &lst) == 0 && S_ISLNK(lst.st_mode) && lst.st_size == 1, "lstat: the link, size 1");
    ok(st.st_ino != lst.st_ino, "link and target are different inodes");
    ok(fstatat(AT_FDCWD, D "/sl", &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode), "fstatat NOFOLLOW");
    int fd = open(D "/a", O_RDONLY);
    ok(fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISREG(st.st_mode) && st.st_size == 6, "fstatat AT_EMPTY_PATH");
    ok_err(fstatat(fd, "", &st, 0), ENOENT, "fstatat of \"\" without AT_EMPTY_PATH: ENOENT");
    ok_err(fstatat(AT_FDCWD, D "/a", &st, 0x8000000), EINVAL, "fstatat with a bad flag: EINVAL");
#ifdef STATX_BASIC_STATS /* glibc >= 2.28, musl >= 1.2.5 */
    struct statx sx;
    ok(statx(AT_FDCWD, D "/a", 0, STATX_BASIC_STATS, &sx) == 0 && sx.stx_size == 6 &&
           S_ISREG(sx.stx_mode) && (sx.stx_mask & STATX_SIZE),
       "statx");
#else
    skip("statx: this libc has no statx()");
#endif
    ok(stat(D, &st) == 0 && S_ISDIR(st.st_mode), "stat of a directory");
    ok_err(stat(D "/nope", &st), ENOENT, "stat of a missing name: ENOENT");
    ok_err(stat(D "/a/", &st), ENOTDIR, "a file with a trailing slash: ENOTDIR");
    struct statfs sf;
    ok(statfs("/tmp", &sf) == 0 && sf.f_bsize > 0 && sf.f_namelen == 255 && sf.f_frsize == sf.f_bsize &&
           sf.f_bfree <= sf.f_blocks && (sf.f_flags & 0x20) /* ST_VALID */,
       "statfs /tmp");
    ok(fstatfs(fd, &sf) == 0 && sf.f_bsize > 0 && sf.f_namelen == 255, "fstatfs");
    ok_err(statfs(D "/nope", &sf), ENOENT, "statfs of a missing name: ENOENT");
    close(fd);
}

static void names(void)
{
    struct stat st;
    ok(mkdir(D "/d", 0755) == 0, "mkdir");
    ok_err(mkdir(D "/d", 0755), EEXIST, "mkdir an existing name: EEXIST");
    ok_err(mkdir(D "/nodir/d", 0755), ENOENT, "mkdir in a missing directory: ENOENT");
    ok(mkdirat(AT_FDCWD, D "/d/e", 0700) == 0 && stat(D "/d/e", &st) == 0 && (st.st_mode & 0777) == 0700,
       "mkdirat, mode 0700");
    ok(has_entry(D "/d", "e") == 1 && has_entry(D "/d", ".") == 1 && has_entry(D "/d", "..") == 1,
       "getdents64 lists ., .. and the entry");
    int dfd = open(D "/d", O_RDONLY | O_DIRECTORY);
    char dents[512];
    /* Before any getdents64: afterwards ext4 (the host's /tmp may be one) says EINVAL. */
    ok_err(read(dfd, dents, 1), EISDIR, "read on a directory: EISDIR");
    ok_err(syscall(SYS_getdents64, dfd, dents, 10), EINVAL, "getdents64 into a buffer too small: EINVAL");
    long got = syscall(SYS_getdents64, dfd, dents, sizeof dents);
    ok(got > 0 && syscall(SYS_getdents64, dfd, dents, sizeof dents) == 0, "getdents64 lists, then 0 at the end");
    ok(lseek(dfd, 0, SEEK_SET) == 0 && syscall(SYS_getdents64, dfd, dents, sizeof dents) == got,
       "lseek to 0 rewinds the directory");
    close(dfd);
    int ffd = open(D "/a", O_RDONLY);
    ok_err(syscall(SYS_getdents64, ffd, dents, sizeof dents), ENOTDIR, "getdents64 on a file: ENOTDIR");
    close(ffd);
    ok_err(rmdir(D "/d"), ENOTEMPTY, "rmdir a non-empty directory: ENOTEMPTY");
    ok_err(unlink(D "/d"), EISDIR, "unlink a directory: EISDIR");
    ok_err(rmdir(D "/a"), ENOTDIR, "rmdir a file: ENOTDIR");
    ok_err(rmdir(D "/d/e/."), EINVAL, "rmdir of \".\": EINVAL");
    ok(rmdir(D "/d/e") == 0 && has_entry(D "/d", "e") == 0, "rmdir");
    ok(unlinkat(AT_FDCWD, D "/d", AT_REMOVEDIR) == 0, "unlinkat AT_REMOVEDIR");
    ok_err(unlinkat(AT_FDCWD, D "/a", 0x1), EINVAL, "unlinkat with a bad flag: EINVAL");
    ok(link(D "/a", D "/hard") == 0 && stat(D "/a", &st) == 0 && st.st_nlink == 2, "link: nlink 2");
    ok_err(link(D "/a", D "/hard"), EEXIST, "link onto an existing name: EEXIST");
    ok_err(link(D, D "/dirlink"), EPERM, "link of a directory: EPERM");
    ok(linkat(AT_FDCWD, D "/sl", AT_FDCWD, D "/hsl", 0) == 0 && lstat(D "/hsl", &st) == 0 && S_ISLNK(st.st_mode),
       "linkat without AT_SYMLINK_FOLLOW links the symlink");
    ok(linkat(AT_FDCWD, D "/sl", AT_FDCWD, D "/hfol", AT_SYMLINK_FOLLOW) == 0 && lstat(D "/hfol", &st) == 0 &&
           S_ISREG(st.st_mode),
       "linkat AT_SYMLINK_FOLLOW links the target");
    char buf[64] = {0};
    ok(readlink(D "/sl", buf, sizeof buf) == 1 && buf[0] == 'a', "readlink");
    /* The system call itself: musl's readlink() turns size 0 into a 1-byte read returning 0. */
#ifdef SYS_readlink
    long rl0 = syscall(SYS_readlink, D "/sl", buf, 0);
#else
    long rl0 = syscall(SYS_readlinkat, AT_FDCWD, D "/sl", buf, 0);
#endif
    ok(rl0 == -1 && errno == EINVAL, "readlink with size 0: EINVAL");
    ok_err(readlink(D "/a", buf, sizeof buf), EINVAL, "readlink of a file: EINVAL");
    ok(readlinkat(AT_FDCWD, D "/sl", buf, 1) == 1, "readlinkat truncates to the buffer");
    ok(rename(D "/hard", D "/moved") == 0 && stat(D "/moved", &st) == 0 && stat(D "/hard", &st) == -1, "rename");
    ok(syscall(SYS_renameat2, AT_FDCWD, D "/moved", AT_FDCWD, D "/a", 1) == -1 && errno == EEXIST,
       "renameat2 RENAME_NOREPLACE onto an existing name: EEXIST");
    ok(syscall(SYS_renameat2, AT_FDCWD, D "/moved", AT_FDCWD, D "/hfol", 2) == 0, "renameat2 RENAME_EXCHANGE");
    ok_err(rename(D "/nope", D "/x"), ENOENT, "rename a missing name: ENOENT");
    ok(mkdir(D "/d2", 0755) == 0, "mkdir d2");
    ok_err(rename(D "/d2", D "/d2/sub"), EINVAL, "rename a directory into itself: EINVAL");
    ok_err(rename(D "/a", D "/d2"), EISDIR, "rename a file onto a directory: EISDIR");
    ok_err(rename(D "/d2", D "/a"), ENOTDIR, "rename a directory onto a file: ENOTDIR");
    ok(unlink(D "/moved") == 0 && unlink(D "/hfol") == 0 && unlink(D "/hsl") == 0, "unlink");
    ok(stat(D "/a", &st) == 0 && st.st_nlink == 1, "nlink back to 1");
    ok_err(unlink(D "/moved"), ENOENT, "unlink a missing name: ENOENT");

    /* An unlinked file lives on while open. */
    int fd = open(D "/tmpf", O_CREAT | O_RDWR, 0600);
    ok(fd >= 0 && write(fd, "keep", 4) == 4 && unlink(D "/tmpf") == 0, "unlink an open file");
    ok(fstat(fd, &st) == 0 && st.st_nlink == 0 && st.st_size == 4, "fstat: nlink 0, data kept");
    char b[4];
    ok(pread(fd, b, 4, 0) == 4 && memcmp(b, "keep", 4) == 0, "the unlinked file still reads");
    close(fd);
}

static void cwd(void)
{
    char buf[256];
    ok(getcwd(buf, sizeof buf) != NULL, "getcwd");
    ok(chdir(D) == 0 && getcwd(buf, sizeof buf) && strcmp(buf, D) == 0, "chdir, getcwd");
    int fd = open("a", O_RDONLY);
    ok(fd >= 0, "a relative path resolves from the cwd");
    close(fd);
    ok_err(chdir(D "/a"), ENOTDIR, "chdir to a file: ENOTDIR");
    ok_err(chdir(D "/nope"), ENOENT, "chdir to a missing name: ENOENT");
    ok(syscall(SYS_getcwd, buf, 3) == -1 && errno == ERANGE, "getcwd into a short buffer: ERANGE");
    int dfd = open("/", O_RDONLY | O_DIRECTORY);
    ok(fchdir(dfd) == 0 && getcwd(buf, sizeof buf) && strcmp(buf, "/") == 0, "fchdir /");
    close(dfd);
    fd = open(D "/a", O_RDONLY);
    ok_err(fchdir(fd), ENOTDIR, "fchdir to a file: ENOTDIR");
    close(fd);
    ok(mkdir(D "/gone", 0755) == 0 && chdir(D "/gone") == 0 && rmdir(D "/gone") == 0, "rmdir the cwd");
    ok(syscall(SYS_getcwd, buf, sizeof buf) == -1 && errno == ENOENT, "getcwd of a removed cwd: ENOENT");
    ok(chdir("/") == 0, "chdir /");
}

static void modes(void)
{
    struct stat st;
    ok(chmod(D "/a", 0600) == 0 && stat(D "/a", &st) == 0 && (st.st_mode & 07777) == 0600, "chmod");
    int fd = open(D "/a", O_RDONLY);
    ok(fchmod(fd, 0644) == 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0644, "fchmod");
    ok(fchmodat(AT_FDCWD, D "/a", 0640, 0) == 0 && stat(D "/a", &st) == 0 && (st.st_mode & 0777) == 0640, "fchmodat");
    if (geteuid() == 0) {
        ok(fchown(fd, 1000, 1000) == 0 && fstat(fd, &st) == 0 && st.st_uid == 1000 && st.st_gid == 1000,
           "fchown is stored");
        ok(fchownat(AT_FDCWD, D "/a", 0, -1, 0) == 0 && stat(D "/a", &st) == 0 && st.st_uid == 0 &&
               st.st_gid == 1000,
           "fchownat, -1 keeps the group");
        ok(chown(D "/a", 0, 0) == 0, "chown back");
    } else {
        skip("fchown to other ids needs root");
    }
    close(fd);
    ok(access(D "/a", F_OK) == 0 && access(D "/a", R_OK | W_OK) == 0, "access F_OK, R_OK|W_OK");
    ok_err(access(D "/nope", F_OK), ENOENT, "access of a missing name: ENOENT");
    ok_err(access(D "/a", 8), EINVAL, "access with a bad mode: EINVAL");
    ok_err(access(D "/a", X_OK), EACCES, "X_OK on a file without execute bits: EACCES (also for root)");
    ok(faccessat(AT_FDCWD, D "/a", R_OK, AT_EACCESS) == 0, "faccessat AT_EACCESS");
    mode_t old = umask(077);
    ok(old == 022, "umask returns the old mask");
    fd = open(D "/um", O_CREAT | O_RDWR, 0666);
    ok(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600, "umask 077 applies to O_CREAT");
    close(fd);
    unlink(D "/um");
    umask(022);
}

static void truncation(void)
{
    struct stat st;
    ok(truncate(D "/a", 100) == 0 && stat(D "/a", &st) == 0 && st.st_size == 100, "truncate grows");
    ok(truncate(D "/a", 3) == 0 && stat(D "/a", &st) == 0 && st.st_size == 3, "truncate shrinks");
    ok_err(truncate(D "/a", -1), EINVAL, "truncate to a negative length: EINVAL");
    ok_err(truncate(D, 0), EISDIR, "truncate a directory: EISDIR");
    int fd = open(D "/a", O_RDONLY);
    ok_err(ftruncate(fd, 0), EINVAL, "ftruncate on O_RDONLY: EINVAL");
    close(fd);
    fd = open(D "/a", O_RDWR);
    ok(ftruncate(fd, 10) == 0 && fstat(fd, &st) == 0 && st.st_size == 10, "ftruncate");
    char b[10];
    ok(pread(fd, b, 10, 0) == 10 && memcmp(b, "abc\0\0\0\0\0\0\0", 10) == 0, "the extension reads as zeros");
    ok_err(ftruncate(1000, 0), EBADF, "ftruncate on a bad fd: EBADF");
    /* mmap and the file see the same bytes (the page cache is the file). */
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ok(m != MAP_FAILED, "mmap MAP_SHARED of a ramfs file");
    if (m != MAP_FAILED) {
        ok(m[0] == 'a' && m[2] == 'c', "the mapping shows the file");
        m[1] = 'Z';
        ok(pread(fd, b, 3, 0) == 3 && b[1] == 'Z', "a store through the mapping is read back");
        ok(pwrite(fd, "Q", 1, 0) == 1 && m[0] == 'Q', "a write shows in the mapping");
        munmap(m, 4096);
    }
    close(fd);
    fd = open(D "/a", O_WRONLY);
    ok(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EACCES,
       "mmap of an O_WRONLY fd: EACCES");
    close(fd);
}

static void fds(void)
{
    int fd = open(D "/a", O_RDWR);
    int d = dup(fd);
    ok(d > fd, "dup: the lowest free fd");
    ok(lseek(fd, 2, SEEK_SET) == 2 && lseek(d, 0, SEEK_CUR) == 2, "dup shares the offset");
    ok(fcntl(d, F_GETFD) == 0, "dup clears FD_CLOEXEC");
    ok(dup2(fd, 50) == 50 && lseek(50, 0, SEEK_CUR) == 2, "dup2 to 50");
    ok(dup2(fd, fd) == fd, "dup2 to itself returns it");
    ok_err(dup2(1000, 51), EBADF, "dup2 of a bad fd: EBADF");
    ok_err(dup3(fd, fd, 0), EINVAL, "dup3 to itself: EINVAL");
    /* The system call itself: musl's dup3() without O_CLOEXEC is dup2() on x86_64. */
    ok_err(syscall(SYS_dup3, fd, 52, 1), EINVAL, "dup3 with a bad flag: EINVAL");
    ok(dup3(fd, 52, O_CLOEXEC) == 52 && fcntl(52, F_GETFD) == FD_CLOEXEC, "dup3 O_CLOEXEC");
    ok(fcntl(fd, F_DUPFD, 60) == 60, "F_DUPFD from 60");
    ok(fcntl(fd, F_DUPFD_CLOEXEC, 60) == 61 && fcntl(61, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC");
    ok_err(fcntl(fd, F_DUPFD, -1), EINVAL, "F_DUPFD with a negative minimum: EINVAL");
    ok(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "F_SETFD");
    int fl = fcntl(fd, F_GETFL);
    ok((fl & O_ACCMODE) == O_RDWR && !(fl & O_APPEND), "F_GETFL: O_RDWR");
    ok(fcntl(fd, F_SETFL, fl | O_APPEND | O_NONBLOCK) == 0 && (fcntl(d, F_GETFL) & (O_APPEND | O_NONBLOCK)) ==
           (O_APPEND | O_NONBLOCK),
       "F_SETFL is shared through dup");
    ok(fcntl(fd, F_SETFL, O_WRONLY) == 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR,
       "F_SETFL leaves the access mode");
    ok_err(fcntl(fd, 12345), EINVAL, "fcntl with a bad command: EINVAL");
    ok_err(fcntl(1000, F_GETFD), EBADF, "fcntl on a bad fd: EBADF");
    close(fd);
    close(d);
    close(50);
    close(52);
    close(60);
    close(61);
    ok(dup2(0, 70) == 70 && dup2(0, 71) == 71 && dup2(0, 90) == 90, "dup2 to 70, 71, 90");
#ifdef __GLIBC__ /* close_range() is a glibc (>= 2.34) wrapper; musl has none */
    ok(close_range(71, 90, CLOSE_RANGE_CLOEXEC) == 0 && fcntl(71, F_GETFD) == FD_CLOEXEC &&
           fcntl(90, F_GETFD) == FD_CLOEXEC && fcntl(70, F_GETFD) == 0,
       "close_range CLOSE_RANGE_CLOEXEC marks the range");
    ok(close_range(70, ~0U, 0) == 0 && fcntl(70, F_GETFD) == -1 && fcntl(90, F_GETFD) == -1,
       "close_range closes up to the end");
    ok_err(close_range(5, 4, 0), EINVAL, "close_range with first > last: EINVAL");
    ok_err(close_range(0, 1, 0x80), EINVAL, "close_range with a bad flag: EINVAL");
#else
    skip("close_range: this libc has no close_range()");
    close(70);
    close(71);
    close(90);
#endif
}

static void pipes(void)
{
    int p[2];
    char b[8];
    ok(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe2");
    ok(fcntl(p[0], F_GETFD) == FD_CLOEXEC && (fcntl(p[1], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_WRONLY | O_NONBLOCK),
       "pipe2 flags: O_CLOEXEC, O_NONBLOCK, write end O_WRONLY");
    ok_err(read(p[0], b, 8), EAGAIN, "an empty non-blocking pipe: EAGAIN");
    ok(write(p[1], "ping", 4) == 4, "write into the pipe");
    int n = -1;
    ok(ioctl(p[0], FIONREAD, &n) == 0 && n == 4, "FIONREAD: 4");
    ok(read(p[0], b, 8) == 4 && memcmp(b, "ping", 4) == 0, "read it back");
    ok_err(lseek(p[0], 0, SEEK_SET), ESPIPE, "lseek on a pipe: ESPIPE");
    ok_err(pread(p[0], b, 1, 0), ESPIPE, "pread on a pipe: ESPIPE");
    ok_err(write(p[0], "x", 1), EBADF, "write into the read end: EBADF");
    struct stat st;
    ok(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fstat: a fifo");
    ok(fcntl(p[0], F_GETPIPE_SZ) == 65536, "F_GETPIPE_SZ 64 KiB");
    ok(fcntl(p[0], F_SETPIPE_SZ, 8192) == 8192, "F_SETPIPE_SZ 8 KiB");
    ok_err(fcntl(3 + 1000, F_GETPIPE_SZ), EBADF, "F_GETPIPE_SZ on a bad fd: EBADF");
    static char big[16384];
    ok(write(p[1], big, sizeof big) == 8192, "a non-blocking write fills the 8 KiB pipe");
    ok_err(write(p[1], "x", 1), EAGAIN, "a full non-blocking pipe: EAGAIN");
    close(p[1]);
    ok(read(p[0], big, sizeof big) == 8192 && read(p[0], b, 1) == 0, "drained, then end of file");
    close(p[0]);
    ok(pipe(p) == 0, "pipe");
    signal(SIGPIPE, SIG_IGN);
    close(p[0]);
    ok_err(write(p[1], "x", 1), EPIPE, "write without readers: EPIPE");
    ok(write(p[1], "", 0) == 0, "an empty write without readers: 0");
    close(p[1]);
    ok_err(pipe2(p, O_APPEND), EINVAL, "pipe2 with a bad flag: EINVAL");
    ok_err(pipe(bad), EFAULT, "pipe into a bad pointer: EFAULT");
}

static void memfd_devices(void)
{
    int fd = memfd_create("pagoda", MFD_CLOEXEC);
    struct stat st;
    ok(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0, "memfd_create: an unlinked file");
    ok(fcntl(fd, F_GETFD) == FD_CLOEXEC, "MFD_CLOEXEC");
    ok(ftruncate(fd, 8192) == 0 && write(fd, "m", 1) == 1, "memfd: ftruncate, write");
    char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    ok(m != MAP_FAILED && m[0] == 'm' && m[8191] == 0, "memfd maps shared");
    if (m != MAP_FAILED)
        munmap(m, 8192);
    close(fd);
    ok_err(memfd_create("x", 0x100), EINVAL, "memfd_create with a bad flag: EINVAL");

    char b[16];
    fd = open("/dev/null", O_RDWR);
    ok(fd >= 0 && write(fd, "gone", 4) == 4 && read(fd, b, 16) == 0, "/dev/null");
    ok(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
       "/dev/null is char device 1:3");
    ok_err(ioctl(fd, TCGETS, b), ENOTTY, "TCGETS on /dev/null: ENOTTY");
    close(fd);
    fd = open("/dev/zero", O_RDWR);
    memset(b, 1, sizeof b);
    ok(fd >= 0 && read(fd, b, 16) == 16 && b[0] == 0 && b[15] == 0, "/dev/zero reads zeros");
    char *z = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ok(z != MAP_FAILED && z[100] == 0, "/dev/zero maps as anonymous memory");
    if (z != MAP_FAILED)
        munmap(z, 4096);
    close(fd);
    fd = open(D "/a", O_RDONLY);
    ok_err(ioctl(fd, TCGETS, b), ENOTTY, "TCGETS on a file: ENOTTY");
    close(fd);
    struct winsize ws;
    if (isatty(1)) {
        ok(ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0, "TIOCGWINSZ on the terminal");
    } else {
        skip("stdout is not a terminal here");
    }
    ok_err(ioctl(1000, TCGETS, b), EBADF, "ioctl on a bad fd: EBADF");
    ok(access("/tmp", W_OK) == 0 && access("/dev", F_OK) == 0 && access("/etc/passwd", R_OK) == 0,
       "/tmp, /dev, /etc/passwd exist");
}

static void proc(void)
{
    char buf[4096];
    int fd = open("/proc/meminfo", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (n >= 0)
        buf[n] = 0;
    ok(n > 0 && strncmp(buf, "MemTotal:", 9) == 0, "/proc/meminfo starts with MemTotal");
    close(fd);
    void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    FILE *f = fopen("/proc/self/maps", "r");
    int found = 0;
    while (f && fgets(buf, sizeof buf, f))
        if (strncmp(buf, want, strlen(want)) == 0)
            found = 1;
    if (f)
        fclose(f);
    ok(found, "/proc/self/maps lists a new mapping");
    munmap(p, 4096);
    n = readlink("/proc/self/exe", buf, sizeof buf);
    ok(n > 0 && buf[0] == '/', "readlink /proc/self/exe");
}

int main(void)
{
    umask(022);
    mkdir(D, 0755);
    /* Leftovers of an earlier run (natively). */
    const char *old[] = {"a", "sl", "io", "hard", "moved", "hsl", "hfol", "tmpf", "um", NULL};
    for (int i = 0; old[i]; i++) {
        char p[128];
        snprintf(p, sizeof p, D "/%s", old[i]);
        unlink(p);
    }
    rmdir(D "/d/e");
    rmdir(D "/d");
    rmdir(D "/d2");
    rmdir(D "/gone");
    open_flags();
    io();
    stats();
    names();
    cwd();
    modes();
    truncation();
    fds();
    pipes();
    memfd_devices();
    proc();
    return t_done();
}
