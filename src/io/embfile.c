/* embeddings.nc (layout in embfile.h). */
#include "adaptor/embfile.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/provenance.h"
#include "ncutil.h"

#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct ad_embfile {
    char path[4096], tmp[4096];
    int nc;
};

int ad_embfile_create(const char *path, const ad_provenance *prov, ad_embfile **out)
{
    *out = NULL;
    ad_embfile *f = ad_calloc(1, sizeof *f, "embeddings file");
    if (!f)
        return AD_ERR_NOMEM;
    int w = snprintf(f->path, sizeof f->path, "%s", path), st, version = AD_EMBEDDINGS_VERSION;
    int rc = w < 0 || (size_t)w >= sizeof f->path ? ad_fail(AD_ERR_ARG, "path too long: %s", path)
                                                   : AD_OK;
    if (rc == AD_OK)
        rc = ad_nc_tmp_name(f->tmp, sizeof f->tmp, path, (long)getpid());
    if (rc == AD_OK && (st = nc_create(f->tmp, NC_NETCDF4 | NC_CLOBBER, &f->nc)))
        rc = ad_nc_fail(st, f->tmp, "cannot create");
    if (rc != AD_OK) {
        free(f);
        return rc;
    }
    if ((st = nc_put_att_int(f->nc, NC_GLOBAL, "adaptor_embeddings_version", NC_INT, 1, &version)))
        rc = ad_nc_fail(st, f->tmp, "adaptor_embeddings_version");
    if (rc == AD_OK)
        rc = ad_nc_put_text_att(f->nc, f->tmp, "model", "adaptor");
    if (rc == AD_OK)
        rc = ad_prov_nc_put(f->nc, f->tmp, prov);
    if (rc != AD_OK) {
        ad_embfile_abort(f);
        return rc;
    }
    *out = f;
    return AD_OK;
}

int ad_embfile_put(ad_embfile *f, const ad_emb_split *s)
{
    if (s->n < 0 || s->dim_before <= 0 || s->dim_after <= 0 || s->nlabels < 0)
        return ad_fail(AD_ERR_ARG, "%s: split %s: bad shape (%lld samples, %d, %d, %d labels)",
                       f->path, s->split, (long long)s->n, s->dim_before, s->dim_after,
                       s->nlabels);
    int g, d[4], v_id, v_b, v_a, v_l, v_n, st;
    const char *p = f->tmp;
    if ((st = nc_def_grp(f->nc, s->split, &g)))
        return ad_nc_fail(st, p, s->split);
    if ((st = nc_def_dim(g, "sample", (size_t)s->n, &d[0])) ||
        (st = nc_def_dim(g, "dim_before", (size_t)s->dim_before, &d[1])) ||
        (st = nc_def_dim(g, "dim_after", (size_t)s->dim_after, &d[2])) ||
        (st = nc_def_dim(g, "label", (size_t)s->nlabels, &d[3])) ||
        (st = nc_def_var(g, "sample_id", NC_INT64, 1, d, &v_id)) ||
        (st = nc_def_var(g, "image_before", NC_FLOAT, 2, (int[]){d[0], d[1]}, &v_b)) ||
        (st = nc_def_var(g, "image_after", NC_FLOAT, 2, (int[]){d[0], d[2]}, &v_a)) ||
        (st = nc_def_var(g, "labels", NC_BYTE, 2, (int[]){d[0], d[3]}, &v_l)) ||
        (st = nc_def_var(g, "label_names", NC_STRING, 1, &d[3], &v_n)))
        return ad_nc_fail(st, p, s->split);
    size_t z[2] = {0, 0}, cb[2] = {(size_t)s->n, (size_t)s->dim_before},
           ca[2] = {(size_t)s->n, (size_t)s->dim_after}, cl[2] = {(size_t)s->n, (size_t)s->nlabels};
    st = NC_NOERR;
    if (s->n) {
        if (!(st = nc_put_vara_longlong(g, v_id, z, cb, (const long long *)s->sample_id)) &&
            !(st = nc_put_vara_float(g, v_b, z, cb, s->before)) &&
            !(st = nc_put_vara_float(g, v_a, z, ca, s->after)) && s->nlabels)
            st = nc_put_vara_schar(g, v_l, z, cl, (const signed char *)s->labels);
    }
    if (!st && s->nlabels)
        st = nc_put_vara_string(g, v_n, z, &cl[1], (const char **)s->label_names);
    return st ? ad_nc_fail(st, p, s->split) : AD_OK;
}

int ad_embfile_commit(ad_embfile *f)
{
    int rc = ad_nc_commit(f->nc, AD_OK, f->tmp, f->path);
    free(f);
    return rc;
}

void ad_embfile_abort(ad_embfile *f)
{
    if (!f)
        return;
    nc_close(f->nc);
    unlink(f->tmp);
    free(f);
}
