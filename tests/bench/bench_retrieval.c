/* Retrieval over a whole split at the reference's scale: N pairs of P-dim unit vectors on
 * one rank (or more under mpirun), i2t and t2i ranks from S = V T^T in BLIS tiles.
 * Usage: bench_retrieval [N [P]] (default 20000 768). Prints the time and the sgemm rate
 * the score tiles reached (2 N^2 P flops, plus the diagonal tiles). */
#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/log.h"
#include "adaptor/retrieval.h"
#include "adaptor/rng.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    char msg[256];
    if (ad_blis_select(msg, sizeof msg) != AD_OK) {
        fprintf(stderr, "%s\n", ad_errmsg());
        return 1;
    }
    ad_blis_set_threads(1);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int64_t n = argc > 1 ? atoll(argv[1]) : 20000;
    int p = argc > 2 ? atoi(argv[2]) : 768;
    int64_t lo = n * rank / size, hi = n * (rank + 1) / size, nl = hi - lo;
    float *v = malloc(sizeof(float) * (size_t)(nl + 1) * p),
          *t = malloc(sizeof(float) * (size_t)(nl + 1) * p);
    ad_rng r;
    for (int64_t i = 0; i < nl; i++) {
        ad_rng_seed(&r, 1, (uint64_t)(lo + i));
        double sv = 0, st = 0;
        for (int x = 0; x < p; x++) {
            float a = (float)ad_rng_normal(&r), b = a + (float)(12.0 * ad_rng_normal(&r));
            v[i * p + x] = a;
            t[i * p + x] = b;
            sv += (double)a * a;
            st += (double)b * b;
        }
        for (int x = 0; x < p; x++) {
            v[i * p + x] = (float)(v[i * p + x] / sqrt(sv));
            t[i * p + x] = (float)(t[i * p + x] / sqrt(st));
        }
    }
    const int ks[] = {1, 5, 10};
    ad_retrieval_result res;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = ad_now();
    int rc = ad_retrieval(MPI_COMM_WORLD, v, t, nl, p, ks, 3, &res, NULL, NULL);
    double dt = ad_now() - t0;
    if (rc != AD_OK) {
        fprintf(stderr, "bench_retrieval: %s\n", ad_errmsg());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0) {
        double flops = 2.0 * (double)n * (double)n * p * (1.0 + (double)AD_RETRIEVAL_TILE / n);
        printf("%s\n", msg);
        printf(
            "retrieval N=%lld P=%d ranks=%d: %.2f s (%.1f GFLOP/s per rank in the score tiles)\n",
            (long long)n, p, size, dt, flops / dt / 1e9 / size);
        printf("  i2t R@1/5/10 = %.4f %.4f %.4f, median %.1f, mean %.1f\n", res.i2t.recall[0],
               res.i2t.recall[1], res.i2t.recall[2], res.i2t.median_rank, res.i2t.mean_rank);
        printf("  t2i R@1/5/10 = %.4f %.4f %.4f, median %.1f, mean %.1f\n", res.t2i.recall[0],
               res.t2i.recall[1], res.t2i.recall[2], res.t2i.median_rank, res.t2i.mean_rank);
    }
    free(v);
    free(t);
    MPI_Finalize();
    return 0;
}
