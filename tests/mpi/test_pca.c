/* Distributed PCA against a single-process reference: the covariance of the centred data
 * formed by a naive double loop and diagonalised by LAPACK's dsyevd.
 *
 * Tolerances (relative to the largest eigenvalue / unit vectors / the largest projection):
 * eigenvalues 1e-10 and components 1e-8 (both sides are double; the test data has
 * eigenvalue gaps of at least a few percent of the largest, so eigenvectors are determined
 * to about eps / gap ~ 1e-14), projections 1e-5 (they are returned as floats, 6e-8
 * relative, accumulated over d terms). The sign convention (largest entry positive) is
 * checked on its own. pca.nc is read back with netCDF: shapes, values, sample ids in rank
 * order. Runs over every grid that fits and balanced / skewed row blocks. */
#include "mpitest.h"
#include "linalg_fixture.h"
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/pca.h"

#include <math.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_pca {
    double *mean, *ev, *vec; /* ev ascending [d], vec column-major [d, d] */
    double trace;            /* of the covariance, summed from its diagonal */
} ref_pca;

static void ref_fit(const float *x, int n, int d, ref_pca *r)
{
    r->mean = calloc((size_t)d, sizeof(double));
    r->ev = malloc(sizeof(double) * d);
    r->vec = calloc((size_t)d * d, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            r->mean[j] += x[i * d + j];
    for (int j = 0; j < d; j++)
        r->mean[j] /= n;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                r->vec[b * d + a] += (x[i * d + a] - r->mean[a]) * (x[i * d + b] - r->mean[b]) /
                                     (n - 1);
    r->trace = 0;
    for (int j = 0; j < d; j++)
        r->trace += r->vec[j * d + j];
    int lwork = -1, liwork = -1, iq, info;
    double wq;
    dsyevd_("V", "U", &d, r->vec, &d, r->ev, &wq, &lwork, &iq, &liwork, &info, 1, 1);
    lwork = (int)wq;
    liwork = iq;
    double *work = malloc(sizeof(double) * lwork);
    int *iwork = malloc(sizeof(int) * liwork);
    dsyevd_("V", "U", &d, r->vec, &d, r->ev, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
}

static void ref_free(ref_pca *r)
{
    free(r->mean);
    free(r->ev);
    free(r->vec);
}

static void check_nc(const char *path, int n, int d, int m, const double *comps,
                     const float *proj_all, int first_id)
{
    int nc, v, dim;
    size_t len;
    MT_CHECK(nc_open(path, NC_NOWRITE, &nc) == NC_NOERR, "cannot open %s", path);
    MT_CHECK(nc_inq_dimid(nc, "sample", &dim) == NC_NOERR && nc_inq_dimlen(nc, dim, &len) == 0 &&
                 len == (size_t)n,
             "sample dimension");
    MT_CHECK(nc_inq_dimid(nc, "component", &dim) == NC_NOERR &&
                 nc_inq_dimlen(nc, dim, &len) == 0 && len == (size_t)m,
             "component dimension");
    double *c = malloc(sizeof(double) * m * d);
    float *p = malloc(sizeof(float) * n * m);
    long long *ids = malloc(sizeof(long long) * n);
    MT_CHECK(nc_inq_varid(nc, "components", &v) == 0 && nc_get_var_double(nc, v, c) == 0 &&
                 memcmp(c, comps, sizeof(double) * m * d) == 0,
             "components in the file");
    MT_CHECK(nc_inq_varid(nc, "projection", &v) == 0 && nc_get_var_float(nc, v, p) == 0 &&
                 memcmp(p, proj_all, sizeof(float) * n * m) == 0,
             "projections in the file");
    int ok = nc_inq_varid(nc, "sample_id", &v) == 0 && nc_get_var_longlong(nc, v, ids) == 0;
    for (int i = 0; i < n && ok; i++)
        ok = ids[i] == first_id + i;
    MT_CHECK(ok, "sample ids in the file");
    double ratio[64], ev[64], total = 0;
    MT_CHECK(nc_inq_varid(nc, "explained_variance_ratio", &v) == 0 &&
                 nc_get_var_double(nc, v, ratio) == 0 &&
                 nc_inq_varid(nc, "explained_variance", &v) == 0 &&
                 nc_get_var_double(nc, v, ev) == 0 &&
                 nc_get_att_double(nc, NC_GLOBAL, "total_variance", &total) == 0 &&
                 fabs(ratio[0] - ev[0] / total) < 1e-15,
             "explained variance ratio");
    nc_close(nc);
    free(c);
    free(p);
    free(ids);
}

static void run(int n, int d, int m, int mode, int write)
{
    int rank, size, grids[5][2], first[8] = {0};
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *x = malloc(sizeof(float) * n * d);
    lf_features(x, n, d, (uint64_t)(n * 3 + d));
    ref_pca r;
    ref_fit(x, n, d, &r);
    double ref_total = r.trace;
    lf_blocks(n, size, mode, first);
    int lo = first[rank], cnt = first[rank + 1] - lo;
    double *mean = malloc(sizeof(double) * d), *comps = malloc(sizeof(double) * m * d),
           *ev = malloc(sizeof(double) * m), total = 0;
    float *proj = malloc(sizeof(float) * (cnt ? cnt : 1) * m);
    int ng = lf_grids(size, grids);
    for (int gi = 0; gi < ng; gi++) {
        int rc = ad_pca_fit(MPI_COMM_WORLD, x + lo * d, cnt, d, m, grids[gi][0], grids[gi][1],
                            mean, comps, ev, &total, proj);
        MT_CHECK(rc == AD_OK, "n=%d d=%d grid %dx%d: %s", n, d, grids[gi][0], grids[gi][1],
                 ad_errmsg());
        if (rc != AD_OK)
            continue;
        double top = r.ev[d - 1], em = 0, ee = 0, ec = 0, ep = 0, pmax = 0;
        for (int j = 0; j < d; j++)
            em = fmax(em, fabs(mean[j] - r.mean[j]));
        for (int q = 0; q < m; q++) {
            const double *rv = r.vec + (size_t)(d - 1 - q) * d, *cv = comps + (size_t)q * d;
            ee = fmax(ee, fabs(ev[q] - r.ev[d - 1 - q]) / top);
            double dot = 0;
            int big = 0;
            for (int j = 0; j < d; j++) {
                dot += cv[j] * rv[j];
                big = fabs(cv[j]) > fabs(cv[big]) ? j : big;
            }
            MT_CHECK(cv[big] > 0, "component %d: largest entry %g is negative", q, cv[big]);
            double s = dot < 0 ? -1 : 1;
            for (int j = 0; j < d; j++)
                ec = fmax(ec, fabs(cv[j] - s * rv[j]));
            for (int i = 0; i < cnt; i++) {
                double p = 0;
                for (int j = 0; j < d; j++)
                    p += (x[(lo + i) * d + j] - r.mean[j]) * s * rv[j];
                ep = fmax(ep, fabs(proj[i * m + q] - p));
                pmax = fmax(pmax, fabs(p));
            }
        }
        MT_CHECK(em <= 1e-11, "mean err %g", em);
        MT_CHECK(ee <= 1e-10, "n=%d d=%d grid %dx%d: eigenvalue err %g", n, d, grids[gi][0],
                 grids[gi][1], ee);
        MT_CHECK(ec <= 1e-8, "n=%d d=%d grid %dx%d: component err %g", n, d, grids[gi][0],
                 grids[gi][1], ec);
        MT_CHECK(ep <= 1e-5 * pmax, "projection err %g of %g", ep, pmax);
        MT_CHECK(fabs(total - ref_total) <= 1e-10 * ref_total, "total %g vs %g", total,
                 ref_total);
    }
    if (write) {
        char dir[4096] = "", path[4200];
        if (rank == 0)
            tu_tmpdir(dir, sizeof dir, "pca");
        MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
        snprintf(path, sizeof path, "%s/pca.nc", dir);
        int64_t *ids = malloc(sizeof(int64_t) * (cnt ? cnt : 1));
        for (int i = 0; i < cnt; i++)
            ids[i] = 1000 + lo + i;
        int rc = ad_pca_write(MPI_COMM_WORLD, path, d, m, mean, comps, ev, total, proj, ids, cnt,
                              "test", NULL);
        MT_CHECK(rc == AD_OK, "write: %s", ad_errmsg());
        /* The reference file content: every rank's projections in rank order. */
        float *all = malloc(sizeof(float) * n * m);
        int *counts = malloc(sizeof(int) * size), *disp = malloc(sizeof(int) * size);
        for (int q = 0; q < size; q++) {
            counts[q] = (first[q + 1] - first[q]) * m;
            disp[q] = first[q] * m;
        }
        MPI_Allgatherv(proj, cnt * m, MPI_FLOAT, all, counts, disp, MPI_FLOAT, MPI_COMM_WORLD);
        if (rc == AD_OK && rank == 0)
            check_nc(path, n, d, m, comps, all, 1000);
        free(all);
        free(counts);
        free(disp);
        free(ids);
    }
    ref_free(&r);
    free(x);
    free(mean);
    free(comps);
    free(ev);
    free(proj);
}

static void errors(void)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { D = 5, NR = 6 };
    float x[NR * D];
    double mean[D], comps[D * D], ev[D];
    lf_features(x, NR, D, 9);
    ad_clear_error();
    int rc = ad_pca_fit(MPI_COMM_WORLD, x, NR, D, D + 1, 0, 0, mean, comps, ev, NULL, NULL);
    MT_CHECK(rc == AD_ERR_ARG && strstr(ad_errmsg(), "1 <= m <= d"), "m > d: %d %s", rc,
             ad_errmsg());
    ad_clear_error();
    rc = ad_pca_fit(MPI_COMM_WORLD, x, rank == 0 ? 0 : 1, D, 2, 0, 0, mean, comps, ev, NULL, NULL);
    MT_CHECK(rc == AD_ERR_ARG && strstr(ad_errmsg(), "one per rank"), "rank without rows: %d %s",
             rc, ad_errmsg());
    x[3] = INFINITY;
    ad_clear_error();
    rc = ad_pca_fit(MPI_COMM_WORLD, rank == 0 ? x : x + D, rank == 0 ? NR - 1 : 1, D, 2, 0, 0,
                    mean, comps, ev, NULL, NULL);
    if (rank == 0)
        MT_CHECK(rc == AD_ERR_NUMERIC && strstr(ad_errmsg(), "feature row 0 column 3"),
                 "non-finite: %d %s", rc, ad_errmsg());
    else
        MT_CHECK(rc == AD_ERR_PEER, "non-finite on a peer: %d %s", rc, ad_errmsg());
    x[3] = 1;
    ad_clear_error();
    rc = ad_pca_fit(MPI_COMM_WORLD, x, NR, D, 2, size + 1, 1, mean, comps, ev, NULL, NULL);
    MT_CHECK(rc == AD_ERR_ARG && strstr(ad_errmsg(), "BLACS grid"), "grid too large: %d %s", rc,
             ad_errmsg());
    ad_clear_error();
    rc = ad_pca_write(MPI_COMM_WORLD, "/nonexistent-dir/pca.nc", D, 1, mean, comps, ev, 1.0,
                      (const float *)x, NULL, 0, NULL, NULL);
    if (rank == 0)
        MT_CHECK(rc == AD_ERR_IO && strstr(ad_errmsg(), "/nonexistent-dir/pca.nc"),
                 "unwritable: %d %s", rc, ad_errmsg());
    else
        MT_CHECK(rc == AD_ERR_PEER, "unwritable on a peer: %d %s", rc, ad_errmsg());
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (lf_too_many_ranks())
        return 1;
    for (int mode = 0; mode < 2; mode++) {
        run(120, 9, 4, mode, mode == 0);
        run(203, 30, 30, mode, 0);
    }
    errors();
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
