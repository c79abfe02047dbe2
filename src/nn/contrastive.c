#include "adaptor/contrastive.h"

#include "adaptor/nn.h"

#include "vmath.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

size_t ad_contrastive_workspace(int b, int G) { return 4 * (size_t)b * (size_t)G; }

/* One row: p = softmax(l) and the row's log-sum-exp. Float throughout, like the reference
 * (torch's cross-entropy); the loss itself is lse - l[pos], so a vanishing probability never
 * turns into log(0). */
AD_SIMD_CLONES
static float softmax_lse(float *p, const float *l, int G)
{
    float mx = l[0], nonfinite = 0;
    for (int j = 1; j < G; j++)
        mx = l[j] > mx ? l[j] : mx;
    for (int j = 0; j < G; j++)
        nonfinite += l[j] - l[j]; /* NaN when any logit is NaN or infinite */
    if (nonfinite != 0 || !isfinite(mx)) {
        /* A diverged run: report NaN (the trainer stops on it) rather than feed the fast
         * exp a value it is not defined for. */
        for (int j = 0; j < G; j++)
            p[j] = NAN;
        return NAN;
    }
    float sum = 0;
    for (int j = 0; j < G; j++) {
        p[j] = ad_vexp(l[j] - mx);
        sum += p[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < G; j++)
        p[j] *= inv;
    return mx + logf(sum);
}

/* Row softmaxes of logits already in place; the sum of -log p at each row's positive. */
static double rows_nll(float *p, const float *logits, int b, int G, int offset)
{
    double nll = 0;
    for (int r = 0; r < b; r++) {
        const float *lrow = logits + (size_t)r * G;
        float lse = softmax_lse(p + (size_t)r * G, lrow, G);
        nll += (double)lse - (double)lrow[offset + r];
    }
    return nll;
}

/* logits = s A B^T (kept for the gradient of the scale) and their row softmax in p. */
static double softmax_rows_nll(float *p, float *logits, const float *a, const float *bm, int b,
                               int G, int d, float scale, int offset)
{
    ad_gemm(0, 1, b, G, d, scale, a, d, bm, d, 0.0f, logits, G);
    return rows_nll(p, logits, b, G, offset);
}

/* When a rank's rows are all the columns (one rank, or local negatives) the image logits
 * are the transpose of the text logits: one product instead of two forward and two instead
 * of four backward. */
static int square(const ad_contrastive *c) { return c->b == c->G; }

enum { TB = 32 }; /* transpose tile */

/* dst[n, n] (+)= src^T, in tiles so both sides stay in cache. */
static void transpose_into(float *dst, const float *src, int n, int add)
{
    for (int i0 = 0; i0 < n; i0 += TB)
        for (int j0 = 0; j0 < n; j0 += TB) {
            int i1 = i0 + TB < n ? i0 + TB : n, j1 = j0 + TB < n ? j0 + TB : n;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) {
                    float x = src[(size_t)j * n + i];
                    dst[(size_t)i * n + j] = add ? dst[(size_t)i * n + j] + x : x;
                }
        }
}

void ad_contrastive_forward(ad_contrastive *c, double *l_i2t, double *l_t2i, const float *t_loc,
                            const float *v_loc, const float *T_all, const float *V_all, float *ws)
{
    size_t bg = (size_t)c->b * c->G;
    c->p_t2i = ws;
    c->p_i2t = ws + bg;
    c->logits_t2i = ws + 2 * bg;
    c->logits_i2t = ws + 3 * bg;
    double w = c->image_weight, i2t, t2i;
    if (square(c)) {
        ad_gemm(0, 1, c->b, c->G, c->d, c->scale, t_loc, c->d, V_all, c->d, 0.0f, c->logits_t2i,
                c->G);
        transpose_into(c->logits_i2t, c->logits_t2i, c->G, 0);
        i2t = rows_nll(c->p_i2t, c->logits_i2t, c->b, c->G, c->offset);
        t2i = rows_nll(c->p_t2i, c->logits_t2i, c->b, c->G, c->offset);
    } else {
        /* Column j of logits = s T v_j: each local image against every text. */
        i2t = softmax_rows_nll(c->p_i2t, c->logits_i2t, v_loc, T_all, c->b, c->G, c->d, c->scale,
                               c->offset);
        t2i = softmax_rows_nll(c->p_t2i, c->logits_t2i, t_loc, V_all, c->b, c->G, c->d, c->scale,
                               c->offset);
    }
    *l_i2t = (1.0 - w) * i2t / c->norm;
    *l_t2i = w * t2i / c->norm;
}

/* In place: p <- coef * (p - onehot), the gradient of the weighted NLL w.r.t. the logits;
 * returns sum(dlogits * logits), i.e. s times the part of dL/ds from these rows. */
static double logits_grad(float *p, const float *logits, int b, int G, int offset, float coef)
{
    double ds = 0;
    for (int r = 0; r < b; r++) {
        float *row = p + (size_t)r * G;
        const float *lrow = logits + (size_t)r * G;
        row[offset + r] -= 1.0f;
        for (int j = 0; j < G; j++) {
            row[j] *= coef;
            ds += (double)row[j] * lrow[j];
        }
    }
    return ds;
}

void ad_contrastive_backward(const ad_contrastive *c, float *dt_loc, float *dv_loc, float *dT_all,
                             float *dV_all, double *dlogit_scale, const float *t_loc,
                             const float *v_loc, const float *T_all, const float *V_all)
{
    int b = c->b, G = c->G, d = c->d;
    float wt = (float)(c->image_weight / c->norm), wi = (float)((1.0 - c->image_weight) / c->norm);
    double ds = logits_grad(c->p_t2i, c->logits_t2i, b, G, c->offset, wt);
    ds += logits_grad(c->p_i2t, c->logits_i2t, b, G, c->offset, wi);
    float s = c->scale;
    if (square(c)) {
        /* Both softmaxes' gradients on the one logits matrix s t V^T; the gathered parts
         * are all local, so they are returned in dt_loc / dv_loc and dT_all, dV_all are 0. */
        transpose_into(c->p_t2i, c->p_i2t, G, 1);
        ad_gemm(0, 0, b, d, G, s, c->p_t2i, G, V_all, d, 0.0f, dt_loc, d);
        ad_gemm(1, 0, G, d, b, s, c->p_t2i, G, t_loc, d, 0.0f, dv_loc, d);
        memset(dT_all, 0, (size_t)G * d * sizeof(float));
        memset(dV_all, 0, (size_t)G * d * sizeof(float));
        *dlogit_scale = ds;
        return;
    }
    /* text rows: logits = s t_loc V^T */
    ad_gemm(0, 0, b, d, G, s, c->p_t2i, G, V_all, d, 0.0f, dt_loc, d);
    ad_gemm(1, 0, G, d, b, s, c->p_t2i, G, t_loc, d, 0.0f, dV_all, d);
    /* image columns: logits^T = s v_loc T^T */
    ad_gemm(0, 0, b, d, G, s, c->p_i2t, G, T_all, d, 0.0f, dv_loc, d);
    ad_gemm(1, 0, G, d, b, s, c->p_i2t, G, v_loc, d, 0.0f, dT_all, d);
    /* dL/dlogit_scale = dL/ds * s, and sum(dlogits * logits) = s * dL/ds. */
    *dlogit_scale = ds;
}
