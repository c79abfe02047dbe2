#include "adaptor/dropout.h"

#include "vmath.h"

#include <stdint.h>
#include <string.h>

/* Elements are drawn in chunks of CHUNK (a multiple of 4, so every chunk starts on a fresh
 * 64-bit draw): element i of a call always uses bits 16 (i % 4) of the (i / 4)-th draw,
 * whatever the row length, and the serial generator stays out of the vectorised loops. */
enum { CHUNK = 1024 };

static void draw_u16(uint16_t *u, size_t n, ad_rng *rng)
{
    uint64_t r[CHUNK / 4];
    ad_rng_u64_fill(rng, r, (n + 3) / 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* the 16-bit fields of a draw, low first, are its bytes in memory order */
    memcpy(u, r, n * sizeof *u);
#else
    for (size_t i = 0; i < n; i++)
        u[i] = (uint16_t)((r[i / 4] >> (16 * (i % 4))) & 0xFFFF);
#endif
}

/* One stretch of a row: y = act(y + bias) * s, s = 0 where the draw is below thr. Written
 * so that the compiler vectorises it (no branch on random data: those mispredict half the
 * time). */
AD_SIMD_CLONES
static void bias_drop_span(float *restrict y, float *restrict mask, const float *restrict bias,
                           const uint16_t *restrict u, int relu, size_t n, uint32_t thr,
                           float keep)
{
    for (size_t i = 0; i < n; i++) {
        float v = bias ? y[i] + bias[i] : y[i];
        v = relu && !(v > 0) ? 0.0f : v;
        float s = u ? (u[i] < thr ? 0.0f : keep) : 1.0f;
        y[i] = v * s;
        if (mask)
            mask[i] = s;
    }
}

void ad_bias_dropout_forward(float *y, float *mask, const float *bias, int relu, size_t rows,
                             size_t d, float p, ad_rng *rng)
{
    /* p is applied as round(p * 65536) / 65536, well inside the statistical noise of
     * dropout itself. */
    float keep = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    uint32_t thr = (uint32_t)(p * 65536.0f + 0.5f);
    uint16_t u[CHUNK];
    size_t n = rows * d;
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = n - c0 < CHUNK ? n : c0 + CHUNK;
        if (p > 0)
            draw_u16(u, c1 - c0, rng);
        /* spans of the chunk that stay inside one row, for the bias */
        for (size_t i = c0; i < c1;) {
            size_t col = i % d, len = d - col < c1 - i ? d - col : c1 - i;
            bias_drop_span(y + i, mask ? mask + i : NULL, bias ? bias + col : NULL,
                           p > 0 ? u + (i - c0) : NULL, relu, len, thr, keep);
            i += len;
        }
    }
}

void ad_dropout_forward(float *y, float *mask, size_t n, float p, ad_rng *rng)
{
    if (n > 0)
        ad_bias_dropout_forward(y, mask, NULL, 0, 1, n, p, rng);
}

void ad_dropout_backward(float *dy, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] *= mask[i];
}
