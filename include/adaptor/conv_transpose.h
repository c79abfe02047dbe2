/* 2-D transposed convolution (PyTorch ConvTranspose2d, output_padding 0, groups 1) over
 * channels-last (NHWC) activations.
 *
 * A transposed convolution is the adjoint of a convolution, so it reuses the conv2d kernels
 * (im2col + BLIS GEMM): its forward is the input-gradient pass of the convolution with
 * cin and cout swapped, its input gradient that convolution's forward, its weight gradient
 * that convolution's weight gradient with the roles of x and dy exchanged.
 * d->cin / d->cout are the TRANSPOSED layer's in / out channels. Weights are stored
 * [cin][kh][kw][cout] (PyTorch's [cin][cout][kh][kw] permuted with
 * ad_conv_transpose2d_weight_from_iohw). */
#ifndef ADAPTOR_CONV_TRANSPOSE_H
#define ADAPTOR_CONV_TRANSPOSE_H

#include "adaptor/conv2d.h"

#include <stddef.h>

/* (in - 1) stride - 2 pad + k (< 1: invalid). */
int ad_conv_transpose2d_out_dim(int in, int k, int stride, int pad);
/* Workspace floats for forward / backward on ih x iw inputs. */
size_t ad_conv_transpose2d_col_floats(const ad_conv2d_desc *d, int batch, int ih, int iw);
/* dst[i][ky][kx][o] = src[i][o][ky][kx]. */
void ad_conv_transpose2d_weight_from_iohw(float *dst, const float *src, const ad_conv2d_desc *d);

/* y [batch][oh][ow][cout] = convT(x [batch][ih][iw][cin]) + b (b may be NULL). */
void ad_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                 const ad_conv2d_desc *d, int batch, int ih, int iw,
                                 float *col);
/* dx (may be NULL) overwritten; dw, db (may be NULL) accumulate. */
void ad_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                  const float *x, const float *w, const ad_conv2d_desc *d,
                                  int batch, int ih, int iw, float *col);

#endif
