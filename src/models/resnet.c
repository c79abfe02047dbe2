#include "adaptor/resnet.h"

#include "adaptor/conv2d.h"
#include "adaptor/error.h"
#include "adaptor/json.h"
#include "adaptor/fsutil.h"
#include "adaptor/nn.h"
#include "adaptor/rng.h"
#include "adaptor/safetensors.h"

#include "model_common.h"
#include "resnet_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESNET_MAX_BLOCKS 64 /* per stage */
#define RESNET_MAX_CH 65536

typedef struct {
    ad_conv2d_desc d;
    float *w, *b; /* folded: [cout][kh][kw][cin], [cout] */
    char name[64], bn[64];
} conv;

typedef struct {
    conv c1, c2, c3, ds;
    int has_ds;
} block;

struct ad_resnet {
    conv stem;
    ad_resnet_variant v;
    int nblocks[4];
    block *blocks; /* stage after stage */
    float eps;
    ad_model_buffers buf;
};

void ad_resnet_destroy(ad_resnet *m)
{
    if (!m)
        return;
    free(m->blocks);
    ad_model_buffers_free(&m->buf);
    free(m);
}

static int total_blocks(const ad_resnet *m)
{
    return m->nblocks[0] + m->nblocks[1] + m->nblocks[2] + m->nblocks[3];
}

int ad_resnet_dim(const ad_resnet *m) { return m->blocks[total_blocks(m) - 1].c3.d.cout; }

static void set_conv(conv *c, int cin, int cout, int k, int stride, const char *name,
                     const char *bn)
{
    ad_conv2d_desc d = {cin, cout, k, k, stride, k / 2};
    c->d = d;
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->bn, sizeof c->bn, "%s", bn);
}

/* Visits every convolution in forward order. */
#define FOR_EACH_CONV(m, c, body)                                                 \
    do {                                                                          \
        conv *c = &(m)->stem;                                                     \
        body;                                                                     \
        for (int i_ = 0; i_ < total_blocks(m); i_++) {                            \
            block *bk_ = &(m)->blocks[i_];                                        \
            conv *list_[4] = {&bk_->c1, &bk_->c2, &bk_->c3, bk_->has_ds ? &bk_->ds : NULL}; \
            for (int j_ = 0; j_ < 4; j_++) {                                      \
                if (!list_[j_])                                                   \
                    continue;                                                     \
                c = list_[j_];                                                    \
                body;                                                             \
            }                                                                     \
        }                                                                         \
    } while (0)

/* Every convolution's weight then its (folded batch-norm) bias. */
static void layout(void *model, ad_carve *k)
{
    ad_resnet *m = model;
    FOR_EACH_CONV(m, c, {
        ad_carve_take(k, &c->w, (size_t)c->d.cout * c->d.kh * c->d.kw * c->d.cin);
        ad_carve_take(k, &c->b, (size_t)c->d.cout);
    });
}

/* Block structure from planes(s, k) -> (width, out channels, has downsample). */
typedef int (*block_shape_fn)(void *ctx, int s, int k, int inplanes, int *planes, int *outp,
                              int *has_ds);

static int build(ad_resnet *m, int stem_width, block_shape_fn shape, void *ctx)
{
    set_conv(&m->stem, m->v.in_channels, stem_width, 7, 2, "conv1.weight", "bn1");
    m->stem.d.pad = 3;
    m->blocks = ad_calloc((size_t)total_blocks(m), sizeof *m->blocks, "ResNet blocks");
    if (!m->blocks)
        return AD_ERR_NOMEM;
    int inplanes = stem_width, i = 0;
    for (int s = 0; s < 4; s++)
        for (int k = 0; k < m->nblocks[s]; k++, i++) {
            block *b = &m->blocks[i];
            int planes, outp, stride = k == 0 ? m->v.stride[s] : 1;
            AD_TRY(shape(ctx, s, k, inplanes, &planes, &outp, &b->has_ds));
            char n[64], bn[64]; /* room for any int: gcc -O1 checks snprintf bounds */
            static const int ksz[3] = {1, 3, 1};
            conv *cs[3] = {&b->c1, &b->c2, &b->c3};
            for (int j = 0; j < 3; j++) {
                snprintf(n, sizeof n, "layer%d.%d.conv%d.weight", s + 1, k, j + 1);
                snprintf(bn, sizeof bn, "layer%d.%d.bn%d", s + 1, k, j + 1);
                set_conv(cs[j], j == 0 ? inplanes : planes, j == 2 ? outp : planes, ksz[j],
                         j == 1 ? stride : 1, n, bn);
            }
            if (b->has_ds) {
                snprintf(n, sizeof n, "layer%d.%d.downsample.0.weight", s + 1, k);
                snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", s + 1, k);
                set_conv(&b->ds, inplanes, outp, 1, stride, n, bn);
            }
            inplanes = outp;
        }
    return ad_model_params_alloc(&m->buf, m, layout, "ResNet parameters");
}

