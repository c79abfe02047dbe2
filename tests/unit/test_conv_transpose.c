/* Transposed convolution against a direct double loop of PyTorch's ConvTranspose2d
 * definition (y[o, iy s - p + ky, ix s - p + kx] += x[i, iy, ix] W[i, o, ky, kx]), its
 * backward against central differences, and the adjoint identity
 * <convT(x), y> = <x, conv(y)> that ties it to ad_conv2d_forward (3x3 without padding
 * included). */
#include "testutil.h"

#include "adaptor/conv_transpose.h"
#include "adaptor/rng.h"

#include <math.h>
#include <stdlib.h>

/* w_iohw: PyTorch layout [cin][cout][kh][kw]; x, y NHWC. */
static void direct(double *y, const float *x, const float *w_iohw, const float *b,
                   const ad_conv2d_desc *d, int B, int ih, int iw)
{
    int oh = ad_conv_transpose2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv_transpose2d_out_dim(iw, d->kw, d->stride, d->pad);
    for (size_t k = 0; k < (size_t)B * oh * ow * d->cout; k++)
        y[k] = b ? b[k % (size_t)d->cout] : 0.0;
    for (int n = 0; n < B; n++)
        for (int iy = 0; iy < ih; iy++)
            for (int ix = 0; ix < iw; ix++)
                for (int i = 0; i < d->cin; i++)
                    for (int o = 0; o < d->cout; o++)
                        for (int ky = 0; ky < d->kh; ky++)
                            for (int kx = 0; kx < d->kw; kx++) {
                                int oy = iy * d->stride - d->pad + ky;
                                int ox = ix * d->stride - d->pad + kx;
                                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
                                    continue;
                                y[(((size_t)n * oh + oy) * ow + ox) * d->cout + o] +=
                                    (double)x[(((size_t)n * ih + iy) * iw + ix) * d->cin + i] *
                                    w_iohw[(((size_t)i * d->cout + o) * d->kh + ky) * d->kw + kx];
                            }
}

static const ad_conv2d_desc cases[] = {
    {4, 3, 2, 2, 2, 0}, /* the U-Net upsampler */
    {3, 5, 3, 3, 2, 1}, /* overlapping taps, cropped border */
    {2, 3, 3, 3, 1, 0}, /* the adjoint of a 3x3 convolution without padding */
    {3, 2, 4, 4, 2, 1},
    {5, 4, 1, 1, 1, 0}, /* pointwise */
};
enum { NCASES = sizeof cases / sizeof cases[0] };

START_TEST(test_forward)
{
    int B = 2, ih = 5, iw = 4;
    for (int c = 0; c < NCASES; c++) {
        const ad_conv2d_desc *d = &cases[c];
        int oh = ad_conv_transpose2d_out_dim(ih, d->kh, d->stride, d->pad);
        int ow = ad_conv_transpose2d_out_dim(iw, d->kw, d->stride, d->pad);
        size_t nw = (size_t)d->cin * d->cout * d->kh * d->kw, ny = (size_t)B * oh * ow * d->cout;
        float *x = tu_rand_uniform((size_t)B * ih * iw * d->cin, -1.0f, 1.0f, 1, 5);
        float *w = tu_rand_uniform(nw, -1.0f, 1.0f, 2, 5);
        float *b = tu_rand_uniform(d->cout, -1.0f, 1.0f, 3, 5);
        float *wp = malloc(sizeof(float) * nw), *y = malloc(sizeof(float) * ny);
        float *col = malloc(sizeof(float) * (ad_conv_transpose2d_col_floats(d, B, ih, iw) + 1));
        double *ref = malloc(sizeof(double) * ny), err = 0, scale = 0;
        ad_conv_transpose2d_weight_from_iohw(wp, w, d);
        ad_conv_transpose2d_forward(y, x, wp, c % 2 ? NULL : b, d, B, ih, iw, col);
        direct(ref, x, w, c % 2 ? NULL : b, d, B, ih, iw);
        for (size_t i = 0; i < ny; i++) {
            err = fmax(err, fabs(y[i] - ref[i]));
            scale = fmax(scale, fabs(ref[i]));
        }
        ck_assert_msg(err <= 1e-5 * scale, "case %d: error %g (scale %g)", c, err, scale);
        free(x), free(w), free(b), free(wp), free(y), free(col), free(ref);
    }
}
END_TEST

static double dot(const double *y, const float *g, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += y[k] * g[k];
    return s;
}

