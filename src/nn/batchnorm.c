#include "adaptor/batchnorm.h"

#include "adaptor/error.h"

#include <math.h>
#include <stdlib.h>

/* Sums over ranks in double: the per-channel sums add up rows x ranks terms, and the
 * variance is formed as E[x^2] - mean^2 from them (one reduction instead of two). */
static int sum(const ad_reduce *red, double *buf, int n, const char *what)
{
    int rc = ad_reduce_sum(red, buf, n, what);
    return rc == AD_OK ? AD_OK : ad_fail_ctx(rc, "batchnorm");
}

int ad_batchnorm_forward_train(float *y, ad_batchnorm_cache *c, const float *x,
                               const float *gamma, const float *beta, float *running_mean,
                               float *running_var, size_t rows, int C, float eps,
                               float momentum, const ad_reduce *red)
{
    double *s = ad_calloc((size_t)2 * C + 1, sizeof(double), "batchnorm channel sums");
    if (!s)
        return AD_ERR_NOMEM;
    /* Shift by the first row of this rank would help cancellation, but ranks would disagree
     * on the shift; activations here are O(1) and summed in double, which suffices. */
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)C;
        for (int j = 0; j < C; j++) {
            s[j] += xr[j];
            s[C + j] += (double)xr[j] * xr[j];
        }
    }
    s[2 * C] = (double)rows;
    int rc = sum(red, s, 2 * C + 1, "batch statistics");
    if (rc != AD_OK) {
        free(s);
        return rc;
    }
    double n = s[2 * C];
    if (n < 2) {
        free(s);
        return ad_fail(AD_ERR_ARG,
                       "batchnorm: training needs more than 1 value per channel (got %.0f rows)",
                       n);
    }
    for (int j = 0; j < C; j++) {
        double m = s[j] / n, var = s[C + j] / n - m * m;
        if (var < 0)
            var = 0;
        c->mean[j] = (float)m;
        c->rstd[j] = (float)(1.0 / sqrt(var + eps));
        if (running_mean)
            running_mean[j] = (1 - momentum) * running_mean[j] + momentum * (float)m;
        if (running_var)
            running_var[j] =
                (1 - momentum) * running_var[j] + momentum * (float)(var * n / (n - 1));
    }
    c->count = n;
    free(s);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)C;
        float *hr = c->xhat + r * (size_t)C, *yr = y + r * (size_t)C;
        for (int j = 0; j < C; j++) {
            hr[j] = (xr[j] - c->mean[j]) * c->rstd[j];
            yr[j] = hr[j] * gamma[j] + beta[j];
        }
    }
    return AD_OK;
}

void ad_batchnorm_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                               const float *running_mean, const float *running_var,
                               size_t rows, int C, float eps)
{
    for (int j = 0; j < C; j++) {
        float rs = 1.0f / sqrtf(running_var[j] + eps);
        float scale = gamma[j] * rs, shift = beta[j] - running_mean[j] * scale;
        for (size_t r = 0; r < rows; r++)
            y[r * (size_t)C + j] = x[r * (size_t)C + j] * scale + shift;
    }
}

int ad_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const ad_batchnorm_cache *c, const float *gamma, size_t rows, int C,
                          const ad_reduce *red)
{
    /* dx = rstd * gamma * (dy - sum(dy)/N - xhat * sum(dy xhat)/N), sums over all ranks. */
    double *s = ad_calloc((size_t)2 * C, sizeof(double), "batchnorm gradient sums");
    if (!s)
        return AD_ERR_NOMEM;
    for (size_t r = 0; r < rows; r++) {
        const float *dr = dy + r * (size_t)C, *hr = c->xhat + r * (size_t)C;
        for (int j = 0; j < C; j++) {
            s[j] += dr[j];
            s[C + j] += (double)dr[j] * hr[j];
        }
    }
    for (int j = 0; j < C; j++) {
        if (dbeta)
            dbeta[j] += (float)s[j];
        if (dgamma)
            dgamma[j] += (float)s[C + j];
    }
    int rc = sum(red, s, 2 * C, "gradient sums");
    if (rc != AD_OK) {
        free(s);
        return rc;
    }
    for (int j = 0; j < C; j++) {
        s[j] /= c->count;
        s[C + j] /= c->count;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *dr = dy + r * (size_t)C, *hr = c->xhat + r * (size_t)C;
        float *xr = dx + r * (size_t)C;
        for (int j = 0; j < C; j++)
            xr[j] = c->rstd[j] * gamma[j] *
                    (float)(dr[j] - s[j] - hr[j] * s[C + j]);
    }
    free(s);
    return AD_OK;
}
