/* Kernels against naive double-precision loops; backward passes against central finite
 * differences of L = sum(w * f(x)) for a fixed random weighting w. */
#include "testutil.h"

#include "adaptor/blis_select.h"
#include "adaptor/nn.h"
#include "adaptor/rng.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *zeros(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void assert_close(const float *got, const double *ref, size_t n, double tol,
                         const char *what)
{
    double scale = 1e-30, err = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        err = isnan(d) ? INFINITY : fmax(err, d);
    }
    ck_assert_msg(err / scale <= tol, "%s: relative error %.3g > %.3g", what, err / scale, tol);
}

/* ---- finite differences ---------------------------------------------------------------- */

typedef void (*fwd_fn)(void *ctx, const float *x, float *y);

/* Central differences of L(x) = sum_i w_i f(x)_i, checked against the analytic gradient
 * `grad` (nx values) relative to its largest entry. */
static void check_fd(fwd_fn f, void *ctx, float *x, size_t nx, size_t ny, const float *w,
                     const float *grad, float h, double tol, const char *what)
{
    float *y = zeros(ny);
    double *num = malloc(sizeof(double) * nx);
    ck_assert_ptr_nonnull(num);
    for (size_t j = 0; j < nx; j++) {
        float keep = x[j];
        double l[2];
        for (int s = 0; s < 2; s++) {
            x[j] = keep + (s ? -h : h);
            f(ctx, x, y);
            double acc = 0;
            for (size_t i = 0; i < ny; i++)
                acc += (double)w[i] * y[i];
            l[s] = acc;
        }
        x[j] = keep;
        num[j] = (l[0] - l[1]) / (2.0 * (double)h);
    }
    assert_close(grad, num, nx, tol, what);
    free(y);
    free(num);
}

/* ---- gemm / linear --------------------------------------------------------------------- */

START_TEST(test_gemm_all_transposes)
{
    int m = 7, n = 5, k = 9, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
            float *a = tu_rand_uniform((size_t)(ta ? k : m) * lda, -1, 1, 1, 7);
            float *b = tu_rand_uniform((size_t)(tb ? n : k) * ldb, -1, 1, 2, 7);
            float *c = tu_rand_uniform((size_t)m * ldc, -1, 1, 3, 7);
            double ref[7 * 5];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                             (tb ? b[j * ldb + p] : b[p * ldb + j]);
                    ref[i * n + j] = 0.5 * s + 2.0 * c[i * ldc + j];
                }
            float pad_before = c[0 * ldc + n];
            ad_gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c, ldc);
            float got[7 * 5];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    got[i * n + j] = c[i * ldc + j];
            assert_close(got, ref, (size_t)m * n, 1e-6, "gemm");
            ck_assert_msg(c[n] == pad_before, "gemm wrote outside its columns");
            free(a);
            free(b);
            free(c);
        }
}
END_TEST

START_TEST(test_linear_forward)
{
    int n = 6, in = 13, out = 11, ldx = 16, ldy = 12;
    float *x = tu_rand_uniform((size_t)n * ldx, -1, 1, 4, 7);
    float *w = tu_rand_uniform((size_t)out * in, -1, 1, 5, 7);
    float *b = tu_rand_uniform((size_t)out, -1, 1, 6, 7), *y = zeros((size_t)n * ldy);
    for (int withb = 0; withb < 2; withb++) {
        ad_linear_forward(y, ldy, x, ldx, w, withb ? b : NULL, n, in, out);
        double ref[6 * 11];
        float got[6 * 11];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < out; o++) {
                double s = withb ? b[o] : 0;
                for (int i = 0; i < in; i++)
                    s += (double)x[r * ldx + i] * w[o * in + i];
                ref[r * out + o] = s;
                got[r * out + o] = y[r * ldy + o];
            }
        assert_close(got, ref, (size_t)n * out, 1e-6, "linear");
    }
    free(x);
    free(w);
    free(b);
    free(y);
}
END_TEST

typedef struct {
    int n, in, out, which; /* which: 0 x, 1 w, 2 b */
    const float *x, *w, *b;
} lin_ctx;

static void lin_fwd(void *vc, const float *v, float *y)
{
    lin_ctx *c = vc;
    ad_linear_forward(y, c->out, c->which == 0 ? v : c->x, c->in, c->which == 1 ? v : c->w,
                      c->which == 2 ? v : c->b, c->n, c->in, c->out);
}