/* ---- loading ------------------------------------------------------------------------- */

typedef struct {
    const ad_safetensors *st;
    const ad_resnet *m;
} st_ctx;

static int dim0(const ad_safetensors *st, const char *name, int *out)
{
    const ad_st_tensor *t = ad_st_find(st, name);
    if (!t)
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is missing", ad_st_path(st), name);
    if (t->ndim != 4 || t->shape[0] < 1 || t->shape[0] > RESNET_MAX_CH) {
        char s[128];
        ad_st_format_shape(s, sizeof s, t->ndim, t->shape);
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected a convolution "
                       "weight [out, in, k, k]", ad_st_path(st), name, s);
    }
    *out = (int)t->shape[0];
    return AD_OK;
}

static int st_block_shape(void *ctx, int s, int k, int inplanes, int *planes, int *outp,
                          int *has_ds)
{
    const ad_safetensors *st = ((st_ctx *)ctx)->st;
    int stride = k == 0 ? ((st_ctx *)ctx)->m->v.stride[s] : 1;
    char n[64];
    snprintf(n, sizeof n, "layer%d.%d.conv1.weight", s + 1, k);
    AD_TRY(dim0(st, n, planes));
    snprintf(n, sizeof n, "layer%d.%d.conv3.weight", s + 1, k);
    AD_TRY(dim0(st, n, outp));
    snprintf(n, sizeof n, "layer%d.%d.downsample.0.weight", s + 1, k);
    *has_ds = ad_st_find(st, n) != NULL;
    if (!*has_ds && (*outp != inplanes || stride != 1))
        return ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is missing (the block changes shape)",
                       ad_st_path(st), n);
    return AD_OK;
}

/* Reads conv c's weight and BatchNorm and folds them: w' = w g / sqrt(var + eps),
 * b' = beta - mean g / sqrt(var + eps). */
static int load_conv(const ad_safetensors *st, conv *c, float eps, float *tmp)
{
    const ad_conv2d_desc *d = &c->d;
    int64_t shape[4] = {d->cout, d->cin, d->kh, d->kw}, n = d->cout;
    AD_TRY(ad_st_read_f32(st, c->name, 4, shape, tmp));
    float *bn = tmp + (size_t)d->cout * d->cin * d->kh * d->kw;
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int j = 0; j < 4; j++) {
        char name[96];
        snprintf(name, sizeof name, "%s.%s", c->bn, part[j]);
        AD_TRY(ad_st_read_f32(st, name, 1, &n, bn + (size_t)j * d->cout));
    }
    ad_conv2d_weight_from_oihw(c->w, tmp, d->cout, d->cin, d->kh, d->kw);
    size_t per = (size_t)d->kh * d->kw * d->cin;
    for (int o = 0; o < d->cout; o++) {
        double var = bn[3 * d->cout + o];
        if (!(var >= 0))
            return ad_fail(AD_ERR_FORMAT, "%s: '%s.running_var' has a negative or NaN entry",
                           ad_st_path(st), c->bn);
        double s = bn[o] / sqrt(var + eps);
        for (size_t i = 0; i < per; i++)
            c->w[o * per + i] = (float)(c->w[o * per + i] * s);
        c->b[o] = (float)(bn[d->cout + o] - bn[2 * d->cout + o] * s);
    }
    return AD_OK;
}

int ad_resnet_read_config(const char *model_dir, const char *model_type, float *eps)
{
    char path[4096];
    AD_TRY(ad_path_join(path, sizeof path, model_dir, "config.json"));
    *eps = 1e-5f;
    if (!ad_path_exists(path))
        return AD_OK;
    cJSON *root;
    AD_TRY(ad_json_read_object(path, &root));
    int rc = AD_OK;
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "batch_norm_eps");
        if (t && (!cJSON_IsString(t) || strcmp(t->valuestring, model_type) != 0))
            rc = ad_fail(AD_ERR_FORMAT, "%s: model_type is not \"%s\"", path, model_type);
        else if (e && (!cJSON_IsNumber(e) || !((float)e->valuedouble > 0) || e->valuedouble > 1))
            rc = ad_fail(AD_ERR_FORMAT, "%s: 'batch_norm_eps' must be a number in (0, 1]", path);
        else if (e)
            *eps = (float)e->valuedouble;
    }
    cJSON_Delete(root);
    return rc;
}

