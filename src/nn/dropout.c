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

/* y *= s, s = 0 where the draw is below thr. Written so that the compiler vectorises it
 * (no branch on random data: those mispredict half the time). */
AD_SIMD_CLONES
static void drop_span(float *restrict y, float *restrict mask, const uint16_t *restrict u,
                      size_t n, uint32_t thr, float keep)
{
    for (size_t i = 0; i < n; i++) {
        float s = u[i] < thr ? 0.0f : keep;
        y[i] *= s;
        if (mask)
            mask[i] = s;
    }
}

void ad_dropout_forward(float *y, float *mask, size_t n, float p, ad_rng *rng)
{
    if (!(p > 0)) {
        /* nothing is drawn and every unit is kept */
        for (size_t i = 0; mask && i < n; i++)
            mask[i] = 1.0f;
        return;
    }
    /* p is applied as round(p * 65536) / 65536, well inside the statistical noise of
     * dropout itself. */
    float keep = 1.0f / (1.0f - p);
    uint32_t thr = (uint32_t)(p * 65536.0f + 0.5f);
    uint16_t u[CHUNK];
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t len = n - c0 < CHUNK ? n - c0 : CHUNK;
        draw_u16(u, len, rng);
        drop_span(y + c0, mask ? mask + c0 : NULL, u, len, thr, keep);
    }
}

void ad_dropout_backward(float *dy, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] *= mask[i];
}
