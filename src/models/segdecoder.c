/* The segmentation decoders: construction, initialisation, activation memory, the ViT
 * decoder and the shared forward / backward entry points (layer units in
 * segdecoder_layers.c, the U-Net in segdecoder_unet.c, files in segdecoder_io.c). */
#include "adaptor/segdecoder.h"

#include "adaptor/error.h"
#include "adaptor/rng.h"
#include "adaptor/upsample.h"
#include "segdecoder_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SIDE = 8192 };

ad_segdec_config ad_segdec_vit_config(int in_ch, int grid)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_VIT, .in_ch = in_ch, .grid = grid, .nup = 4,
                          .ch = {512, 256, 128, 64}};
    return c;
}

ad_segdec_config ad_segdec_unet_resnet_config(const int stage_ch[5], int grid)
{
    ad_segdec_config c = {.kind = AD_SEGDEC_UNET, .in_ch = stage_ch[4], .grid = grid, .nup = 5,
                          .ch = {256, 128, 64, 32, 16},
                          .skip_ch = {stage_ch[3], stage_ch[2], stage_ch[1], 0, 0}};
    return c;
}

/* ---- construction ------------------------------------------------------------------------ */

static int vit_build(ad_segdec *d)
{
    const ad_segdec_config *c = &d->cfg;
    AD_TRY(seg_add_cbr(d, &d->stem, "decoder_0.0", "decoder_0.1", c->in_ch, c->stem_ch, 0,
                       c->grid));
    int side = d->stem.side_out, cin = c->stem_ch;
    for (int i = 0; i < 4; i++) {
        char cp[32], bp[32];
        snprintf(cp, sizeof cp, "decoder_%d.0", i + 1);
        snprintf(bp, sizeof bp, "decoder_%d.1", i + 1);
        seg_block *k = &d->blk[i];
        AD_TRY(seg_add_cbr(d, &k->cbr[0], cp, bp, cin, c->ch[i], 1, side));
        k->ncbr = 1;
        k->side_in = side;
        k->side = 2 * side;
        side *= 2, cin = c->ch[i];
    }
    d->nblk = 4;
    d->out_size = side;
    return seg_add_conv(d, &d->final, "final_out", cin, 1, 3, 1, 1, 0);
}

static int check_config(ad_segdec_config *c)
{
    if (c->kind != AD_SEGDEC_VIT && c->kind != AD_SEGDEC_UNET)
        return ad_fail(AD_ERR_ARG, "segdecoder: unknown kind %d", c->kind);
    if (c->kind == AD_SEGDEC_VIT)
        c->nup = 4;
    if (c->in_ch < 1)
        return ad_fail(AD_ERR_ARG, "segdecoder: in_ch must be positive (got %d)", c->in_ch);
    int min_grid = c->kind == AD_SEGDEC_VIT ? 3 : 1;
    if (c->grid < min_grid || c->grid > MAX_SIDE)
        return ad_fail(AD_ERR_ARG, "segdecoder: grid %d outside [%d, %d]", c->grid, min_grid,
                       MAX_SIDE);
    if (c->nup < 1 || c->nup > AD_SEGDEC_MAX_UP)
        return ad_fail(AD_ERR_ARG, "segdecoder: nup %d outside [1, %d]", c->nup,
                       AD_SEGDEC_MAX_UP);
    long out = c->kind == AD_SEGDEC_VIT ? 16L * (c->grid - 2) : (long)c->grid << c->nup;
    if (out > MAX_SIDE)
        return ad_fail(AD_ERR_ARG, "segdecoder: output side %ld exceeds %d", out, MAX_SIDE);
    for (int i = 0; i < c->nup; i++) {
        if (c->ch[i] < 1)
            return ad_fail(AD_ERR_ARG, "segdecoder: ch[%d] must be positive (got %d)", i,
                           c->ch[i]);
        if (c->skip_ch[i] < 0 || (c->kind == AD_SEGDEC_VIT && c->skip_ch[i] != 0))
            return ad_fail(AD_ERR_ARG, "segdecoder: skip_ch[%d] = %d is invalid for this kind",
                           i, c->skip_ch[i]);
    }
    if (c->stem_ch < 0)
        return ad_fail(AD_ERR_ARG, "segdecoder: stem_ch must not be negative");
    if (c->stem_ch == 0)
        c->stem_ch = c->in_ch;
    if (c->bn_eps == 0)
        c->bn_eps = 1e-5f;
    if (c->bn_momentum == 0)
        c->bn_momentum = 0.1f;
    if (!(c->bn_eps > 0) || !(c->bn_momentum > 0 && c->bn_momentum <= 1))
        return ad_fail(AD_ERR_ARG, "segdecoder: bn_eps must be > 0 and bn_momentum in (0, 1]");
    return AD_OK;
}

