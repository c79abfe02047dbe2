/* The one-output-channel convolution against the im2col + GEMM convolution (itself checked
 * against direct loops in test_conv2d.c): forward, input / weight / bias gradients, padded,
 * unpadded and strided, channel counts around the 16-wide unrolled dot product. */
#include "testutil.h"

#include "adaptor/conv2d_single.h"
#include "adaptor/rng.h"

#include <stdlib.h>

START_TEST(test_against_gemm_path)
{
    static const ad_conv2d_desc cases[] = {
        {64, 1, 3, 3, 1, 1}, {5, 1, 3, 3, 1, 0}, {17, 1, 3, 3, 2, 1}, {33, 1, 2, 3, 1, 0},
        {16, 1, 1, 1, 1, 0},
    };
    int B = 2, ih = 9, iw = 7;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ad_conv2d_desc *d = &cases[c];
        int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
        int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad);
        size_t nx = (size_t)B * ih * iw * d->cin, nw = (size_t)d->kh * d->kw * d->cin;
        size_t ny = (size_t)B * oh * ow;
        float *x = tu_rand_uniform(nx, -1.0f, 1.0f, 1 + c, 2);
        float *w = tu_rand_uniform(nw, -1.0f, 1.0f, 20 + c, 2);
        float *b = tu_rand_uniform(1, -1.0f, 1.0f, 40 + c, 2);
        float *g = tu_rand_uniform(ny, -1.0f, 1.0f, 60 + c, 2);
        float *y1 = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        float *dx1 = malloc(sizeof(float) * nx), *dx2 = malloc(sizeof(float) * nx);
        float *dw1 = calloc(nw, sizeof(float)), *dw2 = calloc(nw, sizeof(float));
        float db1 = 0.25f, db2 = 0.25f;
        float *col = malloc(sizeof(float) * (ad_conv2d_col_floats(d, B, oh, ow) + 1));
        ad_conv2d_single_forward(y1, x, w, b, d, B, ih, iw);
        ad_conv2d_forward(y2, x, w, b, d, B, ih, iw, col);
        ck_assert_double_lt(tu_max_rel_err(y1, y2, ny), 1e-5);
        ad_conv2d_single_backward(dx1, dw1, &db1, g, x, w, d, B, ih, iw);
        ad_conv2d_backward(dx2, dw2, &db2, g, x, w, d, B, ih, iw, col);
        ck_assert_double_lt(tu_max_rel_err(dx1, dx2, nx), 1e-5);
        ck_assert_double_lt(tu_max_rel_err(dw1, dw2, nw), 1e-5);
        ck_assert_double_lt(tu_max_rel_err(&db1, &db2, 1), 1e-5);
        ad_conv2d_single_backward(NULL, dw1, NULL, g, x, w, d, B, ih, iw); /* accumulates */
        for (size_t i = 0; i < nw; i++)
            dw2[i] *= 2;
        ck_assert_double_lt(tu_max_rel_err(dw1, dw2, nw), 1e-5);
        free(x), free(w), free(b), free(g), free(y1), free(y2), free(dx1), free(dx2);
        free(dw1), free(dw2), free(col);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv2d_single");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_against_gemm_path);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
