#include "adaptor/conv_transpose.h"

#include <string.h>

int ad_conv_transpose2d_out_dim(int in, int k, int stride, int pad)
{
    int out = (in - 1) * stride - 2 * pad + k;
    return in < 1 || stride < 1 || out < 1 ? 0 : out;
}

/* The convolution whose adjoint this layer is: it maps the transposed layer's output back
 * onto its input. */
static ad_conv2d_desc adjoint(const ad_conv2d_desc *d)
{
    ad_conv2d_desc c = {d->cout, d->cin, d->kh, d->kw, d->stride, d->pad};
    return c;
}

size_t ad_conv_transpose2d_col_floats(const ad_conv2d_desc *d, int batch, int ih, int iw)
{
    ad_conv2d_desc c = adjoint(d);
    return ad_conv2d_col_floats(&c, batch, ih, iw);
}

void ad_conv_transpose2d_weight_from_iohw(float *dst, const float *src, const ad_conv2d_desc *d)
{
    ad_conv2d_weight_from_oihw(dst, src, d->cin, d->cout, d->kh, d->kw);
}

void ad_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                 const ad_conv2d_desc *d, int batch, int ih, int iw,
                                 float *col)
{
    ad_conv2d_desc c = adjoint(d);
    int oh = ad_conv_transpose2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv_transpose2d_out_dim(iw, d->kw, d->stride, d->pad);
    ad_conv2d_backward(y, NULL, NULL, x, NULL, w, &c, batch, oh, ow, col);
    if (b) {
        size_t n = (size_t)batch * oh * ow;
        for (size_t r = 0; r < n; r++)
            for (int o = 0; o < d->cout; o++)
                y[r * d->cout + o] += b[o];
    }
}

void ad_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                  const float *x, const float *w, const ad_conv2d_desc *d,
                                  int batch, int ih, int iw, float *col)
{
    ad_conv2d_desc c = adjoint(d);
    int oh = ad_conv_transpose2d_out_dim(ih, d->kh, d->stride, d->pad);
    int ow = ad_conv_transpose2d_out_dim(iw, d->kw, d->stride, d->pad);
    if (db) {
        size_t n = (size_t)batch * oh * ow;
        for (size_t r = 0; r < n; r++)
            for (int o = 0; o < d->cout; o++)
                db[o] += dy[r * d->cout + o];
    }
    if (dw)
        ad_conv2d_backward(NULL, dw, NULL, x, dy, w, &c, batch, oh, ow, col);
    if (dx)
        ad_conv2d_forward(dx, dy, w, NULL, &c, batch, oh, ow, col);
}