START_TEST(test_linear_backward)
{
    int n = 5, in = 7, out = 4;
    float *x = tu_rand_uniform((size_t)n * in, -1, 1, 8, 7);
    float *w = tu_rand_uniform((size_t)out * in, -1, 1, 9, 7);
    float *b = tu_rand_uniform((size_t)out, -1, 1, 10, 7);
    float *dy = tu_rand_uniform((size_t)n * out, -1, 1, 11, 7);
    float *dx = zeros((size_t)n * in), *dw = tu_rand_uniform((size_t)out * in, -1, 1, 12, 7);
    float *db = tu_rand_uniform((size_t)out, -1, 1, 13, 7);
    float *dw0 = malloc(sizeof(float) * out * in), *db0 = malloc(sizeof(float) * out);
    memcpy(dw0, dw, sizeof(float) * out * in);
    memcpy(db0, db, sizeof(float) * out);
    ad_linear_backward(dx, dw, db, dy, x, w, n, in, out);
    /* parameter gradients accumulate */
    for (int i = 0; i < out * in; i++)
        dw[i] -= dw0[i];
    for (int i = 0; i < out; i++)
        db[i] -= db0[i];
    lin_ctx c = {n, in, out, 0, x, w, b};
    check_fd(lin_fwd, &c, x, (size_t)n * in, (size_t)n * out, dy, dx, 1e-2f, 1e-4, "dx");
    c.which = 1;
    check_fd(lin_fwd, &c, w, (size_t)out * in, (size_t)n * out, dy, dw, 1e-2f, 1e-4, "dw");
    c.which = 2;
    check_fd(lin_fwd, &c, b, (size_t)out, (size_t)n * out, dy, db, 1e-2f, 1e-4, "db");
    free(x); free(w); free(b); free(dy); free(dx); free(dw); free(db); free(dw0); free(db0);
}
END_TEST

/* ---- layernorm ------------------------------------------------------------------------- */

static void ln_ref(double *y, const float *x, const float *g, const float *b, int n, int d,
                   double eps)
{
    for (int r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < d; i++)
            m += x[r * d + i];
        m /= d;
        for (int i = 0; i < d; i++)
            v += (x[r * d + i] - m) * (x[r * d + i] - m);
        v /= d;
        for (int i = 0; i < d; i++)
            y[r * d + i] = (x[r * d + i] - m) / sqrt(v + eps) * g[i] + b[i];
    }
}

START_TEST(test_layernorm_forward)
{
    int n = 9, d = 77;
    float *x = tu_rand_uniform((size_t)n * d, -3, 5, 14, 7);
    float *g = tu_rand_uniform(d, 0.5f, 1.5f, 15, 7);
    float *b = tu_rand_uniform(d, -1, 1, 16, 7);
    float *y = zeros((size_t)n * d), *mean = zeros(n), *rstd = zeros(n);
    double *ref = malloc(sizeof(double) * n * d);
    ln_ref(ref, x, g, b, n, d, 1e-12);
    ad_layernorm_forward(y, mean, rstd, x, g, b, n, d, 1e-12f);
    assert_close(y, ref, (size_t)n * d, 2e-6, "layernorm");
    /* fused residual form: LN(h + bias + res), in place on res */
    float *h = tu_rand_uniform((size_t)n * d, -1, 1, 17, 7);
    float *bias = tu_rand_uniform(d, -1, 1, 18, 7);
    float *res = tu_rand_uniform((size_t)n * d, -1, 1, 19, 7), *sum = zeros((size_t)n * d);
    for (int r = 0; r < n; r++)
        for (int i = 0; i < d; i++)
            sum[r * d + i] = h[r * d + i] + bias[i] + res[r * d + i];
    ln_ref(ref, sum, g, b, n, d, 1e-5);
    ad_residual_layernorm_forward(res, h, bias, res, g, b, n, d, 1e-5f);
    assert_close(res, ref, (size_t)n * d, 2e-6, "residual layernorm");
    free(x); free(g); free(b); free(y); free(mean); free(rstd); free(ref);
    free(h); free(bias); free(res); free(sum);
}
END_TEST