int ad_segdec_create(const ad_segdec_config *c, ad_segdec **out)
{
    *out = NULL;
    ad_segdec_config cfg = *c;
    AD_TRY(check_config(&cfg));
    ad_segdec *d = ad_calloc(1, sizeof *d, "segmentation decoder");
    if (!d)
        return AD_ERR_NOMEM;
    d->cfg = cfg;
    int rc = cfg.kind == AD_SEGDEC_VIT ? vit_build(d) : seg_unet_build(d);
    if (rc == AD_OK) {
        d->params = ad_calloc(d->nparams, sizeof(float), "segdecoder parameters");
        d->grads = ad_calloc(d->nparams, sizeof(float), "segdecoder gradients");
        d->stats = ad_calloc(d->nstats ? d->nstats : 1, sizeof(float), "segdecoder BN stats");
        if (!d->params || !d->grads || !d->stats)
            rc = AD_ERR_NOMEM;
    }
    if (rc != AD_OK) {
        ad_segdec_destroy(d);
        return rc;
    }
    ad_segdec_init(d, 0);
    *out = d;
    return AD_OK;
}

void ad_segdec_destroy(ad_segdec *d)
{
    if (!d)
        return;
    free(d->tensors);
    free(d->params);
    free(d->grads);
    free(d->stats);
    free(d->arena);
    free(d);
}

const ad_segdec_config *ad_segdec_cfg(const ad_segdec *d)
{
    return &d->cfg;
}

int ad_segdec_out_size(const ad_segdec *d)
{
    return d->out_size;
}

int ad_segdec_ninputs(const ad_segdec *d)
{
    return d->cfg.kind == AD_SEGDEC_VIT ? 1 : 1 + d->cfg.nup;
}

void ad_segdec_input_shape(const ad_segdec *d, int i, int *side, int *ch)
{
    if (i == 0) {
        *side = d->cfg.grid, *ch = d->cfg.in_ch;
        return;
    }
    *side = d->cfg.grid << i;
    *ch = d->cfg.kind == AD_SEGDEC_UNET && i <= d->cfg.nup ? d->cfg.skip_ch[i - 1] : 0;
}

size_t ad_segdec_nparams(const ad_segdec *d)
{
    return d->nparams;
}

float *ad_segdec_params(ad_segdec *d)
{
    return d->params;
}

float *ad_segdec_grads(ad_segdec *d)
{
    return d->grads;
}

void ad_segdec_zero_grad(ad_segdec *d)
{
    memset(d->grads, 0, sizeof(float) * d->nparams);
}

void ad_segdec_init(ad_segdec *d, uint64_t seed)
{
    ad_rng r;
    ad_rng_seed(&r, seed, 0x5e6dec);
    for (size_t i = 0; i < d->ntensors; i++) {
        const seg_tensor *t = &d->tensors[i];
        size_t n = 1;
        for (int k = 0; k < t->ndim; k++)
            n *= (size_t)t->shape[k];
        float *p = (t->role == SEG_BN_MEAN || t->role == SEG_BN_VAR ? d->stats : d->params) +
                   t->off;
        switch (t->role) {
        case SEG_CONV_W: { /* kaiming_normal_(mode="fan_out", nonlinearity="relu") */
            double std = sqrt(2.0 / ((double)t->shape[0] * t->shape[2] * t->shape[3]));
            for (size_t k = 0; k < n; k++)
                p[k] = (float)(std * ad_rng_normal(&r));
            break;
        }
        case SEG_CONVT_W: /* PyTorch's default for ConvTranspose2d (torchvision's init loop */
        case SEG_CONVT_B: /* only touches Conv2d): uniform 1/sqrt(fan_in), fan_in = dim 1 x k x k */
        {
            const seg_tensor *w = t->role == SEG_CONVT_W ? t : t - 1; /* bias follows weight */
            double bound = 1.0 / sqrt((double)w->shape[1] * w->shape[2] * w->shape[3]);
            for (size_t k = 0; k < n; k++)
                p[k] = (float)(bound * (2.0 * ad_rng_uniform_d(&r) - 1.0));
            break;
        }
        case SEG_BN_W:
        case SEG_BN_VAR:
            for (size_t k = 0; k < n; k++)
                p[k] = 1.0f;
            break;
        default: /* conv biases (torchvision zeroes them), BN bias, running mean */
            memset(p, 0, sizeof(float) * n);
        }
    }
    d->batches_tracked = 0;
}

