#include "adaptor/adamw.h"

#include "adaptor/error.h"

#include "../nn/vmath.h"

#include <math.h>
#include <stdlib.h>

struct ad_adamw {
    ad_adamw_opts o;
    size_t n;
    int64_t t;
    float *m, *v;
};

ad_adamw_opts ad_adamw_default_opts(void)
{
    ad_adamw_opts o = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01,
                       .max_grad_norm = 0.0};
    return o;
}

static int check_opts(const ad_adamw_opts *o)
{
    /* Written as !(in range) so NaN options are rejected too. */
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0))
        return ad_fail(AD_ERR_ARG, "adamw: beta1 %g outside [0, 1)", o->beta1);
    if (!(o->beta2 >= 0.0 && o->beta2 < 1.0))
        return ad_fail(AD_ERR_ARG, "adamw: beta2 %g outside [0, 1)", o->beta2);
    if (!(o->eps >= 0.0))
        return ad_fail(AD_ERR_ARG, "adamw: eps %g is negative", o->eps);
    if (!(o->weight_decay >= 0.0))
        return ad_fail(AD_ERR_ARG, "adamw: weight_decay %g is negative", o->weight_decay);
    if (isnan(o->max_grad_norm))
        return ad_fail(AD_ERR_ARG, "adamw: max_grad_norm is NaN");
    return AD_OK;
}

int ad_adamw_create(ad_adamw **out, size_t n, const ad_adamw_opts *opts)
{
    *out = NULL;
    ad_adamw_opts o = opts ? *opts : ad_adamw_default_opts();
    if (n == 0)
        return ad_fail(AD_ERR_ARG, "adamw: empty parameter buffer");
    AD_TRY(check_opts(&o));
    ad_adamw *a = ad_calloc(1, sizeof *a, "adamw");
    if (!a)
        return AD_ERR_NOMEM;
    a->o = o;
    a->n = n;
    a->m = ad_calloc(n, sizeof(float), "adamw exp_avg");
    a->v = ad_calloc(n, sizeof(float), "adamw exp_avg_sq");
    if (!a->m || !a->v) {
        ad_adamw_destroy(a);
        return AD_ERR_NOMEM;
    }
    *out = a;
    return AD_OK;
}

void ad_adamw_destroy(ad_adamw *a)
{
    if (!a)
        return;
    free(a->m);
    free(a->v);
    free(a);
}

AD_SIMD_CLONES
double ad_grad_norm(const float *g, size_t n) { return sqrt(ad_vdotd(g, g, n)); }

static void clip_to(float *g, size_t n, double max_norm, double total)
{
    /* torch: coef = max_norm / (total + 1e-6) on a float32 tensor, which Tensor.__rtruediv__
     * evaluates as reciprocal() * max_norm; clamped to 1, so only a coef < 1 changes g. */
    float coef = (1.0f / ((float)total + 1e-6f)) * (float)max_norm;
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++)
            g[i] = g[i] * coef;
}

void ad_clip_grad_norm(float *g, size_t n, double max_norm, double *norm)
{
    double total = ad_grad_norm(g, n);
    if (norm)
        *norm = total;
    clip_to(g, n, max_norm, total);
}

typedef struct adamw_coefs {
    float decay, b1, one_b1, b2, one_b2, neg_step, bc2_sqrt, eps;
} adamw_coefs;

/* One loop over the contiguous buffers, in the widest vectors the CPU has (the library is
 * built for baseline x86-64); memory-bound beyond that. */
AD_SIMD_CLONES
static void adamw_update(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, size_t n, const adamw_coefs *kp)
{
    const adamw_coefs k = *kp;
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * k.decay;
        float mi = m[i] * k.b1 + k.one_b1 * g[i];
        float vi = v[i] * k.b2 + k.one_b2 * g[i] * g[i];
        float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + k.neg_step * mi / denom;
    }
}

int ad_adamw_step(ad_adamw *a, float *params, float *grads, double lr, double *grad_norm)
{
    const ad_adamw_opts *o = &a->o;
    if (!(lr >= 0.0) || isinf(lr))
        return ad_fail(AD_ERR_ARG, "adamw: learning rate %g is not a finite value >= 0", lr);
    if (grad_norm || o->max_grad_norm > 0.0) {
        double norm = ad_grad_norm(grads, a->n);
        if (!isfinite(norm))
            return ad_fail(AD_ERR_NUMERIC, "adamw: gradient norm is %g at update %lld", norm,
                           (long long)(a->t + 1));
        if (grad_norm)
            *grad_norm = norm;
        if (o->max_grad_norm > 0.0)
            clip_to(grads, a->n, o->max_grad_norm, norm);
    }
    a->t++;
    /* torch evaluates these scalars in Python (double) and each tensor op rounds its scalar
     * operand to float32 once; doing the same keeps us within float32 round-off of it. */
    double step = (double)a->t;
    double bc1 = 1.0 - pow(o->beta1, step);
    double bc2 = 1.0 - pow(o->beta2, step);
    const float decay = (float)(1.0 - lr * o->weight_decay);
    const float b1 = (float)o->beta1, one_b1 = (float)(1.0 - o->beta1);
    const float b2 = (float)o->beta2, one_b2 = (float)(1.0 - o->beta2);
    const float neg_step = (float)(-(lr / bc1));
    const adamw_coefs k = {decay, b1, one_b1, b2, one_b2, neg_step, (float)sqrt(bc2),
                           (float)o->eps};
    adamw_update(params, grads, a->m, a->v, a->n, &k);
    return AD_OK;
}

size_t ad_adamw_size(const ad_adamw *a) { return a->n; }
float *ad_adamw_exp_avg(ad_adamw *a) { return a->m; }
float *ad_adamw_exp_avg_sq(ad_adamw *a) { return a->v; }
int64_t ad_adamw_step_count(const ad_adamw *a) { return a->t; }
const ad_adamw_opts *ad_adamw_options(const ad_adamw *a) { return &a->o; }

int ad_adamw_set_step_count(ad_adamw *a, int64_t t)
{
    if (t < 0)
        return ad_fail(AD_ERR_ARG, "adamw: negative step count %lld", (long long)t);
    a->t = t;
    return AD_OK;
}
