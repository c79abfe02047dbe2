#include "adaptor/nn.h"

#include "vmath.h"

#include <math.h>

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

void ad_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *g, int n, int d)
{
    for (int r = 0; r < n; r++) {
        const float *dyr = dy + (size_t)r * d, *xr = x + (size_t)r * d;
        float *dxr = dx + (size_t)r * d;
        float m = mean[r], rs = rstd[r];
        /* dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy g. */
        float s1 = 0, s2 = 0;
        for (int i = 0; i < d; i++) {
            float xh = (xr[i] - m) * rs, dxh = dyr[i] * g[i];
            s1 += dxh;
            s2 += dxh * xh;
            if (dg)
                dg[i] += dyr[i] * xh;
            if (db)
                db[i] += dyr[i];
        }
        s1 /= (float)d;
        s2 /= (float)d;
        for (int i = 0; i < d; i++) {
            float xh = (xr[i] - m) * rs;
            dxr[i] = rs * (dyr[i] * g[i] - s1 - xh * s2);
        }
    }
}
