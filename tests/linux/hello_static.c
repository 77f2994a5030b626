/* The first unmodified Linux program Pagoda runs (make run-linux, scripts/run_linux.sh):
 * glibc start-up, stdio, brk and anonymous mmap, getpid, exit status 7.
 * Not a TAP test: it exits 7 by design, so tests/linux/build.sh skips it. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    printf("hello from Linux userspace\n");
    printf("argc=%d argv[1]=%s\n", argc, argc > 1 ? argv[1] : "(none)");
    printf("getpid=%d\n", (int)getpid());

    char *heap = sbrk(0);
    if (sbrk(8192) == (void *)-1) {
        printf("brk failed\n");
        return 1;
    }
    strcpy(heap + 4096, "brk ok");
    printf("%s\n", heap + 4096);

    char *map = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }
    strcpy(map + 2 * 4096, "mmap ok");
    printf("%s\n", map + 2 * 4096);
    if (munmap(map, 3 * 4096) != 0) {
        printf("munmap failed\n");
        return 1;
    }
    fflush(stdout);
    return 7;
}
