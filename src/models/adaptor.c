#include "adaptor/adaptor.h"

#include "adaptor_internal.h"
#include "adaptor/error.h"
#include "adaptor/l2norm.h"
#include "adaptor/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameter layout -------------------------------------------------------------------- */

enum { NAME_MAX_LEN = 96 };

static void add_tensor(ad_adaptor *m, size_t *off, const char *name, int ndim, int64_t d0,
                       int64_t d1)
{
    char *keep = m->names + m->ntensors * NAME_MAX_LEN;
    ad_ckpt_tensor *t = &m->tensors[m->ntensors++];
    snprintf(keep, NAME_MAX_LEN, "%s", name);
    t->name = keep;
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
    m->layout = (ad_ckpt_layout){m->tensors, m->ntensors, m->nparams};
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

int ad_adaptor_config_check(const ad_adaptor_config *cfg)
{
    if (cfg->dv <= 0 || cfg->dt <= 0 || cfg->proj <= 0 || cfg->ffn <= 0 || cfg->layers <= 0 ||
        cfg->heads <= 0)
        return ad_fail(AD_ERR_ARG, "Adaptor sizes must be positive (image %d, text %d, "
                       "projection %d, ffn %d, layers %d, heads %d)", cfg->dv, cfg->dt, cfg->proj,
                       cfg->ffn, cfg->layers, cfg->heads);
    if (cfg->proj % cfg->heads != 0)
        return ad_fail(AD_ERR_CONFIG, "the Adaptor's projection_dim %d is not divisible by "
                       "num_heads %d", cfg->proj, cfg->heads);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1))
        return ad_fail(AD_ERR_CONFIG, "the Adaptor's dropout %g must be in [0, 1)", cfg->dropout);
    return AD_OK;
}

