/* Nearest-neighbour upsampling by an integer factor over channels-last (NHWC) activations:
 * y[b][s*i + a][s*j + c][:] = x[b][i][j][:] for a, c in [0, s) (PyTorch's
 * interpolate(mode="nearest", scale_factor=s) for integer s). */
#ifndef ADAPTOR_UPSAMPLE_H
#define ADAPTOR_UPSAMPLE_H

/* x [batch][h][w][c] -> y [batch][s h][s w][c]. */
void ad_upsample_nearest_forward(float *y, const float *x, int batch, int h, int w, int c,
                                 int s);
/* dx [batch][h][w][c] (overwritten) = sum of dy over each s x s block. */
void ad_upsample_nearest_backward(float *dx, const float *dy, int batch, int h, int w, int c,
                                  int s);

#endif
