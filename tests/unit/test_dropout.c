/* Inverted dropout: kept units are scaled by exactly 1/(1-p) and dropped ones are 0, the
 * dropped fraction matches p (binomial bounds), p = 0 keeps everything, the mask-less call
 * draws the same mask from the same stream, and the backward multiplies by that mask. */
#include "testutil.h"

#include "adaptor/dropout.h"
#include "adaptor/rng.h"

#include <math.h>
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
        long dropped = 0;
        for (int i = 0; i < N; i++) {
            ck_assert_msg(mask[i] == 0.0f || mask[i] == keep, "p %g: mask[%d] = %g", p, i,
                          mask[i]);
            ck_assert_msg(y[i] == x[i] * mask[i], "p %g: y[%d]", p, i);
            dropped += mask[i] == 0.0f;
        }
        double sd = sqrt((double)N * p * (1 - p)) + 1;
        ck_assert_msg(fabs((double)dropped - (double)N * p) < 6 * sd,
                      "p %g: %ld of %d dropped", p, dropped, N);
        memcpy(dx, dy, N * sizeof *dx);
        ad_dropout_backward(dx, mask, N);
        for (int i = 0; i < N; i++)
            ck_assert_msg(dx[i] == (mask[i] == 0.0f ? 0.0f : dy[i] * keep), "p %g: dx[%d]", p,
                          i);
    }
    free(x), free(y), free(y2), free(mask), free(dy), free(dx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_forward_backward);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
