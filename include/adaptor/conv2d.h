/* 2-D convolution and pooling over channels-last (NHWC) float32 activations.
 *
 * Activations are [batch][h][w][c]; convolution weights are [cout][kh][kw][cin] (PyTorch's
 * [cout][cin][kh][kw] permuted once at load with ad_conv2d_weight_from_oihw).  With that
 * layout a convolution is im2col over output pixels followed by ONE BLIS GEMM per chunk of
 * rows, y[pixels, cout] = col[pixels, kh*kw*cin] W^T: the pixel count of the whole batch is
 * the GEMM's M, so deep layers with few pixels per image still get large products, and
 * a 1x1 stride-1 convolution needs no im2col at all.  Kernels never allocate or fail:
 * callers size the workspace with ad_conv2d_col_floats. */
#ifndef ADAPTOR_CONV2D_H
#define ADAPTOR_CONV2D_H

#include <stddef.h>

typedef struct ad_conv2d_desc {
    int cin, cout, kh, kw, stride, pad; /* zero padding on every side */
} ad_conv2d_desc;

/* Output extent along one axis, floor((in + 2 pad - k) / stride) + 1 (< 1: too small). */
int ad_conv2d_out_dim(int in, int k, int stride, int pad);

/* Workspace floats ad_conv2d_forward / _backward need for these shapes (0 for 1x1 stride-1
 * convolutions without padding). */
size_t ad_conv2d_col_floats(const ad_conv2d_desc *d, int batch, int oh, int ow);

/* dst[o][ky][kx][i] = src[o][i][ky][kx]. */
void ad_conv2d_weight_from_oihw(float *dst, const float *src, int cout, int cin, int kh, int kw);

/* y[batch][oh][ow][cout] = conv(x[batch][ih][iw][cin], w) + b (b may be NULL), with
 * oh, ow from ad_conv2d_out_dim.  col: ad_conv2d_col_floats(...) floats. */
void ad_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const ad_conv2d_desc *d, int batch, int ih, int iw, float *col);

/* Gradients of ad_conv2d_forward: dx (may be NULL) is overwritten, dw and db (may be NULL)
 * accumulate.  col: ad_conv2d_col_floats(...) floats. */
void ad_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const ad_conv2d_desc *d, int batch, int ih, int iw,
                        float *col);

/* Max pooling k x k, stride s, padding p (padded cells never win, as in PyTorch). */
void ad_maxpool2d_forward(float *y, const float *x, int batch, int ih, int iw, int c, int k,
                          int stride, int pad);

/* y[b][c] = mean over the hw pixels of x[b][hw][c]. */
void ad_global_avgpool_forward(float *y, const float *x, int batch, int hw, int c);

#endif