double ad_segdec_flops(const ad_segdec *d, int b)
{
    double f = 0;
    /* 2 K cout per output pixel of each convolution; input pixels for transposed ones. */
    const seg_conv *convs[3 * AD_SEGDEC_MAX_UP + 2];
    int sides[3 * AD_SEGDEC_MAX_UP + 2], n = 0;
    if (d->cfg.kind == AD_SEGDEC_VIT)
        convs[n] = &d->stem.conv, sides[n++] = d->stem.side_out;
    for (int i = 0; i < d->nblk; i++) {
        const seg_block *k = &d->blk[i];
        if (d->cfg.kind == AD_SEGDEC_UNET)
            convs[n] = &k->up, sides[n++] = k->side_in;
        for (int j = 0; j < k->ncbr; j++)
            convs[n] = &k->cbr[j].conv, sides[n++] = k->cbr[j].side_out;
    }
    convs[n] = &d->final, sides[n++] = d->out_size;
    for (int i = 0; i < n; i++) {
        const ad_conv2d_desc *c = &convs[i]->d;
        f += 2.0 * b * (double)sides[i] * sides[i] * c->kh * c->kw * c->cin * c->cout;
    }
    return f;
}

/* ---- activations --------------------------------------------------------------------------- */

static float *carve(float **cur, size_t n, size_t *total)
{
    float *p = *cur;
    *total += n;
    if (p)
        *cur = p + n;
    return p;
}

static void carve_cbr(seg_cbr *u, int b, float **cur, size_t *total, size_t *gmax)
{
    size_t n = (size_t)b * u->side_out * u->side_out * u->conv.d.cout;
    size_t C = (size_t)u->conv.d.cout;
    u->bn.xhat = carve(cur, n, total);
    u->bn.mean = carve(cur, C, total);
    u->bn.rstd = carve(cur, C, total);
    u->r = carve(cur, n, total);
    if (n > *gmax)
        *gmax = n;
}

/* Lays out every buffer for batch b from base (NULL: only counts); returns the floats. */
static size_t layout(ad_segdec *d, int b, float *base)
{
    float *cur = base;
    size_t total = 0, gmax, col = 1;
    const ad_segdec_config *c = &d->cfg;
    gmax = (size_t)b * c->grid * c->grid * c->in_ch;
    d->input = carve(&cur, gmax, &total);
    if (c->kind == AD_SEGDEC_VIT) {
        carve_cbr(&d->stem, b, &cur, &total, &gmax);
        size_t k = seg_conv_col_floats(&d->stem.conv, b, d->stem.side_in);
        col = k > col ? k : col;
    }
    for (int i = 0; i < d->nblk; i++) {
        seg_block *k = &d->blk[i];
        size_t s2 = (size_t)b * k->side * k->side;
        if (c->kind == AD_SEGDEC_UNET) {
            size_t n = s2 * (size_t)(k->up.d.cout + k->skip);
            k->cat = carve(&cur, n, &total);
            gmax = n > gmax ? n : gmax;
            size_t w = seg_conv_col_floats(&k->up, b, k->side_in);
            col = w > col ? w : col;
        }
        for (int j = 0; j < k->ncbr; j++) {
            carve_cbr(&k->cbr[j], b, &cur, &total, &gmax);
            size_t w = seg_conv_col_floats(&k->cbr[j].conv, b, k->cbr[j].side_in);
            col = w > col ? w : col;
        }
        if (c->kind == AD_SEGDEC_VIT) {
            size_t n = s2 * (size_t)k->cbr[0].conv.d.cout;
            k->out = carve(&cur, n, &total);
            gmax = n > gmax ? n : gmax;
        } else {
            k->out = k->cbr[1].r;
        }
    }
    size_t w = seg_conv_col_floats(&d->final, b, d->out_size);
    col = w > col ? w : col;
    d->ga = carve(&cur, gmax, &total);
    d->gb = carve(&cur, gmax, &total);
    d->col = carve(&cur, col, &total);
    return total;
}

