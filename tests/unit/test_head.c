/* Classification losses against PyTorch (tests/ref/losses_ref.py) and finite differences;
 * both heads' parameter gradients against central finite differences of L = sum(w * logits)
 * in training mode, and the evaluation mode of the mlp head against a naive loop. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/head.h"
#include "adaptor/losses.h"
#include "adaptor/rng.h"
#include "adaptor/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 6, K = 4 };

static void read2(ad_safetensors *st, const char *name, int ndim, int64_t d0, int64_t d1,
                  float *dst)
{
    int64_t shape[2] = {d0, d1};
    tu_assert_ok(ad_st_read_f32(st, name, ndim, shape, dst));
}

START_TEST(test_losses_vs_torch)
{
    char path[4096];
    tu_data_path(path, sizeof path, "losses/losses.safetensors");
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    float z[N * K], yf[N * K], want[N * K], loss, g[N * K];
    int8_t y[N * K];
    read2(st, "bce_z", 2, N, K, z);
    read2(st, "bce_y", 2, N, K, yf);
    read2(st, "bce_loss", 1, 1, 0, &loss);
    read2(st, "bce_grad", 2, N, K, want);
    int known = 0;
    for (int i = 0; i < N * K; i++) {
        y[i] = (int8_t)yf[i];
        known += y[i] >= 0;
    }
    double l = ad_bce_logits(z, y, N * K, 1.0 / known, g);
    ck_assert_msg(fabs(l - loss) < 1e-6 * fmax(1, fabs(loss)), "bce %g vs torch %g", l, loss);
    ck_assert_msg(tu_max_rel_err(g, want, N * K) < 1e-6, "bce gradient");
    int32_t c[N];
    read2(st, "ce_z", 2, N, K, z);
    read2(st, "ce_y", 1, N, 0, yf);
    read2(st, "ce_loss", 1, 1, 0, &loss);
    read2(st, "ce_grad", 2, N, K, want);
    for (int i = 0; i < N; i++)
        c[i] = (int32_t)yf[i];
    l = ad_cross_entropy(z, c, N, K, 1.0 / N, g);
    ck_assert_msg(fabs(l - loss) < 1e-6 * fmax(1, fabs(loss)), "ce %g vs torch %g", l, loss);
    ck_assert_msg(tu_max_rel_err(g, want, N * K) < 1e-6, "ce gradient");
    ad_st_close(st);
}
END_TEST

/* The losses' gradients against central differences (in double, small logits). */
START_TEST(test_losses_finite_differences)
{
    float z[N * K], g[N * K];
    int8_t y[N * K];
    int32_t c[N];
    ad_rng r;
    ad_rng_seed(&r, 9, 1);
    for (int i = 0; i < N * K; i++) {
        z[i] = 4 * ad_rng_uniform(&r) - 2;
        y[i] = (int8_t)(ad_rng_below(&r, 3) - 1);
    }
    for (int i = 0; i < N; i++)
        c[i] = (int32_t)ad_rng_below(&r, K);
    c[1] = -1; /* left out */
    for (int which = 0; which < 2; which++) {
        if (which == 0)
            ad_bce_logits(z, y, N * K, 0.5, g);
        else
            ad_cross_entropy(z, c, N, K, 0.5, g);
        for (int i = 0; i < N * K; i++) {
            float keep = z[i], h = 1e-2f;
            z[i] = keep + h;
            double lp = which ? ad_cross_entropy(z, c, N, K, 0.5, NULL)
                              : ad_bce_logits(z, y, N * K, 0.5, NULL);
            z[i] = keep - h;
            double lm = which ? ad_cross_entropy(z, c, N, K, 0.5, NULL)
                              : ad_bce_logits(z, y, N * K, 0.5, NULL);
            z[i] = keep;
            double num = (lp - lm) / (2 * h);
            ck_assert_msg(fabs(num - g[i]) < 1e-4, "%s dz[%d] %g vs fd %g",
                          which ? "ce" : "bce", i, g[i], num);
        }
    }
}
END_TEST

static double weighted(ad_head *h, const float *x, int b, const float *w, uint64_t seed)
{
    float out[64];
    ad_rng r;
    ad_rng_seed(&r, seed, 2); /* the same dropout mask every call */
    ck_assert_int_eq(ad_head_forward(h, x, b, out, &r, MPI_COMM_NULL), AD_OK);
    double l = 0;
    for (int i = 0; i < b * h->cfg.out; i++)
        l += (double)w[i] * out[i];
    return l;
}

