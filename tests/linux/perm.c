/* Permission checks of path lookups for a non-root process: search permission on every
 * directory (EACCES), read/write on open by the mode bits, chmod by the owner only (EPERM),
 * unlink/create/rename need write and search on the parent (and the sticky bit protects
 * others' files), access/faccessat use the real ids (AT_EACCESS the effective ones); root
 * passes every read/write/search check but still needs an execute bit to execute. The
 * program runs as root (natively too) and drops privileges in forked children itself. */
#include "t.h"
#include <fcntl.h>
#include <grp.h>
#include <dirent.h>
#include <sys/stat.h>

enum { UID = 1000, GID = 1000 };
static char base[64];

static char *at(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", base, name);
    return buf[i];
}

static void mkfile(const char *name, mode_t mode, uid_t uid)
{
    int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd >= 0) {
        write(fd, "data", 4);
        close(fd);
    }
    chown(at(name), uid, uid);
    chmod(at(name), mode);
}

static void mkdir_mode(const char *name, mode_t mode, uid_t uid)
{
    mkdir(at(name), 0700);
    chown(at(name), uid, uid);
    chmod(at(name), mode);
}

/* Runs fn in a child that drops to the given real/effective uid (gid GID) and reports its
 * checks back; the parent counts them as its own. */
static void as_user(void (*fn)(void), uid_t ruid, uid_t euid)
{
    int p[2];
    pipe(p);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        int start[3] = {t_pass, t_fail, t_skip};
        setgroups(0, NULL);
        if (setresgid(GID, GID, GID) != 0 || setresuid(ruid, euid, euid) != 0) {
            printf("# cannot drop privileges\n");
            _exit(1);
        }
        fn();
        fflush(stdout);
        int counts[4] = {t_n, t_pass - start[0], t_fail - start[1], t_skip - start[2]};
        write(p[1], counts, sizeof counts);
        _exit(0);
    }
    close(p[1]);
    int counts[4], st;
    int got = read(p[0], counts, sizeof counts) == sizeof counts;
    close(p[0]);
    waitpid(c, &st, 0);
    if (got) {
        t_n = counts[0];
        t_pass += counts[1];
        t_fail += counts[2];
        t_skip += counts[3];
    }
    ok(got && EXITED(st, 0), "the unprivileged child ran its checks (uid %d/%d)", ruid, euid);
}

static void user_checks(void)
{
    struct stat sb;
    ok(getuid() == UID && geteuid() == UID, "running as uid %d", UID);
    /* Search permission. */
    ok_err(stat(at("nosearch/f"), &sb), EACCES, "stat through a directory without x: EACCES");
    ok_err(open(at("nosearch/f"), O_RDONLY), EACCES, "open through a directory without x: EACCES");
    ok_err(chdir(at("nosearch")), EACCES, "chdir into a directory without x: EACCES");
    ok(stat(at("nosearch"), &sb) == 0, "stat of the directory itself works");
    ok_err(open(at("noread"), O_RDONLY | O_DIRECTORY), EACCES, "opening a directory without r: EACCES");
    ok(stat(at("noread/f"), &sb) == 0, "a directory with x but without r can be searched");
    /* Read and write by mode bits. */
    int fd = open(at("ro"), O_RDONLY);
    ok(fd >= 0, "open O_RDONLY of a 0644 file of root");
    close(fd);
    ok_err(open(at("ro"), O_WRONLY), EACCES, "open O_WRONLY of a 0644 file of root: EACCES");
    ok_err(open(at("ro"), O_RDONLY | O_TRUNC), EACCES, "O_TRUNC needs write permission: EACCES");
    ok_err(open(at("secret"), O_RDONLY), EACCES, "open of a 0600 file of root: EACCES");
    ok_err(truncate(at("ro"), 0), EACCES, "truncate without write permission: EACCES");
    fd = open(at("group"), O_RDWR);
    ok(fd >= 0, "the group bits apply to the file's group (0060, gid %d)", GID);
    close(fd);
    ok_err(open(at("owner-none"), O_RDONLY), EACCES,
           "the owner bits apply to the owner even when the others' allow (0044)");
    fd = open(at("mine"), O_RDWR);
    ok(fd >= 0, "the owner opens its own 0600 file read-write");
    close(fd);
    /* chmod: owner only. */
    ok_err(chmod(at("ro"), 0666), EPERM, "chmod of another user's file: EPERM");
    ok(chmod(at("mine"), 0640) == 0, "chmod of its own file");
    /* Creating and removing need write and search on the parent. */
    ok_err(open(at("new"), O_CREAT | O_WRONLY, 0644), EACCES,
           "create in a 0755 directory of root: EACCES");
    ok_err(mkdir(at("newdir"), 0755), EACCES, "mkdir in a 0755 directory of root: EACCES");
    ok_err(unlink(at("ro")), EACCES, "unlink in a 0755 directory of root: EACCES");
    ok_err(rename(at("ro"), at("pub/ro")), EACCES, "rename out of a 0755 directory of root: EACCES");
    ok(unlink(at("pub/x")) == 0, "unlink of root's file in a 0777 directory works");
    fd = open(at("pub/made"), O_CREAT | O_WRONLY, 0644);
    ok(fd >= 0, "create in a 0777 directory works");
    close(fd);
    ok(stat(at("pub/made"), &sb) == 0 && sb.st_uid == UID && sb.st_gid == GID,
       "a new file belongs to the creator's uid and gid");
    ok_err(unlink(at("sticky/x")), EPERM, "unlink of root's file in a sticky 01777 directory: EPERM");
    ok_err(unlink(at("pub2/nosearch/f")), EACCES, "unlink under a directory without x: EACCES");
    /* access uses the real ids. */
    ok(access(at("ro"), R_OK) == 0, "access R_OK of a 0644 file");
    ok_err(access(at("ro"), W_OK), EACCES, "access W_OK of root's 0644 file: EACCES");
    ok_err(access(at("secret"), F_OK | R_OK), EACCES, "access R_OK of root's 0600 file: EACCES");
    ok(access(at("secret"), F_OK) == 0, "access F_OK only needs the path searchable");
    ok_err(access(at("nosearch/f"), F_OK), EACCES, "access F_OK through a directory without x");
}

