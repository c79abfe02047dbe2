#include "adaptor/dinov2.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/interp.h"
#include "adaptor/nn.h"
#include "adaptor/safetensors.h"
#include "adaptor/swiglu.h"

#include "model_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *ln1_g, *ln1_b;
    float *wqkv, *bqkv; /* [3D, D], [3D]: query | key | value (zeros without qkv_bias) */
    float *wo, *bo, *ls1;
    float *ln2_g, *ln2_b;
    float *w1, *b1;     /* fc1 [F, D] or SwiGLU weights_in [2F, D] */
    float *w2, *b2, *ls2;
} dino_layer;

struct ad_dinov2 {
    ad_dinov2_config cfg;
    int grid; /* side of the checkpoint's position grid */
    ad_model_buffers buf;
    float *cls, *reg, *pos, *patch_w, *patch_b, *lnf_g, *lnf_b;
    dino_layer *layer;
};

const ad_dinov2_config *ad_dinov2_get_config(const ad_dinov2 *m) { return &m->cfg; }

int ad_dinov2_set_precision(ad_dinov2 *m, ad_precision p)
{
    return ad_model_set_precision(&m->buf, p);
}

static size_t ffn_in(const ad_dinov2_config *c)
{
    return (size_t)c->mlp_hidden * (c->swiglu ? 2 : 1);
}

/* The parameter buffer in the order of the loaders below (ad_carve: counting, then binding). */
static void layout(void *model, ad_carve *k)
{
    ad_dinov2 *m = model;
    const ad_dinov2_config *c = &m->cfg;
    size_t D = (size_t)c->hidden, F = (size_t)c->mlp_hidden, F1 = ffn_in(c);
    size_t P = 3 * (size_t)c->patch * c->patch, npos = 1 + (size_t)m->grid * m->grid;
    ad_carve_take(k, &m->cls, D);
    ad_carve_take(k, &m->reg, (size_t)c->registers * D);
    ad_carve_take(k, &m->pos, npos * D);
    ad_carve_take(k, &m->patch_w, D * P);
    ad_carve_take(k, &m->patch_b, D);
    for (int l = 0; l < c->layers; l++) {
        dino_layer *L = &m->layer[l];
        ad_carve_take(k, &L->ln1_g, D);
        ad_carve_take(k, &L->ln1_b, D);
        ad_carve_take(k, &L->wqkv, 3 * D * D);
        ad_carve_take(k, &L->bqkv, 3 * D);
        ad_carve_take(k, &L->wo, D * D);
        ad_carve_take(k, &L->bo, D);
        ad_carve_take(k, &L->ls1, D);
        ad_carve_take(k, &L->ln2_g, D);
        ad_carve_take(k, &L->ln2_b, D);
        ad_carve_take(k, &L->w1, F1 * D);
        ad_carve_take(k, &L->b1, F1);
        ad_carve_take(k, &L->w2, D * F);
        ad_carve_take(k, &L->b2, D);
        ad_carve_take(k, &L->ls2, D);
    }
    ad_carve_take(k, &m->lnf_g, D);
    ad_carve_take(k, &m->lnf_b, D);
}

static int alloc_model(const ad_dinov2_config *cfg, ad_dinov2 **out)
{
    *out = NULL;
    ad_dinov2 *m = ad_calloc(1, sizeof *m, "DINOv2 model");
    if (!m)
        return AD_ERR_NOMEM;
    m->cfg = *cfg;
    m->grid = cfg->image_size / cfg->patch;
    m->layer = ad_calloc((size_t)cfg->layers, sizeof *m->layer, "DINOv2 layers");
    int rc = m->layer ? ad_model_params_alloc(&m->buf, m, layout, "DINOv2 parameters")
                      : AD_ERR_NOMEM;
    if (rc != AD_OK) {
        ad_dinov2_destroy(m);
        return rc;
    }
    *out = m;
    return AD_OK;
}

