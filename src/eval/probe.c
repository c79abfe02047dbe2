/* The ridge sweep of the linear probe: centred Gram matrix once, one Cholesky per lambda
 * (the method and its justification are in include/adaptor/probe.h). */
#include "adaptor/probe.h"

#include "adaptor/blacs.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "scalapack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_args(int64_t n, int size, int d, const double *lambdas, int nl)
{
    if (nl < 1 || !lambdas)
        return ad_fail(AD_ERR_ARG, "probe: need at least one ridge value (got %d)", nl);
    if (n < size)
        return ad_fail(AD_ERR_ARG, "probe: %lld training rows for %d ranks; every rank needs a "
                       "row (run with fewer ranks)", (long long)n, size);
    for (int l = 0; l < nl; l++) {
        if (!isfinite(lambdas[l]) || lambdas[l] < 0)
            return ad_fail(AD_ERR_ARG, "probe: ridge value %d (%g) must be finite and >= 0", l,
                           lambdas[l]);
        if (lambdas[l] == 0 && n < (int64_t)d + 1)
            return ad_fail(AD_ERR_ARG, "probe: lambda = 0 needs at least d + 1 = %d training "
                           "rows for %d features, got %lld (use a positive ridge)", d + 1, d,
                           (long long)n);
    }
    return AD_OK;
}

/* One lambda: solves (G + lambda I) W = B on the grid; W gathered into wfull [d, k]
 * column-major on every rank. */
static int solve_one(const ad_blacs *g, const ad_bcmat *G, const ad_bcmat *B, double lambda,
                     ad_bcmat *Gl, ad_bcmat *Bl, double *wfull)
{
    int info = 0, one = 1, d = G->m, k = B->n;
    if (G->a) {
        memcpy(Gl->a, G->a, sizeof(double) * (size_t)G->lld * (size_t)G->nloc);
        memcpy(Bl->a, B->a, sizeof(double) * (size_t)B->lld * (size_t)B->nloc);
        ad_bcmat_add_diag(Gl, lambda);
        pdposv_("U", &d, &k, Gl->a, &one, &one, Gl->desc, Bl->a, &one, &one, Bl->desc, &info, 1);
    }
    /* Ranks outside the grid learn the outcome too. */
    int worst[2] = {info, -info}, got[2];
    if (MPI_Allreduce(worst, got, 2, MPI_INT, MPI_MAX, g->comm) != MPI_SUCCESS)
        return ad_fail(AD_ERR_MPI, "probe: MPI_Allreduce of the solver status failed");
    if (got[1] > 0)
        return ad_fail(AD_ERR_INTERNAL, "probe: pdposv rejected argument %d", got[1]);
    if (got[0] > 0)
        return ad_fail(AD_ERR_NUMERIC, "probe: X^T X + lambda I is not positive definite at "
                       "lambda = %g (leading minor %d): the features are linearly dependent; "
                       "use a larger ridge", lambda, got[0]);
    return ad_bcmat_allgather(g, Bl, 0, k, wfull);
}

