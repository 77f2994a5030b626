/* A dynamically linked program: ld.so loaded it, relocated libc, set up TLS. */
#include "t.h"
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sys/auxv.h>

#ifdef __GLIBC__
/* glibc: the program, libc.so.6 and ld-linux-*.so (and a vDSO, if any). */
#define LDSO "ld-linux"
#define MIN_OBJECTS 3
#else
/* musl: libc.so is its own loader, listed as /lib/ld-musl-<arch>.so.1, after the program. */
#define LDSO "ld-musl"
#define MIN_OBJECTS 2
#endif

static __thread int tls_var = 5;
static int saw_ldso, objects;

static int each(struct dl_phdr_info *info, size_t size, void *arg)
{
    objects++;
    if (info->dlpi_name && strstr(info->dlpi_name, LDSO))
        saw_ldso = 1;
    return 0;
}

static void *thread_fn(void *arg)
{
    tls_var++;
    return (void *)(long)tls_var;
}

int main(void)
{
    const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
    int interp = 0;
    for (unsigned long i = 0; ph && i < getauxval(AT_PHNUM); i++)
        interp |= ph[i].p_type == PT_INTERP;
    ok(interp, "the program has a PT_INTERP header");
    ok(getauxval(AT_BASE) != 0, "AT_BASE: the interpreter was mapped (%#lx)", getauxval(AT_BASE));
    dl_iterate_phdr(each, NULL);
    ok(saw_ldso && objects >= MIN_OBJECTS, "dl_iterate_phdr lists ld.so among %d objects", objects);
    ok(dlsym(RTLD_DEFAULT, "printf") == (void *)printf, "dlsym finds printf in libc.so");
    void *r;
    pthread_t t;
    ok(pthread_create(&t, NULL, thread_fn, NULL) == 0 && pthread_join(t, &r) == 0 && (long)r == 6 && tls_var == 5,
       "TLS: each thread has its own initialised copy");
    errno = 0;
    ok(write(-1, "", 0) == -1 && errno == EBADF, "errno through libc.so");
    printf("# hello from a dynamic executable\n");
    return t_done();
}
