/* conv2d / pooling kernels against direct double-precision loops; the backward pass
 * against central finite differences. */
#include "testutil.h"

#include "adaptor/blis_select.h"
#include "adaptor/conv2d.h"
#include "adaptor/rng.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* y = conv(x, w OIHW) + b, NHWC in and out, in double. */
static void direct(double *y, const float *x, const float *w_oihw, const float *b,
                   const ad_conv2d_desc *d, int B, int ih, int iw)
{
    int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad);
    for (int n = 0; n < B; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int o = 0; o < d->cout; o++) {
                    double s = b ? b[o] : 0;
                    for (int i = 0; i < d->cin; i++)
                        for (int ky = 0; ky < d->kh; ky++)
                            for (int kx = 0; kx < d->kw; kx++) {
                                int iy = oy * d->stride - d->pad + ky;
                                int ix = ox * d->stride - d->pad + kx;
                                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw)
                                    continue;
                                s += (double)w_oihw[((o * d->cin + i) * d->kh + ky) * d->kw + kx] *
                                     x[(((size_t)n * ih + iy) * iw + ix) * d->cin + i];
                            }
                    y[(((size_t)n * oh + oy) * ow + ox) * d->cout + o] = s;
                }
}

static const ad_conv2d_desc cases[] = {
    {3, 5, 3, 3, 1, 1}, /* padded */
    {4, 6, 3, 3, 2, 1}, /* strided + padded */
    {3, 4, 7, 7, 2, 3}, /* stem-like */
    {5, 3, 2, 3, 1, 0}, /* no padding, rectangular kernel */
    {6, 7, 1, 1, 1, 0}, /* pointwise: no im2col */
    {6, 7, 1, 1, 2, 0}, /* strided pointwise (downsample) */
};

START_TEST(test_forward)
{
    int B = 2, ih = 11, iw = 9;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ad_conv2d_desc *d = &cases[c];
        int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
        int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad);
        size_t nw = (size_t)d->cout * d->cin * d->kh * d->kw, ny = (size_t)B * oh * ow * d->cout;
        float *x = tu_rand_uniform((size_t)B * ih * iw * d->cin, -1.0f, 1.0f, 1, 3);
        float *w = tu_rand_uniform(nw, -1.0f, 1.0f, 2, 3);
        float *b = tu_rand_uniform(d->cout, -1.0f, 1.0f, 3, 3);
        float *wp = malloc(sizeof(float) * nw), *y = malloc(sizeof(float) * ny);
        float *col = malloc(sizeof(float) * (ad_conv2d_col_floats(d, B, oh, ow) + 1));
        double *ref = malloc(sizeof(double) * ny), err = 0, scale = 0;
        ad_conv2d_weight_from_oihw(wp, w, d->cout, d->cin, d->kh, d->kw);
        ad_conv2d_forward(y, x, wp, c % 2 ? NULL : b, d, B, ih, iw, col);
        direct(ref, x, w, c % 2 ? NULL : b, d, B, ih, iw);
        for (size_t i = 0; i < ny; i++) {
            err = fmax(err, fabs(y[i] - ref[i]));
            scale = fmax(scale, fabs(ref[i]));
        }
        ck_assert_msg(err <= 1e-5 * scale, "case %zu: error %g (scale %g)", c, err, scale);
        free(x), free(w), free(b), free(wp), free(y), free(col), free(ref);
    }
}
END_TEST

