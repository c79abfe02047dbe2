#include "adaptor/bert.h"

#include "adaptor/error.h"
#include "adaptor/fsutil.h"
#include "adaptor/nn.h"
#include "adaptor/safetensors.h"

#include "model_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *wqkv, *bqkv;          /* [3H, H], [3H]: query | key | value */
    float *wo, *bo, *ln1_g, *ln1_b;
    float *wi, *bi;              /* [I, H], [I] */
    float *wf, *bf, *ln2_g, *ln2_b; /* output.dense [H, I], [H]; output.LayerNorm */
} bert_layer;

struct ad_bert {
    ad_bert_config cfg;
    ad_model_buffers buf;
    float *word, *pos, *type, *emb_g, *emb_b;
    bert_layer *layer;
    float *pool_w, *pool_b; /* NULL without pooler */
    char source[512];       /* model folder, for messages */
};

const ad_bert_config *ad_bert_get_config(const ad_bert *m) { return &m->cfg; }

int ad_bert_set_precision(ad_bert *m, ad_precision p)
{
    return ad_model_set_precision(&m->buf, p);
}

/* The parameter buffer in the order of the loaders below (ad_carve: counting, then binding). */
static void layout(void *model, ad_carve *k)
{
    ad_bert *m = model;
    const ad_bert_config *c = &m->cfg;
    size_t H = (size_t)c->hidden, I = (size_t)c->intermediate;
    ad_carve_take(k, &m->word, (size_t)c->vocab * H);
    ad_carve_take(k, &m->pos, (size_t)c->max_positions * H);
    ad_carve_take(k, &m->type, (size_t)c->type_vocab * H);
    ad_carve_take(k, &m->emb_g, H);
    ad_carve_take(k, &m->emb_b, H);
    for (int l = 0; l < c->layers; l++) {
        bert_layer *L = &m->layer[l];
        ad_carve_take(k, &L->wqkv, 3 * H * H);
        ad_carve_take(k, &L->bqkv, 3 * H);
        ad_carve_take(k, &L->wo, H * H);
        ad_carve_take(k, &L->bo, H);
        ad_carve_take(k, &L->ln1_g, H);
        ad_carve_take(k, &L->ln1_b, H);
        ad_carve_take(k, &L->wi, I * H);
        ad_carve_take(k, &L->bi, I);
        ad_carve_take(k, &L->wf, H * I);
        ad_carve_take(k, &L->bf, H);
        ad_carve_take(k, &L->ln2_g, H);
        ad_carve_take(k, &L->ln2_b, H);
    }
    if (c->has_pooler) {
        ad_carve_take(k, &m->pool_w, H * H);
        ad_carve_take(k, &m->pool_b, H);
    }
}

static int alloc_model(const ad_bert_config *cfg, ad_bert **out)
{
    *out = NULL;
    ad_bert *m = ad_calloc(1, sizeof *m, "BERT model");
    if (!m)
        return AD_ERR_NOMEM;
    m->cfg = *cfg;
    m->layer = ad_calloc((size_t)cfg->layers, sizeof *m->layer, "BERT layers");
    int rc = m->layer ? ad_model_params_alloc(&m->buf, m, layout, "BERT parameters")
                      : AD_ERR_NOMEM;
    if (rc != AD_OK) {
        ad_bert_destroy(m);
        return rc;
    }
    *out = m;
    return AD_OK;
}

void ad_bert_destroy(ad_bert *m)
{
    if (!m)
        return;
    ad_model_buffers_free(&m->buf);
    free(m->layer);
    free(m);
}

/* ---- loading ------------------------------------------------------------------------- */

typedef struct {
    const ad_safetensors *st;
    const char *prefix; /* "" or "bert." */
} loader;

/* Old TF-converted checkpoints name LayerNorm parameters gamma / beta. */
static const char *legacy_name(const char *name, char *buf, size_t n)
{
    size_t len = strlen(name);
    const char *w = "LayerNorm.weight", *b = "LayerNorm.bias";
    if (len >= strlen(w) && strcmp(name + len - strlen(w), w) == 0)
        snprintf(buf, n, "%.*sLayerNorm.gamma", (int)(len - strlen(w)), name);
    else if (len >= strlen(b) && strcmp(name + len - strlen(b), b) == 0)
        snprintf(buf, n, "%.*sLayerNorm.beta", (int)(len - strlen(b)), name);
    else
        return NULL;
    return buf;
}

static int load_tensor(const loader *ld, const char *name, int64_t d0, int64_t d1, float *dst)
{
    char full[512], alt[512];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    if (!ad_st_find(ld->st, full)) {
        const char *old = legacy_name(full, alt, sizeof alt);
        if (!old || !ad_st_find(ld->st, old))
            return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is missing", ad_st_path(ld->st),
                           full);
        snprintf(full, sizeof full, "%s", old);
    }
    int64_t shape[2] = {d0, d1};
    return ad_st_read_f32(ld->st, full, d1 > 0 ? 2 : 1, shape, dst);
}

