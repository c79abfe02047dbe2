#include "adaptor/upsample.h"

#include <stddef.h>
#include <string.h>

void ad_upsample_nearest_forward(float *y, const float *x, int batch, int h, int w, int c,
                                 int s)
{
    size_t C = (size_t)c, ow = (size_t)w * s;
    for (size_t r = 0; r < (size_t)batch * h; r++) {
        const float *src = x + r * w * C;
        float *row = y + r * s * ow * C;
        for (int j = 0; j < w; j++)
            for (int a = 0; a < s; a++)
                memcpy(row + ((size_t)j * s + a) * C, src + j * C, C * sizeof(float));
        /* the other s - 1 output rows of this input row are copies of the first */
        for (int a = 1; a < s; a++)
            memcpy(row + a * ow * C, row, ow * C * sizeof(float));
    }
}

void ad_upsample_nearest_backward(float *dx, const float *dy, int batch, int h, int w, int c,
                                  int s)
{
    size_t C = (size_t)c, ow = (size_t)w * s;
    memset(dx, 0, sizeof(float) * (size_t)batch * h * w * C);
    for (size_t r = 0; r < (size_t)batch * h; r++) {
        float *dst = dx + r * w * C;
        for (int a = 0; a < s; a++) {
            const float *row = dy + (r * s + a) * ow * C;
            for (size_t j = 0; j < ow; j++) {
                float *d = dst + (j / s) * C;
                const float *g = row + j * C;
                for (size_t k = 0; k < C; k++)
                    d[k] += g[k];
            }
        }
    }
}