/* L = sum(g * y): dL/dx, dL/dw, dL/db against central differences in double of direct(). */
START_TEST(test_backward)
{
    int B = 2, ih = 7, iw = 6;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ad_conv2d_desc *d = &cases[c];
        int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
        int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad);
        size_t nw = (size_t)d->cout * d->cin * d->kh * d->kw, ny = (size_t)B * oh * ow * d->cout;
        size_t nx = (size_t)B * ih * iw * d->cin;
        float *x = tu_rand_uniform(nx, -1.0f, 1.0f, 4, 3);
        float *w = tu_rand_uniform(nw, -1.0f, 1.0f, 5, 3);
        float *b = tu_rand_uniform(d->cout, -1.0f, 1.0f, 6, 3);
        float *g = tu_rand_uniform(ny, -1.0f, 1.0f, 7, 3);
        float *wp = malloc(sizeof(float) * nw), *dx = malloc(sizeof(float) * nx);
        float *dw = calloc(nw, sizeof(float)), *db = calloc(d->cout, sizeof(float));
        float *col = malloc(sizeof(float) * (ad_conv2d_col_floats(d, B, oh, ow) + 1));
        double *y = malloc(sizeof(double) * ny);
        ad_conv2d_weight_from_oihw(wp, w, d->cout, d->cin, d->kh, d->kw);
        ad_conv2d_backward(dx, dw, db, g, x, wp, d, B, ih, iw, col);
        /* dL/dx_i and dL/dw_j by differences (L is linear in each: step 1 is exact) */
        double worst = 0;
        for (size_t i = 0; i < nx; i += 3) {
            float keep = x[i];
            double lp = 0, lm = 0;
            x[i] = keep + 0.5f;
            direct(y, x, w, b, d, B, ih, iw);
            for (size_t k = 0; k < ny; k++)
                lp += g[k] * y[k];
            x[i] = keep - 0.5f;
            direct(y, x, w, b, d, B, ih, iw);
            for (size_t k = 0; k < ny; k++)
                lm += g[k] * y[k];
            x[i] = keep;
            worst = fmax(worst, fabs((lp - lm) - dx[i]));
        }
        for (int o = 0; o < d->cout; o++)
            for (int i = 0; i < d->cin; i++)
                for (int ky = 0; ky < d->kh; ky++)
                    for (int kx = 0; kx < d->kw; kx++) {
                        size_t j = (((size_t)o * d->cin + i) * d->kh + ky) * d->kw + kx;
                        float keep = w[j];
                        double lp = 0, lm = 0;
                        w[j] = keep + 0.5f;
                        direct(y, x, w, b, d, B, ih, iw);
                        for (size_t k = 0; k < ny; k++)
                            lp += g[k] * y[k];
                        w[j] = keep - 0.5f;
                        direct(y, x, w, b, d, B, ih, iw);
                        for (size_t k = 0; k < ny; k++)
                            lm += g[k] * y[k];
                        w[j] = keep;
                        size_t jp = (((size_t)o * d->kh + ky) * d->kw + kx) * d->cin + i;
                        worst = fmax(worst, fabs((lp - lm) - dw[jp]));
                    }
        for (int o = 0; o < d->cout; o++) {
            double s = 0;
            for (size_t k = (size_t)o; k < ny; k += d->cout)
                s += g[k];
            worst = fmax(worst, fabs(s - db[o]));
        }
        ck_assert_msg(worst <= 1e-4, "case %zu: gradient error %g", c, worst);
        free(x), free(w), free(b), free(g), free(wp), free(dx), free(dw), free(db), free(col);
        free(y);
    }
}
END_TEST

START_TEST(test_pooling)
{
    int B = 2, ih = 9, iw = 8, C = 3;
    float *x = tu_rand_uniform((size_t)B * ih * iw * C, -1.0f, 1.0f, 8, 3);
    int oh = ad_conv2d_out_dim(ih, 3, 2, 1), ow = ad_conv2d_out_dim(iw, 3, 2, 1);
    ck_assert_int_eq(oh, 5);
    ck_assert_int_eq(ow, 4);
    float y[2 * 5 * 4 * 3], avg[2 * 3];
    ad_maxpool2d_forward(y, x, B, ih, iw, C, 3, 2, 1);
    for (int n = 0; n < B; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < C; c++) {
                    float m = -FLT_MAX;
                    for (int iy = 2 * oy - 1; iy <= 2 * oy + 1; iy++)
                        for (int ix = 2 * ox - 1; ix <= 2 * ox + 1; ix++)
                            if (iy >= 0 && iy < ih && ix >= 0 && ix < iw)
                                m = fmaxf(m, x[((n * ih + iy) * iw + ix) * C + c]);
                    ck_assert_float_eq(y[((n * oh + oy) * ow + ox) * C + c], m);
                }
    ad_global_avgpool_forward(avg, x, B, ih * iw, C);
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int p = 0; p < ih * iw; p++)
                s += x[(n * ih * iw + p) * C + c];
            ck_assert_double_eq_tol(avg[n * C + c], s / (ih * iw), 1e-5);
        }
    free(x);
}
END_TEST

int main(void)
{
    char msg[256];
    ad_blis_select(msg, sizeof msg);
    ad_blis_set_threads(1);
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("conv2d");
    tcase_add_test(tc, test_forward);
    tcase_add_test(tc, test_backward);
    tcase_add_test(tc, test_pooling);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
