/* The distributed ridge probe against a single-process LAPACK solve of the same problem by
 * a different method: dgels (QR) on the uncentred augmented system
 *     [X 1; sqrt(lambda) [I 0]] w = [Y; 0]
 * (the bias column is in the matrix and has no ridge row), while the code under test centres
 * and uses Cholesky on the normal equations. Both are in double from the same float data.
 *
 * Tolerance: max |w - w_ref| <= 1e-9 max |w_ref|. The designs are random full-rank with
 * condition numbers of order 10, so the normal equations lose about kappa^2 * eps ~ 1e-14;
 * 1e-9 is a wide margin for round-off, while any real defect (a row lost or repeated in the
 * redistribution, a wrong block, an unapplied lambda, a wrong bias) moves the weights by far
 * more. Runs over every grid that fits (0x0, 1x1, 2x1, 1x2, 2x2; ranks outside a smaller
 * grid included), balanced and skewed row blocks, d >= n with ridge, and the error paths. */
#include "mpitest.h"
#include "linalg_fixture.h"

#include "adaptor/error.h"
#include "adaptor/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Targets: multi-class one-hot of the arg-max of a random linear score plus noise
 * (multiclass = 1), else independent 0/1 labels per output. */
static void make_targets(const float *x, int n, int d, int k, int multiclass, uint64_t seed,
                         float *y)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 2);
    double *beta = malloc(sizeof(double) * (size_t)d * k);
    for (int i = 0; i < d * k; i++)
        beta[i] = ad_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        int best = 0;
        double top = -INFINITY;
        for (int c = 0; c < k; c++) {
            double s = ad_rng_normal(&r) * 3.0;
            for (int j = 0; j < d; j++)
                s += x[(size_t)i * d + j] * beta[j * k + c] / d;
            y[(size_t)i * k + c] = multiclass ? 0.0f : (float)(s > 0);
            if (s > top) {
                top = s;
                best = c;
            }
        }
        if (multiclass)
            y[(size_t)i * k + best] = 1.0f;
    }
    free(beta);
}

/* The reference: dgels on the augmented system. wref [d + 1][k]. */
static int ref_fit(const float *x, const float *y, int n, int d, int k, double lambda,
                   double *wref)
{
    int m = n + d, nc = d + 1, info = 0, lwork = -1;
    double *a = calloc((size_t)m * nc, sizeof(double)), *b = calloc((size_t)m * k, sizeof(double));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            a[(size_t)j * m + i] = x[(size_t)i * d + j];
        a[(size_t)d * m + i] = 1.0;
        for (int c = 0; c < k; c++)
            b[(size_t)c * m + i] = y[(size_t)i * k + c];
    }
    for (int j = 0; j < d; j++)
        a[(size_t)j * m + n + j] = sqrt(lambda);
    double wq;
    dgels_("N", &m, &nc, &k, a, &m, b, &m, &wq, &lwork, &info, 1);
    lwork = (int)wq;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    dgels_("N", &m, &nc, &k, a, &m, b, &m, work, &lwork, &info, 1);
    for (int j = 0; j <= d; j++)
        for (int c = 0; c < k; c++)
            wref[(size_t)j * k + c] = b[(size_t)c * m + j];
    free(a);
    free(b);
    free(work);
    return info;
}

static double rel_err(const double *w, const double *ref, size_t cnt)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < cnt; i++) {
        e = fmax(e, fabs(w[i] - ref[i]));
        s = fmax(s, fabs(ref[i]));
    }
    return e / s;
}

/* underdetermined: n < d + 1, so X^T X is singular and the ridge alone makes the problem
 * well posed; its condition number is then about sigma_max^2 / lambda, so the sweep starts
 * at 1e-2 (kappa ~ 1e4) to stay inside the 1e-9 tolerance. */