static int load_all(ad_resnet *m, const ad_safetensors *st)
{
    size_t biggest = 0;
    FOR_EACH_CONV(m, c, {
        size_t n = (size_t)c->d.cout * (c->d.cin * c->d.kh * c->d.kw + 4);
        biggest = n > biggest ? n : biggest;
    });
    float *tmp = ad_malloc(biggest * sizeof(float), "ResNet load buffer");
    if (!tmp)
        return AD_ERR_NOMEM;
    int rc = AD_OK;
    FOR_EACH_CONV(m, c, {
        if (rc == AD_OK)
            rc = load_conv(st, c, m->eps, tmp);
    });
    free(tmp);
    return rc;
}

const ad_resnet_variant ad_resnet_torchvision = {3, {1, 2, 2, 2}, 0};

int ad_resnet_load(const char *model_dir, ad_resnet **out)
{
    float eps;
    *out = NULL;
    AD_TRY(ad_resnet_read_config(model_dir, "torchvision_resnet", &eps));
    return ad_resnet_load_variant(model_dir, &ad_resnet_torchvision, eps, out);
}

int ad_resnet_load_variant(const char *model_dir, const ad_resnet_variant *v, float eps,
                           ad_resnet **out)
{
    *out = NULL;
    ad_safetensors *st = NULL;
    AD_TRY(ad_st_open(model_dir, &st));
    int rc = AD_OK, stem;
    ad_resnet *m = ad_calloc(1, sizeof *m, "ResNet model");
    if (!m) {
        rc = AD_ERR_NOMEM;
        goto done;
    }
    m->eps = eps;
    m->v = *v;
    AD_CHECK(dim0(st, "conv1.weight", &stem));
    for (int s = 0; s < 4; s++) {
        char n[64];
        for (;;) {
            snprintf(n, sizeof n, "layer%d.%d.conv1.weight", s + 1, m->nblocks[s]);
            if (!ad_st_find(st, n) || m->nblocks[s] == RESNET_MAX_BLOCKS)
                break;
            m->nblocks[s]++;
        }
        if (m->nblocks[s] == 0) {
            rc = ad_fail(AD_ERR_FORMAT, "%s: tensor '%s' is missing (no block in layer%d)",
                         ad_st_path(st), n, s + 1);
            goto done;
        }
    }
    st_ctx ctx = {st, m};
    AD_CHECK(build(m, stem, st_block_shape, &ctx));
    AD_CHECK(load_all(m, st));
    *out = m;
    m = NULL;
done:
    ad_resnet_destroy(m);
    ad_st_close(st);
    return rc;
}

static int random_block_shape(void *ctx, int s, int k, int inplanes, int *planes, int *outp,
                              int *has_ds)
{
    int width = *(const int *)ctx;
    *planes = width << s;
    *outp = *planes * 4;
    *has_ds = k == 0 && (s > 0 || inplanes != *outp);
    return AD_OK;
}

int ad_resnet_create_random(const int blocks[4], int width, uint64_t seed, ad_resnet **out)
{
    *out = NULL;
    if (width < 1 || width > 4096)
        return ad_fail(AD_ERR_ARG, "ad_resnet_create_random: width %d out of range", width);
    ad_resnet *m = ad_calloc(1, sizeof *m, "ResNet model");
    if (!m)
        return AD_ERR_NOMEM;
    m->eps = 1e-5f;
    m->v = ad_resnet_torchvision;
    for (int s = 0; s < 4; s++) {
        if (blocks[s] < 1 || blocks[s] > RESNET_MAX_BLOCKS) {
            ad_resnet_destroy(m);
            return ad_fail(AD_ERR_ARG, "ad_resnet_create_random: %d blocks in stage %d",
                           blocks[s], s + 1);
        }
        m->nblocks[s] = blocks[s];
    }
    int rc = build(m, width, random_block_shape, &width);
    if (rc != AD_OK) {
        ad_resnet_destroy(m);
        return rc;
    }
    ad_rng r;
    ad_rng_seed(&r, seed, 0);
    FOR_EACH_CONV(m, c, {
        size_t n = (size_t)c->d.cout * c->d.kh * c->d.kw * c->d.cin;
        float bound = sqrtf(3.0f / (float)(c->d.kh * c->d.kw * c->d.cin)); /* unit gain */
        for (size_t i = 0; i < n; i++)
            c->w[i] = bound * (2.0f * ad_rng_uniform(&r) - 1.0f);
        for (int o = 0; o < c->d.cout; o++)
            c->b[o] = 0.1f * (2.0f * ad_rng_uniform(&r) - 1.0f);
    });
    *out = m;
    return AD_OK;
}