typedef struct {
    int n, d, which;
    const float *x, *g, *b;
} ln_ctx;

static void ln_fwd(void *vc, const float *v, float *y)
{
    ln_ctx *c = vc;
    ad_layernorm_forward(y, NULL, NULL, c->which == 0 ? v : c->x, c->which == 1 ? v : c->g,
                         c->which == 2 ? v : c->b, c->n, c->d, 1e-5f);
}

START_TEST(test_layernorm_backward)
{
    int n = 4, d = 19;
    float *x = tu_rand_uniform((size_t)n * d, -2, 2, 20, 7);
    float *g = tu_rand_uniform(d, 0.5f, 1.5f, 21, 7);
    float *b = tu_rand_uniform(d, -1, 1, 22, 7);
    float *dy = tu_rand_uniform((size_t)n * d, -1, 1, 23, 7), *y = zeros((size_t)n * d);
    float *mean = zeros(n), *rstd = zeros(n), *dx = zeros((size_t)n * d);
    float *dg = zeros(d), *db = zeros(d);
    ad_layernorm_forward(y, mean, rstd, x, g, b, n, d, 1e-5f);
    ad_layernorm_backward(dx, dg, db, dy, x, mean, rstd, g, n, d);
    ln_ctx c = {n, d, 0, x, g, b};
    check_fd(ln_fwd, &c, x, (size_t)n * d, (size_t)n * d, dy, dx, 1e-2f, 3e-3, "ln dx");
    c.which = 1;
    check_fd(ln_fwd, &c, g, d, (size_t)n * d, dy, dg, 1e-2f, 1e-3, "ln dg");
    c.which = 2;
    check_fd(ln_fwd, &c, b, d, (size_t)n * d, dy, db, 1e-2f, 1e-3, "ln db");
    free(x); free(g); free(b); free(dy); free(y); free(mean); free(rstd); free(dx);
    free(dg); free(db);
}
END_TEST

/* LayerNorm's backward (no affine output needed) in naive double loops. */
static void ln_bwd_ref(double *dx, double *dg, double *db, const float *dy, const float *x,
                       const float *g, int n, int d, double eps)
{
    for (int i = 0; i < d; i++)
        dg[i] = db[i] = 0;
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * d;
        double m = 0, v = 0, s1 = 0, s2 = 0;
        for (int i = 0; i < d; i++)
            m += xr[i];
        m /= d;
        for (int i = 0; i < d; i++)
            v += (xr[i] - m) * (xr[i] - m);
        double rs = 1.0 / sqrt(v / d + eps);
        for (int i = 0; i < d; i++) {
            double e = dy[r * d + i], xh = (xr[i] - m) * rs;
            s1 += e * g[i];
            s2 += e * g[i] * xh;
            dg[i] += e * xh;
            db[i] += e;
        }
        for (int i = 0; i < d; i++) {
            double e = dy[r * d + i], xh = (xr[i] - m) * rs;
            dx[r * d + i] = rs * (e * g[i] - s1 / d - xh * s2 / d);
        }
    }
}

/* The 16-lane path (d 77: four blocks and a tail) against the double reference, dx written
 * over dy, and by finite differences. */
START_TEST(test_layernorm_backward_lanes)
{
    int n = 6, d = 77;
    size_t nd = (size_t)n * d;
    float *x = tu_rand_uniform(nd, -3, 5, 40, 7);
    float *g = tu_rand_uniform(d, 0.5f, 1.5f, 42, 7), *b = tu_rand_uniform(d, -1, 1, 43, 7);
    float *y = zeros(nd), *mean = zeros(n), *rstd = zeros(n);
    float *dy = tu_rand_uniform(nd, -1, 1, 44, 7);
    double *rdx = malloc(sizeof(double) * nd), *rdg = malloc(sizeof(double) * d);
    double *rdb = malloc(sizeof(double) * d);
    ad_layernorm_forward(y, mean, rstd, x, g, b, n, d, 1e-5f);
    ln_bwd_ref(rdx, rdg, rdb, dy, x, g, n, d, 1e-5);
    float *dg = zeros(d), *db = zeros(d);
    ad_layernorm_backward(dy, dg, db, dy, x, mean, rstd, g, n, d);
    assert_close(dy, rdx, nd, 2e-5, "ln dx (d 77, over dy)");
    assert_close(dg, rdg, d, 2e-5, "ln dg (d 77)");
    assert_close(db, rdb, d, 2e-5, "ln db (d 77)");
    float *w = tu_rand_uniform(2 * (size_t)d, -1, 1, 48, 7);
    float *dx = zeros((size_t)2 * d), *gg = zeros(d), *bb = zeros(d);
    ad_layernorm_forward(dx, mean, rstd, x, g, b, 2, d, 1e-5f);
    ad_layernorm_backward(dx, gg, bb, w, x, mean, rstd, g, 2, d);
    ln_ctx c = {2, d, 0, x, g, b};
    check_fd(ln_fwd, &c, x, (size_t)2 * d, (size_t)2 * d, w, dx, 1e-2f, 3e-3, "ln dx (d 77)");
    free(x); free(g); free(b); free(y); free(mean); free(rstd); free(dy);
    free(rdx); free(rdg); free(rdb); free(dg); free(db); free(w); free(dx); free(gg); free(bb);
}
END_TEST

