/* PCA: centred covariance on the BLACS grid, pdsyevd, top components, local projections. */
#include "adaptor/pca.h"

#include "adaptor/blacs.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "scalapack.h"

#include <blis.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* pdsyevd on the grid: eigenvalues ascending into ev [d] (every grid rank). */
static int eig(ad_bcmat *C, ad_bcmat *Z, double *ev)
{
    int one = 1, d = C->m, lwork = -1, liwork = -1, info = 0, iq = 0;
    double wq = 0;
    pdsyevd_("V", "U", &d, C->a, &one, &one, C->desc, ev, Z->a, &one, &one, Z->desc, &wq, &lwork,
             &iq, &liwork, &info, 1, 1);
    if (info != 0)
        return info;
    lwork = (int)wq + 1;
    liwork = iq > 1 ? iq : 1;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) {
        free(work);
        free(iwork);
        return INT_MIN;
    }
    pdsyevd_("V", "U", &d, C->a, &one, &one, C->desc, ev, Z->a, &one, &one, Z->desc, work, &lwork,
             iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    return info;
}

/* Top m eigenpairs (ascending ev, column-major vectors zt [d, m] of the last m columns) into
 * decreasing order, each sign fixed by its largest entry. */
static void order_components(const double *ev, const double *zt, int d, int m, double *comps,
                             double *explained_var)
{
    for (int j = 0; j < m; j++) {
        int src = m - 1 - j; /* zt holds columns d-m .. d-1 */
        const double *z = zt + (size_t)src * d;
        int big = 0;
        for (int i = 1; i < d; i++)
            if (fabs(z[i]) > fabs(z[big]))
                big = i;
        double s = z[big] < 0 ? -1.0 : 1.0;
        for (int i = 0; i < d; i++)
            comps[(size_t)j * d + i] = s * z[i];
        explained_var[j] = ev[d - 1 - j];
    }
}

/* proj [n_local, m] = (x - mean) comps^T, in row chunks of doubles. */
static int project(const float *x, int64_t n_local, int d, int m, const double *mean,
                   const double *comps, float *proj)
{
    enum { CHUNK = 256 };
    double *xc = ad_malloc(sizeof(double) * CHUNK * (size_t)d, "PCA projection");
    double *out = ad_malloc(sizeof(double) * CHUNK * (size_t)m, "PCA projection");
    int rc = xc && out ? AD_OK : AD_ERR_NOMEM;
    for (int64_t i0 = 0; i0 < n_local && rc == AD_OK; i0 += CHUNK) {
        int rows = (int)(n_local - i0 < CHUNK ? n_local - i0 : CHUNK);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < d; j++)
                xc[(size_t)i * d + j] = (double)x[(i0 + i) * d + j] - mean[j];
        double one = 1.0, zero = 0.0;
        bli_dgemm(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, rows, m, d, &one, xc, d, 1,
                  (double *)comps, d, 1, &zero, out, m, 1);
        for (int i = 0; i < rows * m; i++)
            proj[i0 * m + i] = (float)out[i];
    }
    free(xc);
    free(out);
    return rc;
}

int ad_pca_fit(MPI_Comm comm, const float *x_local, int64_t n_local, int d, int m,
               int grid_rows, int grid_cols, double *mean, double *comps, double *explained_var,
               double *total_var, float *proj_local)
{
    ad_blacs g = {0};
    ad_bcmat Xt = {0}, C = {0}, Z = {0};
    double *ev = NULL, *zt = NULL;
    int64_t n, first;
    int size, rc = AD_OK;
    MPI_Comm_size(comm, &size);
    if (d < 1 || m < 1 || m > d)
        return ad_fail(AD_ERR_ARG, "pca: need 1 <= m <= d components (got m=%d, d=%d)", m, d);
    AD_TRY(ad_rows_check(comm, x_local, n_local, d, "pca", "feature", &n, &first));
    if (n < size || n < 2)
        return ad_fail(AD_ERR_ARG, "pca: %lld rows for %d ranks; need at least 2 rows and one "
                       "per rank", (long long)n, size);
    ev = ad_malloc(sizeof(double) * (size_t)d, "PCA eigenvalues");
    zt = ad_malloc(sizeof(double) * (size_t)d * m, "PCA components");
    rc = ev && zt ? AD_OK : AD_ERR_NOMEM;
    AD_CHECK(ad_mpi_agree(comm, rc, "pca"));
    AD_CHECK(ad_rows_mean(comm, x_local, n_local, d, n, mean));
    AD_CHECK(ad_blacs_create(comm, grid_rows, grid_cols, "pca", &g));
    int nb = ad_blacs_block(&g, d);
    AD_CHECK(ad_bc_from_rows(&g, x_local, n_local, d, mean, n, nb, &Xt));
    rc = ad_bcmat_create(&g, d, d, nb, &C);
    if (rc == AD_OK)
        rc = ad_bcmat_create(&g, d, d, nb, &Z);
    AD_CHECK(ad_mpi_agree(comm, rc, "pca"));
    int info = 0;
    if (g.ctxt >= 0) {
        int one = 1, nn = (int)n;
        double alpha = 1.0 / (double)(n - 1), beta = 0.0;
        pdsyrk_("U", "N", &d, &nn, &alpha, Xt.a, &one, &one, Xt.desc, &beta, C.a, &one, &one,
                C.desc);
        ad_bcmat_destroy(&Xt);
        info = eig(&C, &Z, ev);
    }
    {
        int got[2], worst[2] = {info > 0 ? info : 0, info < 0 ? 1 : 0};
        if (MPI_Allreduce(worst, got, 2, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) {
            rc = ad_fail(AD_ERR_MPI, "pca: MPI_Allreduce of the solver status failed");
            goto done;
        }
        if (got[1]) {
            rc = ad_fail(AD_ERR_INTERNAL, "pca: pdsyevd failed (bad argument or no memory)");
            goto done;
        }
        if (got[0]) {
            rc = ad_fail(AD_ERR_NUMERIC, "pca: pdsyevd did not converge (info %d)", got[0]);
            goto done;
        }
    }
    /* Rank 0 is grid process (0, 0), so it holds the eigenvalues. */
    if (MPI_Bcast(ev, d, MPI_DOUBLE, 0, comm) != MPI_SUCCESS) {
        rc = ad_fail(AD_ERR_MPI, "pca: MPI_Bcast of the eigenvalues failed");
        goto done;
    }
    AD_CHECK(ad_bcmat_allgather(&g, &Z, d - m, m, zt));
    order_components(ev, zt, d, m, comps, explained_var);
    if (total_var) {
        double t = 0;
        for (int i = 0; i < d; i++)
            t += ev[i];
        *total_var = t;
    }
    if (proj_local)
        rc = project(x_local, n_local, d, m, mean, comps, proj_local);
    rc = ad_mpi_agree(comm, rc, "pca");
done:
    ad_bcmat_destroy(&Xt);
    ad_bcmat_destroy(&C);
    ad_bcmat_destroy(&Z);
    ad_blacs_destroy(&g);
    free(ev);
    free(zt);
    return rc;
}