/* Real uid UID, effective uid 0: lookups as root, access() as UID. */
static void real_user_checks(void)
{
    ok(getuid() == UID && geteuid() == 0, "real uid %d, effective uid 0", UID);
    int fd = open(at("secret"), O_RDONLY);
    ok(fd >= 0, "open of a 0600 file with euid 0");
    close(fd);
    ok_err(access(at("secret"), R_OK), EACCES, "access uses the real uid: EACCES");
    ok(faccessat(AT_FDCWD, at("secret"), R_OK, AT_EACCESS) == 0,
       "faccessat(AT_EACCESS) uses the effective uid");
}

static void root_checks(void)
{
    struct stat sb;
    ok(stat(at("nosearch/f"), &sb) == 0, "root searches a directory without x");
    int fd = open(at("secret"), O_RDWR);
    ok(fd >= 0, "root opens a 0600 file of someone else read-write");
    close(fd);
    fd = open(at("owner-none"), O_RDWR);
    ok(fd >= 0, "root opens a 0044 file read-write");
    close(fd);
    ok(access(at("nosearch"), X_OK) == 0, "root: access X_OK of a directory");
    ok_err(access(at("ro"), X_OK), EACCES, "root: access X_OK of a file without x bits: EACCES");
    char *av[] = {"x", NULL};
    ok_err(execve(at("ro"), av, av + 1), EACCES, "root: execve of a file without x bits: EACCES");
    ok(chmod(at("mine"), 0600) == 0, "root chmods someone else's file");
}

static void rm(const char *name)
{
    unlink(at(name));
}

int main(void)
{
    if (geteuid() != 0) {
        skip("needs root to drop privileges");
        return t_done();
    }
    strcpy(base, "/tmp/pagoda-lt-permXXXXXX");
    if (!mkdtemp(base)) {
        ok(0, "mkdtemp");
        return t_done();
    }
    chmod(base, 0755);
    umask(0);
    mkdir_mode("nosearch", 0755, 0);
    mkfile("nosearch/f", 0644, 0);
    chmod(at("nosearch"), 0666);
    mkdir_mode("noread", 0755, 0);
    mkfile("noread/f", 0644, 0);
    chmod(at("noread"), 0311);
    mkfile("ro", 0644, 0);
    mkfile("secret", 0600, 0);
    mkfile("group", 0600, 0);
    chown(at("group"), 0, GID);
    chmod(at("group"), 0060);
    mkfile("owner-none", 0600, UID);
    chmod(at("owner-none"), 0044);
    mkfile("mine", 0600, UID);
    mkdir_mode("pub", 0777, 0);
    mkfile("pub/x", 0644, 0);
    mkdir_mode("sticky", 01777, 0);
    mkfile("sticky/x", 0644, 0);
    mkdir_mode("pub2", 0777, 0);
    mkdir_mode("pub2/nosearch", 0777, 0);
    mkfile("pub2/nosearch/f", 0666, 0);
    chmod(at("pub2/nosearch"), 0666);

    as_user(user_checks, UID, UID);
    as_user(real_user_checks, UID, 0);
    root_checks();

    chmod(at("nosearch"), 0755);
    chmod(at("pub2/nosearch"), 0755);
    const char *files[] = {"nosearch/f", "noread/f", "ro", "secret", "group", "owner-none", "mine",
                           "pub/x", "pub/made", "pub/ro", "sticky/x", "pub2/nosearch/f"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        rm(files[i]);
    const char *dirs[] = {"nosearch", "noread", "pub", "sticky", "pub2/nosearch", "pub2"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        rmdir(at(dirs[i]));
    ok(rmdir(base) == 0, "the scratch directory is removed");
    return t_done();
}
