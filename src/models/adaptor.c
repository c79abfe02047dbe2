#include "adaptor/adaptor.h"

#include "adaptor/error.h"
#include "adaptor/l2norm.h"
#include "adaptor/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameter layout -------------------------------------------------------------------- */

static void add_tensor(ad_adaptor *m, size_t *off, const char *name, int ndim, int64_t d0,
                       int64_t d1)
{
    ad_param_tensor *t = &m->tensors[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = *off;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    *off += (size_t)(ndim == 0 ? 1 : ndim == 1 ? d0 : d0 * d1);
}

/* The reference module's state_dict order and names (SPEC 5). */
static void build_layout(ad_adaptor *m)
{
    const ad_adaptor_config *c = &m->cfg;
    size_t off = 0;
    int64_t P = c->proj, F = c->ffn;
    add_tensor(m, &off, "projection.visual_projection.weight", 2, P, c->dv);
    add_tensor(m, &off, "projection.text_projection.weight", 2, P, c->dt);
    for (int l = 0; l < c->layers; l++) {
        char pre[64], name[96];
        /* The reference names a single layer without its index. */
        if (c->layers == 1)
            snprintf(pre, sizeof pre, "adaptor_module.encoder.");
        else
            snprintf(pre, sizeof pre, "adaptor_module.encoder.%d.", l);
#define T(suffix, nd, a, b)                                                                    \
    snprintf(name, sizeof name, "%s%s", pre, suffix);                                          \
    add_tensor(m, &off, name, nd, a, b)
        T("attn.in_proj_weight", 2, 3 * P, P);
        T("attn.in_proj_bias", 1, 3 * P, 0);
        T("attn.out_proj.weight", 2, P, P);
        T("attn.out_proj.bias", 1, P, 0);
        T("linear1.weight", 2, F, P);
        T("linear1.bias", 1, F, 0);
        T("linear2.weight", 2, P, F);
        T("linear2.bias", 1, P, 0);
        T("norm1.weight", 1, P, 0);
        T("norm1.bias", 1, P, 0);
        T("norm2.weight", 1, P, 0);
        T("norm2.bias", 1, P, 0);
#undef T
    }
    add_tensor(m, &off, "logit_scale", 0, 0, 0);
    m->nparams = off;
}

static void bind_views(ad_adaptor *m, float *base, float **w_img, float **w_txt,
                       ad_adaptor_layer *layers, float **ls)
{
    size_t i = 0;
    *w_img = base + m->tensors[i++].offset;
    *w_txt = base + m->tensors[i++].offset;
    for (int l = 0; l < m->cfg.layers; l++) {
        ad_adaptor_layer *L = &layers[l];
        float **slots[] = {&L->in_w, &L->in_b, &L->out_w, &L->out_b, &L->l1_w, &L->l1_b,
                           &L->l2_w, &L->l2_b, &L->n1_g, &L->n1_b, &L->n2_g, &L->n2_b};
        for (size_t k = 0; k < sizeof slots / sizeof *slots; k++)
            *slots[k] = base + m->tensors[i++].offset;
    }
    *ls = base + m->tensors[i].offset;
}

int ad_adaptor_create(const ad_adaptor_config *cfg, ad_adaptor **out)
{
    *out = NULL;
    if (cfg->dv <= 0 || cfg->dt <= 0 || cfg->proj <= 0 || cfg->ffn <= 0 || cfg->layers <= 0 ||
        cfg->heads <= 0)
        return ad_fail(AD_ERR_ARG, "adaptor: sizes must be positive (image %d, text %d, "
                       "projection %d, ffn %d, layers %d, heads %d)", cfg->dv, cfg->dt, cfg->proj,
                       cfg->ffn, cfg->layers, cfg->heads);
    if (cfg->proj % cfg->heads != 0)
        return ad_fail(AD_ERR_CONFIG, "adaptor: projection_dim %d is not divisible by num_heads %d",
                       cfg->proj, cfg->heads);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1))
        return ad_fail(AD_ERR_CONFIG, "adaptor: dropout %g must be in [0, 1)", cfg->dropout);
    ad_adaptor *m = ad_calloc(1, sizeof *m, "adaptor");
    if (!m)
        return AD_ERR_NOMEM;
    m->cfg = *cfg;
    m->tensors = ad_calloc((size_t)cfg->layers * 12 + 3, sizeof *m->tensors, "adaptor tensors");
    m->layer = ad_calloc((size_t)cfg->layers, sizeof *m->layer, "adaptor layers");
    m->glayer = ad_calloc((size_t)cfg->layers, sizeof *m->glayer, "adaptor layers");
    if (!m->tensors || !m->layer || !m->glayer) {
        ad_adaptor_destroy(m);
        return AD_ERR_NOMEM;
    }
    build_layout(m);
    m->params = ad_calloc(m->nparams, sizeof(float), "adaptor parameters");
    m->grads = ad_calloc(m->nparams, sizeof(float), "adaptor gradients");
    if (!m->params || !m->grads) {
        ad_adaptor_destroy(m);
        return AD_ERR_NOMEM;
    }
    bind_views(m, m->params, &m->w_img, &m->w_txt, m->layer, &m->logit_scale);
    bind_views(m, m->grads, &m->gw_img, &m->gw_txt, m->glayer, &m->glogit_scale);
    *out = m;
    return AD_OK;
}

