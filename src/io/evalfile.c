#include "adaptor/evalfile.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/provenance.h"

#include "ncutil.h"

#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ad_eval_records_add(ad_eval_records *R, const char *split, const char *model,
                        const char *metric, double value)
{
    if (R->n == R->cap) {
        size_t cap = R->cap ? 2 * R->cap : 64;
        ad_eval_record *nr = realloc(R->r, cap * sizeof *nr);
        if (!nr)
            return ad_fail(AD_ERR_NOMEM, "out of memory for evaluation records");
        R->r = nr;
        R->cap = cap;
    }
    ad_eval_record *e = &R->r[R->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->split, sizeof e->split, "%s", split);
    snprintf(e->model, sizeof e->model, "%s", model);
    snprintf(e->metric, sizeof e->metric, "%s", metric);
    e->value = value;
    return AD_OK;
}

int ad_evalfile_read(const char *path, ad_eval_records *R)
{
    int nc, st = nc_open(path, NC_NOWRITE, &nc), v[4], dim;
    if (st)
        return ad_nc_fail(st, path, "cannot open");
    static const char *const names[4] = {"split", "model", "metric", "value"};
    size_t n = 0, got = 0;
    int rc = AD_OK;
    for (int i = 0; i < 4 && rc == AD_OK; i++) {
        nc_type t;
        int nd;
        size_t len = 0;
        if (nc_inq_varid(nc, names[i], &v[i]) || nc_inq_vartype(nc, v[i], &t) ||
            t != (i < 3 ? NC_STRING : NC_DOUBLE) || nc_inq_varndims(nc, v[i], &nd) || nd != 1 ||
            nc_inq_vardimid(nc, v[i], &dim) || nc_inq_dimlen(nc, dim, &len) || (i && len != n))
            rc = ad_fail(AD_ERR_FORMAT, "%s: missing or malformed variable %s", path, names[i]);
        n = len;
    }
    char **col[3] = {NULL, NULL, NULL};
    double *val = NULL;
    if (rc == AD_OK && n) {
        for (int i = 0; i < 3 && rc == AD_OK; i++) {
            size_t s0 = 0;
            col[i] = ad_calloc(n, sizeof(char *), "eval records");
            if (!col[i])
                rc = AD_ERR_NOMEM;
            else if ((st = nc_get_vara_string(nc, v[i], &s0, &n, col[i])))
                rc = ad_nc_fail(st, path, names[i]);
            else
                got |= 1u << i;
        }
        size_t s0 = 0;
        val = rc == AD_OK ? ad_malloc(n * sizeof *val, "eval values") : NULL;
        if (rc == AD_OK && !val)
            rc = AD_ERR_NOMEM;
        if (rc == AD_OK && (st = nc_get_vara_double(nc, v[3], &s0, &n, val)))
            rc = ad_nc_fail(st, path, "value");
    }
    for (size_t i = 0; rc == AD_OK && i < n; i++)
        rc = ad_eval_records_add(R, col[0][i] ? col[0][i] : "", col[1][i] ? col[1][i] : "",
                                 col[2][i] ? col[2][i] : "", val[i]);
    for (int i = 0; i < 3; i++) {
        if (got & (1u << i))
            nc_free_string(n, col[i]);
        free(col[i]);
    }
    free(val);
    nc_close(nc);
    return rc;
}

int ad_evalfile_write(const char *path, const ad_eval_record *rec, size_t n,
                      const ad_provenance *prov)
{
    return ad_evalfile_write_attrs(path, rec, n, prov, NULL, 0);
}

int ad_evalfile_write_attrs(const char *path, const ad_eval_record *rec, size_t n,
                            const ad_provenance *prov, const ad_eval_attr *attrs, size_t nattrs)
{
    char tmp[4096];
    AD_TRY(ad_nc_tmp_name(tmp, sizeof tmp, path, (long)getpid()));
    int nc, st, dim, vs, vm, vk, vv;
    if ((st = nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &nc)) != NC_NOERR)
        return ad_nc_fail(st, path, "create");
    const char **cols[3] = {NULL, NULL, NULL};
    double *vals = NULL;
    int rc = AD_OK;
    int ver = 1;
    if ((st = nc_def_dim(nc, "record", NC_UNLIMITED, &dim)) ||
        (st = nc_def_var(nc, "split", NC_STRING, 1, &dim, &vs)) ||
        (st = nc_def_var(nc, "model", NC_STRING, 1, &dim, &vm)) ||
        (st = nc_def_var(nc, "metric", NC_STRING, 1, &dim, &vk)) ||
        (st = nc_def_var(nc, "value", NC_DOUBLE, 1, &dim, &vv)) ||
        (st = nc_put_att_int(nc, NC_GLOBAL, "adaptor_eval_version", NC_INT, 1, &ver))) {
        rc = ad_nc_fail(st, path, "define");
        goto done;
    }
    if ((rc = ad_prov_nc_put(nc, path, prov)) != AD_OK)
        goto done;
    for (size_t a = 0; a < nattrs; a++)
        if ((rc = ad_nc_put_text_att(nc, path, attrs[a].name, attrs[a].value)) != AD_OK)
            goto done;
    for (int c = 0; c < 3; c++) {
        cols[c] = ad_malloc((n ? n : 1) * sizeof(char *), "eval records");
        if (!cols[c]) {
            rc = AD_ERR_NOMEM;
            goto done;
        }
    }
    vals = ad_malloc((n ? n : 1) * sizeof *vals, "eval records");
    if (!vals) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cols[0][i] = rec[i].split;
        cols[1][i] = rec[i].model;
        cols[2][i] = rec[i].metric;
        vals[i] = rec[i].value;
    }
    size_t start = 0, count = n;
    if (n && ((st = nc_put_vara_string(nc, vs, &start, &count, cols[0])) ||
              (st = nc_put_vara_string(nc, vm, &start, &count, cols[1])) ||
              (st = nc_put_vara_string(nc, vk, &start, &count, cols[2])) ||
              (st = nc_put_vara_double(nc, vv, &start, &count, vals))))
        rc = ad_nc_fail(st, path, "write");
done:
    for (int c = 0; c < 3; c++)
        free(cols[c]);
    free(vals);
    return ad_nc_commit(nc, rc, tmp, path);
}