static int load_layer(const loader *ld, const ad_bert_config *c, int l, bert_layer *L)
{
    int64_t H = c->hidden, I = c->intermediate;
    char n[256];
    static const char *const qkv[3] = {"query", "key", "value"};
    for (int j = 0; j < 3; j++) {
        snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.weight", l, qkv[j]);
        AD_TRY(load_tensor(ld, n, H, H, L->wqkv + (size_t)j * H * H));
        snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.bias", l, qkv[j]);
        AD_TRY(load_tensor(ld, n, H, 0, L->bqkv + (size_t)j * H));
    }
    struct {
        const char *name;
        int64_t d0, d1;
        float *dst;
    } t[] = {
        {"attention.output.dense.weight", H, H, L->wo},
        {"attention.output.dense.bias", H, 0, L->bo},
        {"attention.output.LayerNorm.weight", H, 0, L->ln1_g},
        {"attention.output.LayerNorm.bias", H, 0, L->ln1_b},
        {"intermediate.dense.weight", I, H, L->wi},
        {"intermediate.dense.bias", I, 0, L->bi},
        {"output.dense.weight", H, I, L->wf},
        {"output.dense.bias", H, 0, L->bf},
        {"output.LayerNorm.weight", H, 0, L->ln2_g},
        {"output.LayerNorm.bias", H, 0, L->ln2_b},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        snprintf(n, sizeof n, "encoder.layer.%d.%s", l, t[i].name);
        AD_TRY(load_tensor(ld, n, t[i].d0, t[i].d1, t[i].dst));
    }
    return AD_OK;
}

static int load_weights(ad_bert *m, const loader *ld)
{
    const ad_bert_config *c = &m->cfg;
    int64_t H = c->hidden;
    AD_TRY(load_tensor(ld, "embeddings.word_embeddings.weight", c->vocab, H, m->word));
    AD_TRY(load_tensor(ld, "embeddings.position_embeddings.weight", c->max_positions, H,
                       m->pos));
    AD_TRY(load_tensor(ld, "embeddings.token_type_embeddings.weight", c->type_vocab, H,
                       m->type));
    AD_TRY(load_tensor(ld, "embeddings.LayerNorm.weight", H, 0, m->emb_g));
    AD_TRY(load_tensor(ld, "embeddings.LayerNorm.bias", H, 0, m->emb_b));
    for (int l = 0; l < c->layers; l++)
        AD_TRY(load_layer(ld, c, l, &m->layer[l]));
    if (c->has_pooler) {
        AD_TRY(load_tensor(ld, "pooler.dense.weight", H, H, m->pool_w));
        AD_TRY(load_tensor(ld, "pooler.dense.bias", H, 0, m->pool_b));
    }
    return AD_OK;
}

int ad_bert_load(const char *model_dir, ad_bert **out)
{
    *out = NULL;
    char path[4096];
    ad_bert_config cfg;
    AD_TRY(ad_path_join(path, sizeof path, model_dir, "config.json"));
    AD_TRY(ad_bert_config_load(path, &cfg));
    ad_safetensors *st = NULL;
    AD_TRY(ad_st_open(model_dir, &st));
    loader ld = {st, ""};
    int rc = AD_OK;
    ad_bert *m = NULL;
    if (!ad_st_find(st, "embeddings.word_embeddings.weight")) {
        if (ad_st_find(st, "bert.embeddings.word_embeddings.weight")) {
            ld.prefix = "bert.";
        } else {
            rc = ad_fail(AD_ERR_FORMAT, "%s: no tensor embeddings.word_embeddings.weight "
                         "(nor bert.embeddings...): not a BERT checkpoint", ad_st_path(st));
            goto done;
        }
    }
    char name[64];
    snprintf(name, sizeof name, "%spooler.dense.weight", ld.prefix);
    int has_w = ad_st_find(st, name) != NULL;
    snprintf(name, sizeof name, "%spooler.dense.bias", ld.prefix);
    cfg.has_pooler = has_w || ad_st_find(st, name) != NULL; /* half a pooler fails below */
    AD_CHECK(alloc_model(&cfg, &m));
    snprintf(m->source, sizeof m->source, "%s", model_dir);
    AD_CHECK(load_weights(m, &ld));
    *out = m;
    m = NULL;
done:
    ad_bert_destroy(m);
    ad_st_close(st);
    return rc;
}