static void free_acts(ad_adaptor_acts *a)
{
    float **all[] = {&a->x, &a->proj_n, &a->h, &a->vv, &a->mask_a, &a->s1, &a->x1,
                     &a->n1_mean, &a->n1_rstd, &a->f, &a->mask_f, &a->mask_g, &a->s2,
                     &a->n2_mean, &a->n2_rstd, &a->out, &a->out_n};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
    a->cap = 0;
}

void ad_adaptor_destroy(ad_adaptor *m)
{
    if (!m)
        return;
    free_acts(&m->acts[0]);
    free_acts(&m->acts[1]);
    free(m->scratch);
    free(m->params);
    free(m->grads);
    free(m->tensors);
    free(m->layer);
    free(m->glayer);
    free(m);
}

static void fill_uniform(float *p, size_t n, float bound, ad_rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (2.0f * ad_rng_uniform(r) - 1.0f) * bound;
}

void ad_adaptor_init(ad_adaptor *m, uint64_t seed)
{
    const ad_adaptor_config *c = &m->cfg;
    size_t P = (size_t)c->proj, F = (size_t)c->ffn;
    ad_rng r;
    ad_rng_seed(&r, seed, 0x41444150544f52ull /* "ADAPTOR" */);
    memset(m->params, 0, m->nparams * sizeof(float));
    /* nn.Linear: kaiming_uniform(a = sqrt 5) gives bound 1/sqrt(fan_in), bias likewise. */
    fill_uniform(m->w_img, P * (size_t)c->dv, 1.0f / sqrtf((float)c->dv), &r);
    fill_uniform(m->w_txt, P * (size_t)c->dt, 1.0f / sqrtf((float)c->dt), &r);
    for (int l = 0; l < c->layers; l++) {
        ad_adaptor_layer *L = &m->layer[l];
        /* MultiheadAttention: xavier_uniform on the [3P, P] in_proj, zero biases. */
        fill_uniform(L->in_w, 3 * P * P, sqrtf(6.0f / (float)(4 * P)), &r);
        fill_uniform(L->out_w, P * P, 1.0f / sqrtf((float)P), &r);
        fill_uniform(L->l1_w, F * P, 1.0f / sqrtf((float)P), &r);
        fill_uniform(L->l1_b, F, 1.0f / sqrtf((float)P), &r);
        fill_uniform(L->l2_w, P * F, 1.0f / sqrtf((float)F), &r);
        fill_uniform(L->l2_b, P, 1.0f / sqrtf((float)F), &r);
        for (size_t i = 0; i < P; i++)
            L->n1_g[i] = L->n2_g[i] = 1.0f;
    }
    *m->logit_scale = c->logit_scale_init;
}

