/* SyncBatchNorm: R ranks holding b rows each give the same outputs, running statistics and
 * input gradients as one rank holding all R*b rows (with uneven shares too), and the
 * per-rank dgamma / dbeta sum to the single-rank ones. */
#include "mpitest.h"

#include "adaptor/batchnorm.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { C = 5 };

static void fill(float *p, size_t n, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 9);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)ad_rng_normal(&r) * 2.0f + 0.5f;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i]));
    return e;
}

typedef struct bn_run {
    float *y, *dx, rm[C], rv[C], dg[C], db[C];
    float *xhat, mean[C], rstd[C];
} bn_run;

/* Forward (twice, so the running statistics see two batches) and backward of rows n. */
static int run(bn_run *o, const float *x, const float *dy, size_t n, const float *g,
               const float *be, MPI_Comm comm)
{
    o->y = malloc(sizeof(float) * (n ? n : 1) * C);
    o->dx = malloc(sizeof(float) * (n ? n : 1) * C);
    o->xhat = malloc(sizeof(float) * (n ? n : 1) * C);
    for (int j = 0; j < C; j++) {
        o->rm[j] = 0;
        o->rv[j] = 1;
        o->dg[j] = o->db[j] = 0;
    }
    ad_batchnorm_cache c = {o->xhat, o->mean, o->rstd, 0};
    ad_reduce red = ad_mpi_sum(&comm);
    for (int it = 0; it < 2; it++)
        if (ad_batchnorm_forward_train(o->y, &c, x, g, be, o->rm, o->rv, n, C, 1e-5f, 0.1f,
                                       &red))
            return 1;
    return ad_batchnorm_backward(o->dx, o->dg, o->db, dy, &c, g, n, C, &red);
}

static void free_run(bn_run *o)
{
    free(o->y);
    free(o->dx);
    free(o->xhat);
}

static void check(int G)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *x = malloc(sizeof(float) * G * C), *dy = malloc(sizeof(float) * G * C);
    float g[C], be[C];
    fill(x, (size_t)G * C, 1);
    fill(dy, (size_t)G * C, 2);
    fill(g, C, 3);
    fill(be, C, 4);
    int first, n;
    mt_share(G, size, rank, &first, &n);
    bn_run all, mine;
    MT_CHECK(run(&all, x, dy, (size_t)G, g, be, MPI_COMM_SELF) == AD_OK, "single: %s",
             ad_errmsg());
    MT_CHECK(run(&mine, x + (size_t)first * C, dy + (size_t)first * C, (size_t)n, g, be,
                 MPI_COMM_WORLD) == AD_OK,
             "sync: %s", ad_errmsg());
    MT_CHECK(max_diff(mine.y, all.y + (size_t)first * C, (size_t)n * C) < 1e-5,
             "G=%d: outputs differ", G);
    MT_CHECK(max_diff(mine.dx, all.dx + (size_t)first * C, (size_t)n * C) < 1e-5,
             "G=%d: input gradients differ", G);
    MT_CHECK(max_diff(mine.rm, all.rm, C) < 1e-6 && max_diff(mine.rv, all.rv, C) < 1e-5,
             "G=%d: running statistics differ", G);
    float dgs[C], dbs[C];
    MPI_Allreduce(mine.dg, dgs, C, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(mine.db, dbs, C, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MT_CHECK(max_diff(dgs, all.dg, C) < 1e-4 && max_diff(dbs, all.db, C) < 1e-4,
             "G=%d: summed dgamma / dbeta differ", G);
    free_run(&all);
    free_run(&mine);
    free(x);
    free(dy);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    check(4 * size); /* equal shares */
    check(4 * size + 1); /* uneven */
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