int ad_adaptor_create(const ad_adaptor_config *cfg, ad_adaptor **out)
{
    *out = NULL;
    AD_TRY(ad_adaptor_config_check(cfg));
    ad_adaptor *m = ad_calloc(1, sizeof *m, "adaptor");
    if (!m)
        return AD_ERR_NOMEM;
    m->cfg = *cfg;
    m->tensors = ad_calloc((size_t)cfg->layers * 12 + 3, sizeof *m->tensors, "adaptor tensors");
    m->names = ad_calloc((size_t)cfg->layers * 12 + 3, NAME_MAX_LEN, "adaptor tensor names");
    m->layer = ad_calloc((size_t)cfg->layers, sizeof *m->layer, "adaptor layers");
    m->glayer = ad_calloc((size_t)cfg->layers, sizeof *m->glayer, "adaptor layers");
    if (!m->tensors || !m->names || !m->layer || !m->glayer) {
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
    size_t nfold = (size_t)cfg->layers * ((size_t)cfg->proj * cfg->proj + cfg->proj);
    m->fold = ad_malloc(nfold * sizeof(float), "adaptor folded attention");
    m->gfold = ad_calloc(nfold, sizeof(float), "adaptor folded attention");
    m->acts = ad_calloc(2, sizeof *m->acts, "adaptor activations");
    m->tok = ad_calloc(1, sizeof *m->tok, "adaptor activations");
    if (!m->fold || !m->gfold || !m->acts || !m->tok) {
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
                     &a->n1_mean, &a->n1_rstd, &a->f, &a->mask_g, &a->s2,
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
    ad_adaptor_tokens_free(m);
    if (m->acts) {
        free_acts(&m->acts[0]);
        free_acts(&m->acts[1]);
    }
    free(m->acts);
    free(m->tok);
    free(m->scratch);
    free(m->fold);
    free(m->gfold);
    free(m->params);
    free(m->grads);
    free(m->tensors);
    free(m->names);
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
        {&a->f, L * B * F, 1},         {&a->mask_g, L * B * P, drop},
        {&a->s2, L * B * P, 1},        {&a->n2_mean, L * B, 1},     {&a->n2_rstd, L * B, 1},
        {&a->out, B * P, 1},           {&a->out_n, B, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!want[i].need)
            continue;
        *want[i].p = malloc(want[i].n * sizeof(float));
        if (!*want[i].p) {
            free_acts(a);
            return ad_fail(AD_ERR_NOMEM, "Adaptor: out of memory for activations of %d rows", b);
        }
    }
    a->cap = b;
    size_t need = B * (F > P ? F : P) * 3 + B * P;
    if (need > m->scratch_cap) {
        free(m->scratch);
        m->scratch = malloc(need * sizeof(float));
        if (!m->scratch) {
            m->scratch_cap = 0;
            return ad_fail(AD_ERR_NOMEM, "Adaptor: out of memory for workspace");
        }
        m->scratch_cap = need;
    }
    return AD_OK;
}

void ad_add_inplace(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* ---- the part of a layer after attention (shared with token mode) ------------------------- */

void ad_sublayer_forward(const ad_adaptor *m, const ad_adaptor_layer *L, const ad_sublayer *a,
                         int n, float *y, float p, ad_rng *rng)
{
    int P = m->cfg.proj, F = m->cfg.ffn;
    size_t np = (size_t)n * P, nf = (size_t)n * F;
    ad_layernorm_forward(a->x1, a->n1_mean, a->n1_rstd, a->s1, L->n1_g, L->n1_b, n, P,
                         m->cfg.ln_eps);
    ad_linear_forward(a->f, F, a->x1, P, L->l1_w, L->l1_b, n, P, F);
    ad_relu_forward(a->f, a->f, nf);
    if (p > 0)
        ad_dropout_forward(a->f, NULL, nf, p, rng); /* f > 0 tells the backward pass the mask */
    ad_linear_forward(a->s2, P, a->f, F, L->l2_w, L->l2_b, n, F, P);
    if (p > 0)
        ad_dropout_forward(a->s2, a->mask_g, np, p, rng);
    ad_add_inplace(a->s2, a->x1, np);
    ad_layernorm_forward(y, a->n2_mean, a->n2_rstd, a->s2, L->n2_g, L->n2_b, n, P, m->cfg.ln_eps);
}

void ad_sublayer_backward(const ad_adaptor *m, const ad_adaptor_layer *L, ad_adaptor_layer *G,
                          const ad_sublayer *a, int n, const float *dy, float *ds1, float *bufp,
                          float *buff, float p)
{
    int P = m->cfg.proj, F = m->cfg.ffn;
    size_t np = (size_t)n * P;
    /* LN2: ds1 temporarily holds dL/dx1 (= dL/ds2 through the residual). */
    ad_layernorm_backward(ds1, G->n2_g, G->n2_b, dy, a->s2, a->n2_mean, a->n2_rstd, L->n2_g, n, P);
    int dropped = p > 0;
    const float *dg = ds1;
    if (dropped) {
        memcpy(bufp, ds1, np * sizeof(float));
        ad_dropout_backward(bufp, a->mask_g, np);
        dg = bufp;
    }
    ad_linear_backward(buff, G->l2_w, G->l2_b, dg, a->f, L->l2_w, n, F, P);
    /* f = relu(pre) * mask was stored after dropout: f > 0 exactly where relu was active and
     * the unit kept, and the kept units' mask is 1/(1-p). */
    ad_relu_mask_backward(buff, a->f, (size_t)n * F, dropped ? 1.0f / (1.0f - p) : 1.0f);
    ad_linear_backward(bufp, G->l1_w, G->l1_b, buff, a->x1, L->l1_w, n, P, F);
    ad_add_inplace(bufp, ds1, np);
    /* bufp = dL/dx1 in full; LN1 turns it into dL/ds1. */
    ad_layernorm_backward(ds1, G->n1_g, G->n1_b, bufp, a->s1, a->n1_mean, a->n1_rstd, L->n1_g, n,
                          P);
}

static ad_sublayer sublayer_at(const ad_adaptor_acts *a, int l, int b, int P, int F)
{
    size_t bp = (size_t)b * P, bf = (size_t)b * F, lb = (size_t)l * b;
    ad_sublayer s = {a->s1 + l * bp, a->x1 + l * bp, a->n1_mean + lb, a->n1_rstd + lb,
                     a->f + l * bf, a->mask_g ? a->mask_g + l * bp : NULL, a->s2 + l * bp, a->n2_mean + lb,
                     a->n2_rstd + lb};
    return s;
}

/* ---- forward / backward ------------------------------------------------------------------ */

/* Attention over one key is out_proj(V-projection(h)) = h (Wo Wv)^T + (Wo bv + bo). Forming
 * the folded [P, P] product costs 2P^3 flops per layer and saves 2 rows P^2 in the forward
 * and 4 rows P^2 in the backward pass (two GEMMs instead of four, plus the 2 x 2P^3 that turn
 * the folded gradient back into Wo's and Wv's), so it pays when the rows sharing one fold
 * exceed P: in training both modalities of the step share it. */
static int fold_pays(const ad_adaptor *m, int rows) { return rows > m->cfg.proj; }

static float *fold_w(const ad_adaptor *m, float *base, int l)
{
    size_t P = (size_t)m->cfg.proj;
    return base + (size_t)l * (P * P + P);
}

static void attn_fold(ad_adaptor *m)
{
    int P = m->cfg.proj;
    for (int l = 0; l < m->cfg.layers; l++) {
        const ad_adaptor_layer *L = &m->layer[l];
        const float *wv = L->in_w + 2 * (size_t)P * P, *bv = L->in_b + 2 * P;
        float *w = fold_w(m, m->fold, l), *bias = w + (size_t)P * P;
        ad_gemm(0, 0, P, P, P, 1.0f, L->out_w, P, wv, P, 0.0f, w, P);
        ad_linear_forward(bias, P, bv, P, L->out_w, L->out_b, 1, P, P);
    }
}

/* The pending gradients of the folded products of layer l (dW accumulated over the rows, [P]
 * sums of the attention-output gradient) -> Wo, bo, Wv, bv. */
static void attn_unfold_layer(ad_adaptor *m, int l)
{
    int P = m->cfg.proj;
    const ad_adaptor_layer *L = &m->layer[l];
    ad_adaptor_layer *G = &m->glayer[l];
    const float *wv = L->in_w + 2 * (size_t)P * P;
    float *gw = fold_w(m, m->gfold, l), *gsum = gw + (size_t)P * P;
    ad_gemm(0, 1, P, P, P, 1.0f, gw, P, wv, P, 1.0f, G->out_w, P);
    ad_gemm(1, 0, P, P, P, 1.0f, L->out_w, P, gw, P, 1.0f, G->in_w + 2 * (size_t)P * P, P);
    for (int i = 0; i < P; i++)
        G->out_b[i] += gsum[i];
    /* The folded bias Wo bv + bo: dWo += gsum bv^T, dbv += Wo^T gsum. */
    ad_gemm(0, 0, P, P, 1, 1.0f, gsum, 1, L->in_b + 2 * P, P, 1.0f, G->out_w, P);
    ad_gemm(0, 0, 1, P, P, 1.0f, gsum, P, L->out_w, P, 1.0f, G->in_b + 2 * P, P);
    memset(gw, 0, ((size_t)P * P + P) * sizeof(float));
}

static void attn_unfold_grads(ad_adaptor *m)
{
    if (!m->gfold_pending)
        return;
    for (int l = 0; l < m->cfg.layers; l++)
        attn_unfold_layer(m, l);
    m->gfold_pending = 0;
}

static int forward_modality(ad_adaptor *m, int modality, const float *x, int b, float *out,
                            ad_rng *rng, int folded)
{
    const ad_adaptor_config *c = &m->cfg;
    int D = modality == AD_IMAGE ? c->dv : c->dt;
    const float *wproj = modality == AD_IMAGE ? m->w_img : m->w_txt;
    ad_adaptor_acts *a = &m->acts[modality];
    AD_TRY(ensure_acts(m, a, b, D));
    a->b = b;
    a->folded = folded;
    int P = c->proj, F = c->ffn;
    size_t bp = (size_t)b * P;
    float p = rng ? c->dropout : 0.0f;
    memcpy(a->x, x, (size_t)b * D * sizeof(float));

    ad_linear_forward(a->h, P, a->x, D, wproj, NULL, b, D, P);
    ad_l2norm_forward(a->h, a->proj_n, a->h, b, P);
    for (int l = 0; l < c->layers; l++) {
        const ad_adaptor_layer *L = &m->layer[l];
        const float *hin = a->h + l * bp;
        ad_sublayer sl = sublayer_at(a, l, b, P, F);
        if (folded) {
            const float *w = fold_w(m, m->fold, l);
            ad_linear_forward(sl.s1, P, hin, P, w, w + (size_t)P * P, b, P, P);
        } else {
            float *vv = a->vv + l * bp;
            ad_linear_forward(vv, P, hin, P, L->in_w + 2 * (size_t)P * P, L->in_b + 2 * P, b,
                              P, P);
            ad_linear_forward(sl.s1, P, vv, P, L->out_w, L->out_b, b, P, P);
        }
        if (p > 0)
            ad_dropout_forward(sl.s1, a->mask_a + l * bp, bp, p, rng);
        ad_add_inplace(sl.s1, hin, bp);
        ad_sublayer_forward(m, L, &sl, b, a->h + (l + 1) * bp, p, rng);
    }
    ad_l2norm_forward(a->out, a->out_n, a->h + (size_t)c->layers * bp, b, P);
    if (out)
        memcpy(out, a->out, bp * sizeof(float));
    m->acts_dropout[modality] = p;
    return AD_OK;
}

int ad_adaptor_forward(ad_adaptor *m, int modality, const float *x, int b, float *out,
                       ad_rng *rng)
{
    int folded = fold_pays(m, b);
    if (folded)
        attn_fold(m);
    return forward_modality(m, modality, x, b, out, rng, folded);
}

/* Where backward_modality reports: NULL, or the caller's hook; last: this modality is the
 * last one to add to the shared layers, so each finished layer's slice is final. */
typedef struct grad_report {
    ad_grad_hook hook;
    void *ctx;
    int last;
} grad_report;

/* [first tensor of layer l, first tensor of layer l + 1); the last layer's slice runs to the
 * end of the buffer and so takes the logit scale along (the caller sets its gradient first). */
static void layer_slice(const ad_adaptor *m, int l, size_t *off, size_t *n)
{
    size_t first = 2 + 12 * (size_t)l;
    *off = m->tensors[first].offset;
    *n = (l + 1 < m->cfg.layers ? m->tensors[first + 12].offset : m->nparams) - *off;
}

static void report_layer(ad_adaptor *m, const grad_report *r, int l, int folded)
{
    if (!r)
        return;
    size_t off = 0, n = 0;
    if (r->last) {
        if (folded)
            attn_unfold_layer(m, l);
        layer_slice(m, l, &off, &n);
    }
    r->hook(r->ctx, off, n);
}

/* Parameter gradients of the last forward of one modality; those of a folded attention are
 * left pending in m->gfold (attn_unfold_grads) unless r->last unfolds them layer by layer. */
static void backward_modality(ad_adaptor *m, int modality, const float *dout,
                              const grad_report *r)
{
    const ad_adaptor_config *c = &m->cfg;
    ad_adaptor_acts *a = &m->acts[modality];
    int b = a->b, P = c->proj, F = c->ffn;
    int D = modality == AD_IMAGE ? c->dv : c->dt;
    size_t bp = (size_t)b * P;
    int dropped = m->acts_dropout[modality] > 0;
    size_t wide = (size_t)b * (size_t)(F > P ? F : P);
    float *dh = m->scratch, *dx1 = dh + wide, *tmp = dx1 + wide, *dv_in = tmp + wide;

    ad_l2norm_backward(dh, dout, a->out, a->out_n, b, P);
    for (int l = c->layers - 1; l >= 0; l--) {
        const ad_adaptor_layer *L = &m->layer[l];
        ad_adaptor_layer *G = &m->glayer[l];
        const float *hin = a->h + l * bp;
        ad_sublayer sl = sublayer_at(a, l, b, P, F);
        /* dh holds dL/dh[l+1]; dx1 receives dL/ds1, which flows to the residual (the layer
         * input) and to the attention output. */
        ad_sublayer_backward(m, L, G, &sl, b, dh, dx1, tmp, dh, m->acts_dropout[modality]);
        if (r)
            r->hook(r->ctx, 0, 0); /* progress between the two halves of the layer */
        memcpy(dh, dx1, bp * sizeof(float));
        const float *da = dx1;
        if (dropped)
            ad_dropout_backward(dx1, a->mask_a + l * bp, bp);
        if (a->folded) {
            const float *w = fold_w(m, m->fold, l);
            float *gw = fold_w(m, m->gfold, l);
            ad_linear_backward(dv_in, gw, gw + (size_t)P * P, da, hin, w, b, P, P);
            m->gfold_pending = 1;
        } else {
            ad_linear_backward(tmp, G->out_w, G->out_b, da, a->vv + l * bp, L->out_w, b, P, P);
            /* tmp = dL/dvv; the V rows of in_proj. */
            ad_linear_backward(dv_in, G->in_w + 2 * (size_t)P * P, G->in_b + 2 * P, tmp, hin,
                               L->in_w + 2 * (size_t)P * P, b, P, P);
        }
        ad_add_inplace(dh, dv_in, bp);
        report_layer(m, r, l, a->folded);
    }
    /* dh = dL/dh[0]; through the normalisation and the projection. */
    ad_l2norm_backward(dh, dh, a->h, a->proj_n, b, P);
    ad_linear_backward(NULL, modality == AD_IMAGE ? m->gw_img : m->gw_txt, NULL, dh, a->x,
                       modality == AD_IMAGE ? m->w_img : m->w_txt, b, D, P);
    if (r && r->last)
        r->hook(r->ctx, 0, m->tensors[2].offset); /* both projections */
}

void ad_adaptor_backward(ad_adaptor *m, int modality, const float *dout)
{
    backward_modality(m, modality, dout, NULL);
    attn_unfold_grads(m);
}

int ad_adaptor_forward_pair(ad_adaptor *m, const ad_adaptor_batch *x, int b, float *v, float *t,
                            ad_rng *rng)
{
    if (m->cfg.tokens)
        return ad_adaptor_tokens_forward(m, x, b, v, t, rng);
    /* Pooled mode: the two updates do not depend on each other (see adaptor.h); they share
     * the folded attention. */
    int folded = fold_pays(m, 2 * b);
    if (folded)
        attn_fold(m);
    AD_TRY(forward_modality(m, AD_IMAGE, x->xv, b, v, rng, folded));
    return forward_modality(m, AD_TEXT, x->xt, b, t, rng, folded);
}

void ad_adaptor_backward_pair(ad_adaptor *m, const float *dv, const float *dt)
{
    ad_adaptor_backward_pair_hook(m, dv, dt, NULL, NULL);
}

void ad_adaptor_grad_slices(const ad_adaptor *m, ad_grad_hook hook, void *ctx)
{
    if (m->cfg.tokens) {
        hook(ctx, 0, m->nparams);
        return;
    }
    for (int l = m->cfg.layers - 1; l >= 0; l--) {
        size_t off, n;
        layer_slice(m, l, &off, &n);
        hook(ctx, off, n);
    }
    hook(ctx, 0, m->tensors[2].offset);
}

void ad_adaptor_backward_pair_hook(ad_adaptor *m, const float *dv, const float *dt,
                                   ad_grad_hook hook, void *ctx)
{
    if (m->cfg.tokens) {
        ad_adaptor_tokens_backward(m, dv, dt);
        if (hook)
            hook(ctx, 0, m->nparams);
        return;
    }
    /* The layers are shared: a layer's gradient is final once the text pass (the second) has
     * been through it. */
    grad_report img = {hook, ctx, 0}, txt = {hook, ctx, 1};
    backward_modality(m, AD_IMAGE, dv, hook ? &img : NULL);
    backward_modality(m, AD_TEXT, dt, hook ? &txt : NULL);
    if (hook && m->acts[AD_TEXT].folded)
        m->gfold_pending = 0; /* unfolded layer by layer */
    attn_unfold_grads(m);
}