int ad_bert_create_random(const ad_bert_config *cfg, uint64_t seed, ad_bert **out)
{
    *out = NULL;
    if (cfg->hidden < 1 || cfg->heads < 1 || cfg->hidden % cfg->heads || cfg->layers < 1 ||
        cfg->intermediate < 1 || cfg->vocab < 1 || cfg->max_positions < 1 || cfg->type_vocab < 1)
        return ad_fail(AD_ERR_ARG, "ad_bert_create_random: invalid configuration");
    ad_bert *m;
    AD_TRY(alloc_model(cfg, &m));
    snprintf(m->source, sizeof m->source, "random BERT (seed %llu)", (unsigned long long)seed);
    ad_model_params_random(&m->buf, seed);
    int H = cfg->hidden;
    for (int i = 0; i < H; i++)
        m->emb_g[i] += 1.0f;
    for (int l = 0; l < cfg->layers; l++)
        for (int i = 0; i < H; i++) {
            m->layer[l].ln1_g[i] += 1.0f;
            m->layer[l].ln2_g[i] += 1.0f;
        }
    *out = m;
    return AD_OK;
}

int ad_bert_output_parse(const char *name, ad_bert_output *what)
{
    static const char *const names[] = {"pooler", "cls", "mean", "tokens"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *what = (ad_bert_output)i;
            return AD_OK;
        }
    return ad_fail(AD_ERR_ARG, "pooling '%s' is not one of pooler, cls, mean, tokens", name);
}

double ad_bert_flops(const ad_bert_config *c, const int *lengths, int batch)
{
    double H = c->hidden, I = c->intermediate, rows = 0, att = 0;
    for (int b = 0; b < batch; b++) {
        rows += lengths[b];
        att += 4.0 * lengths[b] * (double)lengths[b] * H;
    }
    double per_layer = rows * (2.0 * H * 3 * H + 2.0 * H * H + 4.0 * H * I) + att;
    return c->layers * per_layer + (c->has_pooler ? 2.0 * batch * H * H : 0.0);
}

/* ---- forward ------------------------------------------------------------------------- *
 * The tokens of the batch are packed row after row (no padding rows): every per-token
 * layer runs on sum(lengths) rows and attention runs per sequence over its own length.
 * This equals HF's padded batch with the additive finfo.min key mask, whose masked keys
 * get exactly zero weight, and costs nothing for the padding. */

typedef struct {
    float *x, *big, *a, *b, *scratch;
    int rows, T; /* packed rows, longest sequence */
} workspace;

static int get_workspace(ad_bert *m, const int *lengths, int batch, workspace *w)
{
    size_t H = (size_t)m->cfg.hidden, rows = 0, T = 0;
    for (int b = 0; b < batch; b++) {
        rows += (size_t)lengths[b];
        T = (size_t)lengths[b] > T ? (size_t)lengths[b] : T;
    }
    size_t wide = 3 * H > (size_t)m->cfg.intermediate ? 3 * H : (size_t)m->cfg.intermediate;
    size_t need = rows * (3 * H + wide) + T * T;
    AD_TRY(ad_model_ws_reserve(&m->buf, need, "BERT workspace"));
    w->x = m->buf.ws;
    w->big = w->x + rows * H;
    w->a = w->big + rows * wide;
    w->b = w->a + rows * H;
    w->scratch = w->b + rows * H;
    w->rows = (int)rows;
    w->T = (int)T;
    return AD_OK;
}

static void embed(const ad_bert *m, const int32_t *ids, const int *lengths, int batch,
                  int ids_stride, float *x)
{
    int H = m->cfg.hidden, rows = 0;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < lengths[b]; t++) {
            int32_t id = ids[(size_t)b * ids_stride + t];
            const float *we = m->word + (size_t)id * H, *pe = m->pos + (size_t)t * H;
            float *xr = x + (size_t)rows++ * H;
            for (int i = 0; i < H; i++)
                xr[i] = we[i] + pe[i] + m->type[i];
        }
    ad_layernorm_forward(x, NULL, NULL, x, m->emb_g, m->emb_b, rows, H, m->cfg.eps);
}

static int layer_forward(const ad_bert *m, const bert_layer *L, const workspace *w,
                         const int *lengths, int batch)
{
    const ad_bert_config *c = &m->cfg;
    int H = c->hidden, I = c->intermediate, rows = w->rows;
    ad_bf16_gemm *g = m->buf.bf16;
    AD_TRY(ad_model_linear(g, w->big, 3 * H, w->x, H, L->wqkv, L->bqkv, rows, H, 3 * H));
    for (int b = 0, off = 0; b < batch; off += lengths[b++])
        ad_attention_forward(w->a + (size_t)off * H, NULL, w->scratch,
                             w->big + (size_t)off * 3 * H, NULL, 1, lengths[b], H, c->heads);
    AD_TRY(ad_model_linear(g, w->b, H, w->a, H, L->wo, NULL, rows, H, H));
    ad_residual_layernorm_forward(w->x, w->b, L->bo, w->x, L->ln1_g, L->ln1_b, rows, H, c->eps);
    AD_TRY(ad_model_linear(g, w->big, I, w->x, H, L->wi, NULL, rows, H, I));
    if (c->act == AD_BERT_GELU) {
        ad_bias_gelu_forward(w->big, L->bi, rows, I);
    } else {
        for (int r = 0; r < rows; r++) {
            float *row = w->big + (size_t)r * I;
            for (int i = 0; i < I; i++)
                row[i] += L->bi[i];
        }
        ad_gelu_tanh_forward(w->big, w->big, (size_t)rows * I);
    }
    AD_TRY(ad_model_linear(g, w->b, H, w->big, I, L->wf, NULL, rows, I, H));
    ad_residual_layernorm_forward(w->x, w->b, L->bf, w->x, L->ln2_g, L->ln2_b, rows, H, c->eps);
    return AD_OK;
}

