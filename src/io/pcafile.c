/* pca.nc (layout in include/adaptor/pca.h): rank 0 gathers the projections and writes. */
#include "adaptor/pca.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/provenance.h"

#include "ncutil.h"

#include <limits.h>
#include <netcdf.h>
#include <stdlib.h>
#include <unistd.h>

static int write_nc(const char *path, int d, int m, const double *mean, const double *comps,
                    const double *ev, double total, const float *proj, const long long *ids,
                    int64_t n, const char *source, const ad_provenance *prov)
{
    char tmp[4096];
    AD_TRY(ad_nc_tmp_name(tmp, sizeof tmp, path, (long)getpid()));
    int nc, st, ds, dc, dd, vmean, vcomp, vev, vratio, vproj, vid, ver = 1, rc = AD_OK;
    if ((st = nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &nc)) != NC_NOERR)
        return ad_nc_fail(st, path, "create");
    double *ratio = ad_malloc(sizeof(double) * (size_t)m, "explained variance ratio");
    if (!ratio) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    for (int j = 0; j < m; j++)
        ratio[j] = total > 0 ? ev[j] / total : 0.0;
    int dsc[2], dcd[2];
    if ((st = nc_def_dim(nc, "sample", (size_t)n, &ds)) ||
        (st = nc_def_dim(nc, "component", (size_t)m, &dc)) ||
        (st = nc_def_dim(nc, "dim", (size_t)d, &dd))) {
        rc = ad_nc_fail(st, path, "define");
        goto done;
    }
    dsc[0] = ds;
    dsc[1] = dc;
    dcd[0] = dc;
    dcd[1] = dd;
    if ((st = nc_def_var(nc, "mean", NC_DOUBLE, 1, &dd, &vmean)) ||
        (st = nc_def_var(nc, "components", NC_DOUBLE, 2, dcd, &vcomp)) ||
        (st = nc_def_var(nc, "explained_variance", NC_DOUBLE, 1, &dc, &vev)) ||
        (st = nc_def_var(nc, "explained_variance_ratio", NC_DOUBLE, 1, &dc, &vratio)) ||
        (st = nc_def_var(nc, "projection", NC_FLOAT, 2, dsc, &vproj)) ||
        (st = nc_def_var(nc, "sample_id", NC_INT64, 1, &ds, &vid)) ||
        (st = nc_put_att_int(nc, NC_GLOBAL, "adaptor_pca_version", NC_INT, 1, &ver)) ||
        (st = nc_put_att_double(nc, NC_GLOBAL, "total_variance", NC_DOUBLE, 1, &total))) {
        rc = ad_nc_fail(st, path, "define");
        goto done;
    }
    if ((rc = ad_nc_put_text_att(nc, path, "source", source)) != AD_OK ||
        (rc = ad_prov_nc_put(nc, path, prov)) != AD_OK)
        goto done;
    if ((st = nc_put_var_double(nc, vmean, mean)) || (st = nc_put_var_double(nc, vcomp, comps)) ||
        (st = nc_put_var_double(nc, vev, ev)) || (st = nc_put_var_double(nc, vratio, ratio)) ||
        (n && ((st = nc_put_var_float(nc, vproj, proj)) ||
               (st = nc_put_var_longlong(nc, vid, ids)))))
        rc = ad_nc_fail(st, path, "write");
done:
    free(ratio);
    return ad_nc_commit(nc, rc, tmp, path);
}

int ad_pca_write(MPI_Comm comm, const char *path, int d, int m, const double *mean,
                 const double *comps, const double *explained_var, double total_var,
                 const float *proj_local, const int64_t *ids_local, int64_t n_local,
                 const char *source, const ad_provenance *prov)
{
    int rank, size, rc = AD_OK;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    long long mine = n_local, n = 0;
    if (MPI_Allreduce(&mine, &n, 1, MPI_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "%s: counting PCA rows failed", path);
    if (n * m > INT_MAX)
        return ad_fail(AD_ERR_UNSUPPORTED, "%s: %lld x %d projections exceed one MPI message",
                       path, n, m);
    int *cnt = ad_malloc(sizeof(int) * 4 * (size_t)size, "gather counts");
    float *proj = rank == 0 ? ad_malloc(sizeof(float) * (size_t)(n ? n : 1) * m, "projections")
                            : NULL;
    long long *ids = rank == 0 ? ad_malloc(sizeof(long long) * (size_t)(n ? n : 1), "sample ids")
                               : NULL;
    rc = cnt && (rank != 0 || (proj && ids)) ? AD_OK : AD_ERR_NOMEM;
    rc = ad_mpi_agree(comm, rc, path);
    if (rc != AD_OK) {
        free(cnt);
        free(proj);
        free(ids);
        return rc;
    }
    int cp = (int)(n_local * m), ci = (int)n_local;
    int *pcnt = cnt, *pdsp = cnt + size, *icnt = cnt + 2 * size, *idsp = cnt + 3 * size;
    if (MPI_Gather(&cp, 1, MPI_INT, pcnt, 1, MPI_INT, 0, comm) != MPI_SUCCESS ||
        MPI_Gather(&ci, 1, MPI_INT, icnt, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        rc = ad_fail(AD_ERR_MPI, "%s: gathering PCA counts failed", path);
    if (rc == AD_OK && rank == 0)
        for (int r = 0, op = 0, oi = 0; r < size; r++) {
            pdsp[r] = op;
            idsp[r] = oi;
            op += pcnt[r];
            oi += icnt[r];
        }
    /* int64_t and long long are the same 64-bit integer on every supported platform. */
    if (rc == AD_OK &&
        (MPI_Gatherv(proj_local, cp, MPI_FLOAT, proj, pcnt, pdsp, MPI_FLOAT, 0, comm) !=
             MPI_SUCCESS ||
         MPI_Gatherv(ids_local, ci, MPI_INT64_T, ids, icnt, idsp, MPI_INT64_T, 0, comm) !=
             MPI_SUCCESS))
        rc = ad_fail(AD_ERR_MPI, "%s: gathering PCA projections failed", path);
    if (rc == AD_OK && rank == 0)
        rc = write_nc(path, d, m, mean, comps, explained_var, total_var, proj, ids, n, source,
                      prov);
    free(cnt);
    free(proj);
    free(ids);
    return ad_mpi_agree(comm, rc, path);
}
