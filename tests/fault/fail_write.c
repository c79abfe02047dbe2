/* LD_PRELOAD shim for disk_full.py: on the MPI rank named by AD_TEST_FAIL_RANK (Open MPI's
 * OMPI_COMM_WORLD_RANK), every write to a file named "*.tmp.<digits>" (a cache's temporary
 * file) fails with ENOSPC, as when a disk fills between the free-space check and the write on one node
 * only. Other ranks and other files are untouched. pwrite / pwritev are what Open MPI's
 * MPI-IO (OMPIO's fbtl/posix, ROMIO) write with; write covers the rest. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int doomed(int fd)
{
    const char *want = getenv("AD_TEST_FAIL_RANK"), *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!want || !rank || strcmp(want, rank) != 0)
        return 0;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    const char *t = strstr(target, ".tmp.");
    if (!t)
        return 0;
    for (t += 5; *t; t++) /* the temporary file itself, not MPI-IO's helper files beside it */
        if (*t < '0' || *t > '9')
            return 0;
    errno = ENOSPC;
    return 1;
}

#define NEXT(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (doomed(fd))
        return -1;
    return NEXT("pwrite", ssize_t (*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (doomed(fd))
        return -1;
    return NEXT("pwrite64", ssize_t (*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (doomed(fd))
        return -1;
    return NEXT("pwritev", ssize_t (*)(int, const struct iovec *, int, off_t))(fd, iov, cnt,
                                                                                off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (doomed(fd))
        return -1;
    return NEXT("write", ssize_t (*)(int, const void *, size_t))(fd, buf, n);
}
