#include "fuzzutil.h"

#include "adaptor/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char sub[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

/* libFuzzer's forked workers and the parent each own a folder; only the creator removes. */
static pid_t owner;
static void cleanup(void)
{
    if (owner == getpid())
        remove_tree(scratch);
}

const char *fz_dir(void)
{
    if (!scratch[0] || owner != getpid()) {
        owner = getpid();
        snprintf(scratch, sizeof scratch, "/dev/shm/adaptor-fuzz-%ld", (long)owner);
        if (mkdir(scratch, 0700) != 0 && errno != EEXIST) {
            perror(scratch);
            abort();
        }
        static int registered;
        if (!registered++)
            atexit(cleanup);
    }
    return scratch;
}

void fz_write(const char *name, const void *data, size_t size, char *path, size_t n)
{
    const char *slash = strchr(name, '/');
    if (slash) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%.*s", fz_dir(), (int)(slash - name), name);
        if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
            perror(sub);
            abort();
        }
    }
    snprintf(path, n, "%s/%s", fz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void fz_remove(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    unlink(path);
}

void fz_assert(int cond, const char *what)
{
    if (cond)
        return;
    fprintf(stderr, "fuzz property violated: %s\n", what);
    abort();
}

void fz_rejected(void)
{
    fz_assert(ad_errmsg()[0] != '\0', "a failure records a message");
    if (getenv("FZ_VERBOSE"))
        fprintf(stderr, "rejected: %s\n", ad_errmsg());
    ad_clear_error();
}

uint8_t fz_u8(fz_reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

uint32_t fz_u32(fz_reader *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)fz_u8(r) << (8 * i);
    return v;
}

int64_t fz_pick(fz_reader *r, const int64_t *values, int count)
{
    return values[fz_u8(r) % count];
}

void fz_str(fz_reader *r, char *buf, size_t max)
{
    size_t len = fz_u8(r) % (max + 1);
    if (len > r->n)
        len = r->n;
    memcpy(buf, r->p, len);
    buf[len] = '\0';
    r->p += len;
    r->n -= len;
}
