/* Exact tie-aware AUROC and the zero-shot scores that feed it. */
#include "adaptor/auroc.h"

#include "adaptor/error.h"
#include "adaptor/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scored {
    float s;
    int8_t y;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

int ad_auroc(const float *score, const int8_t *label, int64_t n, const char *name, double *auc)
{
    *auc = NAN;
    if (!name)
        name = "labels";
    if (n < 0)
        return ad_fail(AD_ERR_ARG, "%s: negative count", name);
    scored *v = ad_malloc(sizeof *v * (size_t)(n + 1), "AUROC scores");
    if (!v)
        return AD_ERR_NOMEM;
    int64_t m = 0, npos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (label[i] == -1)
            continue;
        if (label[i] != 0 && label[i] != 1) {
            free(v);
            return ad_fail(AD_ERR_FORMAT, "%s: label %d at row %lld (0, 1 or -1 expected)", name,
                           label[i], (long long)i);
        }
        if (!isfinite(score[i])) {
            free(v);
            return ad_fail(AD_ERR_NUMERIC, "%s: score of row %lld is not finite", name,
                           (long long)i);
        }
        v[m].s = score[i];
        v[m].y = label[i];
        npos += label[i];
        m++;
    }
    int64_t nneg = m - npos;
    if (npos == 0 || nneg == 0) {
        free(v);
        return ad_fail(AD_ERR_ARG, "%s: AUROC needs both classes (%lld positive, %lld negative)",
                       name, (long long)npos, (long long)nneg);
    }
    qsort(v, (size_t)m, sizeof *v, cmp_scored);
    /* Twice U: each positive beats the negatives below its group (2 each) and ties the
     * negatives inside it (1 each); an integer, exact up to n ~ 2^31. */
    uint64_t u2 = 0, neg_below = 0;
    for (int64_t g = 0; g < m;) {
        int64_t e = g;
        uint64_t pos_g = 0, neg_g = 0;
        for (; e < m && v[e].s == v[g].s; e++) {
            pos_g += (uint64_t)v[e].y;
            neg_g += (uint64_t)(1 - v[e].y);
        }
        u2 += pos_g * (2 * neg_below + neg_g);
        neg_below += neg_g;
        g = e;
    }
    free(v);
    *auc = (double)u2 / (2.0 * (double)npos * (double)nneg);
    return AD_OK;
}

/* Euclidean norms of rows first .. first + n - 1 (x points at row first). */
static int norms(const float *x, int64_t first, int64_t n, int p, const char *what, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < p; j++)
            s += (double)x[i * p + j] * x[i * p + j];
        if (!(s > 0) || !isfinite(s))
            return ad_fail(AD_ERR_NUMERIC, "zero-shot: %s row %lld has norm %g", what,
                           (long long)(first + i), sqrt(s));
        out[i] = sqrt(s);
    }
    return AD_OK;
}

int ad_zeroshot_auroc(const float *img, int64_t n, int p, const float *pos, const float *neg,
                      const int8_t *labels, int nlab, const char *const *names, double *auc,
                      double *mean)
{
    enum { BLOCK = 4096 };
    if (n < 1 || p < 1 || nlab < 1)
        return ad_fail(AD_ERR_ARG, "zero-shot: bad shape (%lld images, %d features, %d labels)",
                       (long long)n, p, nlab);
    int L2 = 2 * nlab, rc = AD_OK;
    float *prompts = ad_malloc(sizeof(float) * (size_t)L2 * p, "zero-shot prompts");
    double *pn = ad_malloc(sizeof(double) * (size_t)L2, "zero-shot norms");
    double *in = ad_malloc(sizeof(double) * BLOCK, "zero-shot norms");
    float *sim = ad_malloc(sizeof(float) * (size_t)BLOCK * L2, "zero-shot similarities");
    float *score = ad_malloc(sizeof(float) * (size_t)n * nlab, "zero-shot scores");
    int8_t *col = ad_malloc((size_t)n, "zero-shot labels");
    if (!prompts || !pn || !in || !sim || !score || !col) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    /* Rows 0..nlab-1 positive prompts, nlab..2 nlab-1 negative ones. */
    memcpy(prompts, pos, sizeof(float) * (size_t)nlab * p);
    memcpy(prompts + (size_t)nlab * p, neg, sizeof(float) * (size_t)nlab * p);
    AD_CHECK(norms(prompts, 0, L2, p, "prompt (positive first, then negative)", pn));
    for (int64_t b0 = 0; b0 < n; b0 += BLOCK) {
        int nb = (int)(n - b0 < BLOCK ? n - b0 : BLOCK);
        const float *x = img + (size_t)b0 * p;
        AD_CHECK(norms(x, b0, nb, p, "image embedding", in));
        ad_gemm(0, 1, nb, L2, p, 1.0f, x, p, prompts, p, 0.0f, sim, L2);
        for (int i = 0; i < nb; i++)
            for (int k = 0; k < nlab; k++) {
                double cp = sim[(size_t)i * L2 + k] / (in[i] * pn[k]);
                double cn = sim[(size_t)i * L2 + nlab + k] / (in[i] * pn[nlab + k]);
                score[(size_t)k * n + b0 + i] = (float)(cp - cn);
            }
    }
    double sum = 0;
    for (int k = 0; k < nlab; k++) {
        for (int64_t i = 0; i < n; i++)
            col[i] = labels[(size_t)i * nlab + k];
        char fallback[32];
        snprintf(fallback, sizeof fallback, "label %d", k);
        const char *name = names && names[k] ? names[k] : fallback;
        AD_CHECK(ad_auroc(score + (size_t)k * n, col, n, name, &auc[k]));
        sum += auc[k];
    }
    *mean = sum / nlab;
done:
    free(prompts);
    free(pn);
    free(in);
    free(sim);
    free(score);
    free(col);
    return rc;
}