int ad_probe_fit(MPI_Comm comm, const float *x_local, int64_t n_local, int d,
                 const float *y_local, int k, const double *lambdas, int nl, int grid_rows,
                 int grid_cols, double *w)
{
    ad_blacs g = {0};
    ad_bcmat Xt = {0}, Yt = {0}, G = {0}, B = {0}, Gl = {0}, Bl = {0};
    double *xbar = NULL, *ybar = NULL, *wfull = NULL;
    int64_t n, first, ny, firsty;
    int size, rc = AD_OK;
    MPI_Comm_size(comm, &size);
    if (d < 1 || k < 1)
        return ad_fail(AD_ERR_ARG, "probe: need d >= 1 features and k >= 1 targets (got %d, %d)",
                       d, k);
    AD_TRY(ad_rows_check(comm, x_local, n_local, d, "probe", "feature", &n, &first));
    AD_TRY(ad_rows_check(comm, y_local, n_local, k, "probe", "target", &ny, &firsty));
    AD_TRY(check_args(n, size, d, lambdas, nl));
    xbar = ad_malloc(sizeof(double) * (size_t)d, "probe means");
    ybar = ad_malloc(sizeof(double) * (size_t)k, "probe means");
    wfull = ad_malloc(sizeof(double) * (size_t)d * (size_t)k, "probe weights");
    rc = xbar && ybar && wfull ? AD_OK : AD_ERR_NOMEM;
    AD_CHECK(ad_mpi_agree(comm, rc, "probe"));
    AD_CHECK(ad_rows_mean(comm, x_local, n_local, d, n, xbar));
    AD_CHECK(ad_rows_mean(comm, y_local, n_local, k, n, ybar));
    AD_CHECK(ad_blacs_create(comm, grid_rows, grid_cols, "probe", &g));
    int nb = ad_blacs_block(&g, d);
    AD_CHECK(ad_bc_from_rows(&g, x_local, n_local, d, xbar, n, nb, &Xt));
    AD_CHECK(ad_bc_from_rows(&g, y_local, n_local, k, ybar, n, nb, &Yt));
    rc = ad_bcmat_create(&g, d, d, nb, &G);
    if (rc == AD_OK)
        rc = ad_bcmat_create(&g, d, k, nb, &B);
    if (rc == AD_OK)
        rc = ad_bcmat_create(&g, d, d, nb, &Gl);
    if (rc == AD_OK)
        rc = ad_bcmat_create(&g, d, k, nb, &Bl);
    AD_CHECK(ad_mpi_agree(comm, rc, "probe"));
    if (g.ctxt >= 0) {
        int one = 1, nn = (int)n;
        double alpha = 1.0, beta = 0.0;
        pdsyrk_("U", "N", &d, &nn, &alpha, Xt.a, &one, &one, Xt.desc, &beta, G.a, &one, &one,
                G.desc);
        pdgemm_("N", "T", &d, &k, &nn, &alpha, Xt.a, &one, &one, Xt.desc, Yt.a, &one, &one,
                Yt.desc, &beta, B.a, &one, &one, B.desc);
    }
    ad_bcmat_destroy(&Xt);
    ad_bcmat_destroy(&Yt);
    for (int l = 0; l < nl; l++) {
        AD_CHECK(solve_one(&g, &G, &B, lambdas[l], &Gl, &Bl, wfull));
        double *wl = w + (size_t)l * (size_t)(d + 1) * (size_t)k;
        for (int c = 0; c < k; c++) {
            double b = ybar[c];
            for (int j = 0; j < d; j++) {
                wl[(size_t)j * k + c] = wfull[(size_t)c * d + j];
                b -= xbar[j] * wfull[(size_t)c * d + j];
            }
            wl[(size_t)d * k + c] = b;
        }
    }
done:
    ad_bcmat_destroy(&Xt);
    ad_bcmat_destroy(&Yt);
    ad_bcmat_destroy(&G);
    ad_bcmat_destroy(&B);
    ad_bcmat_destroy(&Gl);
    ad_bcmat_destroy(&Bl);
    ad_blacs_destroy(&g);
    free(xbar);
    free(ybar);
    free(wfull);
    return rc;
}

int ad_probe_log_grid(double lo, double hi, int n, double *lambdas)
{
    if (n < 1 || !(lo > 0) || !(hi > 0) || !isfinite(lo) || !isfinite(hi))
        return ad_fail(AD_ERR_ARG, "probe: log grid needs n >= 1 and finite lo, hi > 0 (got %d, "
                       "%g, %g)", n, lo, hi);
    for (int i = 0; i < n; i++)
        lambdas[i] = n == 1 ? lo : exp(log(lo) + (log(hi) - log(lo)) * i / (n - 1));
    lambdas[0] = lo;
    if (n > 1)
        lambdas[n - 1] = hi;
    return AD_OK;
}