static void run_fit(MPI_Comm comm, int n, int d, int k, int underdetermined, int mode)
{
    int rank, size, grids[5][2];
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    float *x = malloc(sizeof(float) * (size_t)n * d), *y = malloc(sizeof(float) * (size_t)n * k);
    lf_features(x, n, d, (uint64_t)(n * 7 + d));
    make_targets(x, n, d, k, mode == 0, (uint64_t)(n + k), y);
    enum { NL = 6 };
    double lambdas[NL];
    ad_probe_log_grid(underdetermined ? 1e-2 : 1e-6, 1e3, NL, lambdas);
    if (!underdetermined)
        lambdas[1] = 0.0;
    size_t per = (size_t)(d + 1) * k;
    double *ref = malloc(sizeof(double) * NL * per), *w = malloc(sizeof(double) * NL * per);
    for (int l = 0; l < NL; l++)
        MT_CHECK(ref_fit(x, y, n, d, k, lambdas[l], ref + l * per) == 0, "dgels failed");
    /* The sweep really changes the solution (the ridge is applied). */
    MT_CHECK(rel_err(ref, ref + (NL - 1) * per, per) > 1e-3, "lambda has no effect");
    int first[8] = {0};
    lf_blocks(n, size, mode, first);
    int ng = lf_grids(size, grids);
    for (int gi = 0; gi < ng; gi++) {
        int lo = first[rank], cnt = first[rank + 1] - first[rank];
        memset(w, 0, sizeof(double) * NL * per);
        int rc = ad_probe_fit(comm, x + (size_t)lo * d, cnt, d, y + (size_t)lo * k, k,
                              lambdas, NL, grids[gi][0], grids[gi][1], w);
        MT_CHECK(rc == AD_OK, "n=%d d=%d grid %dx%d: %s", n, d, grids[gi][0], grids[gi][1],
                 ad_errmsg());
        for (int l = 0; l < NL && rc == AD_OK; l++) {
            double e = rel_err(w + l * per, ref + l * per, per);
            MT_CHECK(e <= 1e-9, "n=%d d=%d k=%d mode %d grid %dx%d lambda %g: rel err %.3g", n, d,
                     k, mode, grids[gi][0], grids[gi][1], lambdas[l], e);
        }
    }
    free(x);
    free(y);
    free(ref);
    free(w);
}

/* Expects every rank to fail: the detecting rank(s) with `code` and `needle`, the others
 * (if any) with AD_ERR_PEER. */
static void expect_fail(int rc, int code, const char *needle, int detecting, const char *what)
{
    if (detecting)
        MT_CHECK(rc == code && strstr(ad_errmsg(), needle), "%s: got %d '%s'", what, rc,
                 ad_errmsg());
    else
        MT_CHECK(rc == AD_ERR_PEER, "%s: got %d '%s'", what, rc, ad_errmsg());
}

