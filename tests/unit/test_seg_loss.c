/* MGCA's mixed focal / Dice loss and the Dice / IoU metrics: against the PyTorch restatement
 * of MGCA's code (tests/ref/segdecoder_ref.py, autograd gradient), against central
 * differences, and metrics on hand-made masks. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/rng.h"
#include "adaptor/safetensors.h"
#include "adaptor/seg_loss.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *read_all(const ad_safetensors *st, const char *name, size_t *n)
{
    const ad_st_tensor *t = ad_st_find(st, name);
    ck_assert_msg(t != NULL, "missing '%s'", name);
    float *v = malloc(sizeof(float) * (size_t)t->numel);
    ck_assert_ptr_nonnull(v);
    tu_assert_ok(ad_st_read_f32(st, name, t->ndim, t->shape, v));
    *n = (size_t)t->numel;
    return v;
}

START_TEST(test_against_torch)
{
    char path[4096];
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    snprintf(path, sizeof path, "%s/segdecoder_ref/seg_loss_io.safetensors", tmp ? tmp : "/tmp");
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    size_t n, m, k, q;
    float *x = read_all(st, "x", &n), *t = read_all(st, "t", &m), *dx_ref = read_all(st, "dx", &k);
    float *parts = read_all(st, "parts", &q), *get_dice = read_all(st, "get_dice", &q);
    ck_assert_uint_eq(n, m);
    float *dx = malloc(sizeof(float) * n);
    ad_seg_loss_parts p;
    tu_assert_ok(ad_seg_mixed_loss(x, t, n, 10.0f, 2.0f, dx, &p, NULL));
    ck_assert_msg(fabs(p.loss - parts[0]) < 1e-5 * fabs(parts[0]), "loss %g vs %g", p.loss,
                  (double)parts[0]);
    ck_assert_msg(fabs(p.focal - parts[1]) < 1e-5 * fabs(parts[1]), "focal %g", p.focal);
    ck_assert_msg(fabs(p.dice - parts[2]) < 1e-5 * fabs(parts[2]), "dice %g", p.dice);
    ck_assert_double_lt(tu_max_rel_err(dx, dx_ref, n), 1e-5);
    /* MGCA's get_dice over the batch = mean of per-image Dice (4 images of 81 pixels) */
    ad_seg_counts c = {0};
    ad_seg_counts_add(&c, x, t, 4, n / 4);
    ck_assert_msg(fabs(ad_seg_mean_dice(&c) - get_dice[0]) < 1e-6, "mean dice %g vs %g",
                  ad_seg_mean_dice(&c), (double)get_dice[0]);
    free(x), free(t), free(dx_ref), free(parts), free(get_dice), free(dx);
    ad_st_close(st);
}
END_TEST

START_TEST(test_finite_differences)
{
    enum { N = 40 };
    float x[N], t[N], dx[N];
    ad_rng r;
    ad_rng_seed(&r, 9, 1);
    for (int i = 0; i < N; i++) {
        x[i] = (float)(3 * ad_rng_normal(&r));
        t[i] = i % 3 == 0 ? 1.0f : i % 7 == 0 ? 0.25f : 0.0f; /* soft targets too */
    }
    ad_seg_loss_parts p, lp, lm;
    tu_assert_ok(ad_seg_mixed_loss(x, t, N, 10.0f, 2.0f, dx, &p, NULL));
    double worst = 0;
    for (int i = 0; i < N; i++) {
        float keep = x[i];
        x[i] = keep + 1e-2f;
        tu_assert_ok(ad_seg_mixed_loss(x, t, N, 10.0f, 2.0f, NULL, &lp, NULL));
        x[i] = keep - 1e-2f;
        tu_assert_ok(ad_seg_mixed_loss(x, t, N, 10.0f, 2.0f, NULL, &lm, NULL));
        x[i] = keep;
        double fd = (lp.loss - lm.loss) / (double)((keep + 1e-2f) - (keep - 1e-2f));
        worst = fmax(worst, fabs(fd - dx[i]) / fmax(1e-3, fabs(dx[i])));
    }
    ck_assert_msg(worst < 1e-3, "relative gradient error %g", worst);
    /* extreme logits stay finite */
    float big[2] = {80.0f, -80.0f}, tb[2] = {0.0f, 1.0f}, db[2];
    tu_assert_ok(ad_seg_mixed_loss(big, tb, 2, 10.0f, 2.0f, db, &p, NULL));
    ck_assert(isfinite(p.loss) && isfinite(db[0]) && isfinite(db[1]));
    ck_assert_double_gt(p.loss, 100.0);
}
END_TEST

/* 2 images of 2 x 3 pixels, counts by hand. */
START_TEST(test_metrics)
{
    /* image 0: P = {0,1,2}, T = {1,2,3} -> |P∩T| = 2: Dice 4/6, IoU 2/4.
     * image 1: T empty, P = {5}: Dice 0, IoU 0 (MGCA's rule). */
    float x[12] = {1, 2, 3, -1, -2, -3, -1, -1, -1, -1, -1, 0.5f};
    float t[12] = {0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0.4f, 0};
    double dice, iou;
    ad_seg_image_metrics(x, t, 6, &dice, &iou);
    ck_assert_double_eq_tol(dice, 4.0 / 6, 1e-12);
    ck_assert_double_eq_tol(iou, 0.5, 1e-12);
    ad_seg_counts c = {0};
    ad_seg_counts_add(&c, x, t, 2, 6);
    ck_assert_double_eq_tol(ad_seg_mean_dice(&c), (4.0 / 6 + 0) / 2, 1e-12);
    ck_assert_double_eq_tol(ad_seg_mean_iou(&c), 0.25, 1e-12);
    /* pooled: |P∩T| = 2, |P| = 4, |T| = 3 */
    ck_assert_double_eq_tol(ad_seg_global_dice(&c), 4.0 / 7, 1e-12);
    ck_assert_double_eq_tol(ad_seg_global_iou(&c), 2.0 / 5, 1e-12);
    /* empty truth, nothing predicted: 1 */
    float neg[3] = {-1, -2, -3}, zero[3] = {0, 0, 0};
    ad_seg_image_metrics(neg, zero, 3, &dice, &iou);
    ck_assert_double_eq(dice, 1.0);
    ck_assert_double_eq(iou, 1.0);
    ad_seg_counts e = {0};
    ck_assert_double_eq(ad_seg_mean_dice(&e), 0.0);
    tu_assert_ok(ad_seg_counts_sum(&c, NULL));
    ck_assert_double_eq(c.images, 2.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("seg_loss");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_against_torch);
    tcase_add_test(tc, test_finite_differences);
    tcase_add_test(tc, test_metrics);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
