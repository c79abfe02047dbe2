#include "adaptor/losses.h"

#include <math.h>

double ad_bce_logits(const float *z, const int8_t *y, size_t n, double scale, float *dz)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0) {
            if (dz)
                dz[i] = 0;
            continue;
        }
        double x = z[i], t = y[i];
        sum += fmax(x, 0) - x * t + log1p(exp(-fabs(x)));
        if (dz) {
            /* sigmoid without overflow for either sign */
            double s = x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
            dz[i] = (float)((s - t) * scale);
        }
    }
    return sum * scale;
}

double ad_cross_entropy(const float *z, const int32_t *cls, size_t rows, int C, double scale,
                        float *dz)
{
    double sum = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * (size_t)C;
        float *dr = dz ? dz + r * (size_t)C : NULL;
        if (cls[r] < 0) {
            for (int j = 0; dr && j < C; j++)
                dr[j] = 0;
            continue;
        }
        double mx = zr[0], se = 0;
        for (int j = 1; j < C; j++)
            mx = fmax(mx, zr[j]);
        for (int j = 0; j < C; j++)
            se += exp(zr[j] - mx);
        double lse = mx + log(se);
        sum += lse - zr[cls[r]];
        for (int j = 0; dr && j < C; j++)
            dr[j] = (float)((exp(zr[j] - lse) - (j == cls[r])) * scale);
    }
    return sum * scale;
}
