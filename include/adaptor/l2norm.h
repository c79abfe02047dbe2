/* Row-wise L2 normalisation, as torch.nn.functional.normalize(x, dim=-1):
 * y = x / max(||x||, eps) with eps = 1e-12. */
#ifndef ADAPTOR_L2NORM_H
#define ADAPTOR_L2NORM_H

/* norm (may be NULL) receives max(||x_r||, eps) per row for the backward pass. y may alias x. */
void ad_l2norm_forward(float *y, float *norm, const float *x, int n, int d);
/* dx = (dy - y (y . dy)) / norm, for rows whose norm exceeded eps (else dy / eps).
 * dx may alias dy. */
void ad_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int n,
                        int d);

#endif