void ad_dinov2_destroy(ad_dinov2 *m)
{
    if (!m)
        return;
    ad_model_buffers_free(&m->buf);
    free(m->layer);
    free(m);
}

/* ---- loading ------------------------------------------------------------------------- */

static int load(const ad_safetensors *st, float *dst, int ndim, int64_t d0, int64_t d1,
                int64_t d2, const char *fmt, int l)
{
    char name[256];
    snprintf(name, sizeof name, fmt, l);
    int64_t shape[3] = {d0, d1, d2};
    return ad_st_read_f32(st, name, ndim, shape, dst);
}

static int load_layer(const ad_safetensors *st, const ad_dinov2_config *c, int l, dino_layer *L)
{
    int64_t D = c->hidden, F = c->mlp_hidden, F1 = (int64_t)ffn_in(c);
    static const char *const qkv[3] = {"query", "key", "value"};
    char fmt[160];
    for (int j = 0; j < 3; j++) {
        snprintf(fmt, sizeof fmt, "encoder.layer.%%d.attention.attention.%s.weight", qkv[j]);
        AD_TRY(load(st, L->wqkv + (size_t)j * D * D, 2, D, D, 0, fmt, l));
        if (c->qkv_bias) {
            snprintf(fmt, sizeof fmt, "encoder.layer.%%d.attention.attention.%s.bias", qkv[j]);
            AD_TRY(load(st, L->bqkv + (size_t)j * D, 1, D, 0, 0, fmt, l));
        }
    }
    const char *in = c->swiglu ? "weights_in" : "fc1", *out = c->swiglu ? "weights_out" : "fc2";
    struct {
        const char *name;
        int ndim;
        int64_t d0, d1;
        float *dst;
    } t[] = {
        {"norm1.weight", 1, D, 0, L->ln1_g},
        {"norm1.bias", 1, D, 0, L->ln1_b},
        {"attention.output.dense.weight", 2, D, D, L->wo},
        {"attention.output.dense.bias", 1, D, 0, L->bo},
        {"layer_scale1.lambda1", 1, D, 0, L->ls1},
        {"norm2.weight", 1, D, 0, L->ln2_g},
        {"norm2.bias", 1, D, 0, L->ln2_b},
        {"mlp.%s.weight", 2, F1, D, L->w1},
        {"mlp.%s.bias", 1, F1, 0, L->b1},
        {"mlp.%s.weight", 2, D, F, L->w2},
        {"mlp.%s.bias", 1, D, 0, L->b2},
        {"layer_scale2.lambda1", 1, D, 0, L->ls2},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char sub[96];
        snprintf(sub, sizeof sub, t[i].name, i == 7 || i == 8 ? in : out);
        snprintf(fmt, sizeof fmt, "encoder.layer.%%d.%s", sub);
        AD_TRY(load(st, t[i].dst, t[i].ndim, t[i].d0, t[i].d1, 0, fmt, l));
    }
    return AD_OK;
}

static int load_weights(ad_dinov2 *m, const ad_safetensors *st)
{
    const ad_dinov2_config *c = &m->cfg;
    int64_t D = c->hidden, p = c->patch, npos = 1 + (int64_t)m->grid * m->grid;
    AD_TRY(load(st, m->cls, 3, 1, 1, D, "embeddings.cls_token", 0));
    if (c->registers > 0)
        AD_TRY(load(st, m->reg, 3, 1, c->registers, D, "embeddings.register_tokens", 0));
    AD_TRY(load(st, m->pos, 3, 1, npos, D, "embeddings.position_embeddings", 0));
    int64_t pw[4] = {D, 3, p, p};
    AD_TRY(ad_st_read_f32(st, "embeddings.patch_embeddings.projection.weight", 4, pw, m->patch_w));
    AD_TRY(load(st, m->patch_b, 1, D, 0, 0, "embeddings.patch_embeddings.projection.bias", 0));
    for (int l = 0; l < c->layers; l++)
        AD_TRY(load_layer(st, c, l, &m->layer[l]));
    AD_TRY(load(st, m->lnf_g, 1, D, 0, 0, "layernorm.weight", 0));
    return load(st, m->lnf_b, 1, D, 0, 0, "layernorm.bias", 0);
}

