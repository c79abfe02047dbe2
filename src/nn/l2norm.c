#include "adaptor/l2norm.h"

#include "vmath.h"

#include <math.h>
#include <stddef.h>

#define L2_EPS 1e-12

AD_SIMD_CLONES
void ad_l2norm_forward(float *y, float *norm, const float *x, int n, int d)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        /* Double accumulation: the norm feeds every later step of the loss. */
        double nrm = sqrt(ad_vdotd(xr, xr, d));
        float nf = (float)(nrm > L2_EPS ? nrm : L2_EPS);
        for (int i = 0; i < d; i++)
            yr[i] = xr[i] / nf;
        if (norm)
            norm[r] = nf;
    }
}

AD_SIMD_CLONES
void ad_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int n,
                        int d)
{
    for (int r = 0; r < n; r++) {
        const float *dyr = dy + (size_t)r * d, *yr = y + (size_t)r * d;
        float *dxr = dx + (size_t)r * d;
        float inv = 1.0f / norm[r];
        if ((double)norm[r] <= L2_EPS) {
            /* The denominator was clamped, so it is constant. */
            for (int i = 0; i < d; i++)
                dxr[i] = dyr[i] * inv;
            continue;
        }
        float fd = (float)ad_vdotd(yr, dyr, d);
        for (int i = 0; i < d; i++)
            dxr[i] = (dyr[i] - yr[i] * fd) * inv;
    }
}
