/* Convolution to ONE output channel over channels-last (NHWC) activations, by direct loops.
 *
 * A segmentation head (64 channels -> 1 logit per pixel at full resolution) through the
 * im2col + GEMM path of conv2d.h is a matrix-vector product behind an im2col panel 9x the
 * input: memory-bound, ~15x slower than these loops, which read each input pixel in place
 * (9 dot products of cin per output pixel). Same layouts and conventions as conv2d.h with
 * d->cout == 1: w is [1][kh][kw][cin]. */
#ifndef ADAPTOR_CONV2D_SINGLE_H
#define ADAPTOR_CONV2D_SINGLE_H

#include "adaptor/conv2d.h"

/* y [batch][oh][ow] = conv(x [batch][ih][iw][cin], w) + b[0] (b may be NULL). */
void ad_conv2d_single_forward(float *y, const float *x, const float *w, const float *b,
                              const ad_conv2d_desc *d, int batch, int ih, int iw);
/* dx (may be NULL) overwritten; dw, db (may be NULL) accumulate. */
void ad_conv2d_single_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *w, const ad_conv2d_desc *d, int batch, int ih,
                               int iw);

#endif