/* ---- activations ----------------------------------------------------------------------- */

START_TEST(test_activations_forward)
{
    size_t n = 4001;
    float *x = zeros(n), *y = zeros(n);
    double *ref = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = -12.0f + 24.0f * (float)i / (float)(n - 1);
    /* elementwise bounds: float rounding of the result plus the erf approximation */
    ad_gelu_forward(y, x, n);
    for (size_t i = 0; i < n; i++) {
        double r = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        ck_assert_msg(fabs(y[i] - r) <= 1e-6 + 3e-7 * fabs(x[i]), "gelu(%g) = %.9g, want %.9g",
                      x[i], y[i], r);
    }
    ad_gelu_tanh_forward(y, x, n);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double r = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
        ck_assert_msg(fabs(y[i] - r) <= 1e-6 + 3e-7 * fabs(v), "gelu_tanh(%g) = %.9g, want %.9g",
                      v, y[i], r);
    }
    ad_tanh_forward(y, x, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(y[i] - tanh(x[i])) <= 3e-7 * fmax(1e-3, fabs(tanh(x[i]))) + 1e-9,
                      "tanh(%g) = %.9g", x[i], y[i]);
    ad_relu_forward(y, x, n);
    for (size_t i = 0; i < n; i++)
        ck_assert(y[i] == (x[i] > 0 ? x[i] : 0.0f));
    /* fused bias + gelu over rows */
    int rows = 3, d = 50;
    float *h = tu_rand_uniform((size_t)rows * d, -4, 4, 24, 7);
    float *bias = tu_rand_uniform(d, -1, 1, 25, 7);
    double href[150];
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < d; i++) {
            double v = (double)(h[r * d + i] + bias[i]);
            href[r * d + i] = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
        }
    ad_bias_gelu_forward(h, bias, rows, d);
    assert_close(h, href, (size_t)rows * d, 1e-6, "bias_gelu");
    free(x); free(y); free(ref); free(h); free(bias);
}
END_TEST

typedef struct {
    int kind;
} act_ctx;

static void act_fwd(void *vc, const float *x, float *y)
{
    size_t n = 64;
    switch (((act_ctx *)vc)->kind) {
    case 0: ad_gelu_forward(y, x, n); break;
    case 1: ad_tanh_forward(y, x, n); break;
    default: ad_relu_forward(y, x, n); break;
    }
}

START_TEST(test_activations_backward)
{
    size_t n = 64;
    float *x = tu_rand_uniform(n, -4, 4, 26, 7);
    float *dy = tu_rand_uniform(n, -1, 1, 27, 7);
    float *dx = zeros(n);
    float *y = zeros(n);
    /* keep relu inputs away from the kink where differences are meaningless */
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) < 0.05f)
            x[i] = 0.5f;
    act_ctx c = {0};
    ad_gelu_backward(dx, dy, x, n);
    check_fd(act_fwd, &c, x, n, n, dy, dx, 1e-2f, 1e-3, "gelu'");
    c.kind = 1;
    ad_tanh_forward(y, x, n);
    ad_tanh_backward(dx, dy, y, n);
    check_fd(act_fwd, &c, x, n, n, dy, dx, 1e-2f, 1e-3, "tanh'");
    c.kind = 2;
    ad_relu_forward(y, x, n);
    ad_relu_backward(dx, dy, y, n);
    check_fd(act_fwd, &c, x, n, n, dy, dx, 1e-2f, 1e-4, "relu'");
    free(x); free(dy); free(dx); free(y);
}
END_TEST

