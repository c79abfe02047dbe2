/* Distributed retrieval gives bitwise the one-rank result: every rank computes the 1-rank
 * answer on MPI_COMM_SELF over the whole split, then the split is cut into contiguous
 * blocks (even, uneven, empty blocks, boundaries inside a score tile) and the collective
 * result, the per-query ranks included, must match exactly. The data has exact ties
 * (duplicated rows) and, in the float case, generic scores. A bad row on one rank fails
 * every rank. */
#include "mpitest.h"

#include "adaptor/error.h"
#include "adaptor/retrieval.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int ks[] = {1, 5, 10, 50};

static void make_data(float *v, float *t, int n, int p, int integer, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 0);
    for (int i = 0; i < n * p; i++) {
        if (integer) {
            v[i] = (float)((int)ad_rng_below(&r, 3) - 1);
            t[i] = (float)((int)ad_rng_below(&r, 3) - 1);
        } else {
            v[i] = (float)ad_rng_normal(&r);
            t[i] = v[i] + (float)ad_rng_normal(&r);
        }
    }
    for (int i = 0; i + 5 < n; i += 5)
        memcpy(t + (size_t)(i + 2) * p, t + (size_t)i * p, sizeof(float) * p);
}

/* first[r]: where rank r's block starts; mode 0 balanced, 1 skewed (rank 0 small, the last
 * rank large), 2 everything on the last rank. */
static void blocks(int n, int size, int mode, int *first)
{
    for (int r = 0; r <= size; r++) {
        if (mode == 0)
            first[r] = (int)((int64_t)n * r / size);
        else if (mode == 1)
            first[r] = r == 0      ? 0
                       : r == size ? n
                                   : (int)((int64_t)n * r * r / (size * size + 1)) + 1;
        else
            first[r] = r == size ? n : 0;
        if (first[r] > n)
            first[r] = n;
    }
}

static void run(int n, int p, int integer, int mode)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *v = malloc(sizeof(float) * (size_t)n * p), *t = malloc(sizeof(float) * (size_t)n * p);
    int64_t *r1i = malloc(sizeof(int64_t) * n), *r1t = malloc(sizeof(int64_t) * n),
            *rdi = malloc(sizeof(int64_t) * n), *rdt = malloc(sizeof(int64_t) * n);
    int first[8];
    make_data(v, t, n, p, integer, (uint64_t)(n * 31 + p));
    blocks(n, size, mode, first);
    ad_retrieval_result one, dist;
    int rc1 = ad_retrieval(MPI_COMM_SELF, v, t, n, p, ks, 4, &one, r1i, r1t);
    MT_CHECK(rc1 == AD_OK, "1 rank n=%d: %s", n, ad_errmsg());
    int lo = first[rank], cnt = first[rank + 1] - first[rank];
    int rcd = ad_retrieval(MPI_COMM_WORLD, v + (size_t)lo * p, t + (size_t)lo * p, cnt, p, ks, 4,
                           &dist, rdi, rdt);
    MT_CHECK(rcd == AD_OK, "%d ranks n=%d mode %d: %s", size, n, mode, ad_errmsg());
    if (rc1 == AD_OK && rcd == AD_OK) {
        MT_CHECK(memcmp(&one, &dist, sizeof one) == 0,
                 "n=%d p=%d mode %d: metrics differ (R@1 %.17g vs %.17g, mean %.17g vs %.17g)", n,
                 p, mode, one.i2t.recall[0], dist.i2t.recall[0], one.t2i.mean_rank,
                 dist.t2i.mean_rank);
        MT_CHECK(memcmp(r1i, rdi, sizeof(int64_t) * n) == 0, "n=%d mode %d: i2t ranks differ", n,
                 mode);
        MT_CHECK(memcmp(r1t, rdt, sizeof(int64_t) * n) == 0, "n=%d mode %d: t2i ranks differ", n,
                 mode);
        /* Texts 0 and 2 are equal, so images 0 and 2 each tie with the other's partner. */
        if (n > 5)
            MT_CHECK(r1i[0] >= 2 && r1i[2] >= 2, "n=%d: the duplicated rows made no tie", n);
    }
    free(v);
    free(t);
    free(r1i);
    free(r1t);
    free(rdi);
    free(rdt);
}

static void bad_row_fails_everywhere(void)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { P = 4, NL = 3 };
    float v[NL * P], t[NL * P];
    for (int i = 0; i < NL * P; i++)
        v[i] = t[i] = (float)(i % 5);
    if (rank == size - 1)
        t[P + 2] = INFINITY;
    ad_retrieval_result res;
    ad_clear_error();
    int rc = ad_retrieval(MPI_COMM_WORLD, v, t, NL, P, ks, 4, &res, NULL, NULL);
    if (rank == size - 1) {
        char want[64];
        snprintf(want, sizeof want, "text embedding row %d is not finite", (size - 1) * NL + 1);
        MT_CHECK(rc == AD_ERR_NUMERIC && strstr(ad_errmsg(), want), "got %d: %s", rc, ad_errmsg());
    } else {
        MT_CHECK(rc == AD_ERR_PEER, "a peer's bad row gave %d: %s", rc, ad_errmsg());
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    for (int mode = 0; mode < 3; mode++) {
        run(2, 3, 1, mode); /* fewer rows than ranks */
        run(97, 5, 1, mode);
        run(AD_RETRIEVAL_TILE * 2 + 11, 8, 1, mode);
        run(AD_RETRIEVAL_TILE + 200, 33, 0, mode);
    }
    bad_row_fails_everywhere();
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