static int reserve(ad_segdec *d, int b)
{
    if (b <= d->cap_b)
        return AD_OK;
    free(d->arena);
    d->arena = NULL;
    d->cap_b = 0;
    size_t n = layout(d, b, NULL);
    d->arena = malloc(sizeof(float) * n);
    if (!d->arena)
        return ad_fail(AD_ERR_NOMEM, "segdecoder: out of memory for the activations of %d "
                                     "images (%zu MB)", b, n * sizeof(float) >> 20);
    layout(d, b, d->arena);
    d->cap_b = b;
    return AD_OK;
}

/* ---- ViT decoder --------------------------------------------------------------------------- */

static int vit_forward(ad_segdec *d, int b, int train, MPI_Comm comm)
{
    AD_TRY(seg_cbr_forward(d, &d->stem, d->input, b, train, comm));
    const float *x = d->stem.r;
    for (int i = 0; i < d->nblk; i++) {
        seg_block *k = &d->blk[i];
        AD_TRY(seg_cbr_forward(d, &k->cbr[0], x, b, train, comm));
        ad_upsample_nearest_forward(k->out, k->cbr[0].r, b, k->side_in, k->side_in,
                                    k->cbr[0].conv.d.cout, 2);
        x = k->out;
    }
    return AD_OK;
}

/* ga holds the gradient of the last block's output. */
static int vit_backward(ad_segdec *d, float *const *dfeats, MPI_Comm comm)
{
    int b = d->trained_b;
    for (int i = d->nblk - 1; i >= 0; i--) {
        seg_block *k = &d->blk[i];
        ad_upsample_nearest_backward(d->gb, d->ga, b, k->side_in, k->side_in,
                                     k->cbr[0].conv.d.cout, 2);
        const float *x = i ? d->blk[i - 1].out : d->stem.r;
        AD_TRY(seg_cbr_backward(d, &k->cbr[0], d->gb, x, b, d->ga, comm));
    }
    return seg_cbr_backward(d, &d->stem, d->ga, d->input, b, dfeats ? dfeats[0] : NULL, comm);
}

/* ---- entry points -------------------------------------------------------------------------- */

int ad_segdec_forward(ad_segdec *d, const float *const *feats, int b, float *logits, int train,
                      MPI_Comm comm)
{
    if (b < 1)
        return ad_fail(AD_ERR_ARG, "segdecoder: batch must be positive (got %d)", b);
    if (!feats || !feats[0])
        return ad_fail(AD_ERR_ARG, "segdecoder: input 0 (the %dx%d feature map) is missing",
                       d->cfg.grid, d->cfg.grid);
    d->trained_b = 0;
    AD_TRY(reserve(d, b));
    memcpy(d->input, feats[0], sizeof(float) * (size_t)b * d->cfg.grid * d->cfg.grid * d->cfg.in_ch);
    if (d->cfg.kind == AD_SEGDEC_VIT)
        AD_TRY(vit_forward(d, b, train, comm));
    else
        AD_TRY(seg_unet_forward(d, feats, b, train, comm));
    seg_conv_forward(d, &d->final, d->blk[d->nblk - 1].out, b, d->out_size, logits);
    if (train) {
        d->trained_b = b;
        d->batches_tracked++;
    }
    return AD_OK;
}

int ad_segdec_backward(ad_segdec *d, const float *dlogits, float *const *dfeats, MPI_Comm comm)
{
    if (!d->trained_b)
        return ad_fail(AD_ERR_ARG, "segdecoder: backward without a preceding training forward");
    seg_conv_backward(d, &d->final, dlogits, d->blk[d->nblk - 1].out, d->trained_b,
                      d->out_size, d->ga);
    int rc = d->cfg.kind == AD_SEGDEC_VIT ? vit_backward(d, dfeats, comm)
                                          : seg_unet_backward(d, dfeats, comm);
    d->trained_b = 0;
    return rc;
}
