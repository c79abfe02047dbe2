/* Neural-network kernels over plain float32 arrays (llm.c style).
 *
 * Tensors are row-major; "rows" is the product of the leading dimensions (batch x tokens),
 * the last dimension is the feature axis.  Every matrix product goes through BLIS.  Each
 * *_forward has its *_backward beside it in the same source file; backward functions
 * ACCUMULATE parameter gradients (dw += ...) and overwrite input gradients (dx = ...),
 * unless noted.  Kernels never allocate, never fail and know nothing about files: callers
 * validate shapes once and pass workspace. */
#ifndef ADAPTOR_NN_H
#define ADAPTOR_NN_H

#include <stddef.h>

/* ---- BLIS sgemm, row-major ------------------------------------------------------------
 * C[m,n] = alpha * op(A) op(B) + beta * C with op(X) = X or X^T (trans != 0).  lda, ldb,
 * ldc are row strides in elements of the matrices as stored. */
void ad_gemm(int transa, int transb, int m, int n, int k, float alpha, const float *a,
             int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- linear: y[n,out] = x[n,in] W[out,in]^T + b[out]  (PyTorch layout, b may be NULL) --
 * ldx / ldy: row strides of x and y (>= in / out); y must not overlap x or W. */
void ad_linear_forward(float *y, int ldy, const float *x, int ldx, const float *w,
                       const float *b, int n, int in, int out);
/* dx (may be NULL) = dy W; dw += dy^T x; db (may be NULL) += sum over rows of dy. */
void ad_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int n, int in, int out);

/* ---- layernorm over the last dimension d: y = (x - mean) * rstd * g + b ----------------
 * mean / rstd (may be NULL) receive the per-row statistics the backward pass needs.
 * y may alias x. */
void ad_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                          const float *b, int n, int d, float eps);
/* Post-LN transformer step: y = LN(h + bias + res) with h the raw output of a GEMM.
 * bias may be NULL; y may alias h or res. */
void ad_residual_layernorm_forward(float *y, const float *h, const float *bias,
                                   const float *res, const float *g, const float *b, int n,
                                   int d, float eps);
/* dx = d/dx; dg += ..., db += ... (dg, db may be NULL). */
void ad_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *g, int n, int d);

/* ---- activations (elementwise over count values; y may alias x) ------------------------
 * gelu: the exact erf form x/2 (1 + erf(x / sqrt 2)), float accuracy ~2e-7. */
void ad_gelu_forward(float *y, const float *x, size_t count);
/* y[r, :] = gelu(y[r, :] + bias), in place over n rows of d (the FFN after a GEMM). */
void ad_bias_gelu_forward(float *y, const float *bias, int n, int d);
/* dx = dy * gelu'(x); x is the pre-activation. dx may alias dy. */
void ad_gelu_backward(float *dx, const float *dy, const float *x, size_t count);
/* gelu_new / gelu_pytorch_tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void ad_gelu_tanh_forward(float *y, const float *x, size_t count);
void ad_tanh_forward(float *y, const float *x, size_t count);
/* dx = dy (1 - y^2) with y the forward output. */
void ad_tanh_backward(float *dx, const float *dy, const float *y, size_t count);
void ad_relu_forward(float *y, const float *x, size_t count);
/* dx = dy where y > 0 else 0 (y: forward output or input, same sign). */
void ad_relu_backward(float *dx, const float *dy, const float *y, size_t count);
/* Through relu and inverted dropout together, from their output f:
 * dx = f > 0 ? dx * keep : 0 in place (keep = 1/(1-p), or 1 without dropout). */
void ad_relu_mask_backward(float *dx, const float *f, size_t count, float keep);

/* ---- softmax over the last dimension d, rows of stride ld (in place allowed) -----------
 * A row whose entries are all -inf yields zeros rather than NaN. */
void ad_softmax_forward(float *y, const float *x, int n, int d, int ld);
/* y = softmax(x + mask) with mask[d] added to every row (NULL: none), e.g. an additive key
 * mask; -FLT_MAX entries get exactly zero weight. */
void ad_softmax_masked_forward(float *y, const float *x, const float *mask, int n, int d,
                               int ld);
/* dx = y * (dy - sum(dy * y)) per row.  dx may alias dy. */
void ad_softmax_backward(float *dx, const float *dy, const float *y, int n, int d, int ld);

/* ---- multi-head self-attention from a fused QKV projection ------------------------------
 * qkv: [B, T, 3C] = (q | k | v), each C = NH heads x (C / NH) features, as produced by one
 * linear layer with the [3C, C] concatenated weight.  out: [B, T, C] (heads concatenated).
 * key_mask: NULL or [B, T] additive scores bias per key (0 keep, large negative drop: HF's
 * extended attention mask).  att: NULL (inference; scratch of T*T floats is used) or
 * [B, NH, T, T] receiving the probabilities for the backward pass.  out must not overlap
 * qkv. */
void ad_attention_forward(float *out, float *att, float *scratch, const float *qkv,
                          const float *key_mask, int B, int T, int C, int NH);
/* dqkv [B, T, 3C] (overwritten) from dout [B, T, C]; att from the forward pass;
 * scratch: T*T floats. */
void ad_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int NH);

#endif
