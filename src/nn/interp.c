#include "adaptor/interp.h"

#include "adaptor/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Keys' cubic convolution for |x| <= 1 and 1 < |x| < 2 (PyTorch's cubic_convolution1/2). */
static float cubic1(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
static float cubic2(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

static float aa_filter(float x)
{
    x = fabsf(x);
    if (x < 1.0f)
        return cubic1(x, -0.5f);
    if (x < 2.0f)
        return cubic2(x, -0.5f);
    return 0.0f;
}

/* One axis: output o reads idx[o * maxtap + j] with weight wt[o * maxtap + j], j < n[o]. */
typedef struct {
    int maxtap;
    int *idx, *n;
    float *wt;
} taps;

static void taps_free(taps *t)
{
    free(t->idx);
    free(t->n);
    free(t->wt);
    t->idx = t->n = NULL;
    t->wt = NULL;
}

static int taps_build(taps *t, int in, int out, double scale_factor, ad_cubic_kind kind)
{
    float scale = scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
    float support = kind == AD_CUBIC_ANTIALIAS && scale >= 1.0f ? 2.0f * scale : 2.0f;
    t->maxtap = kind == AD_CUBIC_ANTIALIAS ? (int)(2.0f * support) + 2 : 4;
    t->idx = malloc(sizeof(int) * (size_t)out * t->maxtap);
    t->wt = malloc(sizeof(float) * (size_t)out * t->maxtap);
    t->n = malloc(sizeof(int) * (size_t)out);
    if (!t->idx || !t->wt || !t->n) {
        taps_free(t);
        return ad_fail(AD_ERR_NOMEM, "bicubic resize: out of memory for %d taps", out);
    }
    for (int o = 0; o < out; o++) {
        int *ix = t->idx + (size_t)o * t->maxtap;
        float *w = t->wt + (size_t)o * t->maxtap;
        if (kind == AD_CUBIC_PLAIN) {
            float real = scale * ((float)o + 0.5f) - 0.5f;
            int i0 = (int)floorf(real);
            if (i0 > in - 1)
                i0 = in - 1;
            float l = real - (float)i0;
            l = l < 0.0f ? 0.0f : l > 1.0f ? 1.0f : l;
            const float A = -0.75f;
            w[0] = cubic2(l + 1.0f, A);
            w[1] = cubic1(l, A);
            w[2] = cubic1(1.0f - l, A);
            w[3] = cubic2(2.0f - l, A);
            for (int j = 0; j < 4; j++) {
                int k = i0 - 1 + j;
                ix[j] = k < 0 ? 0 : k > in - 1 ? in - 1 : k;
            }
            t->n[o] = 4;
        } else {
            float center = scale * ((float)o + 0.5f);
            float inv = scale >= 1.0f ? 1.0f / scale : 1.0f;
            int lo = (int)(center - support + 0.5f);
            int hi = (int)(center + support + 0.5f);
            lo = lo < 0 ? 0 : lo;
            hi = hi > in ? in : hi;
            int m = hi - lo;
            if (m > t->maxtap)
                m = t->maxtap;
            float total = 0.0f;
            for (int j = 0; j < m; j++) {
                w[j] = aa_filter(((float)(j + lo) - center + 0.5f) * inv);
                ix[j] = lo + j;
                total += w[j];
            }
            for (int j = 0; j < m && total != 0.0f; j++)
                w[j] /= total;
            t->n[o] = m;
        }
    }
    return AD_OK;
}

int ad_bicubic_resize(float *dst, const float *src, int ih, int iw, int oh, int ow, int c,
                      double scale_h, double scale_w, ad_cubic_kind kind)
{
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1 || c < 1 || ih > 65536 || iw > 65536 ||
        oh > 65536 || ow > 65536 || scale_h < 0 || scale_w < 0)
        return ad_fail(AD_ERR_ARG, "bicubic resize: bad shape %dx%d -> %dx%d", ih, iw, oh, ow);
    taps ty = {0}, tx = {0};
    float *tmp = NULL;
    int rc = AD_OK;
    AD_CHECK(taps_build(&ty, ih, oh, scale_h, kind));
    AD_CHECK(taps_build(&tx, iw, ow, scale_w, kind));
    tmp = malloc(sizeof(float) * (size_t)ih * ow * c);
    if (!tmp) {
        rc = ad_fail(AD_ERR_NOMEM, "bicubic resize: out of memory");
        goto done;
    }
    /* separable: along the width into tmp[ih][ow][c], then along the height */
    for (int y = 0; y < ih; y++)
        for (int x = 0; x < ow; x++) {
            float *d = tmp + ((size_t)y * ow + x) * c;
            memset(d, 0, sizeof(float) * (size_t)c);
            for (int j = 0; j < tx.n[x]; j++) {
                float w = tx.wt[(size_t)x * tx.maxtap + j];
                const float *s = src + ((size_t)y * iw + tx.idx[(size_t)x * tx.maxtap + j]) * c;
                for (int k = 0; k < c; k++)
                    d[k] += w * s[k];
            }
        }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            float *d = dst + ((size_t)y * ow + x) * c;
            memset(d, 0, sizeof(float) * (size_t)c);
            for (int j = 0; j < ty.n[y]; j++) {
                float w = ty.wt[(size_t)y * ty.maxtap + j];
                const float *s = tmp + ((size_t)ty.idx[(size_t)y * ty.maxtap + j] * ow + x) * c;
                for (int k = 0; k < c; k++)
                    d[k] += w * s[k];
            }
        }
done:
    free(tmp);
    taps_free(&ty);
    taps_free(&tx);
    return rc;
}
