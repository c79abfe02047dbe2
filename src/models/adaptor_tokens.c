/* Token-level Adaptor (SPEC 6): real cross-attention between the image tokens (CLS +
 * patches) and the report's tokens, with the report's padding masked out of the keys.
 *
 *   V0 = normalize(Xv Wv^T), T0 = normalize(Xt Wt^T)         (per token)
 *   per layer l (the same weights for both sides):
 *     V = Block(x = V, context = T, keys masked by the report's padding)
 *     T = Block(x = T, context = V)                             (the V just updated)
 *   read-out: v = normalize(V[:, 0]), t = normalize(T[:, 0])
 *   Block(x, c) = post-LN layer with a = out_proj(MHA(Q = x Wq, K = c Wk, V = c Wv)). */
#include "adaptor/adaptor.h"

#include "adaptor/error.h"
#include "adaptor/l2norm.h"
#include "adaptor/mha.h"
#include "adaptor/nn.h"

#include "adaptor_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ad_adaptor_tokens_free(ad_adaptor *m)
{
    if (!m->tok)
        return;
    free(m->tok->arena);
    free(m->tok->blk);
    free(m->tok->scratch);
    memset(m->tok, 0, sizeof *m->tok);
}

/* Bump allocation from one arena: sizes are known from (b, Tv, Tt) alone. */
typedef struct bump {
    float *base;
    size_t used;
} bump;

static float *take(bump *a, size_t n)
{
    float *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    return p;
}

static void layout_block(bump *a, ad_tok_block *k, int b, int Tx, int Tc, int P, int F, int NH,
                         int drop);

size_t ad_tok_block_layout(ad_tok_block *k, float *base, int b, int Tx, int Tc, int P, int F,
                           int NH, int drop)
{
    bump a = {base, 0};
    layout_block(&a, k, b, Tx, Tc, P, F, NH, drop);
    return a.used;
}

static void layout_block(bump *a, ad_tok_block *k, int b, int Tx, int Tc, int P, int F, int NH,
                         int drop)
{
    size_t n = (size_t)b * Tx, nc = (size_t)b * Tc;
    k->q = take(a, n * P);
    k->kv = take(a, nc * 2 * P);
    k->att = take(a, (size_t)b * NH * Tx * Tc);
    k->o = take(a, n * P);
    k->mask_a = drop ? take(a, n * P) : NULL;
    k->s1 = take(a, n * P);
    k->x1 = take(a, n * P);
    k->n1_mean = take(a, n);
    k->n1_rstd = take(a, n);
    k->f = take(a, n * F);
    k->mask_g = drop ? take(a, n * P) : NULL;
    k->s2 = take(a, n * P);
    k->n2_mean = take(a, n);
    k->n2_rstd = take(a, n);
}

static size_t layout(ad_adaptor *m, float *base, int b, int tv, int tt)
{
    const ad_adaptor_config *c = &m->cfg;
    ad_tok_acts *a = m->tok;
    int P = c->proj, F = c->ffn, L = c->layers, drop = c->dropout > 0;
    bump ar = {base, 0};
    a->xv = take(&ar, (size_t)b * tv * c->dv);
    a->xt = take(&ar, (size_t)b * tt * c->dt);
    a->kmask = take(&ar, (size_t)b * tt);
    a->vn = take(&ar, (size_t)b * tv);
    a->tn = take(&ar, (size_t)b * tt);
    a->V = take(&ar, (size_t)(L + 1) * b * tv * P);
    a->T = take(&ar, (size_t)(L + 1) * b * tt * P);
    for (int l = 0; l < L; l++) {
        layout_block(&ar, &a->blk[2 * l], b, tv, tt, P, F, c->heads, drop);
        layout_block(&ar, &a->blk[2 * l + 1], b, tt, tv, P, F, c->heads, drop);
    }
    a->v_out = take(&ar, (size_t)b * P);
    a->t_out = take(&ar, (size_t)b * P);
    a->v_norm = take(&ar, (size_t)b);
    a->t_norm = take(&ar, (size_t)b);
    return ar.used;
}

static int ensure(ad_adaptor *m, int b, int tv, int tt)
{
    ad_tok_acts *a = m->tok;
    const ad_adaptor_config *c = &m->cfg;
    if (b <= a->cap_b && tv <= a->cap_tv && tt <= a->cap_tt) {
        layout(m, a->arena, b, tv, tt);
        return AD_OK;
    }
    ad_adaptor_tokens_free(m);
    a->blk = ad_calloc((size_t)2 * c->layers, sizeof *a->blk, "token blocks");
    if (!a->blk)
        return AD_ERR_NOMEM;
    size_t n = layout(m, NULL, b, tv, tt);
    a->arena = malloc(n * sizeof(float));
    int T = tv > tt ? tv : tt, W = c->ffn > 2 * c->proj ? c->ffn : 2 * c->proj;
    /* backward: two gradient buffers per side, four row buffers of the widest side, the MHA
     * scratch */
    a->scratch_n = 2 * ((size_t)b * tv * c->proj + (size_t)b * tt * c->proj) +
                   4 * (size_t)b * T * (size_t)W + (size_t)tv * tt;
    a->scratch = malloc(a->scratch_n * sizeof(float));
    if (!a->arena || !a->scratch) {
        ad_adaptor_tokens_free(m);
        return ad_fail(AD_ERR_NOMEM, "Adaptor: out of memory for token activations (batch %d, "
                       "%d image and %d text tokens: %.1f GB)", b, tv, tt,
                       (double)n * 4 / 1e9);
    }
    layout(m, a->arena, b, tv, tt);
    a->cap_b = b;
    a->cap_tv = tv;
    a->cap_tt = tt;
    return AD_OK;
}

