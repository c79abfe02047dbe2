/* A tiny harness for tests run under mpirun: checks are counted on every rank, a failure
 * prints rank and message, and the summary line is the plain "N passed, N failed". */
#ifndef ADAPTOR_MPITEST_H
#define ADAPTOR_MPITEST_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "adaptor/share.h"
#include "testutil.h"

static int mt_pass, mt_fail;

#define MT_CHECK(cond, ...)                                                                    \
    do {                                                                                       \
        if (cond) {                                                                            \
            mt_pass++;                                                                         \
        } else {                                                                               \
            int mt_r_;                                                                         \
            MPI_Comm_rank(MPI_COMM_WORLD, &mt_r_);                                             \
            fprintf(stderr, "FAIL (rank %d) %s:%d: ", mt_r_, __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
            mt_fail++;                                                                         \
        }                                                                                      \
    } while (0)

/* Rank r's block of G rows, as the stages share them out (ad_share). */
static inline void mt_share(int G, int R, int r, int *first, int *n)
{
    int64_t f, c;
    ad_share(G, r, R, &f, &c);
    *first = (int)f;
    *n = (int)c;
}

/* Summary over all ranks; returns the process exit status. */
static inline int mt_finish(void)
{
    int local[2] = {mt_pass, mt_fail}, sum[2];
    MPI_Allreduce(local, sum, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
        printf("%d passed, %d failed\n", sum[0], sum[1]);
    return sum[1] == 0 && sum[0] > 0 ? 0 : 1;
}

#endif
