/* Nearest x s upsampling against its definition (PyTorch: src index = floor(dst / s)) and
 * its backward against central differences of <g, up(x)>. */
#include "testutil.h"

#include "adaptor/rng.h"
#include "adaptor/upsample.h"

#include <math.h>
#include <stdlib.h>

START_TEST(test_forward_backward)
{
    const int B = 2, H = 3, W = 4, C = 5;
    for (int s = 1; s <= 3; s++) {
        size_t nx = (size_t)B * H * W * C, ny = nx * s * s;
        float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny);
        float *g = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx);
        ad_rng r;
        ad_rng_seed(&r, 4, (uint64_t)s);
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)ad_rng_normal(&r);
        for (size_t i = 0; i < ny; i++)
            g[i] = (float)ad_rng_normal(&r);
        ad_upsample_nearest_forward(y, x, B, H, W, C, s);
        for (int b = 0; b < B; b++)
            for (int oy = 0; oy < H * s; oy++)
                for (int ox = 0; ox < W * s; ox++)
                    for (int c = 0; c < C; c++)
                        ck_assert_float_eq(
                            y[(((size_t)b * H * s + oy) * W * s + ox) * C + c],
                            x[(((size_t)b * H + oy / s) * W + ox / s) * C + c]);
        ad_upsample_nearest_backward(dx, g, B, H, W, C, s);
        double worst = 0;
        for (size_t i = 0; i < nx; i++) {
            float keep = x[i];
            double lp = 0, lm = 0;
            x[i] = keep + 0.5f;
            ad_upsample_nearest_forward(y, x, B, H, W, C, s);
            for (size_t k = 0; k < ny; k++)
                lp += (double)g[k] * y[k];
            x[i] = keep - 0.5f;
            ad_upsample_nearest_forward(y, x, B, H, W, C, s);
            for (size_t k = 0; k < ny; k++)
                lm += (double)g[k] * y[k];
            x[i] = keep;
            worst = fmax(worst, fabs((lp - lm) - dx[i]));
        }
        ck_assert_msg(worst < 1e-5, "s = %d: gradient error %g", s, worst);
        free(x), free(y), free(g), free(dx);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upsample");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_forward_backward);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