/* ---- forward ------------------------------------------------------------------------- */

int ad_resnet_stage_shape(const ad_resnet *m, int s, int h, int w, int *oh, int *ow, int *c)
{
    if (s < 0 || s > 4)
        return ad_fail(AD_ERR_ARG, "ResNet: stage %d is not in 0..4", s);
    /* stem conv 7x7/2, max pool 3x3/2, then each stage's first 3x3 convolution */
    int y = ad_conv2d_out_dim(ad_conv2d_out_dim(h, 7, 2, 3), 3, 2, 1);
    int x = ad_conv2d_out_dim(ad_conv2d_out_dim(w, 7, 2, 3), 3, 2, 1);
    for (int k = 1; k <= s; k++) {
        y = ad_conv2d_out_dim(y, 3, m->v.stride[k - 1], 1);
        x = ad_conv2d_out_dim(x, 3, m->v.stride[k - 1], 1);
    }
    if (h < 1 || w < 1 || y < 1 || x < 1)
        return ad_fail(AD_ERR_ARG, "ResNet: a %dx%d input is too small", w, h);
    *oh = y;
    *ow = x;
    int first = 0;
    for (int k = 0; k < s; k++)
        first += m->nblocks[k];
    *c = s == 0 ? m->stem.d.cout : m->blocks[first - 1].c3.d.cout;
    return AD_OK;
}

/* Calls visit on every convolution in forward order with its input and output sizes;
 * max pooling sits after the stem. */
typedef void (*conv_visit_fn)(void *ctx, const conv *c, int ih, int iw, int oh, int ow);

static void walk(const ad_resnet *m, int h, int w, conv_visit_fn visit, void *ctx)
{
    int oy = ad_conv2d_out_dim(h, 7, 2, 3), ox = ad_conv2d_out_dim(w, 7, 2, 3);
    visit(ctx, &m->stem, h, w, oy, ox);
    int y = ad_conv2d_out_dim(oy, 3, 2, 1), x = ad_conv2d_out_dim(ox, 3, 2, 1);
    for (int i = 0; i < total_blocks(m); i++) {
        const block *b = &m->blocks[i];
        int ny = ad_conv2d_out_dim(y, 3, b->c2.d.stride, 1);
        int nx = ad_conv2d_out_dim(x, 3, b->c2.d.stride, 1);
        visit(ctx, &b->c1, y, x, y, x);
        visit(ctx, &b->c2, y, x, ny, nx);
        visit(ctx, &b->c3, ny, nx, ny, nx);
        if (b->has_ds)
            visit(ctx, &b->ds, y, x, ny, nx);
        y = ny;
        x = nx;
    }
}

typedef struct {
    int batch;
    double flops;
    size_t act, col; /* largest activation and im2col panel, in floats */
} sizes;

static void size_visit(void *ctx, const conv *c, int ih, int iw, int oh, int ow)
{
    sizes *s = ctx;
    (void)ih;
    (void)iw;
    size_t out = (size_t)s->batch * oh * ow * c->d.cout;
    size_t col = ad_conv2d_col_floats(&c->d, s->batch, oh, ow);
    s->flops += 2.0 * out * c->d.kh * c->d.kw * c->d.cin;
    s->act = out > s->act ? out : s->act;
    s->col = col > s->col ? col : s->col;
}

double ad_resnet_flops(const ad_resnet *m, int batch, int h, int w)
{
    sizes s = {batch, 0, 0, 0};
    walk(m, h, w, size_visit, &s);
    return s.flops;
}

typedef struct {
    float *in, *x, *t1, *t2, *y, *col;
} workspace;

static int get_workspace(ad_resnet *m, int batch, int h, int w, workspace *ws)
{
    sizes s = {batch, 0, 0, 0};
    walk(m, h, w, size_visit, &s);
    size_t in = (size_t)batch * h * w * m->v.in_channels, need = in + 4 * s.act + s.col;
    AD_TRY(ad_model_ws_reserve(&m->buf, need, "ResNet workspace"));
    ws->in = m->buf.ws;
    ws->x = ws->in + in;
    ws->t1 = ws->x + s.act;
    ws->t2 = ws->t1 + s.act;
    ws->y = ws->t2 + s.act;
    ws->col = ws->y + s.act;
    return AD_OK;
}

static void relu(float *x, size_t n)
{
    ad_relu_forward(x, x, n);
}