/* relu and inverted dropout backward from the stored output, with the bias's column sums,
 * against a naive loop; f holds exact zeros (relu or dropout) among positives. */
START_TEST(test_relu_mask_backward)
{
    int n = 5, d = 83;
    size_t nd = (size_t)n * d;
    float *f = tu_rand_uniform(nd, -1, 1, 49, 7), *dy = tu_rand_uniform(nd, -1, 1, 50, 7);
    float *dx = zeros(nd);
    for (size_t i = 0; i < nd; i++)
        f[i] = f[i] > 0 ? f[i] : 0.0f;
    float keep = 1.0f / (1.0f - 0.1f);
    memcpy(dx, dy, nd * sizeof *dx);
    ad_relu_mask_backward(dx, f, nd, keep);
    for (size_t i = 0; i < nd; i++) {
        float want = f[i] > 0 ? dy[i] * keep : 0.0f;
        ck_assert_msg(dx[i] == want, "dx[%zu] = %g, want %g", i, dx[i], want);
    }
    free(f); free(dy); free(dx);
}
END_TEST

/* ---- softmax --------------------------------------------------------------------------- */

START_TEST(test_softmax_forward)
{
    int n = 5, d = 37, ld = 40;
    float *x = tu_rand_uniform((size_t)n * ld, -20, 20, 28, 7), *y = zeros((size_t)n * ld);
    x[1 * ld + 3] = -FLT_MAX; /* an additive mask entry */
    x[2 * ld + 0] = -INFINITY;
    for (int i = 0; i < d; i++)
        x[4 * ld + i] = -INFINITY; /* fully masked row */
    double ref[5 * 37];
    float got[5 * 37];
    for (int r = 0; r < n; r++) {
        double m = -INFINITY, s = 0;
        for (int i = 0; i < d; i++)
            m = fmax(m, x[r * ld + i]);
        for (int i = 0; i < d; i++)
            s += m == -INFINITY ? 0 : exp(x[r * ld + i] - m);
        for (int i = 0; i < d; i++)
            ref[r * d + i] = s == 0 ? 0 : exp(x[r * ld + i] - m) / s;
    }
    ad_softmax_forward(y, x, n, d, ld);
    for (int r = 0; r < n; r++)
        for (int i = 0; i < d; i++)
            got[r * d + i] = y[r * ld + i];
    assert_close(got, ref, (size_t)n * d, 1e-6, "softmax");
    ck_assert(y[1 * ld + 3] == 0.0f && y[2 * ld + 0] == 0.0f);
    free(x);
    free(y);
}
END_TEST

static void sm_fwd(void *vc, const float *x, float *y)
{
    ad_softmax_forward(y, x, 3, 11, 11);
}

START_TEST(test_softmax_backward)
{
    int n = 3, d = 11;
    float *x = tu_rand_uniform((size_t)n * d, -3, 3, 29, 7), *y = zeros((size_t)n * d);
    float *dy = tu_rand_uniform((size_t)n * d, -1, 1, 30, 7), *dx = zeros((size_t)n * d);
    ad_softmax_forward(y, x, n, d, d);
    ad_softmax_backward(dx, dy, y, n, d, d);
    check_fd(sm_fwd, NULL, x, (size_t)n * d, (size_t)n * d, dy, dx, 1e-2f, 1e-3, "softmax'");
    free(x); free(y); free(dy); free(dx);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------- */

static void attention_ref(double *out, const float *qkv, const float *mask, int B, int T,
                          int C, int NH)
{
    int dh = C / NH;
    double *p = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * 3 * C + h * dh;
                double m = -INFINITY, s = 0;
                for (int j = 0; j < T; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * dh;
                    double dot = 0;
                    for (int e = 0; e < dh; e++)
                        dot += (double)q[e] * k[e];
                    int keep = !mask || mask[b * T + j] == 0.0f;
                    p[j] = keep ? dot / sqrt((double)dh) : -INFINITY;
                    m = fmax(m, p[j]);
                }
                for (int j = 0; j < T; j++)
                    s += p[j] = exp(p[j] - m);
                for (int e = 0; e < dh; e++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++)
                        acc += p[j] / s * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * dh + e];
                    out[((size_t)b * T + i) * C + h * dh + e] = acc;
                }
            }
    free(p);
}

