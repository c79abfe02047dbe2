/* syncfs() is a GNU extension. */
#define _GNU_SOURCE
#include "adaptor/fsutil.h"

#include "adaptor/error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ad_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    if (len)
        *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ad_fail(AD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                return ad_fail(AD_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        return ad_fail(AD_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return AD_OK;
}

int ad_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int ad_optional_file(const char *path, int *present)
{
    struct stat st;
    *present = 0;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return ad_fail(AD_ERR_IO, "%s: is %s, not a file", path,
                           S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        *present = 1;
        return AD_OK;
    }
    int err = errno;
    if (err == ENOENT && lstat(path, &st) == 0)
        return ad_fail(AD_ERR_IO, "%s: dangling symbolic link", path);
    if (err == ENOENT)
        return AD_OK;
    return ad_fail(AD_ERR_IO, "%s: cannot access: %s", path, strerror(err));
}

int ad_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ad_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return ad_fail(AD_ERR_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ad_fail(AD_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    if (!ad_is_dir(path))
        return ad_fail(AD_ERR_IO, "%s: exists and is not a directory", path);
    return AD_OK;
}

int ad_path_join(char *out, size_t n, const char *a, const char *b)
{
    int w;
    if (!a || !a[0] || b[0] == '/')
        w = snprintf(out, n, "%s", b);
    else if (a[strlen(a) - 1] == '/')
        w = snprintf(out, n, "%s%s", a, b);
    else
        w = snprintf(out, n, "%s/%s", a, b);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "path too long: %s/%s", a, b);
    return AD_OK;
}

static int fsync_dir_of(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    const char *dir = dirname(buf);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return ad_fail(AD_ERR_IO, "%s: cannot open directory for fsync: %s", dir, strerror(errno));
    int r = fsync(fd);
    close(fd);
    /* Some file systems refuse fsync on directories; the rename is still atomic there. */
    (void)r;
    return AD_OK;
}

int ad_atomic_open(ad_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    int w1 = snprintf(af->path, sizeof af->path, "%s", path);
    int w2 = snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    if (w1 < 0 || w2 < 0 || (size_t)w2 >= sizeof af->tmp)
        return ad_fail(AD_ERR_ARG, "path too long: %s", path);
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp)
        return ad_fail(AD_ERR_IO, "%s: cannot create: %s", af->tmp, strerror(errno));
    return AD_OK;
}

int ad_atomic_commit(ad_atomic_file *af)
{
    if (!af->fp)
        return ad_fail(AD_ERR_INTERNAL, "%s: atomic file not open", af->path);
    int bad = fflush(af->fp) != 0 || ferror(af->fp) || fsync(fileno(af->fp)) != 0;
    int saved = errno;
    bad |= fclose(af->fp) != 0;
    af->fp = NULL;
    if (bad) {
        unlink(af->tmp);
        return ad_fail(AD_ERR_IO, "%s: write failed: %s", af->path, strerror(saved));
    }
    if (rename(af->tmp, af->path) != 0) {
        saved = errno;
        unlink(af->tmp);
        return ad_fail(AD_ERR_IO, "%s: rename failed: %s", af->path, strerror(saved));
    }
    return fsync_dir_of(af->path);
}

void ad_atomic_abort(ad_atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp[0])
        unlink(af->tmp);
}

int ad_write_file_atomic(const char *path, const void *data, size_t len)
{
    ad_atomic_file af;
    AD_TRY(ad_atomic_open(&af, path));
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int saved = errno;
        ad_atomic_abort(&af);
        return ad_fail(AD_ERR_IO, "%s: write failed: %s", path, strerror(saved));
    }
    return ad_atomic_commit(&af);
}

int ad_fsync_rename(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY);
    if (fd < 0)
        return ad_fail(AD_ERR_IO, "%s: cannot open for fsync: %s", tmp, strerror(errno));
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    if (r != 0)
        return ad_fail(AD_ERR_IO, "%s: fsync failed: %s", tmp, strerror(saved));
    if (rename(tmp, path) != 0)
        return ad_fail(AD_ERR_IO, "%s: rename to %s failed: %s", tmp, path, strerror(errno));
    return fsync_dir_of(path);
}

int ad_write_file_replace(const char *path, const void *data, size_t len)
{
    ad_atomic_file af;
    AD_TRY(ad_atomic_open(&af, path));
    int bad = len && fwrite(data, 1, len, af.fp) != len;
    int saved = errno;
    if (fclose(af.fp) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    af.fp = NULL;
    if (bad) {
        unlink(af.tmp);
        return ad_fail(AD_ERR_IO, "%s: write failed: %s", path, strerror(saved));
    }
    if (rename(af.tmp, af.path) != 0) {
        saved = errno;
        unlink(af.tmp);
        return ad_fail(AD_ERR_IO, "%s: rename failed: %s", path, strerror(saved));
    }
    return AD_OK;
}

int ad_sync_fs(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ad_fail(AD_ERR_IO, "%s: cannot open for syncfs: %s", path, strerror(errno));
    int r = syncfs(fd);
    int saved = errno;
    close(fd);
    if (r != 0)
        return ad_fail(AD_ERR_IO, "%s: syncfs failed: %s", path, strerror(saved));
    return AD_OK;
}

int ad_check_space(const char *probe, const char *name, long long bytes)
{
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return ad_fail(AD_ERR_IO, "%s: cannot create %s: %s", name, probe, strerror(errno));
    int r = bytes > 0 ? fallocate(fd, 0, 0, (off_t)bytes) : 0, e = r ? errno : 0;
    close(fd);
    unlink(probe);
    if (r == 0 || e == EOPNOTSUPP || e == ENOSYS)
        return AD_OK;
    return ad_fail(AD_ERR_IO, "%s: %s (a file of %.2f MB does not fit)", name, strerror(e),
                   (double)bytes / 1e6);
}
