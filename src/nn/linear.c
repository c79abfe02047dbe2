#include "adaptor/nn.h"

#include <string.h>

void ad_linear_forward(float *y, int ldy, const float *x, int ldx, const float *w,
                       const float *b, int n, int in, int out)
{
    /* The bias goes in first so the GEMM adds onto it (beta = 1): one pass over y fewer
     * than a separate bias loop after the product. */
    if (b) {
        for (int r = 0; r < n; r++)
            memcpy(y + (size_t)r * ldy, b, sizeof(float) * (size_t)out);
    }
    ad_gemm(0, 1, n, out, in, 1.0f, x, ldx, w, in, b ? 1.0f : 0.0f, y, ldy);
}

static void sum_rows(float *db, const float *dy, int n, int out)
{
    for (int r = 0; r < n; r++) {
        const float *row = dy + (size_t)r * out;
        for (int j = 0; j < out; j++)
            db[j] += row[j];
    }
}

void ad_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int n, int in, int out)
{
    if (dx)
        ad_gemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    if (dw)
        ad_gemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        sum_rows(db, dy, n, out);
}
