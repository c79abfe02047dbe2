/* Inverted dropout: kept units are scaled by exactly 1/(1-p) and dropped ones are 0, the
 * dropped fraction matches p (binomial bounds), p = 0 keeps everything, the mask-less call
 * draws the same mask from the same stream, and the backward multiplies by that mask. */
#include "testutil.h"

#include "adaptor/dropout.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { N = 40003 }; /* not a multiple of 4: the last draw is partly used */

START_TEST(test_forward_backward)
{
    float *x = tu_rand_uniform(N, 0.5f, 1.5f, 7, 1), *y = malloc(N * sizeof *y);
    float *y2 = malloc(N * sizeof *y2), *mask = malloc(N * sizeof *mask);
    float *dy = tu_rand_uniform(N, -1, 1, 7, 2), *dx = malloc(N * sizeof *dx);
    const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
    for (int t = 0; t < 4; t++) {
        float p = ps[t], keep = 1.0f / (1.0f - p);
        ad_rng r1, r2;
        ad_rng_seed(&r1, 3, 9);
        ad_rng_seed(&r2, 3, 9);
        memcpy(y, x, N * sizeof *y);
        memcpy(y2, x, N * sizeof *y2);
        ad_dropout_forward(y, mask, N, p, &r1);
        ad_dropout_forward(y2, NULL, N, p, &r2);
        ck_assert_msg(memcmp(y, y2, N * sizeof *y) == 0, "p %g: mask-less call differs", p);
        ck_assert_msg(ad_rng_u64(&r1) == ad_rng_u64(&r2), "p %g: draws consumed differ", p);
        /* one assertion per check, naming the first bad element: a ck_assert per element
         * costs ~30 s under ASan on a loaded machine */
        long dropped = 0;
        int bad_mask = -1, bad_y = -1, bad_dx = -1;
        for (int i = 0; i < N; i++) {
            if (bad_mask < 0 && !(mask[i] == 0.0f || mask[i] == keep))
                bad_mask = i;
            if (bad_y < 0 && !(y[i] == x[i] * mask[i]))
                bad_y = i;
            dropped += mask[i] == 0.0f;
        }
        ck_assert_msg(bad_mask < 0, "p %g: mask[%d] = %g", p, bad_mask,
                      mask[bad_mask < 0 ? 0 : bad_mask]);
        ck_assert_msg(bad_y < 0, "p %g: y[%d]", p, bad_y);
        double sd = sqrt((double)N * p * (1 - p)) + 1;
        ck_assert_msg(fabs((double)dropped - (double)N * p) < 6 * sd,
                      "p %g: %ld of %d dropped", p, dropped, N);
        memcpy(dx, dy, N * sizeof *dx);
        ad_dropout_backward(dx, mask, N);
        for (int i = 0; i < N && bad_dx < 0; i++)
            if (!(dx[i] == (mask[i] == 0.0f ? 0.0f : dy[i] * keep)))
                bad_dx = i;
        ck_assert_msg(bad_dx < 0, "p %g: dx[%d]", p, bad_dx);
    }
    free(x), free(y), free(y2), free(mask), free(dy), free(dx);
}
END_TEST

/* The mask against a naive loop that draws it itself: element i takes bits 16 (i % 4) of
 * the (i / 4)-th draw, over a length (2709) that is not a multiple of 4 and spans the
 * kernel's internal chunks; p = 0 draws nothing and keeps every unit. */
START_TEST(test_dropout_draws)
{
    enum { LEN = 9 * 301 };
    float *x = tu_rand_uniform(LEN, -1, 1, 8, 1);
    float *y = malloc(LEN * sizeof *y), *mask = malloc(LEN * sizeof *mask);
    const float ps[] = {0.0f, 0.25f};
    for (int t = 0; t < 2; t++) {
        float p = ps[t], keep = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
        uint32_t thr = (uint32_t)(p * 65536.0f + 0.5f);
        ad_rng r1, r2;
        ad_rng_seed(&r1, 5, 11);
        ad_rng_seed(&r2, 5, 11);
        memcpy(y, x, LEN * sizeof *y);
        ad_dropout_forward(y, mask, LEN, p, &r1);
        uint64_t draw = 0;
        for (size_t i = 0; i < LEN; i++) {
            if (p > 0 && i % 4 == 0)
                draw = ad_rng_u64(&r2);
            float s = p > 0 && ((draw >> (16 * (i % 4))) & 0xFFFF) < thr ? 0.0f : keep;
            if (mask[i] != s || y[i] != x[i] * s)
                ck_abort_msg("p %g: element %zu: mask %g (want %g), y %g (want %g)", p, i,
                             mask[i], s, y[i], x[i] * s);
        }
        ck_assert_msg(ad_rng_u64(&r1) == ad_rng_u64(&r2), "p %g: draws consumed differ", p);
    }
    free(x), free(y), free(mask);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_forward_backward);
    tcase_add_test(tc, test_dropout_draws);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