void ad_adaptor_zero_grad(ad_adaptor *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

/* ---- activations ------------------------------------------------------------------------ */

static int ensure_acts(ad_adaptor *m, ad_adaptor_acts *a, int b, int D)
{
    if (b <= a->cap)
        return AD_OK;
    free_acts(a);
    size_t L = (size_t)m->cfg.layers, P = (size_t)m->cfg.proj, F = (size_t)m->cfg.ffn,
           B = (size_t)b;
    int drop = m->cfg.dropout > 0;
    struct {
        float **p;
        size_t n;
        int need;
    } want[] = {
        {&a->x, B * (size_t)D, 1},     {&a->proj_n, B, 1},          {&a->h, (L + 1) * B * P, 1},
        {&a->vv, L * B * P, 1},        {&a->mask_a, L * B * P, drop}, {&a->s1, L * B * P, 1},
        {&a->x1, L * B * P, 1},        {&a->n1_mean, L * B, 1},     {&a->n1_rstd, L * B, 1},
        {&a->f, L * B * F, 1},         {&a->mask_f, L * B * F, drop}, {&a->mask_g, L * B * P, drop},
        {&a->s2, L * B * P, 1},        {&a->n2_mean, L * B, 1},     {&a->n2_rstd, L * B, 1},
        {&a->out, B * P, 1},           {&a->out_n, B, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!want[i].need)
            continue;
        *want[i].p = malloc(want[i].n * sizeof(float));
        if (!*want[i].p) {
            free_acts(a);
            return ad_fail(AD_ERR_NOMEM, "adaptor: out of memory for activations of %d rows", b);
        }
    }
    a->cap = b;
    size_t need = B * (F > P ? F : P) * 3 + B * P;
    if (need > m->scratch_cap) {
        free(m->scratch);
        m->scratch = malloc(need * sizeof(float));
        if (!m->scratch) {
            m->scratch_cap = 0;
            return ad_fail(AD_ERR_NOMEM, "adaptor: out of memory for workspace");
        }
        m->scratch_cap = need;
    }
    return AD_OK;
}

/* Inverted dropout: y = x * mask with mask in {0, 1/(1-p)}, as torch.nn.Dropout. */
static void dropout_apply(float *y, float *mask, size_t n, float p, ad_rng *rng)
{
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = ad_rng_uniform(rng) < p ? 0.0f : keep;
        y[i] *= mask[i];
    }
}

static void mul_inplace(float *y, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= mask[i];
}

