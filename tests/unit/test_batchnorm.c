/* Batch normalisation against a naive double-precision loop (statistics, output, PyTorch's
 * running-statistics update) and its backward pass against central finite differences of
 * L = sum(w * y) with respect to x, gamma and beta. The reduction contract without MPI: a
 * reduction that stands for two ranks holding the same rows leaves the output and input
 * gradient bit-equal and counts 2 x rows in the running variance; a failing reduction's
 * status and message come back. */
#include "testutil.h"

#include "adaptor/batchnorm.h"
#include "adaptor/error.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 7, C = 3 };

static void fill(float *p, size_t n, float lo, float hi, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 5);
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (float)ad_rng_uniform(&r);
}

typedef struct bn_bufs {
    float xhat[ROWS * C], mean[C], rstd[C];
    ad_batchnorm_cache c;
} bn_bufs;

static void bufs_init(bn_bufs *b)
{
    b->c.xhat = b->xhat;
    b->c.mean = b->mean;
    b->c.rstd = b->rstd;
}

START_TEST(test_forward_and_running_stats)
{
    float x[ROWS * C], y[ROWS * C], g[C], be[C];
    fill(x, ROWS * C, -2, 3, 1);
    fill(g, C, 0.5f, 1.5f, 2);
    fill(be, C, -1, 1, 3);
    float rm[C] = {0, 0, 0}, rv[C] = {1, 1, 1};
    double rm_ref[C] = {0, 0, 0}, rv_ref[C] = {1, 1, 1};
    bn_bufs b;
    bufs_init(&b);
    const float eps = 1e-5f, mom = 0.1f;
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < ROWS * C; i++)
            x[i] += 0.5f * (float)step; /* a second, shifted batch */
        tu_assert_ok(ad_batchnorm_forward_train(y, &b.c, x, g, be, rm, rv, ROWS, C, eps, mom,
                                                NULL));
        ck_assert(b.c.count == ROWS);
        for (int j = 0; j < C; j++) {
            double m = 0, v = 0;
            for (int r = 0; r < ROWS; r++)
                m += x[r * C + j];
            m /= ROWS;
            for (int r = 0; r < ROWS; r++)
                v += (x[r * C + j] - m) * (x[r * C + j] - m);
            double vb = v / ROWS, vu = v / (ROWS - 1);
            for (int r = 0; r < ROWS; r++) {
                double ref = (x[r * C + j] - m) / sqrt(vb + eps) * g[j] + be[j];
                ck_assert_msg(fabs(y[r * C + j] - ref) < 1e-5, "y[%d,%d] %g vs %g", r, j,
                              y[r * C + j], ref);
            }
            /* torch.nn.BatchNorm1d: running = (1 - momentum) running + momentum stat,
             * with the unbiased variance. */
            rm_ref[j] = 0.9 * rm_ref[j] + 0.1 * m;
            rv_ref[j] = 0.9 * rv_ref[j] + 0.1 * vu;
            ck_assert_msg(fabs(rm[j] - rm_ref[j]) < 1e-6, "running_mean[%d]", j);
            ck_assert_msg(fabs(rv[j] - rv_ref[j]) < 1e-5, "running_var[%d]", j);
        }
    }
    /* Evaluation mode normalises with the running statistics. */
    ad_batchnorm_forward_eval(y, x, g, be, rm, rv, ROWS, C, eps);
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < C; j++) {
            double ref = (x[r * C + j] - rm_ref[j]) / sqrt(rv_ref[j] + eps) * g[j] + be[j];
            ck_assert_msg(fabs(y[r * C + j] - ref) < 1e-5, "eval y[%d,%d]", r, j);
        }
}
END_TEST

static double loss(const float *x, const float *g, const float *be, const float *w)
{
    float y[ROWS * C];
    bn_bufs b;
    bufs_init(&b);
    ck_assert_int_eq(ad_batchnorm_forward_train(y, &b.c, x, g, be, NULL, NULL, ROWS, C, 1e-5f,
                                                0.1f, NULL),
                     AD_OK);
    double l = 0;
    for (int i = 0; i < ROWS * C; i++)
        l += (double)w[i] * y[i];
    return l;
}

/* Central differences of loss() in parameter p[i]. */
static double fd(float *p, int i, const float *x, const float *g, const float *be,
                 const float *w)
{
    const float h = 1e-2f;
    float keep = p[i];
    p[i] = keep + h;
    double lp = loss(x, g, be, w);
    p[i] = keep - h;
    double lm = loss(x, g, be, w);
    p[i] = keep;
    return (lp - lm) / (2.0 * h);
}