int ad_dinov2_load(const char *model_dir, ad_dinov2 **out)
{
    *out = NULL;
    char path[4096];
    ad_dinov2_config cfg;
    AD_TRY(ad_path_join(path, sizeof path, model_dir, "config.json"));
    AD_TRY(ad_dinov2_config_load(path, &cfg));
    ad_safetensors *st = NULL;
    AD_TRY(ad_st_open(model_dir, &st));
    int rc = AD_OK;
    ad_dinov2 *m = NULL;
    if (!ad_st_find(st, "embeddings.cls_token")) {
        rc = ad_fail(AD_ERR_FORMAT, "%s: no tensor embeddings.cls_token: not a Dinov2Model "
                     "checkpoint", ad_st_path(st));
        goto done;
    }
    AD_CHECK(alloc_model(&cfg, &m));
    AD_CHECK(load_weights(m, st));
    *out = m;
    m = NULL;
done:
    ad_dinov2_destroy(m);
    ad_st_close(st);
    return rc;
}

int ad_dinov2_create_random(const ad_dinov2_config *cfg, uint64_t seed, ad_dinov2 **out)
{
    *out = NULL;
    if (cfg->hidden < 1 || cfg->heads < 1 || cfg->hidden % cfg->heads || cfg->layers < 1 ||
        cfg->mlp_hidden < 1 || cfg->patch < 1 || cfg->image_size < cfg->patch ||
        cfg->registers < 0)
        return ad_fail(AD_ERR_ARG, "ad_dinov2_create_random: invalid configuration");
    ad_dinov2 *m;
    AD_TRY(alloc_model(cfg, &m));
    ad_model_params_random(&m->buf, seed);
    for (int i = 0; i < cfg->hidden; i++) {
        m->lnf_g[i] += 1.0f;
        for (int l = 0; l < cfg->layers; l++) {
            dino_layer *L = &m->layer[l];
            L->ln1_g[i] += 1.0f;
            L->ln2_g[i] += 1.0f;
            L->ls1[i] += 1.0f;
            L->ls2[i] += 1.0f;
        }
    }
    *out = m;
    return AD_OK;
}

/* ---- forward ------------------------------------------------------------------------- */

int ad_dinov2_count(const ad_dinov2 *m, ad_image_output what, int h, int w)
{
    int p = m->cfg.patch;
    return what == AD_IMG_TOKENS ? 1 + (h / p) * (w / p) : 1;
}

double ad_dinov2_flops(const ad_dinov2_config *c, int batch, int h, int w)
{
    double D = c->hidden, F = c->mlp_hidden, F1 = (double)ffn_in(c), p = c->patch;
    double G = (double)(h / c->patch) * (w / c->patch), T = 1 + c->registers + G;
    double rows = batch * T;
    double layer = rows * (2 * D * 3 * D + 2 * D * D + 2 * D * F1 + 2 * F * D) +
                   batch * 4.0 * T * T * D;
    return batch * G * 2 * D * 3 * p * p + c->layers * layer;
}

typedef struct {
    float *x, *xn, *big, *a, *scratch, *pos, *col;
} workspace;

static int get_workspace(ad_dinov2 *m, int batch, int T, int G, workspace *w)
{
    const ad_dinov2_config *c = &m->cfg;
    size_t D = (size_t)c->hidden, rows = (size_t)batch * T, F1 = ffn_in(c);
    size_t wide = 3 * D > F1 ? 3 * D : F1, P = 3 * (size_t)c->patch * c->patch;
    size_t need = rows * (3 * D + wide) + (size_t)T * T + (size_t)G * D + (size_t)G * P;
    AD_TRY(ad_model_ws_reserve(&m->buf, need, "DINOv2 workspace"));
    w->x = m->buf.ws;
    w->xn = w->x + rows * D;
    w->a = w->xn + rows * D;
    w->big = w->a + rows * D;
    w->scratch = w->big + rows * wide;
    w->pos = w->scratch + (size_t)T * T;
    w->col = w->pos + (size_t)G * D;
    return AD_OK;
}