static void add_inplace(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* ---- forward / backward ------------------------------------------------------------------ */

int ad_adaptor_forward(ad_adaptor *m, int modality, const float *x, int b, float *out,
                       ad_rng *rng)
{
    const ad_adaptor_config *c = &m->cfg;
    int D = modality == AD_IMAGE ? c->dv : c->dt;
    const float *wproj = modality == AD_IMAGE ? m->w_img : m->w_txt;
    ad_adaptor_acts *a = &m->acts[modality];
    AD_TRY(ensure_acts(m, a, b, D));
    a->b = b;
    int P = c->proj, F = c->ffn;
    size_t bp = (size_t)b * P, bf = (size_t)b * F;
    float p = rng ? c->dropout : 0.0f;
    memcpy(a->x, x, (size_t)b * D * sizeof(float));

    ad_linear_forward(a->h, P, a->x, D, wproj, NULL, b, D, P);
    ad_l2norm_forward(a->h, a->proj_n, a->h, b, P);
    for (int l = 0; l < c->layers; l++) {
        const ad_adaptor_layer *L = &m->layer[l];
        const float *hin = a->h + l * bp;
        float *vv = a->vv + l * bp, *s1 = a->s1 + l * bp, *x1 = a->x1 + l * bp,
              *f = a->f + l * bf, *s2 = a->s2 + l * bp, *hout = a->h + (l + 1) * bp;
        /* Attention over one key: out_proj(V-projection(src)). */
        ad_linear_forward(vv, P, hin, P, L->in_w + 2 * (size_t)P * P, L->in_b + 2 * P, b, P, P);
        ad_linear_forward(s1, P, vv, P, L->out_w, L->out_b, b, P, P);
        if (p > 0)
            dropout_apply(s1, a->mask_a + l * bp, bp, p, rng);
        add_inplace(s1, hin, bp);
        ad_layernorm_forward(x1, a->n1_mean + (size_t)l * b, a->n1_rstd + (size_t)l * b, s1,
                             L->n1_g, L->n1_b, b, P, c->ln_eps);
        ad_linear_forward(f, F, x1, P, L->l1_w, L->l1_b, b, P, F);
        ad_relu_forward(f, f, bf);
        if (p > 0)
            dropout_apply(f, a->mask_f + l * bf, bf, p, rng);
        ad_linear_forward(s2, P, f, F, L->l2_w, L->l2_b, b, F, P);
        if (p > 0)
            dropout_apply(s2, a->mask_g + l * bp, bp, p, rng);
        add_inplace(s2, x1, bp);
        ad_layernorm_forward(hout, a->n2_mean + (size_t)l * b, a->n2_rstd + (size_t)l * b, s2,
                             L->n2_g, L->n2_b, b, P, c->ln_eps);
    }
    ad_l2norm_forward(a->out, a->out_n, a->h + (size_t)c->layers * bp, b, P);
    if (out)
        memcpy(out, a->out, bp * sizeof(float));
    m->acts_dropout[modality] = p;
    return AD_OK;
}

void ad_adaptor_backward(ad_adaptor *m, int modality, const float *dout)
{
    const ad_adaptor_config *c = &m->cfg;
    ad_adaptor_acts *a = &m->acts[modality];
    int b = a->b, P = c->proj, F = c->ffn;
    int D = modality == AD_IMAGE ? c->dv : c->dt;
    size_t bp = (size_t)b * P, bf = (size_t)b * F;
    int dropped = m->acts_dropout[modality] > 0;
    size_t wide = (size_t)b * (size_t)(F > P ? F : P);
    float *dh = m->scratch, *dx1 = dh + wide, *tmp = dx1 + wide, *dv_in = tmp + wide;

    ad_l2norm_backward(dh, dout, a->out, a->out_n, b, P);
    for (int l = c->layers - 1; l >= 0; l--) {
        const ad_adaptor_layer *L = &m->layer[l];
        ad_adaptor_layer *G = &m->glayer[l];
        const float *hin = a->h + l * bp, *x1 = a->x1 + l * bp, *f = a->f + l * bf;
        /* LN2: dh holds dL/dh[l+1]. */
        ad_layernorm_backward(dx1, G->n2_g, G->n2_b, dh, a->s2 + l * bp,
                              a->n2_mean + (size_t)l * b, a->n2_rstd + (size_t)l * b, L->n2_g,
                              b, P);
        /* dx1 is now dL/ds2 = dL/dx1 (residual) = dL/d(dropped linear2 output). */
        const float *dg = dx1;
        if (dropped) {
            memcpy(tmp, dx1, bp * sizeof(float));
            mul_inplace(tmp, a->mask_g + l * bp, bp);
            dg = tmp;
        }
        float *df = dh; /* dh's old content is no longer needed */
        ad_linear_backward(df, G->l2_w, G->l2_b, dg, f, L->l2_w, b, F, P);
        if (dropped)
            mul_inplace(df, a->mask_f + l * bf, bf);
        /* f was stored after dropout; where the mask is 0 df is already 0, elsewhere
         * f > 0 exactly when relu was active. */
        ad_relu_backward(df, df, f, bf);
        ad_linear_backward(tmp, G->l1_w, G->l1_b, df, x1, L->l1_w, b, P, F);
        add_inplace(dx1, tmp, bp);
        /* LN1 */
        ad_layernorm_backward(dh, G->n1_g, G->n1_b, dx1, a->s1 + l * bp,
                              a->n1_mean + (size_t)l * b, a->n1_rstd + (size_t)l * b, L->n1_g,
                              b, P);
        /* dh = dL/ds1: flows to the residual (layer input) and to the attention output. */
        const float *da = dh;
        if (dropped) {
            memcpy(tmp, dh, bp * sizeof(float));
            mul_inplace(tmp, a->mask_a + l * bp, bp);
            da = tmp;
        }
        ad_linear_backward(dx1, G->out_w, G->out_b, da, a->vv + l * bp, L->out_w, b, P, P);
        /* dx1 = dL/dvv; the V rows of in_proj. */
        ad_linear_backward(dv_in, G->in_w + 2 * (size_t)P * P, G->in_b + 2 * P, dx1, hin,
                           L->in_w + 2 * (size_t)P * P, b, P, P);
        add_inplace(dh, dv_in, bp);
    }
    /* dh = dL/dh[0]; through the normalisation and the projection. */
    ad_l2norm_backward(dh, dh, a->h, a->proj_n, b, P);
    ad_linear_backward(NULL, modality == AD_IMAGE ? m->gw_img : m->gw_txt, NULL, dh, a->x,
                       modality == AD_IMAGE ? m->w_img : m->w_txt, b, D, P);
}