START_TEST(test_backward_finite_differences)
{
    float x[ROWS * C], g[C], be[C], w[ROWS * C], y[ROWS * C];
    fill(x, ROWS * C, -2, 2, 11);
    fill(g, C, 0.5f, 1.5f, 12);
    fill(be, C, -1, 1, 13);
    fill(w, ROWS * C, -1, 1, 14);
    bn_bufs b;
    bufs_init(&b);
    tu_assert_ok(ad_batchnorm_forward_train(y, &b.c, x, g, be, NULL, NULL, ROWS, C, 1e-5f,
                                            0.1f, NULL));
    float dx[ROWS * C], dg[C] = {0.25f, 0.25f, 0.25f}, db[C] = {0.5f, 0.5f, 0.5f};
    memcpy(dx, w, sizeof dx); /* dx aliases dy */
    tu_assert_ok(ad_batchnorm_backward(dx, dg, db, dx, &b.c, g, ROWS, C, NULL));
    double scale = 0;
    for (int i = 0; i < ROWS * C; i++)
        scale = fmax(scale, fabs(dx[i]));
    ck_assert(scale > 1e-3);
    for (int i = 0; i < ROWS * C; i++) {
        double num = fd(x, i, x, g, be, w);
        ck_assert_msg(fabs(dx[i] - num) < 2e-3 * scale + 1e-4, "dx[%d] %g vs fd %g", i, dx[i],
                      num);
    }
    /* dgamma / dbeta accumulate onto what was there. */
    for (int j = 0; j < C; j++) {
        double ng = fd(g, j, x, g, be, w), nb = fd(be, j, x, g, be, w);
        ck_assert_msg(fabs(dg[j] - 0.25f - ng) < 2e-3 * fmax(1, fabs(ng)), "dgamma[%d]", j);
        ck_assert_msg(fabs(db[j] - 0.5f - nb) < 2e-3 * fmax(1, fabs(nb)), "dbeta[%d]", j);
    }
}
END_TEST

/* Sums as if a second rank held the same rows: every sum doubles (exact in binary). */
static int twice(double *v, int n, void *ctx)
{
    ++*(int *)ctx;
    for (int i = 0; i < n; i++)
        v[i] *= 2;
    return AD_OK;
}

static int broken(double *v, int n, void *ctx)
{
    return ad_fail(AD_ERR_MPI, "link down");
}

START_TEST(test_reduction)
{
    float x[ROWS * C], g[C], be[C], w[ROWS * C];
    fill(x, ROWS * C, -2, 2, 21);
    fill(g, C, 0.5f, 1.5f, 22);
    fill(be, C, -1, 1, 23);
    fill(w, ROWS * C, -1, 1, 24);
    bn_bufs b1, b2;
    bufs_init(&b1);
    bufs_init(&b2);
    float y1[ROWS * C], y2[ROWS * C], d1[ROWS * C], d2[ROWS * C];
    float rm1[C] = {0}, rv1[C] = {1, 1, 1}, rm2[C] = {0}, rv2[C] = {1, 1, 1};
    int calls = 0;
    ad_reduce red = {twice, &calls};
    tu_assert_ok(ad_batchnorm_forward_train(y1, &b1.c, x, g, be, rm1, rv1, ROWS, C, 1e-5f,
                                            0.1f, NULL));
    tu_assert_ok(ad_batchnorm_forward_train(y2, &b2.c, x, g, be, rm2, rv2, ROWS, C, 1e-5f,
                                            0.1f, &red));
    ck_assert(calls == 1 && b2.c.count == 2 * ROWS);
    ck_assert(memcmp(y1, y2, sizeof y1) == 0);
    for (int j = 0; j < C; j++) {
        double m = 0, v = 0;
        for (int r = 0; r < ROWS; r++)
            m += x[r * C + j] / (double)ROWS;
        for (int r = 0; r < ROWS; r++)
            v += (x[r * C + j] - m) * (x[r * C + j] - m);
        ck_assert(rm1[j] == rm2[j]);
        /* unbiased over 2 ROWS values: 2 v / (2 ROWS - 1) */
        ck_assert_msg(fabs(rv2[j] - (0.9 + 0.1 * 2 * v / (2 * ROWS - 1))) < 1e-5,
                      "running var %d: %g", j, rv2[j]);
    }
    memcpy(d1, w, sizeof d1);
    memcpy(d2, w, sizeof d2);
    float dg1[C] = {0}, db1[C] = {0}, dg2[C] = {0}, db2[C] = {0};
    tu_assert_ok(ad_batchnorm_backward(d1, dg1, db1, d1, &b1.c, g, ROWS, C, NULL));
    tu_assert_ok(ad_batchnorm_backward(d2, dg2, db2, d2, &b2.c, g, ROWS, C, &red));
    ck_assert(calls == 2);
    ck_assert(memcmp(d1, d2, sizeof d1) == 0);
    /* parameter gradients stay this rank's own (the trainer sums them) */
    ck_assert(memcmp(dg1, dg2, sizeof dg1) == 0 && memcmp(db1, db2, sizeof db1) == 0);
    ad_reduce bad = {broken, NULL};
    tu_assert_fails(ad_batchnorm_forward_train(y2, &b2.c, x, g, be, NULL, NULL, ROWS, C, 1e-5f,
                                               0.1f, &bad),
                    AD_ERR_MPI, "batchnorm: sum of the batch statistics: link down");
    tu_assert_fails(ad_batchnorm_backward(d2, dg2, db2, d2, &b1.c, g, ROWS, C, &bad), AD_ERR_MPI,
                    "batchnorm: sum of the gradient sums: link down");
}
END_TEST

START_TEST(test_single_row_rejected)
{
    float x[C] = {1, 2, 3}, y[C], g[C] = {1, 1, 1}, be[C] = {0, 0, 0};
    bn_bufs b;
    bufs_init(&b);
    tu_assert_fails(ad_batchnorm_forward_train(y, &b.c, x, g, be, NULL, NULL, 1, C, 1e-5f,
                                               0.1f, NULL),
                    AD_ERR_ARG, "more than 1 value per channel");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_forward_and_running_stats);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_reduction);
    tcase_add_test(tc, test_single_row_rejected);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