static void errors(void)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { D = 4, K = 2, NR = 8 };
    float x[NR * D], y[NR * K];
    double lam[2] = {1e-3, 0.0}, w[2 * (D + 1) * K];
    lf_features(x, NR, D, 5);
    for (int i = 0; i < NR * K; i++)
        y[i] = (float)(i % 3 == 0);

    /* More ranks than rows: the last rank holds none. */
    ad_clear_error();
    int rc = ad_probe_fit(MPI_COMM_WORLD, x, rank == size - 1 ? 0 : 1, D, y, K, lam, 1, 0, 0, w);
    expect_fail(rc, AD_ERR_ARG, "training rows for", 1, "fewer rows than ranks");

    /* lambda = 0 with n < d + 1 (each rank one row, d = 4 >= size). */
    ad_clear_error();
    rc = ad_probe_fit(MPI_COMM_WORLD, x, 1, D, y, K, lam, 2, 0, 0, w);
    if (size < D + 1)
        expect_fail(rc, AD_ERR_ARG, "lambda = 0 needs at least d + 1", 1, "n < d + 1");

    /* A non-finite feature on the last rank, named by its global row. */
    float bad[NR * D];
    memcpy(bad, x, sizeof bad);
    if (rank == size - 1)
        bad[1 * D + 2] = NAN;
    ad_clear_error();
    rc = ad_probe_fit(MPI_COMM_WORLD, bad, 2, D, y, K, lam, 1, 0, 0, w);
    char want[64];
    snprintf(want, sizeof want, "feature row %d column 2 is not finite", 2 * (size - 1) + 1);
    expect_fail(rc, AD_ERR_NUMERIC, want, rank == size - 1, "non-finite feature");

    /* A grid larger than the world. */
    ad_clear_error();
    rc = ad_probe_fit(MPI_COMM_WORLD, x, 2, D, y, K, lam, 1, size, 2, w);
    expect_fail(rc, AD_ERR_ARG, "needs", 1, "grid too large");
    ad_clear_error();
    rc = ad_probe_fit(MPI_COMM_WORLD, x, 2, D, y, K, lam, 1, 1, 0, w);
    expect_fail(rc, AD_ERR_ARG, "both sides must be positive", 1, "half-automatic grid");

    /* Negative ridge. */
    double neg = -1.0;
    ad_clear_error();
    rc = ad_probe_fit(MPI_COMM_WORLD, x, 2, D, y, K, &neg, 1, 0, 0, w);
    expect_fail(rc, AD_ERR_ARG, "must be finite and >= 0", 1, "negative lambda");

    /* A constant feature is exactly zero after centring: singular at lambda = 0, fine with a
     * ridge. Every rank reports the same numerical failure. */
    float cx[NR * D];
    memcpy(cx, x, sizeof cx);
    for (int i = 0; i < NR; i++)
        cx[i * D + 1] = 3.0f;
    ad_clear_error();
    rc = ad_probe_fit(MPI_COMM_WORLD, cx, NR, D, y, K, lam + 1, 1, 0, 0, w);
    expect_fail(rc, AD_ERR_NUMERIC, "not positive definite at lambda = 0", 1, "singular");
    rc = ad_probe_fit(MPI_COMM_WORLD, cx, NR, D, y, K, lam, 1, 0, 0, w);
    MT_CHECK(rc == AD_OK, "constant feature with ridge: %s", ad_errmsg());
    if (rc == AD_OK)
        MT_CHECK(fabs(w[1 * K]) < 1e-12 && fabs(w[1 * K + 1]) < 1e-12,
                 "a constant feature got weight %g", w[1 * K]);

    /* Metrics: no class contrast, no rows. */
    float sc[4] = {0.1f, 0.2f, 0.3f, 0.4f}, lab[4] = {0, 0, -1, 0};
    double v;
    ad_clear_error();
    rc = ad_probe_metric_mean_auroc(sc, lab, 4, 1, NULL, &v);
    MT_CHECK(rc == AD_ERR_ARG && strstr(ad_errmsg(), "both classes"), "one-class AUROC: %d %s",
             rc, ad_errmsg());
    lab[2] = 1; /* the unknown row now scores highest: counted as a negative it gives 2/3 */
    lab[3] = -1;
    MT_CHECK(ad_probe_metric_mean_auroc(sc, lab, 4, 1, NULL, &v) == AD_OK && v == 1.0,
             "AUROC with an unknown label: %g", v);
    MT_CHECK(ad_probe_metric_accuracy(sc, lab, 0, 1, NULL, &v) == AD_ERR_ARG,
             "accuracy of nothing accepted");

    double grid[3];
    ad_clear_error();
    MT_CHECK(ad_probe_log_grid(0.0, 1.0, 3, grid) == AD_ERR_ARG, "log grid from 0 accepted");
    MT_CHECK(ad_probe_log_grid(1e-6, 1e3, 3, grid) == AD_OK && grid[0] == 1e-6 &&
                 fabs(grid[1] - pow(10, -1.5)) < 1e-15 && grid[2] == 1e3,
             "log grid %g %g %g", grid[0], grid[1], grid[2]);
}

/* Naive AUROC over all (positive, negative) pairs, ties 1/2. */
static double naive_auroc(const double *s, const float *y, int n, int k, int c)
{
    double num = 0, den = 0;
    for (int p = 0; p < n; p++)
        for (int q = 0; q < n; q++)
            if (y[p * k + c] == 1 && y[q * k + c] == 0) {
                den += 1;
                num += s[p * k + c] > s[q * k + c] ? 1 : s[p * k + c] == s[q * k + c] ? 0.5 : 0;
            }
    return num / den;
}