START_TEST(test_attention_forward)
{
    int B = 3, T = 9, C = 24, NH = 4;
    float *qkv = tu_rand_uniform((size_t)B * T * 3 * C, -1.5f, 1.5f, 31, 7);
    float *mask = zeros((size_t)B * T), *out = zeros((size_t)B * T * C);
    float *att = zeros((size_t)B * NH * T * T), *scratch = zeros((size_t)T * T);
    int len[3] = {9, 4, 1};
    for (int b = 0; b < B; b++)
        for (int t = len[b]; t < T; t++)
            mask[b * T + t] = -FLT_MAX;
    double *ref = malloc(sizeof(double) * B * T * C);
    for (int withmask = 0; withmask < 2; withmask++) {
        attention_ref(ref, qkv, withmask ? mask : NULL, B, T, C, NH);
        ad_attention_forward(out, NULL, scratch, qkv, withmask ? mask : NULL, B, T, C, NH);
        assert_close(out, ref, (size_t)B * T * C, 1e-5, "attention (scratch)");
        memset(out, 0, sizeof(float) * B * T * C);
        ad_attention_forward(out, att, NULL, qkv, withmask ? mask : NULL, B, T, C, NH);
        assert_close(out, ref, (size_t)B * T * C, 1e-5, "attention (kept probabilities)");
    }
    /* masked keys get exactly zero weight */
    ck_assert(att[((size_t)1 * NH + 2) * T * T + 3 * T + 5] == 0.0f);
    free(qkv); free(mask); free(out); free(att); free(scratch); free(ref);
}
END_TEST

typedef struct {
    int B, T, C, NH;
    const float *mask;
    float *att;
} att_ctx;

static void att_fwd(void *vc, const float *qkv, float *y)
{
    att_ctx *c = vc;
    ad_attention_forward(y, c->att, NULL, qkv, c->mask, c->B, c->T, c->C, c->NH);
}

START_TEST(test_attention_backward)
{
    int B = 2, T = 5, C = 8, NH = 2;
    float *qkv = tu_rand_uniform((size_t)B * T * 3 * C, -1, 1, 32, 7), *mask = zeros((size_t)B * T);
    mask[1 * T + 4] = -FLT_MAX;
    mask[1 * T + 3] = -FLT_MAX;
    float *dout = tu_rand_uniform((size_t)B * T * C, -1, 1, 33, 7), *out = zeros((size_t)B * T * C);
    float *att = zeros((size_t)B * NH * T * T), *scratch = zeros((size_t)T * T);
    float *dqkv = zeros((size_t)B * T * 3 * C);
    ad_attention_forward(out, att, NULL, qkv, mask, B, T, C, NH);
    ad_attention_backward(dqkv, scratch, dout, qkv, att, B, T, C, NH);
    att_ctx c = {B, T, C, NH, mask, att};
    check_fd(att_fwd, &c, qkv, (size_t)B * T * 3 * C, (size_t)B * T * C, dout, dqkv, 1e-2f, 2e-3,
             "attention'");
    free(qkv); free(mask); free(dout); free(out); free(att); free(scratch); free(dqkv);
}
END_TEST

int main(void)
{
    char msg[256];
    if (ad_blis_select(msg, sizeof msg) != 0)
        return 1;
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_gemm_all_transposes);
    tcase_add_test(tc, test_linear_forward);
    tcase_add_test(tc, test_linear_backward);
    tcase_add_test(tc, test_layernorm_forward);
    tcase_add_test(tc, test_layernorm_backward);
    tcase_add_test(tc, test_layernorm_backward_lanes);
    tcase_add_test(tc, test_relu_mask_backward);
    tcase_add_test(tc, test_activations_forward);
    tcase_add_test(tc, test_activations_backward);
    tcase_add_test(tc, test_softmax_forward);
    tcase_add_test(tc, test_softmax_backward);
    tcase_add_test(tc, test_attention_forward);
    tcase_add_test(tc, test_attention_backward);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