void ad_tok_block_forward(const ad_adaptor *m, const ad_adaptor_layer *L, ad_tok_block *k,
                         const float *x, int Tx, const float *ctx, int Tc, const float *kmask,
                         int b, float *y, float p, ad_rng *rng)
{
    int P = m->cfg.proj;
    size_t n = (size_t)b * Tx, np = n * P;
    ad_linear_forward(k->q, P, x, P, L->in_w, L->in_b, (int)n, P, P);
    ad_linear_forward(k->kv, 2 * P, ctx, P, L->in_w + (size_t)P * P, L->in_b + P, b * Tc, P,
                      2 * P);
    ad_mha_shape s = {b, Tx, Tc, P, m->cfg.heads, P, 2 * P, 2 * P, P};
    ad_mha_forward(&s, k->o, k->att, NULL, k->q, k->kv, k->kv + P, kmask);
    ad_linear_forward(k->s1, P, k->o, P, L->out_w, L->out_b, (int)n, P, P);
    if (p > 0)
        ad_dropout_forward(k->s1, k->mask_a, np, p, rng);
    ad_add_inplace(k->s1, x, np);
    ad_sublayer sl = {k->s1, k->x1, k->n1_mean, k->n1_rstd, k->f,
                      k->mask_g, k->s2, k->n2_mean, k->n2_rstd};
    ad_sublayer_forward(m, L, &sl, (int)n, y, p, rng);
}

int ad_adaptor_tokens_forward(ad_adaptor *m, const ad_adaptor_batch *x, int b, float *v, float *t,
                              ad_rng *rng)
{
    const ad_adaptor_config *c = &m->cfg;
    int tv = x->tv, tt = x->tt, P = c->proj;
    if (tv < 1 || tt < 1)
        return ad_fail(AD_ERR_ARG, "Adaptor: token mode needs image and text tokens (%d, %d)", tv,
                       tt);
    AD_TRY(ensure(m, b, tv, tt));
    ad_tok_acts *a = m->tok;
    a->b = b;
    a->tv = tv;
    a->tt = tt;
    float p = rng ? c->dropout : 0.0f;
    m->tok_dropout = p;
    memcpy(a->xv, x->xv, (size_t)b * tv * c->dv * sizeof(float));
    memcpy(a->xt, x->xt, (size_t)b * tt * c->dt * sizeof(float));
    for (size_t i = 0; i < (size_t)b * tt; i++)
        a->kmask[i] = !x->tmask || x->tmask[i] ? 0.0f : -INFINITY;
    size_t sv = (size_t)b * tv * P, st = (size_t)b * tt * P;
    ad_linear_forward(a->V, P, a->xv, c->dv, m->w_img, NULL, b * tv, c->dv, P);
    ad_l2norm_forward(a->V, a->vn, a->V, b * tv, P);
    ad_linear_forward(a->T, P, a->xt, c->dt, m->w_txt, NULL, b * tt, c->dt, P);
    ad_l2norm_forward(a->T, a->tn, a->T, b * tt, P);
    for (int l = 0; l < c->layers; l++) {
        const ad_adaptor_layer *L = &m->layer[l];
        float *Vl = a->V + l * sv, *Tl = a->T + l * st;
        ad_tok_block_forward(m, L, &a->blk[2 * l], Vl, tv, Tl, tt, a->kmask, b, Vl + sv, p, rng);
        ad_tok_block_forward(m, L, &a->blk[2 * l + 1], Tl, tt, Vl + sv, tv, NULL, b, Tl + st, p, rng);
    }
    /* read-out: the first token of each sequence */
    const float *VL = a->V + (size_t)c->layers * sv, *TL = a->T + (size_t)c->layers * st;
    for (int i = 0; i < b; i++) {
        memcpy(a->v_out + (size_t)i * P, VL + (size_t)i * tv * P, P * sizeof(float));
        memcpy(a->t_out + (size_t)i * P, TL + (size_t)i * tt * P, P * sizeof(float));
    }
    ad_l2norm_forward(a->v_out, a->v_norm, a->v_out, b, P);
    ad_l2norm_forward(a->t_out, a->t_norm, a->t_out, b, P);
    if (v)
        memcpy(v, a->v_out, (size_t)b * P * sizeof(float));
    if (t)
        memcpy(t, a->t_out, (size_t)b * P * sizeof(float));
    return AD_OK;
}

