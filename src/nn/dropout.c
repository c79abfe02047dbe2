#include "adaptor/dropout.h"

#include <stdint.h>

void ad_dropout_forward(float *y, float *mask, size_t n, float p, ad_rng *rng)
{
    /* Four 16-bit draws per 64-bit random number: p is applied as round(p * 65536) / 65536,
     * well inside the statistical noise of dropout itself. */
    float keep = 1.0f / (1.0f - p);
    uint32_t thr = (uint32_t)(p * 65536.0f + 0.5f);
    for (size_t i = 0; i < n; i += 4) {
        uint64_t r = ad_rng_u64(rng);
        size_t m = n - i < 4 ? n - i : 4;
        for (size_t k = 0; k < m; k++) {
            float s = (uint32_t)((r >> (16 * k)) & 0xFFFF) < thr ? 0.0f : keep;
            y[i + k] *= s;
            if (mask)
                mask[i + k] = s;
        }
    }
}

void ad_dropout_backward(float *dy, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] *= mask[i];
}
