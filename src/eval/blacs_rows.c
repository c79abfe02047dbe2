/* Rows held in contiguous blocks per rank -> a 2-D block-cyclic transposed matrix. */
#include "adaptor/blacs.h"

#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "scalapack.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ad_rows_check(MPI_Comm comm, const float *x_local, int64_t n_local, int width,
                  const char *who, const char *what, int64_t *n, int64_t *first)
{
    int rc = AD_OK;
    long long mine = n_local < 0 ? 0 : (long long)n_local, before = 0, total = 0;
    if (MPI_Exscan(&mine, &before, 1, MPI_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "%s: counting the %s rows failed", who, what);
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0)
        before = 0; /* MPI_Exscan leaves rank 0's result undefined */
    *n = total;
    *first = before;
    if (n_local < 0) {
        rc = ad_fail(AD_ERR_ARG, "%s: negative %s row count %lld", who, what, (long long)n_local);
    } else {
        for (int64_t i = 0; i < n_local && rc == AD_OK; i++)
            for (int j = 0; j < width; j++)
                if (!isfinite(x_local[i * width + j])) {
                    rc = ad_fail(AD_ERR_NUMERIC, "%s: %s row %lld column %d is not finite", who,
                                 what, (long long)(before + i), j);
                    break;
                }
    }
    return ad_mpi_agree(comm, rc, who);
}

int ad_rows_mean(MPI_Comm comm, const float *x_local, int64_t n_local, int width, int64_t n,
                 double *mean)
{
    memset(mean, 0, sizeof(double) * (size_t)width);
    for (int64_t i = 0; i < n_local; i++)
        for (int j = 0; j < width; j++)
            mean[j] += x_local[i * width + j];
    if (MPI_Allreduce(MPI_IN_PLACE, mean, width, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "column means: MPI_Allreduce failed");
    for (int j = 0; j < width && n > 0; j++)
        mean[j] /= (double)n;
    return AD_OK;
}

int ad_bc_from_rows(const ad_blacs *g, const float *x_local, int64_t n_local, int width,
                    const double *shift, int64_t n, int nb, ad_bcmat *At)
{
    int P = g->size, rc = AD_OK;
    double *send = NULL, *recv = NULL;
    int *cnt = NULL;
    memset(At, 0, sizeof *At);
    if (n > INT_MAX)
        return ad_fail(AD_ERR_UNSUPPORTED, "blacs: %lld rows exceed ScaLAPACK's int indices",
                       (long long)n);
    long long first = 0, mine = n_local;
    MPI_Exscan(&mine, &first, 1, MPI_LONG_LONG, MPI_SUM, g->comm);
    if (g->rank == 0)
        first = 0;
    /* Uniform column blocks of nbs samples over the 1 x P grid: pdgemr2d wants one block
     * size, while the caller's blocks may be uneven. */
    int64_t nbs = (n + P - 1) / P;
    if (nbs < 1)
        nbs = 1;
    int64_t have = n_local, get = n - (int64_t)g->rank * nbs;
    get = get < 0 ? 0 : get > nbs ? nbs : get;
    if ((have > get ? have : get) * (int64_t)width > INT_MAX)
        rc = ad_fail(AD_ERR_UNSUPPORTED, "blacs: %lld rows x %d columns on one rank exceed one "
                     "MPI message", (long long)(have > get ? have : get), width);
    if (rc == AD_OK) {
        send = ad_malloc(sizeof(double) * (size_t)(have ? have : 1) * width, "row block");
        recv = ad_malloc(sizeof(double) * (size_t)(get ? get : 1) * width, "row block");
        cnt = ad_calloc(4 * (size_t)P, sizeof(int), "alltoall counts");
        if (!send || !recv || !cnt)
            rc = AD_ERR_NOMEM;
    }
    AD_CHECK(ad_mpi_agree(g->comm, rc, "blacs: redistributing rows"));
    for (int64_t i = 0; i < have; i++)
        for (int j = 0; j < width; j++)
            send[i * width + j] = (double)x_local[i * width + j] - (shift ? shift[j] : 0.0);
    int *scnt = cnt, *sdsp = cnt + P, *rcnt = cnt + 2 * P, *rdsp = cnt + 3 * P;
    for (int r = 0; r < P; r++) {
        int64_t lo = (int64_t)r * nbs, hi = lo + nbs;
        int64_t a = first > lo ? first : lo, b = first + have < hi ? first + have : hi;
        scnt[r] = b > a ? (int)((b - a) * width) : 0;
        sdsp[r] = b > a ? (int)((a - first) * width) : 0;
    }
    if (MPI_Alltoall(scnt, 1, MPI_INT, rcnt, 1, MPI_INT, g->comm) != MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "blacs: MPI_Alltoall of row counts failed");
        goto done;
    }
    for (int r = 0, off = 0; r < P; r++) {
        rdsp[r] = off;
        off += rcnt[r];
    }
    if (MPI_Alltoallv(send, scnt, sdsp, MPI_DOUBLE, recv, rcnt, rdsp, MPI_DOUBLE, g->comm) !=
        MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "blacs: MPI_Alltoallv of rows failed");
        goto done;
    }
    free(send); /* peak memory: two copies of the rows, not three */
    send = NULL;
    rc = ad_bcmat_create(g, width, (int)n, nb, At);
    AD_CHECK(ad_mpi_agree(g->comm, rc, "blacs: redistributing rows"));
    {
        /* The received rows, row-major [get, width], are column-major [width, get]: X^T. */
        int desc[9], info = 0, zero = 0, one = 1, nn = (int)n, nbsi = (int)nbs, lld = width;
        descinit_(desc, &width, &nn, &width, &nbsi, &zero, &zero, &g->ctxt_all, &lld, &info);
        if (info != 0) {
            rc = ad_fail(AD_ERR_INTERNAL, "blacs: descinit of the row blocks failed (info %d)",
                         info);
        }
        AD_CHECK(ad_mpi_agree(g->comm, rc, "blacs: redistributing rows"));
        pdgemr2d_(&width, &nn, recv, &one, &one, desc, At->a, &one, &one, At->desc,
                  &g->ctxt_all);
    }
done:
    free(send);
    free(recv);
    free(cnt);
    if (rc != AD_OK)
        ad_bcmat_destroy(At);
    return rc;
}
