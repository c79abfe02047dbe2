/* AdamW over one contiguous parameter buffer (llm.c style): params, grads and the moments
 * m (exp_avg) and v (exp_avg_sq) are all length n, so a model's tensors are updated in one
 * sweep and the state is two flat arrays that a checkpoint stores under per-tensor names.
 *
 * The update reproduces torch.optim.AdamW (non-amsgrad, non-fused, torch 1.13
 * _single_tensor_adamw) operation by operation in float32, with the scalars (1 - lr*wd,
 * lr / (1 - b1^t), sqrt(1 - b2^t)) computed in double and rounded once, as torch does:
 *   p = p * (1 - lr*wd)
 *   m = m*b1 + (1-b1)*g;   v = v*b2 + ((1-b2)*g)*g
 *   p = p + (-lr/bc1 * m) / (sqrt(v)/sqrt(bc2) + eps)
 * Optional global gradient-norm clipping follows torch.nn.utils.clip_grad_norm_
 * (coef = max_norm / (norm + 1e-6), applied when < 1); the norm is taken over the whole
 * buffer in double precision. */
#ifndef ADAPTOR_ADAMW_H
#define ADAPTOR_ADAMW_H

#include <stddef.h>
#include <stdint.h>

typedef struct ad_adamw_opts {
    double beta1, beta2, eps, weight_decay;
    double max_grad_norm; /* <= 0: no clipping (the default) */
} ad_adamw_opts;

/* SPEC 5: betas 0.9 / 0.999, eps 1e-8, weight_decay 0.01, no clipping. */
ad_adamw_opts ad_adamw_default_opts(void);

typedef struct ad_adamw ad_adamw;

/* Moments start at zero, step count at 0. Fails on n == 0 or out-of-range options. */
int ad_adamw_create(ad_adamw **out, size_t n, const ad_adamw_opts *opts);
void ad_adamw_destroy(ad_adamw *a);

/* One update with learning rate lr. grads are scaled in place when clipping triggers.
 * grad_norm (may be NULL) receives the global L2 norm of the gradients before clipping;
 * it is computed only when asked for or when clipping is on, and a non-finite norm then
 * fails with AD_ERR_NUMERIC (parameters untouched). */
int ad_adamw_step(ad_adamw *a, float *params, float *grads, double lr, double *grad_norm);

/* Global L2 norm of g[0..n) (double accumulation). */
double ad_grad_norm(const float *g, size_t n);
/* Scales g so its norm is at most max_norm (torch's clip_grad_norm_ rule); returns the
 * norm before clipping in *norm (may be NULL). */
void ad_clip_grad_norm(float *g, size_t n, double max_norm, double *norm);

/* State for checkpoints: the moments (length ad_adamw_size) and the update count t. */
size_t ad_adamw_size(const ad_adamw *a);
float *ad_adamw_exp_avg(ad_adamw *a);
float *ad_adamw_exp_avg_sq(ad_adamw *a);
int64_t ad_adamw_step_count(const ad_adamw *a);
/* Restores t after the moments were loaded (t >= 0). */
int ad_adamw_set_step_count(ad_adamw *a, int64_t t);
const ad_adamw_opts *ad_adamw_options(const ad_adamw *a);

#endif
