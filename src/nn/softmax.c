#include "adaptor/nn.h"

#include "vmath.h"

#include <math.h>

void ad_softmax_forward(float *y, const float *x, int n, int d, int ld)
{
    ad_softmax_masked_forward(y, x, NULL, n, d, ld);
}

AD_SIMD_CLONES
void ad_softmax_masked_forward(float *y, const float *x, const float *mask, int n, int d, int ld)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * ld;
        float *yr = y + (size_t)r * ld;
        if (mask) {
            for (int i = 0; i < d; i++)
                yr[i] = xr[i] + mask[i];
            xr = yr;
        }
        float m = ad_vmax(xr, d);
        if (m == -INFINITY) { /* every entry masked out */
            for (int i = 0; i < d; i++)
                yr[i] = 0.0f;
            continue;
        }
        for (int i = 0; i < d; i++)
            yr[i] = ad_vexp(xr[i] - m);
        float inv = 1.0f / ad_vsum(yr, d);
        for (int i = 0; i < d; i++)
            yr[i] *= inv;
    }
}

void ad_softmax_backward(float *dx, const float *dy, const float *y, int n, int d, int ld)
{
    for (int r = 0; r < n; r++) {
        const float *dyr = dy + (size_t)r * ld, *yr = y + (size_t)r * ld;
        float *dxr = dx + (size_t)r * ld;
        float s = 0;
        for (int i = 0; i < d; i++)
            s += dyr[i] * yr[i];
        for (int i = 0; i < d; i++)
            dxr[i] = yr[i] * (dyr[i] - s);
    }
}
