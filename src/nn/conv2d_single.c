#include "adaptor/conv2d_single.h"

#include "vmath.h"

#include <string.h>

/* 16 independent partial sums: GCC turns them into vector FMAs without reassociating. */
AD_VINLINE float vdot(const float *a, const float *b, int n)
{
    float acc[16] = {0}, s = 0;
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++)
        s += a[i] * b[i];
    for (int j = 0; j < 16; j++)
        s += acc[j];
    return s;
}

AD_VINLINE void vaxpy(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

AD_SIMD_CLONES
void ad_conv2d_single_forward(float *y, const float *x, const float *w, const float *b,
                              const ad_conv2d_desc *d, int batch, int ih, int iw)
{
    int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad), C = d->cin;
    for (int n = 0; n < batch; n++) {
        const float *img = x + (size_t)n * ih * iw * C;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float s = b ? b[0] : 0.0f;
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride - d->pad + ky;
                    if (iy < 0 || iy >= ih)
                        continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride - d->pad + kx;
                        if (ix >= 0 && ix < iw)
                            s += vdot(img + ((size_t)iy * iw + ix) * C,
                                      w + ((size_t)ky * d->kw + kx) * C, C);
                    }
                }
                y[((size_t)n * oh + oy) * ow + ox] = s;
            }
    }
}

AD_SIMD_CLONES
void ad_conv2d_single_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *w, const ad_conv2d_desc *d, int batch, int ih,
                               int iw)
{
    int oh = ad_conv2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv2d_out_dim(iw, d->kw, d->stride, d->pad), C = d->cin;
    if (dx)
        memset(dx, 0, sizeof(float) * (size_t)batch * ih * iw * C);
    double bsum = 0;
    for (int n = 0; n < batch; n++) {
        const float *img = x + (size_t)n * ih * iw * C;
        float *dimg = dx ? dx + (size_t)n * ih * iw * C : NULL;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float g = dy[((size_t)n * oh + oy) * ow + ox];
                bsum += g;
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride - d->pad + ky;
                    if (iy < 0 || iy >= ih)
                        continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride - d->pad + kx;
                        if (ix < 0 || ix >= iw)
                            continue;
                        size_t at = ((size_t)iy * iw + ix) * C, tap = ((size_t)ky * d->kw + kx) * C;
                        if (dw)
                            vaxpy(dw + tap, g, img + at, C);
                        if (dimg)
                            vaxpy(dimg + at, g, w + tap, C);
                    }
                }
            }
    }
    if (db)
        db[0] += (float)bsum;
}
