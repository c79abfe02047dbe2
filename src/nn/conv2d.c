#include "adaptor/conv2d.h"

#include "adaptor/nn.h"

#include <float.h>
#include <string.h>

int ad_conv2d_out_dim(int in, int k, int stride, int pad)
{
    int span = in + 2 * pad - k;
    return span < 0 || stride < 1 ? 0 : span / stride + 1;
}

static int is_pointwise(const ad_conv2d_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

/* Rows (output pixels) per GEMM: about 4 MB of im2col panel, but never fewer than 256 rows
 * so the GEMM stays efficient for wide kernels. */
static size_t chunk_rows(const ad_conv2d_desc *d, size_t total)
{
    size_t k = (size_t)d->kh * d->kw * d->cin, rows = ((size_t)1 << 20) / (k ? k : 1);
    if (rows < 256)
        rows = 256;
    return rows < total ? rows : total;
}

size_t ad_conv2d_col_floats(const ad_conv2d_desc *d, int batch, int oh, int ow)
{
    if (is_pointwise(d))
        return 0;
    size_t total = (size_t)batch * oh * ow;
    return chunk_rows(d, total) * (size_t)d->kh * d->kw * d->cin;
}

void ad_conv2d_weight_from_oihw(float *dst, const float *src, int cout, int cin, int kh, int kw)
{
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    dst[(((size_t)o * kh + y) * kw + x) * cin + i] =
                        src[(((size_t)o * cin + i) * kh + y) * kw + x];
}

/* col[r - r0][ky][kx][c] for output pixels r0 .. r1-1 of the flattened (b, oy, ox). */
static void im2col(float *col, const float *x, const ad_conv2d_desc *d, int ih, int iw, int oh,
                   int ow, size_t r0, size_t r1)
{
    size_t C = (size_t)d->cin, K = (size_t)d->kh * d->kw * C, hw = (size_t)oh * ow;
    for (size_t r = r0; r < r1; r++) {
        size_t b = r / hw, rem = r % hw;
        int oy = (int)(rem / (size_t)ow), ox = (int)(rem % (size_t)ow);
        float *dst = col + (r - r0) * K;
        const float *img = x + b * (size_t)ih * iw * C;
        for (int ky = 0; ky < d->kh; ky++) {
            int iy = oy * d->stride - d->pad + ky;
            for (int kx = 0; kx < d->kw; kx++, dst += C) {
                int ix = ox * d->stride - d->pad + kx;
                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw)
                    memset(dst, 0, C * sizeof(float));
                else
                    memcpy(dst, img + ((size_t)iy * iw + ix) * C, C * sizeof(float));
            }
        }
    }
}

/* The adjoint of im2col: dx += scatter of col rows r0 .. r1-1. */
static void col2im_add(float *dx, const float *col, const ad_conv2d_desc *d, int ih, int iw,
                       int oh, int ow, size_t r0, size_t r1)
{
    size_t C = (size_t)d->cin, K = (size_t)d->kh * d->kw * C, hw = (size_t)oh * ow;
    for (size_t r = r0; r < r1; r++) {
        size_t b = r / hw, rem = r % hw;
        int oy = (int)(rem / (size_t)ow), ox = (int)(rem % (size_t)ow);
        const float *src = col + (r - r0) * K;
        float *img = dx + b * (size_t)ih * iw * C;
        for (int ky = 0; ky < d->kh; ky++) {
            int iy = oy * d->stride - d->pad + ky;
            for (int kx = 0; kx < d->kw; kx++, src += C) {
                int ix = ox * d->stride - d->pad + kx;
                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw)
                    continue;
                float *p = img + ((size_t)iy * iw + ix) * C;
                for (size_t c = 0; c < C; c++)
                    p[c] += src[c];
            }
        }
    }
}

void ad_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const ad_conv2d_desc *d, int batch, int ih, int iw, float *col)
{
    int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad);
    size_t total = (size_t)batch * oh * ow;
    int K = d->kh * d->kw * d->cin;
    if (is_pointwise(d)) {
        ad_linear_forward(y, d->cout, x, d->cin, w, b, (int)total, d->cin, d->cout);
        return;
    }
    size_t chunk = chunk_rows(d, total);
    for (size_t r0 = 0; r0 < total; r0 += chunk) {
        size_t r1 = r0 + chunk < total ? r0 + chunk : total;
        im2col(col, x, d, ih, iw, oh, ow, r0, r1);
        ad_linear_forward(y + r0 * d->cout, d->cout, col, K, w, b, (int)(r1 - r0), K, d->cout);
    }
}

void ad_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const ad_conv2d_desc *d, int batch, int ih, int iw,
                        float *col)
{
    int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad);
    size_t total = (size_t)batch * oh * ow;
    int K = d->kh * d->kw * d->cin, N = d->cout;
    if (db)
        for (size_t r = 0; r < total; r++)
            for (int o = 0; o < N; o++)
                db[o] += dy[r * N + o];
    if (is_pointwise(d)) {
        ad_linear_backward(dx, dw, NULL, dy, x, w, (int)total, d->cin, N);
        return;
    }
    if (dx)
        memset(dx, 0, sizeof(float) * (size_t)batch * ih * iw * d->cin);
    size_t chunk = chunk_rows(d, total);
    for (size_t r0 = 0; r0 < total; r0 += chunk) {
        size_t r1 = r0 + chunk < total ? r0 + chunk : total;
        int m = (int)(r1 - r0);
        const float *dyc = dy + r0 * N;
        if (dw) {
            im2col(col, x, d, ih, iw, oh, ow, r0, r1);
            ad_gemm(1, 0, N, K, m, 1.0f, dyc, N, col, K, 1.0f, dw, K);
        }
        if (dx) {
            ad_gemm(0, 0, m, K, N, 1.0f, dyc, N, w, K, 0.0f, col, K);
            col2im_add(dx, col, d, ih, iw, oh, ow, r0, r1);
        }
    }
}

void ad_maxpool2d_forward(float *y, const float *x, int batch, int ih, int iw, int c, int k,
                          int stride, int pad)
{
    int oh = ad_conv2d_out_dim(ih, k, stride, pad), ow = ad_conv2d_out_dim(iw, k, stride, pad);
    for (int b = 0; b < batch; b++) {
        const float *img = x + (size_t)b * ih * iw * c;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *dst = y + (((size_t)b * oh + oy) * ow + ox) * c;
                for (int i = 0; i < c; i++)
                    dst[i] = -FLT_MAX;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= ih)
                        continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * stride - pad + kx;
                        if (ix < 0 || ix >= iw)
                            continue;
                        const float *src = img + ((size_t)iy * iw + ix) * c;
                        for (int i = 0; i < c; i++)
                            dst[i] = src[i] > dst[i] ? src[i] : dst[i];
                    }
                }
            }
    }
}

void ad_global_avgpool_forward(float *y, const float *x, int batch, int hw, int c)
{
    for (int b = 0; b < batch; b++) {
        float *dst = y + (size_t)b * c;
        const float *src = x + (size_t)b * hw * c;
        memset(dst, 0, sizeof(float) * (size_t)c);
        for (int p = 0; p < hw; p++)
            for (int i = 0; i < c; i++)
                dst[i] += src[(size_t)p * c + i];
        float inv = 1.0f / (float)hw;
        for (int i = 0; i < c; i++)
            dst[i] *= inv;
    }
}
