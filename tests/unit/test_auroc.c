/* AUROC against a brute-force count over all (positive, negative) pairs, with scores drawn
 * from a few levels so that ties are everywhere; the zero-shot helper against cosines
 * computed naively in double and the same brute force. */
#include "testutil.h"

#include "adaptor/auroc.h"
#include "adaptor/error.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* (#pos > neg + 1/2 #pos == neg) / (npos nneg), skipping label -1. */
static double brute(const double *s, const int8_t *y, int n)
{
    double u = 0, pairs = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if (y[a] == 1 && y[b] == 0) {
                u += s[a] > s[b] ? 1.0 : s[a] == s[b] ? 0.5 : 0.0;
                pairs++;
            }
    return u / pairs;
}

START_TEST(ties_against_brute_force)
{
    enum { N = 1500 };
    static float s[N];
    static double sd[N];
    static int8_t y[N];
    ad_rng r;
    for (int trial = 0; trial < 12; trial++) {
        ad_rng_seed(&r, 11, (uint64_t)trial);
        int levels = 1 + trial * 3; /* trial 0: all scores equal */
        for (int i = 0; i < N; i++) {
            int lv = (int)ad_rng_below(&r, (uint64_t)levels);
            /* Informative but noisy labels; some uncertain (-1) rows left out. */
            double pr = 0.2 + 0.6 * lv / (levels > 1 ? levels - 1 : 1);
            y[i] = (int8_t)(ad_rng_uniform_d(&r) < pr);
            if (trial % 3 == 2 && ad_rng_below(&r, 10) == 0)
                y[i] = -1;
            s[i] = (float)(lv * 0.25 - 1.0);
            sd[i] = s[i];
        }
        double got, want = brute(sd, y, N);
        tu_assert_ok(ad_auroc(s, y, N, "finding", &got));
        ck_assert_msg(fabs(got - want) < 1e-12, "trial %d: %.17g vs brute force %.17g", trial, got,
                      want);
        if (trial == 0)
            ck_assert(got == 0.5);
    }
}
END_TEST

START_TEST(perfect_and_reversed)
{
    const float s[] = {0.1f, 0.9f, 0.3f, 0.8f};
    const int8_t y[] = {0, 1, 0, 1}, yr[] = {1, 0, 1, 0};
    double a;
    tu_assert_ok(ad_auroc(s, y, 4, NULL, &a));
    ck_assert(a == 1.0);
    tu_assert_ok(ad_auroc(s, yr, 4, NULL, &a));
    ck_assert(a == 0.0);
}
END_TEST

START_TEST(errors)
{
    const float s[] = {0.1f, 0.9f, 0.3f};
    const int8_t one[] = {1, 1, -1}, bad[] = {0, 2, 1}, ok[] = {0, 1, 1};
    double a;
    tu_assert_fails(ad_auroc(s, one, 3, "Edema", &a), AD_ERR_ARG,
                    "Edema: AUROC needs both classes (2 positive, 0 negative)");
    tu_assert_fails(ad_auroc(s, bad, 3, "Edema", &a), AD_ERR_FORMAT, "label 2 at row 1");
    const float sn[] = {0.1f, NAN, 0.3f};
    tu_assert_fails(ad_auroc(sn, ok, 3, "Edema", &a), AD_ERR_NUMERIC, "row 1 is not finite");
}
END_TEST

START_TEST(zeroshot_against_naive)
{
    enum { N = 300, P = 16, L = 3 };
    static float img[N * P], pos[L * P], neg[L * P];
    static int8_t lab[N * L];
    static double sc[N];
    static int8_t col[N];
    ad_rng r;
    ad_rng_seed(&r, 5, 0);
    for (int i = 0; i < L * P; i++) {
        pos[i] = (float)ad_rng_normal(&r);
        neg[i] = (float)ad_rng_normal(&r);
    }
    /* Unnormalised images (cosines must not care); labels follow the true margin with
     * noise so the AUROC is far from 0.5. */
    for (int i = 0; i < N; i++) {
        double scale = 0.1 + 5 * ad_rng_uniform_d(&r);
        for (int x = 0; x < P; x++)
            img[i * P + x] = (float)(scale * ad_rng_normal(&r));
    }
    double want[L];
    for (int k = 0; k < L; k++) {
        for (int i = 0; i < N; i++) {
            double d = 0, np = 0, nn = 0, ni = 0, dn = 0;
            for (int x = 0; x < P; x++) {
                d += (double)img[i * P + x] * pos[k * P + x];
                dn += (double)img[i * P + x] * neg[k * P + x];
                np += (double)pos[k * P + x] * pos[k * P + x];
                nn += (double)neg[k * P + x] * neg[k * P + x];
                ni += (double)img[i * P + x] * img[i * P + x];
            }
            sc[i] = d / sqrt(ni * np) - dn / sqrt(ni * nn);
            lab[i * L + k] = (int8_t)(sc[i] + 0.3 * ad_rng_normal(&r) > 0);
            col[i] = lab[i * L + k];
        }
        want[k] = brute(sc, col, N);
        ck_assert(want[k] > 0.7);
    }
    double auc[L], mean;
    static const char *const names[] = {"A", "B", "C"};
    tu_assert_ok(ad_zeroshot_auroc(img, N, P, pos, neg, lab, L, names, auc, &mean));
    for (int k = 0; k < L; k++)
        ck_assert_msg(fabs(auc[k] - want[k]) < 1e-9, "label %d: %.17g vs %.17g", k, auc[k],
                      want[k]);
    ck_assert(fabs(mean - (want[0] + want[1] + want[2]) / 3) < 1e-9);
    /* A label column with one class is named. */
    for (int i = 0; i < N; i++)
        lab[i * L + 1] = 0;
    tu_assert_fails(ad_zeroshot_auroc(img, N, P, pos, neg, lab, L, names, auc, &mean), AD_ERR_ARG,
                    "B: AUROC needs both classes");
    memset(img + 7 * P, 0, sizeof(float) * P);
    tu_assert_fails(ad_zeroshot_auroc(img, N, P, pos, neg, lab, L, names, auc, &mean),
                    AD_ERR_NUMERIC, "image embedding row 7 has norm 0");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("auroc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ties_against_brute_force);
    tcase_add_test(tc, perfect_and_reversed);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, zeroshot_against_naive);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
