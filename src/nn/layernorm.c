#include "adaptor/nn.h"

#include "vmath.h"

#include <math.h>
#include <string.h>

/* Two-pass statistics (no E[x^2] - E[x]^2 cancellation), as PyTorch computes them. */
AD_VINLINE void normalise_row(float *y, const float *x, const float *g, const float *b,
                                 int d, float eps, float *mean_out, float *rstd_out)
{
    float m = ad_vsum(x, d) / (float)d;
    float rs = 1.0f / sqrtf(ad_vsqdev(x, m, d) / (float)d + eps);
    for (int i = 0; i < d; i++)
        y[i] = (x[i] - m) * rs * g[i] + b[i];
    if (mean_out)
        *mean_out = m;
    if (rstd_out)
        *rstd_out = rs;
}

AD_SIMD_CLONES
void ad_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                          const float *b, int n, int d, float eps)
{
    for (int r = 0; r < n; r++)
        normalise_row(y + (size_t)r * d, x + (size_t)r * d, g, b, d, eps,
                      mean ? mean + r : NULL, rstd ? rstd + r : NULL);
}

AD_SIMD_CLONES
void ad_residual_layernorm_forward(float *y, const float *h, const float *bias,
                                   const float *res, const float *g, const float *b, int n,
                                   int d, float eps)
{
    for (int r = 0; r < n; r++) {
        const float *hr = h + (size_t)r * d, *rr = res + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        /* y may alias h or res: each element is read before it is written. */
        if (bias)
            for (int i = 0; i < d; i++)
                yr[i] = hr[i] + bias[i] + rr[i];
        else
            for (int i = 0; i < d; i++)
                yr[i] = hr[i] + rr[i];
        normalise_row(yr, yr, g, b, d, eps, NULL, NULL);
    }
}

/* 16-lane loads and stores by memcpy (no function taking or returning a 64-byte vector:
 * the baseline build's ABI has no such registers). */
#define VLD(v, p) memcpy(&(v), (p), sizeof(ad_vf16))
#define VST(p, v) memcpy((p), &(v), sizeof(ad_vf16))
/* One row, in 16-lane blocks. dx may alias dy: each block of dy is read before the same
 * block of dx is written. */
AD_VINLINE void ln_backward_row(float *dx, float *dg, float *db, const float *dy, const float *x,
                                float m, float rs, const float *g, int d)
{
    /* dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy g. */
    ad_vf16 a1 = {0}, a2 = {0};
    float s1 = 0, s2 = 0;
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        ad_vf16 dyv, t, xv, gv;
        VLD(dyv, dy + i);
        VLD(xv, x + i);
        VLD(gv, g + i);
        ad_vf16 xh = (xv - m) * rs, dxh = dyv * gv;
        a1 += dxh;
        a2 += dxh * xh;
        if (dg) {
            VLD(t, dg + i);
            t += dyv * xh;
            VST(dg + i, t);
        }
        if (db) {
            VLD(t, db + i);
            t += dyv;
            VST(db + i, t);
        }
    }
    for (; i < d; i++) {
        float xh = (x[i] - m) * rs, dxh = dy[i] * g[i];
        s1 += dxh;
        s2 += dxh * xh;
        if (dg)
            dg[i] += dy[i] * xh;
        if (db)
            db[i] += dy[i];
    }
    for (int l = 0; l < 16; l++) {
        s1 += a1[l];
        s2 += a2[l];
    }
    s1 /= (float)d;
    s2 /= (float)d;
    for (i = 0; i + 16 <= d; i += 16) {
        ad_vf16 dyv, xv, gv;
        VLD(dyv, dy + i);
        VLD(xv, x + i);
        VLD(gv, g + i);
        ad_vf16 xh = (xv - m) * rs;
        ad_vf16 v = rs * (dyv * gv - s1 - xh * s2);
        VST(dx + i, v);
    }
    for (; i < d; i++) {
        float xh = (x[i] - m) * rs;
        dx[i] = rs * (dy[i] * g[i] - s1 - xh * s2);
    }
}

AD_SIMD_CLONES
void ad_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *g, int n, int d)
{
    for (int r = 0; r < n; r++) {
        size_t o = (size_t)r * d;
        ln_backward_row(dx + o, dg, db, dy + o, x + o, mean[r], rstd[r], g, d);
    }
}