/* L = sum g * y is linear in x and in w: a step of 1 gives exact differences. */
START_TEST(test_backward)
{
    int B = 2, ih = 4, iw = 3;
    for (int c = 0; c < NCASES; c++) {
        const ad_conv2d_desc *d = &cases[c];
        int oh = ad_conv_transpose2d_out_dim(ih, d->kh, d->stride, d->pad);
        int ow = ad_conv_transpose2d_out_dim(iw, d->kw, d->stride, d->pad);
        size_t nw = (size_t)d->cin * d->cout * d->kh * d->kw, ny = (size_t)B * oh * ow * d->cout;
        size_t nx = (size_t)B * ih * iw * d->cin;
        float *x = tu_rand_uniform(nx, -1.0f, 1.0f, 4, 5);
        float *w = tu_rand_uniform(nw, -1.0f, 1.0f, 5, 5);
        float *b = tu_rand_uniform(d->cout, -1.0f, 1.0f, 6, 5);
        float *g = tu_rand_uniform(ny, -1.0f, 1.0f, 7, 5);
        float *wp = malloc(sizeof(float) * nw), *dx = malloc(sizeof(float) * nx);
        float *dw = calloc(nw, sizeof(float)), *db = calloc(d->cout, sizeof(float));
        float *col = malloc(sizeof(float) * (ad_conv_transpose2d_col_floats(d, B, ih, iw) + 1));
        double *y = malloc(sizeof(double) * ny), worst = 0;
        ad_conv_transpose2d_weight_from_iohw(wp, w, d);
        ad_conv_transpose2d_backward(dx, dw, db, g, x, wp, d, B, ih, iw, col);
        for (size_t i = 0; i < nx; i++) {
            float keep = x[i];
            x[i] = keep + 0.5f;
            direct(y, x, w, b, d, B, ih, iw);
            double lp = dot(y, g, ny);
            x[i] = keep - 0.5f;
            direct(y, x, w, b, d, B, ih, iw);
            x[i] = keep;
            worst = fmax(worst, fabs(lp - dot(y, g, ny) - dx[i]));
        }
        for (int i = 0; i < d->cin; i++)
            for (int o = 0; o < d->cout; o++)
                for (int ky = 0; ky < d->kh; ky++)
                    for (int kx = 0; kx < d->kw; kx++) {
                        size_t j = (((size_t)i * d->cout + o) * d->kh + ky) * d->kw + kx;
                        float keep = w[j];
                        w[j] = keep + 0.5f;
                        direct(y, x, w, b, d, B, ih, iw);
                        double lp = dot(y, g, ny);
                        w[j] = keep - 0.5f;
                        direct(y, x, w, b, d, B, ih, iw);
                        w[j] = keep;
                        size_t jp = (((size_t)i * d->kh + ky) * d->kw + kx) * d->cout + o;
                        worst = fmax(worst, fabs(lp - dot(y, g, ny) - dw[jp]));
                    }
        for (int o = 0; o < d->cout; o++) {
            double s = 0;
            for (size_t k = (size_t)o; k < ny; k += d->cout)
                s += g[k];
            worst = fmax(worst, fabs(s - db[o]));
        }
        ck_assert_msg(worst <= 1e-4, "case %d: gradient error %g", c, worst);
        free(x), free(w), free(b), free(g), free(wp), free(dx), free(dw), free(db), free(col);
        free(y);
    }
}
END_TEST

/* <convT(x), v> = <x, conv(v)> with the same weights: the direct loop of the transposed
 * layer checks ad_conv2d_forward, including 3x3 without padding. */
START_TEST(test_adjoint_of_conv)
{
    int B = 2, ih = 5, iw = 6;
    for (int c = 0; c < NCASES; c++) {
        const ad_conv2d_desc *d = &cases[c];
        ad_conv2d_desc conv = {d->cout, d->cin, d->kh, d->kw, d->stride, d->pad};
        int oh = ad_conv_transpose2d_out_dim(ih, d->kh, d->stride, d->pad);
        int ow = ad_conv_transpose2d_out_dim(iw, d->kw, d->stride, d->pad);
        size_t nw = (size_t)d->cin * d->cout * d->kh * d->kw, ny = (size_t)B * oh * ow * d->cout;
        size_t nx = (size_t)B * ih * iw * d->cin;
        float *x = tu_rand_uniform(nx, -1.0f, 1.0f, 8, 5);
        float *w = tu_rand_uniform(nw, -1.0f, 1.0f, 9, 5);
        float *v = tu_rand_uniform(ny, -1.0f, 1.0f, 10, 5);
        float *wp = malloc(sizeof(float) * nw);
        float *cv = malloc(sizeof(float) * nx);
        float *col = malloc(sizeof(float) * (ad_conv2d_col_floats(&conv, B, ih, iw) + 1));
        double *y = malloc(sizeof(double) * ny), rhs = 0;
        direct(y, x, w, NULL, d, B, ih, iw);
        ad_conv2d_weight_from_oihw(wp, w, conv.cout, conv.cin, d->kh, d->kw);
        ad_conv2d_forward(cv, v, wp, NULL, &conv, B, oh, ow, col);
        for (size_t i = 0; i < nx; i++)
            rhs += (double)x[i] * cv[i];
        double lhs = dot(y, v, ny);
        ck_assert_msg(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)), "case %d: %g vs %g", c, lhs,
                      rhs);
        free(x), free(w), free(v), free(wp), free(cv), free(col), free(y);
    }
}
END_TEST

START_TEST(test_out_dim)
{
    ck_assert_int_eq(ad_conv_transpose2d_out_dim(7, 2, 2, 0), 14);
    ck_assert_int_eq(ad_conv_transpose2d_out_dim(5, 3, 2, 1), 9);
    ck_assert_int_eq(ad_conv_transpose2d_out_dim(1, 1, 1, 1), 0);
    ck_assert_int_eq(ad_conv_transpose2d_out_dim(0, 2, 2, 0), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_transpose");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_forward);
    tcase_add_test(tc, test_backward);
    tcase_add_test(tc, test_adjoint_of_conv);
    tcase_add_test(tc, test_out_dim);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
