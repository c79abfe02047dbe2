/* The segmentation decoder's building blocks: the named parameter table and the layer units
 * (convolution or transposed convolution with bias; conv + BatchNorm + ReLU). */
#include "adaptor/conv2d_single.h"
#include "adaptor/conv_transpose.h"
#include "adaptor/error.h"
#include "adaptor/mpiutil.h"
#include "adaptor/nn.h"
#include "segdecoder_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameter table ------------------------------------------------------------------- */

int seg_add_tensor(ad_segdec *d, const char *name, int role, int ndim, const int64_t *shape,
                   size_t *off)
{
    if (d->ntensors == d->tcap) {
        size_t cap = d->tcap ? 2 * d->tcap : 32;
        seg_tensor *t = realloc(d->tensors, cap * sizeof *t);
        if (!t)
            return ad_fail(AD_ERR_NOMEM, "segdecoder: out of memory for the tensor table");
        d->tensors = t, d->tcap = cap;
    }
    seg_tensor *t = &d->tensors[d->ntensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i], n *= (size_t)shape[i];
    size_t *end = role == SEG_BN_MEAN || role == SEG_BN_VAR ? &d->nstats : &d->nparams;
    t->off = *end;
    *end += n;
    *off = t->off;
    return AD_OK;
}

int seg_add_conv(ad_segdec *d, seg_conv *c, const char *prefix, int cin, int cout, int k,
                 int stride, int pad, int transposed)
{
    char name[64];
    /* PyTorch shapes: Conv2d [out, in, k, k], ConvTranspose2d [in, out, k, k] */
    int64_t ws[4] = {transposed ? cin : cout, transposed ? cout : cin, k, k}, bs[1] = {cout};
    c->d = (ad_conv2d_desc){cin, cout, k, k, stride, pad};
    c->transposed = transposed;
    snprintf(name, sizeof name, "%s.weight", prefix);
    AD_TRY(seg_add_tensor(d, name, transposed ? SEG_CONVT_W : SEG_CONV_W, 4, ws, &c->w));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return seg_add_tensor(d, name, transposed ? SEG_CONVT_B : SEG_CONV_B, 1, bs, &c->b);
}

int seg_add_cbr(ad_segdec *d, seg_cbr *u, const char *conv_prefix, const char *bn_prefix,
                int cin, int cout, int pad, int side_in)
{
    char name[64];
    int64_t s[1] = {cout};
    AD_TRY(seg_add_conv(d, &u->conv, conv_prefix, cin, cout, 3, 1, pad, 0));
    static const struct {
        const char *suffix;
        int role;
    } bn[4] = {{"weight", SEG_BN_W}, {"bias", SEG_BN_B}, {"running_mean", SEG_BN_MEAN},
               {"running_var", SEG_BN_VAR}};
    size_t *dst[4] = {&u->g, &u->be, &u->rm, &u->rv};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", bn_prefix, bn[i].suffix);
        AD_TRY(seg_add_tensor(d, name, bn[i].role, 1, s, dst[i]));
    }
    u->side_in = side_in;
    u->side_out = (int)seg_conv_out_side(&u->conv, side_in);
    return AD_OK;
}

/* ---- layer units --------------------------------------------------------------------------- */

size_t seg_conv_out_side(const seg_conv *c, int side_in)
{
    const ad_conv2d_desc *k = &c->d;
    return (size_t)(c->transposed ? ad_conv_transpose2d_out_dim(side_in, k->kh, k->stride, k->pad)
                                  : ad_conv2d_out_dim(side_in, k->kh, k->stride, k->pad));
}

size_t seg_conv_col_floats(const seg_conv *c, int b, int side_in)
{
    if (!c->transposed && c->d.cout == 1)
        return 0; /* direct loops */
    if (c->transposed)
        return ad_conv_transpose2d_col_floats(&c->d, b, side_in, side_in);
    int o = (int)seg_conv_out_side(c, side_in);
    return ad_conv2d_col_floats(&c->d, b, o, o);
}

void seg_conv_forward(ad_segdec *d, const seg_conv *c, const float *x, int b, int side_in,
                      float *y)
{
    const float *w = d->params + c->w, *bias = d->params + c->b;
    if (c->transposed)
        ad_conv_transpose2d_forward(y, x, w, bias, &c->d, b, side_in, side_in, d->col);
    else if (c->d.cout == 1)
        ad_conv2d_single_forward(y, x, w, bias, &c->d, b, side_in, side_in);
    else
        ad_conv2d_forward(y, x, w, bias, &c->d, b, side_in, side_in, d->col);
}

void seg_conv_backward(ad_segdec *d, const seg_conv *c, const float *dy, const float *x, int b,
                       int side_in, float *dx)
{
    const float *w = d->params + c->w;
    float *dw = d->grads + c->w, *db = d->grads + c->b;
    if (c->transposed)
        ad_conv_transpose2d_backward(dx, dw, db, dy, x, w, &c->d, b, side_in, side_in, d->col);
    else if (c->d.cout == 1)
        ad_conv2d_single_backward(dx, dw, db, dy, x, w, &c->d, b, side_in, side_in);
    else
        ad_conv2d_backward(dx, dw, db, dy, x, w, &c->d, b, side_in, side_in, d->col);
}

int seg_cbr_forward(ad_segdec *d, seg_cbr *u, const float *x, int b, int train, MPI_Comm comm)
{
    size_t rows = (size_t)b * u->side_out * u->side_out;
    int C = u->conv.d.cout;
    seg_conv_forward(d, &u->conv, x, b, u->side_in, u->r);
    const float *g = d->params + u->g, *be = d->params + u->be;
    ad_reduce red = ad_mpi_sum(&comm);
    if (train)
        AD_TRY(ad_batchnorm_forward_train(u->r, &u->bn, u->r, g, be, d->stats + u->rm,
                                          d->stats + u->rv, rows, C, d->cfg.bn_eps,
                                          d->cfg.bn_momentum, &red));
    else
        ad_batchnorm_forward_eval(u->r, u->r, g, be, d->stats + u->rm, d->stats + u->rv, rows,
                                  C, d->cfg.bn_eps);
    ad_relu_forward(u->r, u->r, rows * (size_t)C);
    return AD_OK;
}

int seg_cbr_backward(ad_segdec *d, seg_cbr *u, float *dr, const float *x, int b, float *dx,
                     MPI_Comm comm)
{
    size_t rows = (size_t)b * u->side_out * u->side_out;
    int C = u->conv.d.cout;
    ad_relu_backward(dr, dr, u->r, rows * (size_t)C);
    ad_reduce red = ad_mpi_sum(&comm);
    AD_TRY(ad_batchnorm_backward(dr, d->grads + u->g, d->grads + u->be, dr, &u->bn,
                                 d->params + u->g, rows, C, &red));
    seg_conv_backward(d, &u->conv, dr, x, b, u->side_in, dx);
    return AD_OK;
}
