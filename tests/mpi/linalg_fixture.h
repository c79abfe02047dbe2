/* Shared by the probe and PCA tests: seeded data, contiguous row blocks per rank, the
 * grids to try, and the single-process LAPACK routines the results are checked against. */
#ifndef ADAPTOR_TEST_LINALG_FIXTURE_H
#define ADAPTOR_TEST_LINALG_FIXTURE_H

#include "adaptor/rng.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void dgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a,
            const int *lda, double *b, const int *ldb, double *work, const int *lwork, int *info,
            size_t trans_len);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);

/* x [n, d]: Gaussian rows mixed by a random d x d matrix (a correlated, full-rank design
 * with distinct covariance eigenvalues) plus an offset per column (so centring matters). */
static inline void lf_features(float *x, int n, int d, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 1);
    double *a = (double *)malloc(sizeof(double) * (size_t)d * d);
    double *z = (double *)malloc(sizeof(double) * (size_t)d);
    for (int i = 0; i < d * d; i++)
        a[i] = ad_rng_normal(&r) / (1.0 + (i % d));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            z[j] = ad_rng_normal(&r);
        for (int j = 0; j < d; j++) {
            double s = 2.0 + 0.5 * j;
            for (int q = 0; q < d; q++)
                s += z[q] * a[q * d + j];
            x[(size_t)i * d + j] = (float)s;
        }
    }
    free(a);
    free(z);
}

/* first[r]: where rank r's block of n rows starts (first[size] = n); mode 0 balanced,
 * 1 skewed (the early ranks hold most rows). Every rank gets at least one row when
 * n >= size. */
static inline void lf_blocks(int n, int size, int mode, int *first)
{
    for (int r = 0; r <= size; r++)
        first[r] = mode == 0 ? (int)((int64_t)n * r / size)
                   : r == 0  ? 0
                             : (int)(n - (int64_t)(n - size) * (size - r) * (size - r) /
                                             ((int64_t)size * size) - (size - r));
}

/* The row-block tables hold up to 7 ranks. */
static inline int lf_too_many_ranks(void)
{
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size <= 7)
        return 0;
    fprintf(stderr, "these tests run on at most 7 ranks, not %d\n", size);
    MPI_Finalize();
    return 1;
}

/* The grids every test runs over for the current rank count: 0 x 0 (automatic), 1 x 1,
 * 2 x 1, 1 x 2, 2 x 2, whichever fit. Returns how many. */
static inline int lf_grids(int size, int grids[][2])
{
    static const int all[][2] = {{0, 0}, {1, 1}, {2, 1}, {1, 2}, {2, 2}};
    int g = 0;
    for (int i = 0; i < 5; i++)
        if (all[i][0] * all[i][1] <= size) {
            grids[g][0] = all[i][0];
            grids[g][1] = all[i][1];
            g++;
        }
    return g;
}

#endif