/* The patch part of the position embeddings for a gh x gw grid, the way `pos` does it. */
static int fit_positions(const ad_dinov2 *m, int h, int w, int gh, int gw, ad_pos_interp pos,
                         float *dst)
{
    int M = m->grid, D = m->cfg.hidden;
    const float *src = m->pos + D;
    /* both implementations keep the checkpoint grid only for square inputs of that size */
    if (gh * gw == M * M && h == w) {
        memcpy(dst, src, sizeof(float) * (size_t)M * M * D);
        return AD_OK;
    }
    if (pos == AD_POS_HUB) /* hub: scale_factor = ((g + 0.1) / M), rows first */
        return ad_bicubic_resize(dst, src, M, M, gh, gw, D, (gh + 0.1) / M, (gw + 0.1) / M,
                                 AD_CUBIC_PLAIN);
    return ad_bicubic_resize(dst, src, M, M, gh, gw, D, 0, 0,
                             pos == AD_POS_AA ? AD_CUBIC_ANTIALIAS : AD_CUBIC_PLAIN);
}

/* Patch embedding (im2col of non-overlapping patches + one GEMM per image), CLS, registers
 * and positions into x [batch][T][D]. */
static int embed(const ad_dinov2 *m, const float *images, int batch, int h, int w, int gh,
                 int gw, const workspace *ws)
{
    const ad_dinov2_config *c = &m->cfg;
    int D = c->hidden, p = c->patch, R = c->registers, G = gh * gw, T = 1 + R + G;
    int P = 3 * p * p;
    for (int b = 0; b < batch; b++) {
        const float *img = images + (size_t)b * 3 * h * w;
        for (int gy = 0; gy < gh; gy++)
            for (int gx = 0; gx < gw; gx++) {
                float *dst = ws->col + ((size_t)gy * gw + gx) * P;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < p; ky++)
                        memcpy(dst + ((size_t)ch * p + ky) * p,
                               img + ((size_t)ch * h + gy * p + ky) * w + (size_t)gx * p,
                               sizeof(float) * (size_t)p);
            }
        float *xb = ws->x + (size_t)b * T * D;
        AD_TRY(ad_model_linear(m->buf.bf16, xb + (size_t)(1 + R) * D, D, ws->col, P, m->patch_w,
                               m->patch_b, G, P, D));
        for (int i = 0; i < D; i++)
            xb[i] = m->cls[i] + m->pos[i];
        memcpy(xb + D, m->reg, sizeof(float) * (size_t)R * D);
        float *pt = xb + (size_t)(1 + R) * D;
        for (size_t i = 0; i < (size_t)G * D; i++)
            pt[i] += ws->pos[i];
    }
    return AD_OK;
}

/* x += ls * (y + bias): LayerScale on a residual branch. */
static void scaled_residual(float *x, const float *y, const float *bias, const float *ls,
                            int rows, int D)
{
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * D;
        const float *yr = y + (size_t)r * D;
        for (int i = 0; i < D; i++)
            xr[i] += (yr[i] + bias[i]) * ls[i];
    }
}

