/* Shared between the segmentation decoder's sources: the parameter table, the layer units
 * (convolution, conv + BN + ReLU) and the per-kind forward / backward. */
#ifndef ADAPTOR_SEGDECODER_INTERNAL_H
#define ADAPTOR_SEGDECODER_INTERNAL_H

#include "adaptor/batchnorm.h"
#include "adaptor/conv2d.h"
#include "adaptor/segdecoder.h"

#include <stdint.h>

/* What a named tensor is: decides its buffer, its layout conversion and its initialisation. */
enum { SEG_CONV_W, SEG_CONV_B, SEG_CONVT_W, SEG_CONVT_B, SEG_BN_W, SEG_BN_B, SEG_BN_MEAN, SEG_BN_VAR };

typedef struct seg_tensor {
    char name[64];
    int role;
    size_t off;         /* floats into params (trained) or stats (BN running statistics) */
    int ndim;
    int64_t shape[4];   /* PyTorch's shape */
} seg_tensor;

/* A convolution (or 2x2-stride-2 style transposed convolution) with bias. */
typedef struct seg_conv {
    ad_conv2d_desc d;
    int transposed;
    size_t w, b;        /* offsets into params / grads */
} seg_conv;

/* conv + BatchNorm + ReLU; r keeps the ReLU output of the last forward. */
typedef struct seg_cbr {
    seg_conv conv;
    size_t g, be;       /* BN weight / bias in params */
    size_t rm, rv;      /* running mean / var in stats */
    int side_in, side_out;
    ad_batchnorm_cache bn;
    float *r;
} seg_cbr;

/* ViT: cbr[0], then nearest x2 into out. U-Net: up (transposed conv) into cat[..., :ch],
 * the skip copied into cat[..., ch:], cbr[0], cbr[1]; out = cbr[1].r. */
typedef struct seg_block {
    seg_cbr cbr[2];
    int ncbr;
    seg_conv up;
    int skip, side_in, side; /* skip channels, input side, output side */
    float *cat;
    float *out;
} seg_block;

struct ad_segdec {
    ad_segdec_config cfg;
    int out_size;
    seg_tensor *tensors;
    size_t ntensors, tcap;
    size_t nparams, nstats;
    float *params, *grads, *stats;
    int64_t batches_tracked;
    seg_cbr stem;                     /* ViT only */
    seg_block blk[AD_SEGDEC_MAX_UP];
    int nblk;
    seg_conv final;
    /* activations for cap_b images; trained_b: batch of the last training forward (0: none) */
    int cap_b, trained_b;
    float *arena;
    float *input;                     /* copy of feats[0] */
    float *ga, *gb, *col;             /* backward ping-pong buffers, im2col workspace */
};

/* Table building (offsets into params or stats by role). */
int seg_add_tensor(ad_segdec *d, const char *name, int role, int ndim, const int64_t *shape,
                   size_t *off);
int seg_add_conv(ad_segdec *d, seg_conv *c, const char *prefix, int cin, int cout, int k,
                 int stride, int pad, int transposed);
int seg_add_cbr(ad_segdec *d, seg_cbr *u, const char *conv_prefix, const char *bn_prefix,
                int cin, int cout, int pad, int side_in);

size_t seg_conv_out_side(const seg_conv *c, int side_in);
size_t seg_conv_col_floats(const seg_conv *c, int b, int side_in);
void seg_conv_forward(ad_segdec *d, const seg_conv *c, const float *x, int b, int side_in,
                      float *y);
/* dx may be NULL; weight / bias gradients accumulate. */
void seg_conv_backward(ad_segdec *d, const seg_conv *c, const float *dy, const float *x, int b,
                       int side_in, float *dx);
int seg_cbr_forward(ad_segdec *d, seg_cbr *u, const float *x, int b, int train, MPI_Comm comm);
/* dr (the gradient of u->r) is consumed in place; dx may be NULL. */
int seg_cbr_backward(ad_segdec *d, seg_cbr *u, float *dr, const float *x, int b, float *dx,
                     MPI_Comm comm);

int seg_unet_build(ad_segdec *d);
int seg_unet_forward(ad_segdec *d, const float *const *feats, int b, int train, MPI_Comm comm);
int seg_unet_backward(ad_segdec *d, float *const *dfeats, MPI_Comm comm);

#endif
