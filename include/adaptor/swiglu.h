/* SwiGLU gating (the feed-forward of DINOv2 giant): h = silu(x1) * x2 where x1 and x2 are
 * the two halves of one linear layer's output row. */
#ifndef ADAPTOR_SWIGLU_H
#define ADAPTOR_SWIGLU_H

/* y[r][i] = silu(x[r][i] + b[i]) * (x[r][f + i] + b[f + i]) for n rows of x [n][2f]
 * (b [2f] may be NULL); y [n][f] may alias x (rows are compacted in place). */
void ad_swiglu_forward(float *y, const float *x, const float *b, int n, int f);

#endif
