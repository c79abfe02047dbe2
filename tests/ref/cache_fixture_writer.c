/* Writes the files tests/ref/cache_check.py inspects with the netCDF4 Python library:
 *   <dir>/image_train.nc  pooled cache, 13 x 6, rows split over the ranks
 *   <dir>/text_train.nc   token cache, 13 x 7 tokens x 4
 *   <dir>/metrics.nc      steps 1..5 and two eval records (rank 0)
 * Every value follows the formulas of tests/cache_fixture.h. Run under mpirun. */
#include "../cache_fixture.h"
#include "adaptor/cache.h"
#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/metrics.h"

#include <mpi.h>
#include <stdio.h>

static int write_split(const char *path, const char *modality, int64_t n, int D, int T,
                       const ad_provenance *prov)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ad_cache_meta meta = cf_meta(modality, T);
    meta.prov = prov;
    ad_cache_writer *w;
    AD_TRY(ad_cache_create(MPI_COMM_WORLD, path, &meta, n, D, T, NULL, &w));
    int64_t a = n * rank / size, b = n * (rank + 1) / size;
    int rc = cf_write_range(w, a, b - a, D, T, 2);
    if (rc != AD_OK) {
        ad_cache_abort(w);
        return rc;
    }
    return ad_cache_commit(w);
}

static int write_metrics(const char *path, int ranks, const ad_provenance *prov)
{
    ad_metrics *m;
    AD_TRY(ad_metrics_create(path, prov, ranks, 2, &m));
    int rc = AD_OK;
    for (int64_t s = 1; s <= 5 && rc == AD_OK; s++) {
        ad_metrics_step r = cf_metrics_step(s);
        rc = ad_metrics_append(m, &r);
    }
    if (rc == AD_OK)
        rc = ad_metrics_append_eval(m, 4, 1, "valid", "i2t_R@1", 0.125);
    if (rc == AD_OK)
        rc = ad_metrics_append_eval(m, 5, 1, "test", "loss", 3.5);
    if (rc == AD_OK)
        rc = ad_metrics_flush(m);
    ad_metrics_destroy(m);
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, rc = argc == 2 ? AD_OK : ad_fail(AD_ERR_ARG, "usage: %s <dir>", argv[0]);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char p[4096];
    ad_provenance *prov = NULL; /* gathered over both ranks: host names, rank count */
    if (rc == AD_OK)
        rc = ad_prov_create(MPI_COMM_WORLD, NULL, &prov);
    if (rc == AD_OK && (rc = ad_path_join(p, sizeof p, argv[1], "image_train.nc")) == AD_OK)
        rc = write_split(p, "image", 13, 6, 0, prov);
    if (rc == AD_OK && (rc = ad_path_join(p, sizeof p, argv[1], "text_train.nc")) == AD_OK)
        rc = write_split(p, "text", 13, 4, 7, prov);
    if (rc == AD_OK && rank == 0 && (rc = ad_path_join(p, sizeof p, argv[1], "metrics.nc")) == AD_OK)
        rc = write_metrics(p, size, prov);
    ad_prov_destroy(prov);
    if (rc != AD_OK)
        fprintf(stderr, "cache_fixture_writer: %s\n", ad_errmsg());
    MPI_Finalize();
    return rc == AD_OK ? 0 : 1;
}