/* dy -> dx (overwritten) and dctx (accumulated). w0..w3: scratch rows of the widest side. */
static void block_backward(const ad_adaptor *m, const ad_adaptor_layer *L, ad_adaptor_layer *G,
                           const ad_tok_block *k, const float *x, int Tx, const float *ctx, int Tc,
                           int b, const float *dy, float *dx, float *dctx, float *w0, float *w1,
                           float *w2, float *w3, float *mha_scratch, float p)
{
    int P = m->cfg.proj;
    size_t n = (size_t)b * Tx, np = n * P, nc = (size_t)b * Tc;
    ad_sublayer sl = {k->s1, k->x1, k->n1_mean, k->n1_rstd, k->f,
                      k->mask_g, k->s2, k->n2_mean, k->n2_rstd};
    /* dx = dL/ds1, which is both the residual path to x and the (dropped) attention output */
    ad_sublayer_backward(m, L, G, &sl, (int)n, dy, dx, w0, w1, p);
    const float *da = dx;
    if (p > 0) {
        memcpy(w0, dx, np * sizeof(float));
        ad_dropout_backward(w0, k->mask_a, np);
        da = w0;
    }
    float *dout = w1, *dq = w2, *dkv = w3;
    ad_linear_backward(dout, G->out_w, G->out_b, da, k->o, L->out_w, (int)n, P, P);
    ad_mha_shape s = {b, Tx, Tc, P, m->cfg.heads, P, 2 * P, 2 * P, P};
    ad_mha_backward(&s, dq, dkv, dkv + P, mha_scratch, dout, k->q, k->kv, k->kv + P, k->att);
    ad_linear_backward(w0, G->in_w, G->in_b, dq, x, L->in_w, (int)n, P, P);
    ad_add_inplace(dx, w0, np);
    ad_linear_backward(w1, G->in_w + (size_t)P * P, G->in_b + P, dkv, ctx,
                       L->in_w + (size_t)P * P, (int)nc, P, 2 * P);
    ad_add_inplace(dctx, w1, nc * P);
}

void ad_adaptor_tokens_backward(ad_adaptor *m, const float *dv, const float *dt)
{
    const ad_adaptor_config *c = &m->cfg;
    ad_tok_acts *a = m->tok;
    int b = a->b, tv = a->tv, tt = a->tt, P = c->proj;
    int T = tv > tt ? tv : tt, W = c->ffn > 2 * P ? c->ffn : 2 * P;
    size_t sv = (size_t)b * tv * P, st = (size_t)b * tt * P, wide = (size_t)b * T * W;
    float p = m->tok_dropout;
    float *dV = a->scratch, *dT = dV + sv, *dV2 = dT + st, *dT2 = dV2 + sv;
    float *w0 = dT2 + st, *w1 = w0 + wide, *w2 = w1 + wide, *w3 = w2 + wide, *ms = w3 + wide;
    /* The read-out: only the first token of each sequence receives a gradient. */
    memset(dV, 0, sv * sizeof(float));
    memset(dT, 0, st * sizeof(float));
    ad_l2norm_backward(w0, dv, a->v_out, a->v_norm, b, P);
    ad_l2norm_backward(w1, dt, a->t_out, a->t_norm, b, P);
    for (int i = 0; i < b; i++) {
        memcpy(dV + (size_t)i * tv * P, w0 + (size_t)i * P, P * sizeof(float));
        memcpy(dT + (size_t)i * tt * P, w1 + (size_t)i * P, P * sizeof(float));
    }
    for (int l = c->layers - 1; l >= 0; l--) {
        const ad_adaptor_layer *L = &m->layer[l];
        ad_adaptor_layer *G = &m->glayer[l];
        const float *Vl = a->V + l * sv, *Tl = a->T + l * st;
        /* dV = dL/dV[l+1] (so far), dT = dL/dT[l+1].
         * Text block T[l+1] = Block(T[l], V[l+1]): dT2 = dL/dT[l], and V[l+1] as context
         * completes dV. */
        block_backward(m, L, G, &a->blk[2 * l + 1], Tl, tt, Vl + sv, tv, b, dT, dT2, dV, w0, w1,
                       w2, w3, ms, p);
        /* Image block V[l+1] = Block(V[l], T[l]): dV2 = dL/dV[l], T[l] as context adds to dT2. */
        block_backward(m, L, G, &a->blk[2 * l], Vl, tv, Tl, tt, b, dV, dV2, dT2, w0, w1, w2, w3,
                       ms, p);
        float *swap = dV;
        dV = dV2;
        dV2 = swap;
        swap = dT;
        dT = dT2;
        dT2 = swap;
    }
    /* Through the per-token normalisation and the projections. */
    ad_l2norm_backward(dV, dV, a->V, a->vn, b * tv, P);
    ad_linear_backward(NULL, m->gw_img, NULL, dV, a->xv, m->w_img, b * tv, c->dv, P);
    ad_l2norm_backward(dT, dT, a->T, a->tn, b * tt, P);
    ad_linear_backward(NULL, m->gw_txt, NULL, dT, a->xt, m->w_txt, b * tt, c->dt, P);
}
