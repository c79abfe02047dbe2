#include "ncutil.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"

#include <errno.h>
#include <netcdf.h>
#include <netcdf_mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ad_nc_fail(int status, const char *path, const char *what)
{
    return ad_fail(AD_ERR_IO, "%s: %s: %s", path, what, nc_strerror(status));
}

int ad_nc_fail_errno(int status, int err, const char *path, const char *what)
{
    if (err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO || err == EROFS)
        return ad_fail(AD_ERR_IO, "%s: %s: %s", path, what, strerror(err));
    return ad_nc_fail(status, path, what);
}

int ad_nc_get_text_att(int ncid, const char *path, const char *name, char **out)
{
    *out = NULL;
    nc_type type;
    size_t len;
    if (nc_inq_att(ncid, NC_GLOBAL, name, &type, &len) != NC_NOERR || type != NC_CHAR)
        return ad_fail(AD_ERR_FORMAT, "%s: missing attribute %s", path, name);
    char *s = ad_malloc(len + 1, name);
    if (!s)
        return AD_ERR_NOMEM;
    int st = len ? nc_get_att_text(ncid, NC_GLOBAL, name, s) : NC_NOERR;
    if (st != NC_NOERR) {
        free(s);
        return ad_nc_fail(st, path, name);
    }
    s[len] = '\0';
    *out = s;
    return AD_OK;
}

int ad_nc_put_text_att(int ncid, const char *path, const char *name, const char *value)
{
    if (!value)
        value = "";
    int st = nc_put_att_text(ncid, NC_GLOBAL, name, strlen(value), value);
    return st == NC_NOERR ? AD_OK : ad_nc_fail(st, path, name);
}

int ad_nc_tmp_name(char *out, size_t n, const char *path, long pid)
{
    int w = snprintf(out, n, "%s.tmp.%ld", path, pid);
    if (w < 0 || (size_t)w >= n)
        return ad_fail(AD_ERR_ARG, "path too long: %s", path);
    return AD_OK;
}

int ad_nc_commit(int nc, int rc, const char *tmp, const char *path)
{
    errno = 0;
    int st = nc_close(nc);
    if (rc == AD_OK && st != NC_NOERR)
        rc = ad_nc_fail_errno(st, errno, path, "closing");
    if (rc == AD_OK)
        rc = ad_fsync_rename(tmp, path);
    if (rc != AD_OK)
        unlink(tmp);
    return rc;
}

int ad_nc_write_file(const char *path, ad_nc_fill_fn fill, const void *ctx)
{
    int nc, st = nc_create_mem(path, NC_NETCDF4, 1 << 16, &nc);
    if (st != NC_NOERR)
        return ad_nc_fail(st, path, "cannot create in memory");
    int rc = fill(nc, path, ctx);
    NC_memio mem = {0, NULL, 0};
    st = nc_close_memio(nc, &mem);
    free(mem.memory);
    if (rc == AD_OK && st != NC_NOERR)
        rc = ad_nc_fail(st, path, "closing");
    char tmp[4096];
    if (rc == AD_OK)
        rc = ad_nc_tmp_name(tmp, sizeof tmp, path, (long)getpid());
    if (rc == AD_OK)
        rc = ad_check_space(tmp, path, (long long)mem.size + (64 << 10));
    if (rc != AD_OK)
        return rc;
    errno = 0;
    if ((st = nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &nc)) != NC_NOERR)
        return ad_nc_fail_errno(st, errno, path, "cannot create");
    return ad_nc_commit(nc, fill(nc, path, ctx), tmp, path);
}