static int layer_forward(const ad_dinov2 *m, const dino_layer *L, const workspace *w, int batch,
                         int T)
{
    const ad_dinov2_config *c = &m->cfg;
    int D = c->hidden, F = c->mlp_hidden, F1 = (int)ffn_in(c), rows = batch * T;
    ad_layernorm_forward(w->xn, NULL, NULL, w->x, L->ln1_g, L->ln1_b, rows, D, c->eps);
    ad_bf16_gemm *g = m->buf.bf16;
    AD_TRY(ad_model_linear(g, w->big, 3 * D, w->xn, D, L->wqkv, L->bqkv, rows, D, 3 * D));
    ad_attention_forward(w->a, NULL, w->scratch, w->big, NULL, batch, T, D, c->heads);
    AD_TRY(ad_model_linear(g, w->xn, D, w->a, D, L->wo, NULL, rows, D, D));
    scaled_residual(w->x, w->xn, L->bo, L->ls1, rows, D);
    ad_layernorm_forward(w->xn, NULL, NULL, w->x, L->ln2_g, L->ln2_b, rows, D, c->eps);
    AD_TRY(ad_model_linear(g, w->big, F1, w->xn, D, L->w1, NULL, rows, D, F1));
    if (c->swiglu)
        ad_swiglu_forward(w->big, w->big, L->b1, rows, F);
    else
        ad_bias_gelu_forward(w->big, L->b1, rows, F);
    AD_TRY(ad_model_linear(g, w->a, D, w->big, F, L->w2, NULL, rows, F, D));
    scaled_residual(w->x, w->a, L->b2, L->ls2, rows, D);
    return AD_OK;
}

static void read_out(const ad_dinov2 *m, const workspace *w, int batch, int T, int G,
                     ad_image_output what, float *out)
{
    const ad_dinov2_config *c = &m->cfg;
    int D = c->hidden, first = 1 + c->registers;
    for (int b = 0; b < batch; b++) {
        const float *xb = w->x + (size_t)b * T * D;
        if (what == AD_IMG_CLS) {
            ad_layernorm_forward(out + (size_t)b * D, NULL, NULL, xb, m->lnf_g, m->lnf_b, 1, D,
                                 c->eps);
        } else if (what == AD_IMG_TOKENS) {
            float *o = out + (size_t)b * (1 + G) * D;
            ad_layernorm_forward(o, NULL, NULL, xb, m->lnf_g, m->lnf_b, 1, D, c->eps);
            ad_layernorm_forward(o + D, NULL, NULL, xb + (size_t)first * D, m->lnf_g, m->lnf_b,
                                 G, D, c->eps);
        } else {
            ad_layernorm_forward(w->xn, NULL, NULL, xb + (size_t)first * D, m->lnf_g, m->lnf_b,
                                 G, D, c->eps);
            float *o = out + (size_t)b * D;
            memset(o, 0, sizeof(float) * (size_t)D);
            for (int t = 0; t < G; t++)
                for (int i = 0; i < D; i++)
                    o[i] += w->xn[(size_t)t * D + i];
            for (int i = 0; i < D; i++)
                o[i] /= (float)G;
        }
    }
}

int ad_dinov2_forward(ad_dinov2 *m, const float *images, int batch, int h, int w,
                      ad_pos_interp pos, ad_image_output what, float *out)
{
    const ad_dinov2_config *c = &m->cfg;
    if (batch < 1)
        return ad_fail(AD_ERR_ARG, "DINOv2 forward: batch %d < 1", batch);
    if (h < c->patch || w < c->patch || h > 65536 || w > 65536)
        return ad_fail(AD_ERR_ARG, "DINOv2 forward: image %dx%d is smaller than one %dx%d patch",
                       w, h, c->patch, c->patch);
    if ((unsigned)what > AD_IMG_MEAN || (unsigned)pos > AD_POS_AA)
        return ad_fail(AD_ERR_ARG, "DINOv2 forward: unknown output %d or interpolation %d",
                       (int)what, (int)pos);
    int gh = h / c->patch, gw = w / c->patch, G = gh * gw, T = 1 + c->registers + G;
    workspace ws;
    AD_TRY(get_workspace(m, batch, T, G, &ws));
    AD_TRY(fit_positions(m, h, w, gh, gw, pos, ws.pos));
    AD_TRY(embed(m, images, batch, h, w, gh, gw, &ws));
    for (int l = 0; l < c->layers; l++)
        AD_TRY(layer_forward(m, &m->layer[l], &ws, batch, T));
    read_out(m, &ws, batch, T, G, what, out);
    return AD_OK;
}