/* y = relu(y + id) */
static void add_relu(float *y, const float *id, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = y[i] + id[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

/* The whole network; the last stage's output is left in *last ([batch][oh][ow][c]). */
static int run(ad_resnet *m, const float *images, int batch, int h, int w,
               float *const stages[5], const float **last, int *oh, int *ow)
{
    int y, x, c;
    AD_TRY(ad_resnet_stage_shape(m, 4, h, w, &y, &x, &c)); /* rejects small inputs */
    if (batch < 1)
        return ad_fail(AD_ERR_ARG, "ResNet forward: batch %d < 1", batch);
    workspace ws;
    AD_TRY(get_workspace(m, batch, h, w, &ws));
    size_t hw = (size_t)h * w;
    int cin = m->v.in_channels; /* a 1-channel stem reads the first of the 3 equal planes */
    for (int b = 0; b < batch; b++) /* planar -> channels-last */
        for (size_t p = 0; p < hw; p++)
            for (int ch = 0; ch < cin; ch++)
                ws.in[((size_t)b * hw + p) * cin + ch] = images[((size_t)b * 3 + ch) * hw + p];
    const conv *st = &m->stem;
    int sy = ad_conv2d_out_dim(h, 7, 2, 3), sx = ad_conv2d_out_dim(w, 7, 2, 3);
    ad_conv2d_forward(ws.t1, ws.in, st->w, st->b, &st->d, batch, h, w, ws.col);
    relu(ws.t1, (size_t)batch * sy * sx * st->d.cout);
    y = ad_conv2d_out_dim(sy, 3, 2, 1);
    x = ad_conv2d_out_dim(sx, 3, 2, 1);
    ad_maxpool2d_forward(ws.x, ws.t1, batch, sy, sx, st->d.cout, 3, 2, 1);
    c = st->d.cout;
    if (stages && stages[0])
        memcpy(stages[0], ws.x, sizeof(float) * (size_t)batch * y * x * c);
    int i = 0;
    for (int s = 0; s < 4; s++) {
        for (int k = 0; k < m->nblocks[s]; k++, i++) {
            const block *b = &m->blocks[i];
            int ny = ad_conv2d_out_dim(y, 3, b->c2.d.stride, 1);
            int nx = ad_conv2d_out_dim(x, 3, b->c2.d.stride, 1);
            size_t mid = (size_t)batch * ny * nx;
            ad_conv2d_forward(ws.t1, ws.x, b->c1.w, b->c1.b, &b->c1.d, batch, y, x, ws.col);
            relu(ws.t1, (size_t)batch * y * x * b->c1.d.cout);
            ad_conv2d_forward(ws.t2, ws.t1, b->c2.w, b->c2.b, &b->c2.d, batch, y, x, ws.col);
            relu(ws.t2, mid * b->c2.d.cout);
            ad_conv2d_forward(ws.y, ws.t2, b->c3.w, b->c3.b, &b->c3.d, batch, ny, nx, ws.col);
            if (m->v.relu_bn3)
                relu(ws.y, mid * b->c3.d.cout);
            const float *id = ws.x;
            if (b->has_ds) { /* t1 is free again */
                ad_conv2d_forward(ws.t1, ws.x, b->ds.w, b->ds.b, &b->ds.d, batch, y, x, ws.col);
                id = ws.t1;
            }
            add_relu(ws.y, id, mid * b->c3.d.cout);
            float *t = ws.x;
            ws.x = ws.y;
            ws.y = t;
            y = ny;
            x = nx;
            c = b->c3.d.cout;
        }
        if (stages && stages[s + 1])
            memcpy(stages[s + 1], ws.x, sizeof(float) * (size_t)batch * y * x * c);
    }
    *last = ws.x;
    *oh = y;
    *ow = x;
    return AD_OK;
}

int ad_resnet_forward(ad_resnet *m, const float *images, int batch, int h, int w,
                      ad_image_output what, float *out)
{
    if ((unsigned)what > AD_IMG_MEAN)
        return ad_fail(AD_ERR_ARG, "ResNet forward: unknown output %d", (int)what);
    const float *last;
    int y, x, c = ad_resnet_dim(m);
    AD_TRY(run(m, images, batch, h, w, NULL, &last, &y, &x));
    if (what == AD_IMG_TOKENS)
        memcpy(out, last, sizeof(float) * (size_t)batch * y * x * c);
    else
        ad_global_avgpool_forward(out, last, batch, y * x, c);
    return AD_OK;
}

int ad_resnet_forward_stages(ad_resnet *m, const float *images, int batch, int h, int w,
                             float *const stages[5])
{
    const float *last;
    int y, x;
    return run(m, images, batch, h, w, stages, &last, &y, &x);
}