static void check_head(ad_head_kind kind, float dropout)
{
    enum { B = 5, IN = 4, H = 6, OUT = 3 };
    ad_head_config c = {kind, IN, H, OUT, dropout, 1e-5f, 0.1f};
    ad_head *h;
    tu_assert_ok(ad_head_create(&c, &h));
    ad_head_init(h, 3);
    float x[B * IN], w[B * OUT], out[B * OUT];
    ad_rng r;
    ad_rng_seed(&r, 4, 4);
    for (int i = 0; i < B * IN; i++)
        x[i] = 2 * ad_rng_uniform(&r) - 1;
    for (int i = 0; i < B * OUT; i++)
        w[i] = 2 * ad_rng_uniform(&r) - 1;
    if (kind == AD_HEAD_MLP) /* non-trivial BN affine parameters */
        for (int j = 0; j < H; j++) {
            h->bn_g[j] = 0.5f + 0.2f * (float)j;
            h->bn_b[j] = 0.1f * (float)j - 0.2f;
        }
    memset(h->grads, 0, h->nparams * sizeof(float));
    weighted(h, x, B, w, 7);
    tu_assert_ok(ad_head_backward(h, w, MPI_COMM_NULL));
    double scale = 0;
    for (size_t i = 0; i < h->nparams; i++)
        scale = fmax(scale, fabs(h->grads[i]));
    ck_assert(scale > 1e-2);
    for (size_t i = 0; i < h->nparams; i++) {
        float keep = h->params[i], e = 1e-2f;
        h->params[i] = keep + e;
        double lp = weighted(h, x, B, w, 7);
        h->params[i] = keep - e;
        double lm = weighted(h, x, B, w, 7);
        h->params[i] = keep;
        double num = (lp - lm) / (2 * e);
        ck_assert_msg(fabs(num - h->grads[i]) < 3e-3 * scale, "%s head param %zu: %g vs fd %g",
                      kind ? "mlp" : "linear", i, h->grads[i], num);
    }
    if (kind == AD_HEAD_MLP) {
        /* Evaluation: running statistics, naive loop. */
        for (int j = 0; j < H; j++) {
            h->running[j] = 0.1f * (float)j;
            h->running[H + j] = 0.5f + 0.1f * (float)j;
        }
        tu_assert_ok(ad_head_forward(h, x, B, out, NULL, MPI_COMM_NULL));
        for (int i = 0; i < B; i++)
            for (int k = 0; k < OUT; k++) {
                double s = h->b2[k];
                for (int j = 0; j < H; j++) {
                    double a = h->b1[j];
                    for (int d = 0; d < IN; d++)
                        a += (double)x[i * IN + d] * h->w1[j * IN + d];
                    a = (a - h->running[j]) / sqrt(h->running[H + j] + 1e-5) * h->bn_g[j] +
                        h->bn_b[j];
                    s += (a > 0 ? a : 0) * h->w2[k * H + j];
                }
                ck_assert_msg(fabs(s - out[i * OUT + k]) < 1e-5, "mlp eval [%d,%d]", i, k);
            }
    }
    ad_head_destroy(h);
}

START_TEST(test_heads_finite_differences)
{
    check_head(AD_HEAD_LINEAR, 0.0f);
    check_head(AD_HEAD_LINEAR, 0.3f);
    check_head(AD_HEAD_MLP, 0.0f);
}
END_TEST

START_TEST(test_head_bad_config)
{
    ad_head *h;
    ad_head_config c = {AD_HEAD_MLP, 4, 0, 2, 0, 1e-5f, 0.1f};
    tu_assert_fails(ad_head_create(&c, &h), AD_ERR_ARG, "hidden 0");
    ad_head_kind k;
    tu_assert_fails(ad_head_parse_kind("svm", &k), AD_ERR_CONFIG, "svm");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("head");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_losses_vs_torch);
    tcase_add_test(tc, test_losses_finite_differences);
    tcase_add_test(tc, test_heads_finite_differences);
    tcase_add_test(tc, test_head_bad_config);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