/* Selection on a validation split: every lambda's metric against one computed here from the
 * reference weights in double (accuracy by arg-max, AUROC by counting pairs). */
static void selection(int multiclass)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { N = 240, NV = 90, D = 12, K = 4, NL = 5 };
    float *x = malloc(sizeof(float) * (N + NV) * D), *y = malloc(sizeof(float) * (N + NV) * K);
    lf_features(x, N + NV, D, 77);
    make_targets(x, N + NV, D, K, multiclass, 78, y);
    double lambdas[NL] = {1e-4, 1e-2, 1e0, 1e2, 1e3}, w[NL * (D + 1) * K], ref[NL * (D + 1) * K];
    int first[8] = {0}, vfirst[8] = {0};
    lf_blocks(N, size, 0, first);
    lf_blocks(NV, size, 1, vfirst);
    int lo = first[rank], cnt = first[rank + 1] - lo, vlo = vfirst[rank] + N,
        vcnt = vfirst[rank + 1] - vfirst[rank];
    int rc = ad_probe_fit(MPI_COMM_WORLD, x + lo * D, cnt, D, y + lo * K, K, lambdas, NL, 0, 0, w);
    MT_CHECK(rc == AD_OK, "fit: %s", ad_errmsg());
    double value[NL];
    int best = -1;
    rc = ad_probe_select(MPI_COMM_WORLD, x + vlo * D, y + vlo * K, vcnt, D, K, w, NL,
                         multiclass ? ad_probe_metric_accuracy : ad_probe_metric_mean_auroc, NULL,
                         value, &best);
    MT_CHECK(rc == AD_OK, "select: %s", ad_errmsg());
    double want[NL], s[NV * K];
    int want_best = 0;
    for (int l = 0; l < NL; l++) {
        double *wr = ref + l * (D + 1) * K;
        ref_fit(x, y, N, D, K, lambdas[l], wr);
        for (int i = 0; i < NV; i++)
            for (int c = 0; c < K; c++) {
                double v = wr[D * K + c];
                for (int j = 0; j < D; j++)
                    v += (double)x[(N + i) * D + j] * wr[j * K + c];
                s[i * K + c] = (float)v; /* the API's scores are floats */
            }
        want[l] = 0;
        for (int c = 0; c < K && !multiclass; c++)
            want[l] += naive_auroc(s, y + N * K, NV, K, c) / K;
        for (int i = 0; i < NV && multiclass; i++) {
            int bs = 0, by = 0;
            for (int c = 1; c < K; c++) {
                bs = s[i * K + c] > s[i * K + bs] ? c : bs;
                by = y[(N + i) * K + c] > y[(N + i) * K + by] ? c : by;
            }
            want[l] += (double)(bs == by) / NV;
        }
        if (want[l] > want[want_best])
            want_best = l;
        if (rc == AD_OK)
            MT_CHECK(fabs(value[l] - want[l]) < 1e-12, "%s lambda %g: %.15g vs %.15g",
                     multiclass ? "accuracy" : "AUROC", lambdas[l], value[l], want[l]);
    }
    if (rc == AD_OK)
        MT_CHECK(best == want_best, "best %d vs %d", best, want_best);
    /* The sweep spans a real range of quality, so the selection is not vacuous. */
    MT_CHECK(want[0] != want[NL - 1], "every lambda scores %g", want[0]);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (lf_too_many_ranks())
        return 1;
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    run_fit(MPI_COMM_WORLD, 157, 13, 3, 0, 0);
    run_fit(MPI_COMM_WORLD, 157, 13, 3, 0, 1);
    run_fit(MPI_COMM_WORLD, 300, 40, 5, 0, 1);
    run_fit(MPI_COMM_WORLD, size > 9 ? size : 9, 13, 2, 1, 0);
    /* Two independent problems at once on halves of the world: grids are relative to the
     * communicator passed, not to MPI_COMM_WORLD. */
    int rank;
    MPI_Comm half;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
    run_fit(half, 101 + 20 * (rank % 2), 11, 3, 0, 0);
    MPI_Comm_free(&half);
    errors();
    selection(1);
    selection(0);
    int rc = mt_finish();
    MPI_Finalize();
    return rc;
}