static int check_input(const ad_bert *m, const int32_t *ids, const int *lengths, int batch,
                       int ids_stride)
{
    const ad_bert_config *c = &m->cfg;
    if (batch < 1)
        return ad_fail(AD_ERR_ARG, "BERT forward: batch %d < 1", batch);
    for (int b = 0; b < batch; b++) {
        if (lengths[b] < 1 || lengths[b] > c->max_positions)
            return ad_fail(AD_ERR_ARG, "BERT forward: sequence %d has length %d (1..%d allowed)",
                           b, lengths[b], c->max_positions);
        if (lengths[b] > ids_stride)
            return ad_fail(AD_ERR_ARG, "BERT forward: sequence %d length %d exceeds the id "
                           "stride %d", b, lengths[b], ids_stride);
        for (int t = 0; t < lengths[b]; t++) {
            int32_t id = ids[(size_t)b * ids_stride + t];
            if (id < 0 || id >= c->vocab)
                return ad_fail(AD_ERR_ARG, "BERT forward: sequence %d token %d has id %d "
                               "outside the vocabulary (0..%d)", b, t, (int)id, c->vocab - 1);
        }
    }
    return AD_OK;
}

static int pool(const ad_bert *m, const workspace *w, const int *lengths, int batch,
                ad_bert_output what, float *out)
{
    int H = m->cfg.hidden;
    /* the pooler's input goes through a gathered copy of the CLS rows (w->a is free now) */
    float *cls = what == AD_BERT_POOLER ? w->a : out;
    for (int b = 0, off = 0; b < batch; off += lengths[b++]) {
        const float *seq = w->x + (size_t)off * H;
        if (what == AD_BERT_CLS || what == AD_BERT_POOLER) {
            memcpy(cls + (size_t)b * H, seq, sizeof(float) * H);
        } else if (what == AD_BERT_MEAN) {
            float *o = out + (size_t)b * H;
            memset(o, 0, sizeof(float) * H);
            for (int t = 0; t < lengths[b]; t++)
                for (int i = 0; i < H; i++)
                    o[i] += seq[(size_t)t * H + i];
            float inv = 1.0f / (float)lengths[b];
            for (int i = 0; i < H; i++)
                o[i] *= inv;
        } else { /* tokens: [batch, T, H], zeros past each length */
            float *ot = out + (size_t)b * w->T * H;
            memcpy(ot, seq, sizeof(float) * H * (size_t)lengths[b]);
            memset(ot + (size_t)lengths[b] * H, 0,
                   sizeof(float) * H * (size_t)(w->T - lengths[b]));
        }
    }
    if (what == AD_BERT_POOLER) {
        AD_TRY(ad_model_linear(m->buf.bf16, out, H, cls, H, m->pool_w, m->pool_b, batch, H, H));
        ad_tanh_forward(out, out, (size_t)batch * H);
    }
    return AD_OK;
}

int ad_bert_forward(ad_bert *m, const int32_t *ids, const int *lengths, int batch,
                    int ids_stride, ad_bert_output what, float *out)
{
    if (what == AD_BERT_POOLER && !m->cfg.has_pooler)
        return ad_fail(AD_ERR_UNSUPPORTED, "%s: the checkpoint has no pooler.dense weights "
                       "(a masked-LM-only model): choose pooling = cls or mean", m->source);
    if ((unsigned)what > AD_BERT_TOKENS)
        return ad_fail(AD_ERR_ARG, "BERT forward: unknown output kind %d", (int)what);
    AD_TRY(check_input(m, ids, lengths, batch, ids_stride));
    workspace w;
    AD_TRY(get_workspace(m, lengths, batch, &w));
    embed(m, ids, lengths, batch, ids_stride, w.x);
    for (int l = 0; l < m->cfg.layers; l++)
        AD_TRY(layer_forward(m, &m->layer[l], &w, lengths, batch));
    return pool(m, &w, lengths, batch, what, out);
}
