#include "adaptor/swiglu.h"

#include <math.h>
#include <stddef.h>

void ad_swiglu_forward(float *y, const float *x, const float *b, int n, int f)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * 2 * f;
        float *yr = y + (size_t)r * f;
        for (int i = 0; i < f; i++) { /* i < f keeps in-place reads ahead of writes */
            float a = xr[i] + (b ? b[i] : 0.0f), g = xr[f + i] + (b ? b[f + i] : 0.0f);
            yr[i] = a / (1.0f + expf(-a)) * g;
        }
    }
}
